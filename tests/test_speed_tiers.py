"""Speed tiers on the tiny preset: each tier's scheduler, steps, guidance and LoRAs, through every recipe."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from fact_runtime.catalog import load_styles
from fact_runtime.config import RuntimeConfig
from fact_runtime.errors import InvalidRequest, ModelMissing
from fact_runtime.limits import RequestLimits, check_request
from fact_runtime.loading.lora import TURBO_ADAPTER
from fact_runtime.pipelines import control_inpaint, diffusion, img2img_stage
from fact_runtime.pipelines.engine import FactEngine
from fact_runtime.pipelines.inpaint_stages import REFINE_STRENGTH
from fact_runtime.pose import draw_body_poses
from fact_runtime.request import InpaintRequest, PortraitRequest, VaryRequest
from tests.test_openpose import PERSON, _pose
from tests.tiny_stack import decode_png, png_bytes, write_kohya_lora, write_style

pytestmark = pytest.mark.usefixtures("one_torch_thread")

STEPS = 10
SPEED = {"fast": {"steps": 4, "cache_interval": 2}, "turbo": {"steps": 3, "guidance_scale": 0.0}}


def _config(root, **speed) -> RuntimeConfig:
    return RuntimeConfig(
        preset="tiny",
        cache_dir=root / "cache",
        styles_dir=root / "styles",
        templates_dir=root / "templates",
        generation={"width": 64, "height": 64, "num_inference_steps": STEPS, "max_batch": 2},
        speed={**SPEED, **speed},
        images={"min_side": 32},  # a variation starts from a 64 px result
    )


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> FactEngine:
    config = _config(tmp_path_factory.mktemp("tiers"))
    write_kohya_lora(config.styles_dir / "loras" / "film.safetensors", seed=4)
    write_style(config.styles_dir, "filmic", lora="loras/film.safetensors", weight=1.0)
    engine = FactEngine(config, load_styles(config.styles_dir))
    engine.warm_up()
    return engine


@dataclass
class Call:
    pipeline: str
    scheduler: type
    scheduler_config: dict
    adapters: tuple
    kwargs: dict


@pytest.fixture
def calls(monkeypatch, engine) -> list[Call]:
    """Every denoising call a job makes, with the scheduler and the LoRAs it runs with."""
    recorded: list[Call] = []
    real = diffusion.run_denoising
    loras = engine.stack.base("tiny").loras

    def spy(pipe, seeds, **kwargs):
        adapters = tuple(name for name, _ in loras.selection)
        recorded.append(Call(type(pipe).__name__, type(pipe.scheduler), dict(pipe.scheduler.config), adapters, kwargs))
        return real(pipe, seeds, **kwargs)

    monkeypatch.setattr(diffusion, "run_denoising", spy)
    monkeypatch.setattr(control_inpaint, "run_denoising", spy)
    monkeypatch.setattr(img2img_stage, "run_denoising", spy)
    return recorded


@pytest.fixture(scope="module")
def skeleton() -> bytes:
    return png_bytes(draw_body_poses([_pose(PERSON)], 200, 160))


@pytest.fixture(scope="module")
def template(astronaut_rgb, grace_hopper_rgb) -> bytes:
    grace = cv2.resize(grace_hopper_rgb, (256, 300), interpolation=cv2.INTER_AREA)
    return png_bytes(np.ascontiguousarray(np.concatenate([astronaut_rgb[20:250, 140:270], grace[15:245, 86:256]], 1)))


def _expect(call: Call, tier: str, *, strength: float = 1.0) -> None:
    scheduler, config = call.scheduler.__name__, call.scheduler_config
    steps = call.kwargs["num_inference_steps"]
    if tier == "original":
        assert scheduler == "PNDMScheduler" and steps == STEPS
    elif tier == "fast":
        assert scheduler == "DPMSolverMultistepScheduler" and config["use_karras_sigmas"]
        assert config["algorithm_type"] == "dpmsolver++" and config["solver_order"] == 2
        assert steps == max(4, math.ceil(1 / strength - 1e-9)) and call.kwargs["cache_interval"] == 2
    else:
        assert scheduler == "DDIMScheduler" and config["timestep_spacing"] == "trailing"
        assert steps == max(3, math.ceil(1 / strength - 1e-9)) and call.kwargs["guidance_scale"] == 0.0
    assert (TURBO_ADAPTER in call.adapters) == (tier == "turbo")
    if tier != "fast":
        assert call.kwargs.get("cache_interval", 1) == 1


@pytest.mark.parametrize("tier", ["original", "fast", "turbo"])
def test_each_tier_runs_a_portrait_with_a_pose_and_the_style_lora(engine, calls, skeleton, astronaut_png, tier):
    request = PortraitRequest(user_id="u", selfie=astronaut_png, style_id="filmic", seed=3, pose=skeleton, speed=tier)
    result = engine.run(request, lambda *args: None)
    assert result.speed == tier and len(result.images) == 1
    [call] = calls
    assert call.pipeline == "StableDiffusionControlNetPipeline"
    _expect(call, tier)
    # The style's LoRA runs in every tier; the turbo LoRA only in its own.
    assert "filmic" in call.adapters


@pytest.mark.parametrize("recipe", ["fast", "original"])
@pytest.mark.parametrize("tier", ["original", "fast", "turbo"])
def test_each_tier_runs_both_inpainting_recipes(engine, calls, template, astronaut_png, tier, recipe) -> None:
    request = InpaintRequest(
        user_id="u", selfie=astronaut_png, template=template, face_index=2, seed=5, recipe=recipe, speed=tier
    )
    steps: list[tuple[int, int]] = []
    result = engine.run(request, lambda stage, done=0, total=0: steps.append((done, total)) if done else None)
    assert result.speed == tier and len(result.images) == 1
    strengths = {"StableDiffusionPipeline": 1.0}
    for call in calls:
        strength = call.kwargs.get("strength", strengths.get(call.pipeline, 1.0))
        _expect(call, tier, strength=strength)
        assert "filmic" not in call.adapters
    if recipe == "original":
        assert [c.kwargs.get("strength") for c in calls] == [None, 0.6, REFINE_STRENGTH]
    # The progress total announced up front is the count the passes actually reach.
    assert steps[-1][0] == steps[-1][1] > 0


@pytest.mark.parametrize("tier", ["original", "fast", "turbo"])
def test_each_tier_runs_a_variation_as_its_parent_was_made(engine, calls, astronaut_png, tier) -> None:
    parent = PortraitRequest(user_id="u", selfie=astronaut_png, style_id="filmic", seed=3, speed=tier)
    image = engine.run(parent, lambda *args: None).images[0].png
    calls.clear()
    request = VaryRequest("u", image, astronaut_png, "filmic", strength=0.3, seed=4, speed=tier)
    result = engine.run(request, lambda *args: None)
    assert result.speed == tier
    assert [call.pipeline for call in calls] == ["StableDiffusionImg2ImgPipeline"]
    _expect(calls[0], tier, strength=0.3)


def test_the_turbo_lora_is_switched_off_after_a_turbo_job(engine, astronaut_png) -> None:
    def portrait(tier: str) -> np.ndarray:
        request = PortraitRequest(user_id="u", selfie=astronaut_png, style_id="filmic", seed=9, speed=tier)
        return decode_png(engine.run(request, lambda *args: None).images[0].png).astype(int)

    before = portrait("original")
    turbo = portrait("turbo")
    assert engine.stack.base("tiny").loras.selection == (("filmic", 1.0), (TURBO_ADAPTER, 1.0))
    after = portrait("original")
    assert engine.stack.base("tiny").loras.selection == (("filmic", 1.0),)
    # The fused weights are restored exactly (the tiny model turns a 1e-7 change into visible noise).
    assert np.array_equal(after, before)
    assert turbo.shape == before.shape


def test_a_missing_turbo_lora_is_refused_naming_the_download(tmp_path, astronaut_png) -> None:
    config = _config(tmp_path, turbo={"lora": {"path": str(tmp_path / "hyper.safetensors")}})
    write_style(config.styles_dir, "plain")
    engine = FactEngine(config, load_styles(config.styles_dir))
    request = PortraitRequest(user_id="u", selfie=astronaut_png, style_id="plain", seed=1, speed="turbo")
    with pytest.raises(ModelMissing) as refused:
        engine.run(request, lambda *args: None)
    assert "python -m fact_runtime download" in refused.value.user_message
    assert "python -m fact_runtime download" in str(refused.value)
    assert refused.value.user_message.count(".") == 1


def test_a_tier_the_server_does_not_offer_is_refused_at_submission(astronaut_png) -> None:
    limits = RequestLimits(speeds=("original", "fast"))
    with pytest.raises(InvalidRequest) as refused:
        check_request(PortraitRequest(user_id="u", selfie=astronaut_png, style_id="s", speed="turbo"), limits)
    assert refused.value.user_message == "This server offers these speeds: original, fast."
    check_request(PortraitRequest(user_id="u", selfie=astronaut_png, style_id="s", speed="fast"), limits)
    check_request(PortraitRequest(user_id="u", selfie=astronaut_png, style_id="s"), limits)


def test_the_default_tier_must_be_allowed() -> None:
    with pytest.raises(ValueError, match="default tier"):
        RuntimeConfig(preset="tiny", speed={"default": "turbo", "allowed": ["original"]})


def _counter(module) -> list[int]:
    calls = [0]
    module.register_forward_pre_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


def test_the_fast_tier_runs_the_deep_blocks_and_the_controlnet_every_interval_afresh_per_batch(
    tmp_path, skeleton, astronaut_png
) -> None:
    config = _config(tmp_path, fast={"steps": 7, "cache_interval": 3})
    write_style(config.styles_dir, "plain")
    engine = FactEngine(config, load_styles(config.styles_dir))
    base = engine.stack.base("tiny")
    unet = base.text2img.unet
    # Submodules of the skipped blocks: they run only when the block really runs.
    unet_calls, deep_calls = _counter(unet.conv_in), _counter(unet.mid_block.resnets[0])
    net_calls = _counter(engine.stack.controlnet().conv_in)
    shallow_calls = _counter(unet.down_blocks[0].resnets[0])
    request = PortraitRequest(
        user_id="u", selfie=astronaut_png, style_id="plain", seed=2, count=3, pose=skeleton, speed="fast"
    )
    result = engine.run(request, lambda *args: None)
    assert len(result.images) == 3
    # Two batches (max_batch 2) of 7 steps: full at steps 0, 3, 6 of each.
    assert unet_calls[0] == shallow_calls[0] == 14
    assert deep_calls[0] == net_calls[0] == 6
    # Everything is put back: a plain call runs every block again.
    assert "forward" not in vars(unet) and "forward" not in vars(unet.mid_block)


def test_a_turbo_lora_missing_from_the_cache_names_the_download(tmp_path) -> None:
    from fact_runtime.config import load_runtime_config
    from fact_runtime.loading.stack import ModelStack

    config = load_runtime_config(Path(__file__).resolve().parents[1] / "config.yaml")
    stack = ModelStack(config.model_copy(update={"cache_dir": tmp_path}), is_offline=True)
    with pytest.raises(ModelMissing) as refused:
        stack.turbo_lora()
    assert "ByteDance/Hyper-SD" in str(refused.value) and "`python -m fact_runtime download`" in str(refused.value)
    assert "python -m fact_runtime download" in refused.value.user_message


def test_no_turbo_lora_configured_refuses_the_tier(tmp_path, astronaut_png) -> None:
    config = _config(tmp_path, turbo={"lora": None})
    write_style(config.styles_dir, "plain")
    engine = FactEngine(config, load_styles(config.styles_dir))
    request = PortraitRequest(user_id="u", selfie=astronaut_png, style_id="plain", seed=1, speed="turbo")
    with pytest.raises(ModelMissing, match=r"no speed\.turbo\.lora is configured"):
        engine.run(request, lambda *args: None)


@pytest.mark.parametrize("is_tiled", [True, False])
def test_images_larger_than_the_vae_tile_decode_in_tiles(tmp_path, astronaut_png, monkeypatch, is_tiled) -> None:
    config = _config(tmp_path, is_vae_tiled=is_tiled).model_copy(
        update={"generation": _config(tmp_path).generation.model_copy(update={"width": 128, "height": 128})}
    )
    write_style(config.styles_dir, "plain")
    engine = FactEngine(config, load_styles(config.styles_dir))
    vae = engine.stack.base("tiny").text2img.vae
    tiles: list[tuple] = []
    real = vae.tiled_decode
    monkeypatch.setattr(vae, "tiled_decode", lambda z, **kwargs: tiles.append(z.shape) or real(z, **kwargs))
    request = PortraitRequest(user_id="u", selfie=astronaut_png, style_id="plain", seed=1, speed="turbo")
    image = decode_png(engine.run(request, lambda *args: None).images[0].png)
    assert image.shape == (128, 128, 3)
    # The tiny VAE's tile is 64 px: a 128 px image is decoded in tiles only when tiling is on.
    assert bool(tiles) == is_tiled
