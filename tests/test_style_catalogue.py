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


needs_originals = pytest.mark.skipif(not ORIGINALS.is_dir(), reason=f"original style JSONs not found at {ORIGINALS}")


def _originals_by_style() -> dict[str, dict]:
    """Each seed style id -> its original JSON (``_source`` added), checking the mapping is one to one."""
    originals = {f"{path.parent.name}/{path.name}": path for path in ORIGINALS.glob("*/*.json")}
    assert len(originals) == 75
    covered: dict[str, str] = {}
    for path in sorted((REPO / "styles").glob("*.yaml")):
        match = SOURCE_COMMENT.search(path.read_text(encoding="utf-8"))
        assert match, f"{path.name} does not name its original"
        assert match.group(1) not in covered, f"{match.group(1)} used by {covered.get(match.group(1))} and {path.name}"
        covered[match.group(1)] = path.stem
    assert covered.keys() == originals.keys()
    return {
        style_id: {**json.loads(originals[source].read_text(encoding="utf-8")), "_source": source}
        for source, style_id in covered.items()
    }


@needs_originals
def test_lora_facts_match_the_original_styles(catalog):
    for style_id, original in _originals_by_style().items():
        style = catalog.get(style_id)
        if original["model_id"] is None:
            # No LoRA of its own: the server's default LoRA, at the original's multiplier.
            assert style.lora.is_default, style_id
        else:
            expected = (original["model_id"], original["revision"], original["bin_file"])
            assert (style.lora.model_id, style.lora.revision, style.lora.file) == expected, style_id
        assert style.lora.weight == original["multiplier_style"], style_id
        assert style.base_model == BASE_OF_FOLDER[original["_source"].split("/")[0]], style_id
        assert original["add_prompt_style"] not in style.prompt, style_id


