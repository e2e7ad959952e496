"""One real job on the tiny preset through the Runtime: the real engine on the worker thread."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml
from PIL import Image

from fact_runtime import PortraitRequest, Progress, Runtime, load_runtime_config, load_styles


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    style_dir = tmp_path / "styles"
    style_dir.mkdir()
    (style_dir / "plain.yaml").write_text(
        yaml.safe_dump(
            {
                "id": "plain",
                "name": "Plain",
                "base_model": "majicmix",
                "prompt": "a photo of {subject}, plain background",
            }
        ),
        encoding="utf-8",
    )
    path = tmp_path / "config.yaml"
    runtime_section = {
        "preset": "tiny",
        "device": "cpu",
        "cache_dir": str(tmp_path / "cache"),
        "styles_dir": str(style_dir),
        "templates_dir": str(tmp_path / "templates"),
        "generation": {"num_inference_steps": 2, "width": 64, "height": 64, "max_batch": 1},
    }
    path.write_text(yaml.safe_dump({"runtime": runtime_section}), encoding="utf-8")
    return path


async def test_a_tiny_preset_job_runs_on_the_worker(config_file: Path, astronaut_png: bytes) -> None:
    config = load_runtime_config(config_file)
    runtime = Runtime.from_config(config, load_styles(config.styles_dir))
    await runtime.start()
    try:
        request = PortraitRequest(user_id="u1", selfie=astronaut_png, style_id="plain", seed=7)
        handle = runtime.submit(request)
        updates = [update async for update in handle]
        result = await handle.result()
        assert updates[-1] is result and all(isinstance(update, Progress) for update in updates[:-1])
    finally:
        await runtime.close()
    assert len(result.images) == 1
    image = Image.open(io.BytesIO(result.images[0].png))
    assert image.format == "PNG" and min(image.size) > 0
    metrics = runtime.metrics()
    assert metrics.jobs_by_outcome == {"succeeded": 1}
    assert metrics.step_seconds[1] >= 1  # the engine reported timed denoising steps
    assert not runtime.is_alive
