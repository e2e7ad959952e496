from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import yaml

from fact_runtime import InvalidRequest, LoraRef, Style, StyleCatalog, StyleError, UnknownStyle, load_styles
from fact_runtime.catalog import DEFAULT_LORA_WEIGHT, DEFAULT_NEGATIVE_PROMPT

BASES = {"majicmix", "film"}


def write_style(directory: Path, style_id: str, **fields: object) -> Path:
    document = {"id": style_id, "name": style_id.title(), "base_model": "majicmix", "prompt": "{subject} in red"}
    document.update(fields)
    path = directory / f"{style_id}.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def reload_error(directory: Path) -> str:
    with pytest.raises(StyleError) as caught:
        load_styles(directory, base_models=BASES)
    return str(caught.value)


def test_minimal_style_gets_defaults(tmp_path: Path):
    write_style(tmp_path, "red")
    style = load_styles(tmp_path, base_models=BASES).get("red")
    assert style.negative_prompt == DEFAULT_NEGATIVE_PROMPT
    # No LoRA named: the server's default LoRA at the default weight; no FACT scale: the config's.
    assert style.lora == LoraRef(weight=DEFAULT_LORA_WEIGHT) and style.lora.is_default
    assert style.adapter_scale is None and style.trigger_words == () and style.is_default_lora_enabled
    assert style.num_inference_steps is None and style.guidance_scale is None and style.tags == ()


def test_an_admin_edit_that_drops_a_trigger_word_is_refused(tmp_path: Path):
    kept = {"prompt": "white_cheongsam, {subject} in a white cheongsam", "trigger_words": ["white_cheongsam"]}
    write_style(tmp_path, "kept", **kept)
    # Inside a longer word does not count: the LoRA was trained on the whole token.
    write_style(tmp_path, "dropped", prompt="{subject} in a white_cheongsams dress", trigger_words=["white_cheongsam"])
    message = reload_error(tmp_path)
    assert "dropped.yaml: trigger_words: ['white_cheongsam'] must stay in the prompt" in message
    assert "kept.yaml" not in message


def test_default_lora_weight_opt_out_and_empty_negative_prompt(tmp_path: Path):
    write_style(tmp_path, "weighted", lora={"weight": 0.25}, negative_prompt="  ")
    write_style(tmp_path, "bare", is_default_lora_enabled=False)
    catalog = load_styles(tmp_path, base_models=BASES)
    weighted, bare = catalog.get("weighted"), catalog.get("bare")
    assert weighted.lora.is_default and weighted.lora.weight == 0.25
    assert weighted.negative_prompt == DEFAULT_NEGATIVE_PROMPT
    assert bare.lora is None
    with pytest.raises(ValueError, match="default LoRA's file"):
        weighted.lora.to_model_ref()
    write_style(tmp_path, "both", lora={"weight": 0.25}, is_default_lora_enabled=False)
    write_style(tmp_path, "half", lora={"file": "x.safetensors", "weight": 0.25})
    message = reload_error(tmp_path)
    assert "both.yaml: is_default_lora_enabled: false applies only to a style without a lora entry" in message
    assert "half.yaml: lora: revision and file belong to a ModelScope LoRA" in message


def test_compose_prompt_fills_subject_and_appends_plain_user_text():
    style = Style(id="red", name="Red", base_model="film", prompt="photo of {subject}, red coat")
    assert style.compose_prompt() == "photo of a person, red coat"
    assert style.compose_prompt(subject="woman") == "photo of a woman, red coat"
    assert style.compose_prompt(subject="boy", extra="  (blue hat:1.3), <lora:x:0.6> rain ") == (
        "photo of a boy, red coat, blue hat, rain"
    )
    with pytest.raises(InvalidRequest):
        style.compose_prompt(subject="dog")


def test_default_negative_prompt_fits_clip_window():
    # CLIP BPE splits a few words in two; words plus commas at <= 60 leaves room under 77 tokens.
    assert len(DEFAULT_NEGATIVE_PROMPT.replace(",", " , ").split()) <= 60
    assert "(" not in DEFAULT_NEGATIVE_PROMPT and ":" not in DEFAULT_NEGATIVE_PROMPT


