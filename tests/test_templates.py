from __future__ import annotations

from pathlib import Path

import pytest

from fact_runtime import InvalidRequest, UnknownTemplate, list_templates
from fact_runtime.catalog import template_path

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def folder(tmp_path: Path, astronaut_png: bytes) -> Path:
    templates = tmp_path / "templates"
    templates.mkdir()
    for name in ("beach.png", "Office.JPG", "duo.webp", "duo.jpg", "_draft.png", ".hidden.png", "notes.txt"):
        (templates / name).write_bytes(astronaut_png)
    (templates / "folder.png").mkdir()
    return templates


def test_lists_image_stems_sorted(folder: Path):
    assert list_templates(folder) == ["Office", "beach", "duo"]


def test_path_of_a_template_prefers_the_first_suffix(folder: Path):
    assert template_path(folder, "beach") == folder / "beach.png"
    assert template_path(folder, "duo") == folder / "duo.jpg"
    assert template_path(folder, "Office") == folder / "Office.JPG"


def test_unknown_template_names_the_id(folder: Path):
    with pytest.raises(UnknownTemplate) as caught:
        template_path(folder, "notes")
    assert "notes" in caught.value.user_message
    with pytest.raises(UnknownTemplate):
        template_path(folder, "_draft")


@pytest.mark.parametrize("template_id", ["../templates/beach", "/etc/passwd", "..", ".hidden", "a\\b", ""])
def test_path_traversal_is_refused(folder: Path, template_id: str):
    with pytest.raises(InvalidRequest):
        template_path(folder, template_id)


def test_missing_folder_has_no_templates(tmp_path: Path):
    assert list_templates(tmp_path / "absent") == []
    with pytest.raises(UnknownTemplate):
        template_path(tmp_path / "absent", "beach")


def test_shipped_folder_has_a_readme_and_no_photos():
    assert (REPO / "templates" / "README.md").is_file()
    assert list_templates(REPO / "templates") == []
