"""``--speed`` on ``python -m fact_runtime portrait|inpaint``: the tier reaches the job, a refused one is one sentence."""

from __future__ import annotations

import pytest

from fact_runtime.__main__ import main
from fact_runtime.pipelines import diffusion
from tests.tiny_stack import png_bytes, side_by_side, write_style

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def workspace(tmp_path, astronaut_png):
    write_style(tmp_path / "styles", "plain")
    (tmp_path / "config.yaml").write_text(
        "runtime:\n  preset: tiny\n  styles_dir: styles\n  cache_dir: cache\n"
        "  generation: {width: 64, height: 64, num_inference_steps: 6}\n"
        "  speed: {allowed: [original, turbo], turbo: {steps: 2}}\n",
        encoding="utf-8",
    )
    (tmp_path / "selfie.png").write_bytes(astronaut_png)
    return tmp_path


@pytest.fixture
def steps(monkeypatch) -> list[int]:
    seen: list[int] = []
    real = diffusion.run_denoising

    def spy(pipe, seeds, **kwargs):
        seen.append(kwargs["num_inference_steps"])
        return real(pipe, seeds, **kwargs)

    monkeypatch.setattr(diffusion, "run_denoising", spy)
    return seen


def _args(workspace, *extra: str) -> list[str]:
    paths = ["--selfie", str(workspace / "selfie.png"), "--config", str(workspace / "config.yaml")]
    return [*extra, *paths, "-o", str(workspace / "out"), "--seed", "4"]


def test_speed_chooses_the_tier_of_a_portrait_and_an_inpaint(
    workspace, steps, capsys, astronaut_rgb, grace_hopper_rgb
) -> None:
    assert main(["portrait", *_args(workspace, "--style", "plain", "--speed", "turbo")]) == 0
    assert main(["portrait", *_args(workspace, "--style", "plain")]) == 0
    (workspace / "pair.png").write_bytes(png_bytes(side_by_side(astronaut_rgb, grace_hopper_rgb)))
    inpaint = ("--template", str(workspace / "pair.png"), "--face", "2", "--recipe", "fast", "--speed", "turbo")
    assert main(["inpaint", *_args(workspace, *inpaint)]) == 0
    # Turbo: 2 steps (the inpainting pass keeps 0.6 of a schedule spread to 2); the default: the config's 6.
    assert steps == [2, 6, 2]
    err = capsys.readouterr().err
    assert err.count("at speed turbo") == 2 and err.count("at speed original") == 1


def test_a_tier_the_config_does_not_allow_is_one_sentence(workspace, capsys) -> None:
    assert main(["portrait", *_args(workspace, "--style", "plain", "--speed", "fast")]) == 2
    err = capsys.readouterr().err
    assert "This server offers these speeds: original, turbo." in err and "Traceback" not in err