@pytest.mark.parametrize(
    ("fields", "field", "expected"),
    [
        ({"colour": "red"}, "colour", "unknown key"),
        ({"adapter_scale": "strong"}, "adapter_scale", "valid number"),
        ({"num_inference_steps": 0}, "num_inference_steps", "greater than or equal to 1"),
        ({"prompt": "a red coat"}, "prompt", "{subject}"),
        ({"prompt": "{subject}, (red:1.4)"}, "prompt", "no <lora:...> tags"),
        ({"base_model": "sdxl"}, "base_model", "expected one of: film, majicmix"),
        ({"lora": {"model_id": "a/b", "weight": 0.3}}, "lora", "revision"),
        ({"lora": {"path": "x.safetensors", "weight": 3}}, "lora.weight", "less than or equal to 2"),
        ({"lora": {"path": "x.safetensors", "weight": 0.3, "scale": 1}}, "lora.scale", "unknown key"),
        ({"preview": "missing.png"}, "preview", "not found"),
        ({"tags": ["Red Coat"]}, "tags", "lowercase"),
        ({"id": "Red"}, "id", "lowercase letters"),
        ({"id": "blue"}, "id", "file name"),
    ],
)
def test_invalid_field_names_file_and_field(tmp_path: Path, fields: dict, field: str, expected: str):
    write_style(tmp_path, "red", **fields)
    message = reload_error(tmp_path)
    line = next(line for line in message.splitlines() if line.startswith("red.yaml: "))
    assert line.startswith(f"red.yaml: {field}: ")
    assert expected in line


def test_missing_field_and_bad_yaml_and_non_mapping(tmp_path: Path):
    (tmp_path / "nameless.yaml").write_text("id: nameless\nbase_model: film\nprompt: '{subject}'\n")
    (tmp_path / "broken.yaml").write_text("id: broken\nname: [unclosed\n")
    (tmp_path / "listy.yaml").write_text("- id: listy\n")
    message = reload_error(tmp_path)
    assert "nameless.yaml: name: required field is missing" in message
    assert "broken.yaml: (file): must be valid YAML" in message and "line" in message
    assert "listy.yaml: (file): must be a mapping" in message


def test_duplicate_id_across_extensions(tmp_path: Path):
    write_style(tmp_path, "red")
    (tmp_path / "red.yml").write_text((tmp_path / "red.yaml").read_text())
    assert "red.yml: id: must be unique, 'red' is also defined by red.yaml" in reload_error(tmp_path)


def test_every_problem_is_listed(tmp_path: Path):
    write_style(tmp_path, "a", base_model="sdxl")
    write_style(tmp_path, "b", guidance_scale=-1)
    message = reload_error(tmp_path)
    assert "a.yaml: base_model" in message and "b.yaml: guidance_scale" in message


def test_underscore_and_dot_files_and_other_suffixes_are_ignored(tmp_path: Path):
    write_style(tmp_path, "red")
    (tmp_path / "_draft.yaml").write_text("not: [valid")
    (tmp_path / ".hidden.yaml").write_text("not: [valid")
    (tmp_path / "README.md").write_text("# notes")
    assert [style.id for style in load_styles(tmp_path, base_models=BASES).all()] == ["red"]


def test_yaml_is_data_only(tmp_path: Path):
    (tmp_path / "evil.yaml").write_text("id: !!python/object/apply:os.system ['true']\n")
    assert "evil.yaml: (file): must be valid YAML" in reload_error(tmp_path)


def test_preview_and_local_lora_resolve_against_the_styles_folder(tmp_path: Path):
    (tmp_path / "previews").mkdir()
    (tmp_path / "previews" / "red.png").write_bytes(b"png")
    write_style(tmp_path, "red", preview="previews/red.png", lora={"path": "loras/red.safetensors", "weight": 0.4})
    style = load_styles(tmp_path, base_models=BASES).get("red")
    assert style.preview == (tmp_path / "previews" / "red.png").resolve()
    assert style.lora.to_model_ref().path == (tmp_path / "loras" / "red.safetensors").resolve()


