"""The tiny preset on CUDA in float16 and bfloat16: every tier through a portrait (pose + LoRA) and both inpainting recipes.

Skipped without a CUDA device; ``bench/gpu_check.sh`` runs them on a GPU machine.
"""

from __future__ import annotations

import numpy as np
import pytest

from fact_runtime.catalog import load_styles
from fact_runtime.config import RuntimeConfig
from fact_runtime.pipelines.engine import FactEngine
from fact_runtime.pose import draw_body_poses
from fact_runtime.request import InpaintRequest, PortraitRequest
from tests.test_openpose import PERSON, _pose
from tests.tiny_stack import decode_png, png_bytes, side_by_side, write_kohya_lora, write_style

pytestmark = pytest.mark.cuda

TIERS = ("original", "fast", "turbo")


@pytest.fixture(scope="module", params=["float16", "bfloat16"])
def engine(request, tmp_path_factory) -> FactEngine:
    root = tmp_path_factory.mktemp(request.param)
    config = RuntimeConfig(
        preset="tiny",
        device="cuda",
        dtype=request.param,
        cache_dir=root / "cache",
        styles_dir=root / "styles",
        generation={"width": 64, "height": 64, "num_inference_steps": 6},
        speed={"fast": {"steps": 4, "cache_interval": 2}, "turbo": {"steps": 2}},
    )
    write_kohya_lora(config.styles_dir / "loras" / "film.safetensors", seed=4)
    write_style(config.styles_dir, "filmic", lora="loras/film.safetensors", weight=1.0)
    engine = FactEngine(config, load_styles(config.styles_dir))
    engine.warm_up()
    return engine


@pytest.mark.parametrize("tier", TIERS)
def test_a_portrait_with_a_pose_and_a_lora_on_cuda(engine, astronaut_png, tier) -> None:
    pose = png_bytes(draw_body_poses([_pose(PERSON)], 200, 160))
    request = PortraitRequest(user_id="u", selfie=astronaut_png, style_id="filmic", seed=3, pose=pose, speed=tier)
    result = engine.run(request, lambda *args: None)
    image = decode_png(result.images[0].png)
    assert result.speed == tier and image.shape == (64, 64, 3) and image.std() > 0


@pytest.mark.parametrize("recipe", ["fast", "original"])
@pytest.mark.parametrize("tier", TIERS)
def test_both_inpainting_recipes_on_cuda(engine, astronaut_rgb, grace_hopper_rgb, astronaut_png, tier, recipe) -> None:
    template = side_by_side(astronaut_rgb, grace_hopper_rgb)
    request = InpaintRequest(
        user_id="u", selfie=astronaut_png, template=png_bytes(template), face_index=2, recipe=recipe, speed=tier
    )
    result = engine.run(request, lambda *args: None)
    output = decode_png(result.images[0].png)
    assert result.speed == tier and output.shape == template.shape
    # Outside the chosen face the template is untouched.
    assert np.array_equal(output[:, :512], template[:, :512])