# Trigger words the shape of a token cannot reveal: coined words, and the fragment's term naming
# the concept its LoRA file is named after (the file in the comment).
NAMED_TRIGGERS = {
    "MajicmixRealistic_v6/Autumn_populus.json": ("autumn populus euphratica scenary",),  # autumn_populus
    "MajicmixRealistic_v6/Bleak_autumn.json": ("bleak autumn scenary",),  # bleak_autumn
    "MajicmixRealistic_v6/Cartoon.json": ("Manhuanan",),
    "MajicmixRealistic_v6/Chinese_winter_hanfu.json": ("winter hanfu",),  # Winter_Hanfu
    "MajicmixRealistic_v6/Christmas.json": ("christmas",),  # christmas
    "MajicmixRealistic_v6/Colorful_rainbow.json": ("coloured glaze",),  # liuli2: liuli is coloured glaze
    "MajicmixRealistic_v6/Cowboy.json": ("western cowboy style",),  # style_niuzai768: niuzai is cowboy
    "MajicmixRealistic_v6/Deer_girl.json": ("elk girl",),  # deer
    "MajicmixRealistic_v6/Disneyland.json": ("disneyland",),  # disneyland
    "MajicmixRealistic_v6/Duobaan.json": ("colorfashionstyle",),
    "MajicmixRealistic_v6/Embroidery.json": ("Chinese embroidery",),  # embroidery
    "MajicmixRealistic_v6/Fairy_style.json": ("fairy",),  # fairy
    "MajicmixRealistic_v6/Flame_red_style.json": ("wlop",),  # wlop_offset
    "MajicmixRealistic_v6/Flowers.json": ("outdoor",),  # outdoor photo_v2.0
    "MajicmixRealistic_v6/Hiphop.json": ("hiphop style",),  # edg90hh
    "MajicmixRealistic_v6/India.json": ("indian style costume",),  # Indian saree
    "MajicmixRealistic_v6/Jacket_in_Snow_Mountain.json": ("jacket",),  # puffy_jacket
    "MajicmixRealistic_v6/Li.json": ("Gothic Lolita style",),  # lo_dress_gothic_style2
    "MajicmixRealistic_v6/Luolita.json": ("lolita",),  # lolitaV1
    "MajicmixRealistic_v6/Mechnical.json": ("reelmech",),  # reelmech1v2
    "MajicmixRealistic_v6/Men_suit.json": ("office man",),  # businessman
    "MajicmixRealistic_v6/Miaozu.json": ("Miao nationality",),  # miaozu
    "MajicmixRealistic_v6/Mongolian.json": ("mongolian style",),  # mongolian
    "MajicmixRealistic_v6/Ocean_Summer_vibe.json": ("Style by NTY",),
    "MajicmixRealistic_v6/PekingOpera_female_role.json": ("Peking Opera",),  # PekingOperaR
    "MajicmixRealistic_v6/Polaroid_style.json": ("polaroid", "instant photo"),  # InstantPhotoX3
    "MajicmixRealistic_v6/Roaming_Astronaut.json": ("firmament",),  # firmamentV2.1
    "MajicmixRealistic_v6/Science_fiction.json": ("science fiction style suit",),  # scific
    "MajicmixRealistic_v6/Soccer.json": ("soccer field",),  # soccer_field
    "MajicmixRealistic_v6/Tibetan_clothing.json": ("tibetan clothing style",),  # tibetan
    "MajicmixRealistic_v6/Tyndall.json": ("light rays", "Tyndall effect"),  # Tyndall effect_Light
    "MajicmixRealistic_v6/Underwater.json": ("underwater",),  # underwater
    "MajicmixRealistic_v6/West_cowboy.json": ("West style",),  # James West
    "MajicmixRealistic_v6/Wild_west.json": ("wild west style clothing",),  # west
    "MajicmixRealistic_v6/ZangZu.json": ("Zangzu",),  # ZangZu_chillout
    "MajicmixRealistic_v6/Zhuang_style.json": ("zhuangzunv",),  # zhuangnv
    "leosamsMoonfilm_filmGrain20/Snow_white.json": ("snow white",),  # blancanievesV2: Blancanieves
}
_LORA_TAG = re.compile(r"<lora:[^>]*>", re.IGNORECASE)
# Tag-shaped tokens (white_cheongsam, JK_style) and camel-cased coinages (edgEV, DMajic, GuoFeng).
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]*")
_TAG_SHAPED = re.compile(r"_|[a-z][A-Z]|[A-Z]{2}[a-z]")


def original_trigger_words(original: dict) -> list[str]:
    """The trigger words of an original style's LoRA, in the order its ``add_prompt_style`` gives them."""
    fragment = _LORA_TAG.sub("", original["add_prompt_style"])
    words = list(NAMED_TRIGGERS.get(original["_source"], ()))
    if original["model_id"] is not None:
        # Only a style's own LoRA was trained on its fragment; nothing is known of the default LoRA's.
        words += [token for token in _TOKEN.findall(fragment) if _TAG_SHAPED.search(token)]
    return sorted(dict.fromkeys(words), key=fragment.find)


@needs_originals
def test_every_style_leads_with_its_lora_trigger_words(catalog):
    for style_id, original in _originals_by_style().items():
        style = catalog.get(style_id)
        expected = original_trigger_words(original)
        assert all(word in original["add_prompt_style"] for word in NAMED_TRIGGERS.get(original["_source"], ()))
        missing = [word for word in expected if word not in style.trigger_words]
        assert not missing, f"{style_id}: trigger words {missing} of {original['_source']} are missing"
        assert list(style.trigger_words) == expected, style_id
        # Where the original template puts the fragment: first, before the style's other words.
        terms = [term.strip() for term in style.prompt.split(",")]
        assert terms[: len(expected)] == expected, style_id


def test_trigger_word_detection_finds_tag_shaped_tokens():
    original = {
        "_source": "x/y.json",
        "model_id": "a/b",
        "add_prompt_style": "white_cheongsam, photography, (edgEV, edgEV_vintage dress), HDR, <lora:a_b:0.6>",
    }
    assert original_trigger_words(original) == ["white_cheongsam", "edgEV", "edgEV_vintage"]
    assert original_trigger_words({**original, "model_id": None}) == []
