"""``python -m fact_runtime group`` on the tiny preset: the filled template at its own size, and every refusal before a model loads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fact_runtime.__main__ import main
from tests.cli import REPO, run_cli
from tests.tiny_stack import decode_png, png_bytes

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TEMPLATES = REPO / "templates"


@pytest.fixture
def workspace(tmp_path: Path, astronaut_png: bytes, grace_hopper_jpeg: bytes) -> Path:
    """A tiny-preset config at 64 px with the repository's templates, and the two photos."""
    (tmp_path / "config.yaml").write_text(
        f"runtime:\n  preset: tiny\n  cache_dir: cache\n  templates_dir: {TEMPLATES}\n"
        "  generation: {width: 64, height: 64, num_inference_steps: 2, inpaint_recipe: fast}\n",
        encoding="utf-8",
    )
    (tmp_path / "astronaut.png").write_bytes(astronaut_png)
    (tmp_path / "grace.jpg").write_bytes(grace_hopper_jpeg)
    return tmp_path


def _args(workspace: Path, *faces: str, template: tuple[str, ...] = ("--template-id", "two-pioneers")) -> list[str]:
    face_args = [arg for face in faces for arg in ("--face", face)]
    return ["group", *template, *face_args, "--config", str(workspace / "config.yaml"), "-o", str(workspace / "out")]


def test_the_command_fills_every_face_as_a_process(workspace) -> None:
    finished = run_cli(
        "fact_runtime",
        *_args(workspace, f"2={workspace / 'grace.jpg'}", f"1={workspace / 'astronaut.png'}"),
        "--seed",
        "7",
        "--recipe",
        "original",
        "--speed",
        "turbo",
    )
    assert finished.returncode == 0, finished.stderr
    assert "done: 1 image(s) at speed turbo;" in finished.stderr
    path = workspace / "out" / "group-two-pioneers-seed7.png"
    assert finished.stdout.startswith(str(path))
    template = decode_png((TEMPLATES / "two-pioneers.jpg").read_bytes())
    output = decode_png(path.read_bytes())
    assert output.shape == template.shape
    changed = (output != template).any(axis=2)
    middle = 600  # the astronaut, 600 px wide, is the left part (templates/README.md)
    assert changed[:, :middle].any() and changed[:, middle:].any()
    assert finished.error_lines == []


@pytest.mark.parametrize(
    ("faces", "sentence"),
    [
        (("1={astronaut}",), "A group photo takes 2 to 4 faces."),
        (("1={astronaut}", "1={grace}"), "Face 1 is given two identities; give each face one."),
        (("0={astronaut}", "1={grace}"), "Face numbers start at 1."),
        (("1={astronaut}", "2={workspace}/config.yaml"), "Face 2: That file is not a supported image"),
        (("1={astronaut}", "2={workspace}/missing.jpg"), "cannot read {workspace}/missing.jpg: No such file"),
    ],
)
def test_bad_faces_are_refused_before_anything_loads(workspace, capsys, faces, sentence) -> None:
    values = {"astronaut": workspace / "astronaut.png", "grace": workspace / "grace.jpg", "workspace": workspace}
    status = main(_args(workspace, *(face.format(**values) for face in faces)))
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith(f"error: {sentence.format(**values)}") and err.count("\n") == 1
    assert not (workspace / "out").exists()


def test_the_template_and_the_photos_faces_are_checked_before_the_models_load(workspace, capsys) -> None:
    pair = (f"1={workspace / 'astronaut.png'}", f"2={workspace / 'grace.jpg'}")
    assert main(_args(workspace, *pair, template=("--template", str(TEMPLATES / "astronaut.jpg")))) == 2
    err = capsys.readouterr().err
    assert "error: The template has 1 face, fewer than the 2 asked for" in err
    assert "loading models" not in err

    assert main(_args(workspace, pair[0], f"3={workspace / 'grace.jpg'}")) == 2
    err = capsys.readouterr().err
    assert "error: The template has 2 faces; pick face numbers from 1 to 2." in err
    assert "loading models" not in err

    (workspace / "wall.png").write_bytes(png_bytes(np.full((300, 300, 3), 90, dtype=np.uint8)))
    assert main(_args(workspace, pair[0], f"2={workspace / 'wall.png'}")) == 2
    err = capsys.readouterr().err
    assert "error: Face 2: No face was found" in err
    assert "loading models" not in err

    assert main(_args(workspace, *pair, template=("--template-id", "nope"))) == 2
    assert capsys.readouterr().err == (
        "error: There is no built-in template called 'nope'; `python -m fact_runtime templates` lists them.\n"
    )


def test_a_face_option_without_a_number_is_a_usage_error(workspace, capsys) -> None:
    with pytest.raises(SystemExit) as usage:
        main(_args(workspace, str(workspace / "astronaut.png")))
    assert usage.value.code == 2
    assert "expected FACE=PHOTO, such as 1=me.jpg" in capsys.readouterr().err


def test_a_template_with_too_few_faces_is_one_line_from_the_process(workspace) -> None:
    pair = (f"1={workspace / 'astronaut.png'}", f"2={workspace / 'grace.jpg'}")
    finished = run_cli("fact_runtime", *_args(workspace, *pair, template=("--template-id", "grace-hopper")))
    assert finished.returncode == 2
    assert finished.error_lines == [
        "error: The template has 1 face, fewer than the 2 asked for; pick a template with at least 2 faces."
    ]
    assert "loading models" not in finished.stderr and finished.stdout == ""


def test_a_result_is_upscaled_from_the_terminal_and_a_foreign_start_refused_before_models_load(
    workspace, capsys
) -> None:
    pair = (f"1={workspace / 'astronaut.png'}", f"2={workspace / 'grace.jpg'}")
    assert main([*_args(workspace, *pair), "--seed", "3"]) == 0
    parent = workspace / "out" / "group-two-pioneers-seed3.png"
    assert main([*_args(workspace, *pair), "--seed", "3", "--start", str(parent), "--scale", "2"]) == 0
    upscaled = decode_png((workspace / "out" / "group-two-pioneers-upscale-seed3.png").read_bytes())
    height, width = decode_png(parent.read_bytes()).shape[:2]
    assert upscaled.shape == (2 * height, 2 * width, 3)
    capsys.readouterr()

    foreign = ("--start", str(workspace / "astronaut.png"), "--strength", "0.3")
    assert main([*_args(workspace, *pair), *foreign]) == 2
    err = capsys.readouterr().err
    assert "error: That image is not a filled copy of its template, so its faces cannot be found." in err
    assert "loading models" not in err
    assert main([*_args(workspace, *pair), "--scale", "2"]) == 2
    assert capsys.readouterr().err == "error: An upscale or a variation needs the image it starts from.\n"
