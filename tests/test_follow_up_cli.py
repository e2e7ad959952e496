"""``python -m fact_runtime upscale|vary`` as processes, on the tiny preset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.cli import cli_env, run_cli
from tests.tiny_stack import decode_png, png_bytes, write_style


@pytest.fixture
def workspace(tmp_path: Path, astronaut_rgb: np.ndarray, astronaut_png: bytes) -> Path:
    """A tiny-preset config that accepts 44 px parents, a style, a selfie, and a 60 x 44 parent image."""
    write_style(tmp_path / "styles", "plain")
    (tmp_path / "config.yaml").write_text(
        "runtime:\n  preset: tiny\n  styles_dir: styles\n  cache_dir: cache\n  images: {min_side: 32}\n"
        "  generation: {width: 64, height: 64, num_inference_steps: 4}\n",
        encoding="utf-8",
    )
    (tmp_path / "selfie.png").write_bytes(astronaut_png)
    (tmp_path / "result.png").write_bytes(png_bytes(np.asarray(Image.fromarray(astronaut_rgb).resize((60, 44)))))
    return tmp_path


def _run(workspace: Path, command: str, *extra: str, env: dict[str, str] | None = None):
    paths = ("--image", str(workspace / "result.png"), "--selfie", str(workspace / "selfie.png"))
    common = ("--style", "plain", "--preset", "tiny", "--config", str(workspace / "config.yaml"))
    return run_cli("fact_runtime", command, *paths, *common, *extra, "-o", str(workspace / "out"), env=env)


def test_upscale_writes_one_image_of_exactly_twice_the_size(workspace: Path) -> None:
    done = _run(workspace, "upscale", "--seed", "12", "--steps", "5")
    assert done.returncode == 0, done.stderr
    written = workspace / "out" / "result-upscale-seed12.png"
    assert done.stdout.split()[0] == str(written)
    assert [path.name for path in (workspace / "out").iterdir()] == [written.name]
    assert decode_png(written.read_bytes()).shape == (88, 120, 3)


def test_vary_writes_one_image_of_the_input_size_the_same_for_the_same_seed(workspace: Path) -> None:
    first = _run(workspace, "vary", "--strength", "0.6", "--seed", "3")
    assert first.returncode == 0, first.stderr
    made = workspace / "out" / "result-vary-seed3.png"
    pixels = decode_png(made.read_bytes())
    assert pixels.shape == (44, 60, 3)
    again = _run(workspace, "vary", "--strength", "0.6", "--seed", "3")
    assert again.returncode == 0, again.stderr
    # The pixels, not the bytes: every written image carries its own C2PA signature.
    assert (decode_png(made.read_bytes()) == pixels).all()


def test_a_result_too_large_is_refused_in_one_sentence_before_any_model_loads(workspace: Path) -> None:
    budget = _run(workspace, "upscale", "--scale", "4")
    assert budget.returncode == 2
    assert budget.error_lines == [
        "error: An upscale to 240x176 is more than this server's GPU denoises at once (16,384 pixels); "
        "try a smaller scale."
    ]
    assert "loading models" not in budget.stderr
    pixels = _run(workspace, "upscale", env=cli_env(FACT_RUNTIME__IMAGES__MAX_PIXELS="10000"))
    assert pixels.returncode == 2
    assert pixels.error_lines == ["error: An upscale to 120x88 would exceed this server's limit of 0.01 megapixels."]
    assert not (workspace / "out").exists()


def test_a_parent_that_is_not_an_image_is_refused_in_one_sentence(workspace: Path) -> None:
    (workspace / "result.png").write_bytes(b"not an image at all")
    done = _run(workspace, "vary", "--strength", "0.3")
    assert done.returncode == 2
    assert len(done.error_lines) == 1
    assert "Traceback" not in done.stderr
