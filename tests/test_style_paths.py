"""Paths in style files stay inside their folders (links followed), style files have a size cap, templates too."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from fact_runtime import InvalidRequest, StyleError, UnknownTemplate, list_templates, load_styles
from fact_runtime.catalog import template_path
from fact_runtime.config import RuntimeConfig

BASES = {"majicmix"}


def write_style(directory: Path, style_id: str = "red", **fields: object) -> Path:
    document = {"id": style_id, "name": style_id.title(), "base_model": "majicmix", "prompt": "{subject} in red"}
    document.update(fields)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{style_id}.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def problems(styles: Path, **catalog: object) -> list[str]:
    with pytest.raises(StyleError) as caught:
        load_styles(styles, base_models=BASES, **catalog)  # type: ignore[arg-type]
    return str(caught.value).splitlines()[1:]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A job database beside the styles folder, as in the shipped layout (data/ next to styles/)."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "jobs.sqlite3").write_bytes(b"SQLite format 3\x00 selfies")
    return data


@pytest.mark.parametrize("lora_path", ["../../../etc/passwd", "/etc/passwd", "../data/jobs.sqlite3"])
def test_a_lora_path_outside_the_styles_folder_and_the_cache_is_refused(
    tmp_path: Path, data_dir: Path, lora_path: str
) -> None:
    styles = tmp_path / "styles"
    write_style(styles, lora={"path": lora_path, "weight": 0.5})
    (line,) = problems(styles, model_cache=tmp_path / "cache")
    assert line.startswith("red.yaml: lora.path: must be a file inside ")
    assert line.endswith(f"; {lora_path} is not") and str(tmp_path / "cache") in line


def test_a_lora_in_the_model_cache_or_the_styles_folder_is_accepted(tmp_path: Path) -> None:
    styles, cache = tmp_path / "styles", tmp_path / "cache"
    (cache / "loras").mkdir(parents=True)
    write_style(styles, "red", lora={"path": str(cache / "loras" / "red.safetensors"), "weight": 0.5})
    write_style(styles, "blue", lora={"path": "loras/blue.safetensors", "weight": 0.5})
    catalog = load_styles(styles, base_models=BASES, model_cache=cache)
    assert catalog.get("red").lora.path == (cache / "loras" / "red.safetensors").resolve()
    assert catalog.get("blue").lora.path == (styles / "loras" / "blue.safetensors").resolve()
    # Without the cache configured, only the styles folder is a place for LoRAs.
    assert problems(styles)[0].startswith("red.yaml: lora.path: must be a file inside ")


@pytest.mark.parametrize(
    ("lora", "field"),
    [
        ({"model_id": "a/b", "revision": "../../../..", "file": "x.safetensors"}, "lora.revision"),
        ({"model_id": "a/b", "revision": "v1", "file": "../../../etc/passwd"}, "lora.file"),
        ({"model_id": "../../x", "revision": "v1", "file": "x.safetensors"}, "lora.model_id"),
        ({"model_id": "a/b", "revision": "v1", "file": "/etc/passwd"}, "lora.file"),
    ],
)
def test_a_hub_lora_cannot_name_a_path_out_of_the_cache(tmp_path: Path, lora: dict, field: str) -> None:
    write_style(tmp_path, lora={**lora, "weight": 0.5})
    (line,) = problems(tmp_path)
    assert line.startswith(f"red.yaml: {field}: ")


def test_a_preview_outside_the_styles_folder_is_refused(tmp_path: Path, data_dir: Path) -> None:
    styles = tmp_path / "styles"
    write_style(styles, preview="../data/jobs.sqlite3")
    assert problems(styles) == [
        "red.yaml: preview: must be a file inside the styles folder; ../data/jobs.sqlite3 is not"
    ]


def test_a_preview_that_links_out_of_the_folder_is_refused(tmp_path: Path, data_dir: Path) -> None:
    styles = tmp_path / "styles"
    write_style(styles, preview="red.png")
    os.symlink(data_dir / "jobs.sqlite3", styles / "red.png")
    assert problems(styles) == ["red.yaml: preview: must be a file inside the styles folder; red.png is not"]


def test_a_preview_must_be_an_image_file(tmp_path: Path) -> None:
    write_style(tmp_path, "blue")
    write_style(tmp_path, preview="blue.yaml")
    assert problems(tmp_path) == ["red.yaml: preview: must be a PNG, JPEG or WebP image; blue.yaml is not"]


def test_a_style_file_that_links_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    outside = write_style(tmp_path / "elsewhere", "red")
    styles = tmp_path / "styles"
    write_style(styles, "blue")
    os.symlink(outside, styles / "red.yaml")
    (line,) = problems(styles)
    assert line == f"red.yaml: (file): is a link to {outside.resolve()}, outside the styles folder; refused"


def test_a_link_inside_the_folder_is_followed(tmp_path: Path) -> None:
    write_style(tmp_path / "shared", "red")
    os.symlink(tmp_path / "shared", tmp_path / "styles")  # the styles folder itself is a link
    assert [style.id for style in load_styles(tmp_path / "styles", base_models=BASES).all()] == ["red"]


def test_a_style_file_over_the_size_cap_is_refused_unparsed(tmp_path: Path) -> None:
    path = write_style(tmp_path, "red")
    with path.open("a") as handle:
        handle.write("# padding\n" * 2000)  # 20 kB of comments: valid YAML, only too large
    size = path.stat().st_size
    assert problems(tmp_path, max_file_bytes=16 * 1024) == [
        f"red.yaml: (file): is {size} bytes; a style file may have at most 16384"
    ]
    assert len(load_styles(tmp_path, base_models=BASES, max_file_bytes=size)) == 1


def test_the_size_cap_comes_from_the_config(tmp_path: Path) -> None:
    from fact_runtime import StyleCatalog

    write_style(tmp_path / "styles", "red")
    config = RuntimeConfig(preset="tiny", styles_dir=tmp_path / "styles", max_style_bytes=10)
    with pytest.raises(StyleError, match="a style file may have at most 10"):
        StyleCatalog.from_config(config).reload()


def test_a_template_that_links_out_of_its_folder_is_not_offered(tmp_path: Path, data_dir: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "beach.png").write_bytes(b"png")
    os.symlink(data_dir / "jobs.sqlite3", templates / "db.png")
    assert list_templates(templates) == ["beach"]
    with pytest.raises(UnknownTemplate):
        template_path(templates, "db")
    for name in ("../data/jobs", "/etc/passwd", ".hidden"):
        with pytest.raises(InvalidRequest):
            template_path(templates, name)