def test_lora_ref_converts_to_model_ref():
    lora = LoraRef(model_id="a/b", revision="v1", file="x y.safetensors", weight=0.3)
    ref = lora.to_model_ref()
    assert (ref.model_id, ref.revision, ref.file, ref.path) == ("a/b", "v1", "x y.safetensors", None)


def test_reload_reports_changes_and_bumps_version(tmp_path: Path):
    write_style(tmp_path, "red")
    write_style(tmp_path, "blue")
    catalog = load_styles(tmp_path, base_models=BASES)
    assert catalog.version == 1 and len(catalog) == 2
    write_style(tmp_path, "red", name="Crimson")
    (tmp_path / "blue.yaml").unlink()
    write_style(tmp_path, "green")
    report = catalog.reload()
    assert (report.count, report.added, report.removed, report.changed) == (2, ("green",), ("blue",), ("red",))
    assert catalog.version == 2 and catalog.get("red").name == "Crimson"
    assert "blue" not in catalog and "green" in catalog


def test_failed_reload_keeps_the_old_set_and_version(tmp_path: Path):
    write_style(tmp_path, "red")
    catalog = load_styles(tmp_path, base_models=BASES)
    write_style(tmp_path, "blue")
    write_style(tmp_path, "red", base_model="sdxl")
    with pytest.raises(StyleError, match=r"red\.yaml: base_model"):
        catalog.reload()
    assert catalog.version == 1 and [style.id for style in catalog.all()] == ["red"]
    assert catalog.get("red").base_model == "majicmix"


def test_catalogue_is_empty_until_reload_and_missing_folder_fails(tmp_path: Path):
    write_style(tmp_path, "red")
    catalog = StyleCatalog(tmp_path)
    assert len(catalog) == 0 and catalog.version == 0
    with pytest.raises(StyleError, match="styles folder not found"):
        StyleCatalog(tmp_path / "nowhere").reload()


def test_unknown_style_names_the_id(tmp_path: Path):
    write_style(tmp_path, "red")
    with pytest.raises(UnknownStyle) as caught:
        load_styles(tmp_path).get("purple-rain")
    assert "purple-rain" in caught.value.user_message


def test_search_puts_prefix_matches_first(tmp_path: Path):
    write_style(tmp_path, "autumn-red", name="Autumn Red")
    write_style(tmp_path, "red-coat", name="Red Coat")
    write_style(tmp_path, "shredded", name="Shredded")
    write_style(tmp_path, "blue", name="Blue", tags=["redux"])
    write_style(tmp_path, "green", name="Green")
    catalog = load_styles(tmp_path)
    assert [style.id for style in catalog.search("RED")] == ["red-coat", "autumn-red", "blue", "shredded"]
    assert [style.id for style in catalog.search("red", limit=2)] == ["red-coat", "autumn-red"]
    assert [style.id for style in catalog.search("", limit=3)] == ["autumn-red", "blue", "green"]
    assert catalog.search("zzz") == []


def test_readers_never_see_a_partial_set_during_reloads(tmp_path: Path):
    for index in range(20):
        write_style(tmp_path, f"s{index}")
    catalog = load_styles(tmp_path)
    seen: set[int] = set()
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            seen.add(len(catalog.all()))

    def until_seen(size: int) -> None:
        deadline = time.monotonic() + 5
        while size not in seen:
            assert time.monotonic() < deadline, f"the reader never saw the set of {size}"
            time.sleep(0.001)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(5):
            (tmp_path / "s0.yaml").unlink()
            catalog.reload()
            until_seen(19)
            write_style(tmp_path, "s0")
            catalog.reload()
            until_seen(20)
    finally:
        stop.set()
        reader.join()
    # The reader read throughout, and only ever whole sets.
    assert seen == {19, 20}
