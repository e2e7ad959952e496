"""The shipped seed catalogue: loads, covers the 75 original styles, and carries their LoRA facts over."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from fact_runtime import load_runtime_config, load_styles

REPO = Path(__file__).resolve().parents[1]
# The checkout sits beside shared/ (worktrees sit one level deeper, in wt/<branch>).
ORIGINALS = (
    next(
        (path for path in (REPO.parent / "shared", REPO.parent.parent / "shared") if path.is_dir()),
        REPO.parent / "shared",
    )
    / "fact"
    / "original-styles"
)
BASE_OF_FOLDER = {"MajicmixRealistic_v6": "majicmix", "leosamsMoonfilm_filmGrain20": "film"}
DEFAULT_LORA = ("Cherrytest/zjz_mj_jiyi_small_addtxt_fromleo", "v1.0.0", "zjz_mj_jiyi_small_addtxt_fromleo.safetensors")
SOURCE_COMMENT = re.compile(r"^# Seed style, adapted from FaceChain-FACT \(Apache-2\.0\): (\S+/\S+\.json)$", re.M)


@pytest.fixture(scope="module")
def catalog():
    config = load_runtime_config(REPO / "config.yaml")
    return load_styles(config.styles_dir, base_models=config.models.base_models.keys())


def test_shipped_catalogue_loads_75_styles(catalog):
    assert len(catalog) == 75
    assert sum(style.base_model == "film" for style in catalog.all()) == 13
    assert all(style.lora is not None for style in catalog.all())


def test_prompts_are_plain_english_with_room_for_user_text(catalog):
    for style in catalog.all():
        prompt = style.compose_prompt(subject="woman")
        assert prompt.isascii() and "(" not in prompt and "<" not in prompt, style.id
        assert len(prompt.replace(",", " , ").split()) <= 55, style.id
        assert style.name.isascii() and len(style.name) <= 100 and style.description


@pytest.mark.skipif(not ORIGINALS.is_dir(), reason=f"original style JSONs not found at {ORIGINALS}")
def test_lora_facts_match_the_original_styles(catalog):
    originals = {f"{path.parent.name}/{path.name}": path for path in ORIGINALS.glob("*/*.json")}
    assert len(originals) == 75
    covered = {}
    for path in sorted((REPO / "styles").glob("*.yaml")):
        match = SOURCE_COMMENT.search(path.read_text(encoding="utf-8"))
        assert match, f"{path.name} does not name its original"
        assert match.group(1) not in covered, f"{match.group(1)} used by {covered.get(match.group(1))} and {path.name}"
        covered[match.group(1)] = path.stem
    assert covered.keys() == originals.keys()
    for source, style_id in covered.items():
        original = json.loads(originals[source].read_text(encoding="utf-8"))
        style = catalog.get(style_id)
        expected = (original["model_id"], original["revision"], original["bin_file"])
        if original["model_id"] is None:
            expected = DEFAULT_LORA
        assert (style.lora.model_id, style.lora.revision, style.lora.file) == expected, style_id
        assert style.lora.weight == original["multiplier_style"], style_id
        assert style.base_model == BASE_OF_FOLDER[source.split("/")[0]], style_id
        assert original["add_prompt_style"] not in style.prompt, style_id
