"""Follow-ups through the Runtime on the tiny preset: queued and run like any job, their inputs dropped after."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fact_runtime import Progress, Runtime, UpscaleRequest, VaryRequest, load_styles
from tests.tiny_stack import png_bytes, tiny_config, write_style

pytestmark = pytest.mark.usefixtures("one_torch_thread")


async def test_an_upscale_and_a_variation_run_on_the_worker_and_drop_their_inputs(
    tmp_path: Path, astronaut_rgb: np.ndarray, astronaut_png: bytes
) -> None:
    config = tiny_config(tmp_path, num_inference_steps=4)
    # Previews as often as steps come: each must reach the waiter (the Runtime's reporter takes them).
    generation = config.generation.model_copy(update={"preview_interval_s": 1e-6})
    config = config.model_copy(
        update={"images": config.images.model_copy(update={"min_side": 32}), "generation": generation}
    )
    write_style(config.styles_dir, "plain")
    parent = png_bytes(np.asarray(Image.fromarray(astronaut_rgb).resize((64, 64))))
    runtime = Runtime.from_config(config, load_styles(config.styles_dir))
    await runtime.start()
    try:
        upscale = runtime.submit(UpscaleRequest("u1", parent, astronaut_png, "plain", seed=3))
        vary = runtime.submit(VaryRequest("u1", parent, astronaut_png, "plain", strength=0.6))
        updates = [update async for update in upscale]
        upscaled, varied = await upscale.result(), await vary.result()
    finally:
        await runtime.close()
    assert any(isinstance(update, Progress) and update.stage == "denoising" for update in updates)
    previews = [update.preview for update in updates if isinstance(update, Progress) and update.preview]
    assert previews, "no preview reached the job's waiter"
    assert Image.open(io.BytesIO(previews[-1])).format == "JPEG"
    assert Image.open(io.BytesIO(upscaled.images[0].png)).size == (128, 128)
    assert upscaled.images[0].seed == 3
    assert Image.open(io.BytesIO(varied.images[0].png)).size == (64, 64)
    # Finished jobs keep no photo: the parent image goes with the selfie.
    for handle in (upscale, vary):
        assert handle.request.image == b"" and handle.request.selfie == b""
