from __future__ import annotations

from pathlib import Path

import pytest

from fact_runtime import InvalidRequest, UnknownTemplate, list_templates
from fact_runtime.catalog import template_path
from fact_runtime.config import ImageLimits

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


SHIPPED = {"astronaut": 1, "grace-hopper": 1, "two-pioneers": 2}


def test_the_shipped_templates_are_documented_with_their_licence_and_face_count():
    from fact_runtime.face import find_template_faces
    from fact_runtime.image import decode_image, downscale_for_analysis
    from fact_runtime.loading.face_models import FaceModels

    readme = (REPO / "templates" / "README.md").read_text(encoding="utf-8")
    assert list_templates(REPO / "templates") == sorted(SHIPPED)
    faces = FaceModels()
    for template_id, count in SHIPPED.items():
        row = next(line for line in readme.splitlines() if line.startswith(f"| `{template_id}` |"))
        assert f"| {count} |" in row and "Public domain" in row
        rgb = decode_image(template_path(REPO / "templates", template_id).read_bytes(), ImageLimits()).rgb
        assert min(rgb.shape[:2]) >= 512
        small, _ = downscale_for_analysis(rgb, ImageLimits().analysis_side)
        assert len(find_template_faces(faces, small)) == count, template_id
