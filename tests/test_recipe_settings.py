"""The original's per-path settings: selfie sizes, guidance, and one meaning for the FACT scale."""

from __future__ import annotations

import cv2
import pytest

from fact_runtime.catalog import load_styles
from fact_runtime.fact import face_processors
from fact_runtime.pipelines import diffusion
from fact_runtime.pipelines.engine import FactEngine
from fact_runtime.request import InpaintRequest, PortraitRequest
from tests.tiny_stack import png_bytes, side_by_side, tiny_config, write_style

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> FactEngine:
    config = tiny_config(tmp_path_factory.mktemp("settings"), adapter_scale=0.3, inpaint_recipe="fast")
    write_style(config.styles_dir, "plain")
    (config.styles_dir / "strong.yaml").write_text(
        (config.styles_dir / "plain.yaml").read_text().replace("id: plain", "id: strong") + "adapter_scale: 0.7\n"
    )
    return FactEngine(config, load_styles(config.styles_dir))


@pytest.fixture
def calls(monkeypatch) -> list[dict]:
    """FACT scale and keyword arguments of every denoising call."""
    recorded: list[dict] = []
    real = diffusion.run_denoising

    def spy(pipe, seeds, **kwargs):
        recorded.append({"fact_scale": next(iter(face_processors(pipe.unet).values())).scale, **kwargs})
        return real(pipe, seeds, **kwargs)

    monkeypatch.setattr(diffusion, "run_denoising", spy)
    return recorded


def test_portraits_use_the_styles_fact_scale_else_the_configs_and_guidance_7(engine, calls, astronaut_png) -> None:
    for style_id in ("plain", "strong"):
        engine.run(PortraitRequest(user_id="u", selfie=astronaut_png, style_id=style_id, seed=1), lambda *a: None)
    assert [call["fact_scale"] for call in calls] == [0.3, 0.7]
    assert {call["guidance_scale"] for call in calls} == {7.0}


def test_each_path_uses_the_selfie_at_its_own_size(engine, monkeypatch, astronaut_rgb) -> None:
    big = png_bytes(cv2.resize(astronaut_rgb, (1600, 1600), interpolation=cv2.INTER_CUBIC))
    used: list[int] = []
    analyse = engine.selfies.analyse

    def recording(data, **kwargs):
        selfie = analyse(data, **kwargs)
        used.append(max(selfie.rgb.shape[:2]))
        return selfie

    monkeypatch.setattr(engine.selfies, "analyse", recording)
    engine.run(PortraitRequest(user_id="u", selfie=big, style_id="plain", seed=1), lambda *a: None)
    template = png_bytes(side_by_side(astronaut_rgb, astronaut_rgb))
    engine.run(InpaintRequest(user_id="u", selfie=big, template=template, seed=1), lambda *a: None)
    # The original's 1000 px for portraits and 2000 px for inpainting: 1600 px stays as it is there.
    assert used == [1000, 1600]
