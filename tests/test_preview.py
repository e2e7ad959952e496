"""Previews of the image forming: the latent projection, the interval, and the engine sending them."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from fact_runtime.catalog import StyleCatalog
from fact_runtime.pipelines import FactEngine
from fact_runtime.pipelines.preview import PREVIEW_SIDE, SD15_LATENT_RGB, PreviewThrottle, encode_jpeg, latents_to_rgb
from fact_runtime.request import PortraitRequest, VaryRequest
from fact_runtime.results import Stage
from tests.tiny_stack import png_bytes, tiny_config, write_style

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_the_projection_is_uint8_rgb_of_the_first_image_at_the_asked_side() -> None:
    latents = torch.zeros(2, 4, 8, 6)
    latents[0, 0] = 1.0  # channel 0 alone: its row of the projection, mapped from [-1, 1] to [0, 255]
    latents[1] = 50.0  # the second image must not show
    rgb = latents_to_rgb(latents, side=16)
    assert rgb.shape == (16, 12, 3)
    assert rgb.dtype == np.uint8
    expected = [round((1 + value) * 127.5) for value in SD15_LATENT_RGB[0]]
    assert np.abs(rgb.astype(int) - expected).max() <= 1


def test_the_projection_clamps_out_of_range_latents() -> None:
    rgb = latents_to_rgb(torch.full((1, 4, 4, 4), 100.0) * torch.tensor([1.0, 1.0, -1.0, -1.0])[:, None, None], side=4)
    assert rgb.min() >= 0 and rgb.max() <= 255
    assert set(np.unique(rgb)) <= {0, 255}


def test_the_projection_refuses_latents_of_another_shape() -> None:
    with pytest.raises(ValueError, match=r"SD1\.5 latents"):
        latents_to_rgb(torch.zeros(1, 16, 8, 8), side=8)


def test_a_preview_comes_at_most_every_interval_of_wall_time() -> None:
    now = [0.0]
    sent: list[bytes] = []
    throttle = PreviewThrottle(sent.append, interval_s=5.0, side=32, clock=lambda: now[0])
    latents = torch.randn(1, 4, 8, 8)
    for tick in range(23):  # a step every half second for 11 s
        now[0] = tick * 0.5
        throttle(latents)
    assert len(sent) == 2  # at 5 s and at 10 s, none before the first interval
    assert Image.open(io.BytesIO(sent[0])).format == "JPEG"
    assert Image.open(io.BytesIO(sent[0])).size == (32, 32)


class _PreviewRecorder:
    def __init__(self) -> None:
        self.previews: list[bytes] = []
        self.steps: set[int] = set()

    def __call__(self, stage: Stage, step: int = 0, total: int = 0) -> None:
        if stage == "denoising" and step > 0:
            self.steps.add(step)

    def preview(self, jpeg: bytes) -> None:
        self.previews.append(jpeg)


@pytest.mark.parametrize(("interval_s", "expects_previews"), [(1e-9, True), (0.0, False)])
def test_the_engine_sends_previews_to_a_reporter_that_takes_them(
    tmp_path, astronaut_png, interval_s: float, expects_previews: bool
) -> None:
    config = tiny_config(tmp_path, num_inference_steps=4, preview_interval_s=interval_s)
    config = config.model_copy(update={"images": config.images.model_copy(update={"min_side": 32})})
    write_style(config.styles_dir, "plain")
    catalog = StyleCatalog.from_config(config)
    catalog.reload()
    engine = FactEngine(config, catalog)
    engine.warm_up()
    recorder = _PreviewRecorder()
    result = engine.run(PortraitRequest("u1", astronaut_png, "plain", seed=1), recorder)
    assert bool(recorder.previews) is expects_previews
    if expects_previews:
        assert len(recorder.previews) == 4  # one per step: every step is past a nanosecond's interval
        assert max(Image.open(io.BytesIO(recorder.previews[-1])).size) == PREVIEW_SIDE
        parent = png_bytes(np.asarray(Image.open(io.BytesIO(result.images[0].png)).convert("RGB")))
        recorder.previews.clear()
        recorder.steps.clear()
        engine.run(VaryRequest("u1", parent, astronaut_png, "plain", strength=0.5, seed=2), recorder)
        assert 1 <= len(recorder.previews) == len(recorder.steps) < 4  # a share of the steps, each previewed


def test_a_progress_snapshot_carries_its_preview_across_the_broker() -> None:
    from fact_runtime.executor.redis.codec import decode_progress, encode_progress
    from fact_runtime.executor.redis.sealing import Sealer, generate_key

    sealer = Sealer.from_text(generate_key(), source="test")
    from fact_runtime.results import Progress

    jpeg = encode_jpeg(latents_to_rgb(torch.randn(1, 4, 8, 8), side=16))
    progress = Progress("denoising", 3, 10, 0, 4.5, preview=jpeg)
    assert decode_progress(encode_progress("job-1", progress, worker="w1", sealer=sealer), sealer=sealer) == progress
    progress = Progress("denoising", 4, 10)
    assert (
        decode_progress(encode_progress("job-1", progress, worker="w1", sealer=sealer), sealer=sealer).preview is None
    )


def _tiny_autoencoder(folder) -> None:
    from diffusers import AutoencoderTiny

    torch.manual_seed(0)
    AutoencoderTiny(
        encoder_block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        num_encoder_blocks=(1, 1, 1, 1),
        num_decoder_blocks=(1, 1, 1, 1),
        latent_channels=4,
    ).save_pretrained(folder)


def test_a_configured_tiny_autoencoder_decodes_the_previews(tmp_path) -> None:
    from fact_runtime.config import ModelRef
    from fact_runtime.loading.on_demand import load_preview_decoder
    from fact_runtime.loading.registry import ModelRegistry

    _tiny_autoencoder(tmp_path / "taesd")
    registry = ModelRegistry(tmp_path / "cache", is_offline=True)
    decoder = load_preview_decoder(ModelRef(path=tmp_path / "taesd"), registry, torch.device("cpu"), torch.float32)
    sent: list[bytes] = []
    throttle = PreviewThrottle(sent.append, interval_s=1.0, side=32, decoder=decoder, clock=iter([0.0, 1.0]).__next__)
    latents = torch.randn(2, 4, 8, 6)
    throttle(latents)
    assert Image.open(io.BytesIO(sent[0])).size == (24, 32)
    # Through the autoencoder, not the projection: the picture is its decoding, at 8x the latents.
    from fact_runtime.pipelines.preview import decoded_to_rgb

    decoded = decoded_to_rgb(decoder, latents, side=64)
    assert decoded.shape == (64, 48, 3) and decoded.dtype == np.uint8
    assert not np.array_equal(decoded, latents_to_rgb(latents, side=64))


def test_a_preview_decoder_folder_that_is_not_one_is_refused_by_name(tmp_path) -> None:
    from fact_runtime.config import ModelRef
    from fact_runtime.errors import ModelMissing
    from fact_runtime.loading.on_demand import load_preview_decoder
    from fact_runtime.loading.registry import ModelRegistry

    (tmp_path / "empty").mkdir()
    registry = ModelRegistry(tmp_path / "cache", is_offline=True)
    with pytest.raises(ModelMissing, match="preview decoder"):
        load_preview_decoder(ModelRef(path=tmp_path / "empty"), registry, torch.device("cpu"), torch.float32)
