"""Upscale and vary on the tiny preset: sizes, likeness to the parent, seeds, and the size limits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from fact_runtime.catalog import StyleCatalog
from fact_runtime.config import RuntimeConfig
from fact_runtime.errors import InvalidRequest
from fact_runtime.executor.redis.codec import decode_request, encode_request
from fact_runtime.executor.redis.sealing import Sealer, generate_key
from fact_runtime.limits import RequestLimits, check_request
from fact_runtime.pipelines import FactEngine
from fact_runtime.request import UpscaleRequest, VaryRequest
from tests.tiny_stack import decode_png, png_bytes, tiny_config, write_style

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _config(tmp_path, max_pixels: int = 40_000_000, **generation: object) -> RuntimeConfig:
    config = tiny_config(tmp_path, num_inference_steps=10, **generation)
    # The tiny preset's 64 px results must be accepted as parents.
    images = config.images.model_copy(update={"min_side": 32, "max_pixels": max_pixels})
    return config.model_copy(update={"images": images})


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> FactEngine:
    config = _config(tmp_path_factory.mktemp("follow_up"))
    write_style(config.styles_dir, "plain")
    catalog = StyleCatalog.from_config(config)
    catalog.reload()
    engine = FactEngine(config, catalog)
    engine.warm_up()
    return engine


def _square(rgb: np.ndarray, side: int) -> np.ndarray:
    height, width = rgb.shape[:2]
    short = min(height, width)
    top, left = (height - short) // 2, (width - short) // 2
    crop = rgb[top : top + short, left : left + short]
    return np.asarray(Image.fromarray(crop).resize((side, side), Image.Resampling.LANCZOS))


def _shrink(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.LANCZOS)).astype(float)


def _mae(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(float) - b.astype(float)).mean())


def _image(engine: FactEngine, request: UpscaleRequest | VaryRequest) -> np.ndarray:
    result = engine.run(request, lambda *_: None)
    assert len(result.images) == 1
    return decode_png(result.images[0].png)


def _vae_round_trip(engine: FactEngine, rgb: np.ndarray) -> np.ndarray:
    """What the tiny (random) VAE makes of a picture: the closest any redraw through it can stay."""
    vae = engine.stack.base("tiny").text2img.vae
    pixels = torch.from_numpy(rgb.copy()).permute(2, 0, 1)[None].float() / 127.5 - 1
    with torch.inference_mode():
        decoded = vae.decode(vae.encode(pixels).latent_dist.mean).sample
    return ((decoded[0].permute(1, 2, 0).clamp(-1, 1) + 1) * 127.5).numpy()


def test_upscale_doubles_the_size_exactly_and_keeps_the_picture(
    engine: FactEngine, astronaut_rgb, grace_hopper_rgb
) -> None:
    parent, other = _square(astronaut_rgb, 64), _square(grace_hopper_rgb, 64)
    upscaled = _image(engine, UpscaleRequest("u1", png_bytes(parent), png_bytes(astronaut_rgb), "plain", seed=5))
    assert upscaled.shape == (128, 128, 3)
    # The tiny preset's VAE is random (a round trip alone moves pixels by about 70 of 255), so the
    # bound is relative to it: the downscaled upscale is no further from its parent than the VAE's own
    # round trip, and clearly nearer to its parent than to another photo.
    back = _shrink(upscaled, 64, 64)
    round_trip = _mae(_shrink(_vae_round_trip(engine, parent).round().astype(np.uint8), 64, 64), parent)
    to_parent, to_other = _mae(back, parent), _mae(back, other)
    assert to_parent <= round_trip + 3.0, (to_parent, round_trip)
    assert to_parent < to_other - 2.0, (to_parent, to_other)


def test_upscale_of_a_size_not_divisible_by_eight_is_still_exactly_twice_it(engine: FactEngine, astronaut_rgb) -> None:
    parent = np.asarray(Image.fromarray(astronaut_rgb).resize((50, 42)))
    upscaled = _image(engine, UpscaleRequest("u1", png_bytes(parent), png_bytes(astronaut_rgb), "plain", seed=1))
    assert upscaled.shape == (84, 100, 3)


def test_vary_keeps_the_size_differs_from_the_parent_and_repeats_with_its_seed(
    engine: FactEngine, astronaut_rgb
) -> None:
    parent = np.asarray(Image.fromarray(astronaut_rgb).resize((64, 48)))
    selfie = png_bytes(astronaut_rgb)

    def vary(seed: int, strength: float = 0.6) -> np.ndarray:
        return _image(engine, VaryRequest("u1", png_bytes(parent), selfie, "plain", strength=strength, seed=seed))

    first, again, other = vary(7), vary(7), vary(8)
    assert first.shape == parent.shape
    assert np.array_equal(first, again)
    assert _mae(first, parent) > 5.0
    assert not np.array_equal(first, other)
    assert vary(7, strength=0.3).shape == parent.shape


def test_a_result_over_max_pixels_is_refused_with_a_sentence_before_any_model(tmp_path, astronaut_rgb) -> None:
    config = _config(tmp_path, max_pixels=100 * 100)
    limits = RequestLimits.from_config(config)
    request = UpscaleRequest("u1", png_bytes(_square(astronaut_rgb, 64)), png_bytes(astronaut_rgb), "plain")
    check_request(request, RequestLimits.from_config(_config(tmp_path)))
    with pytest.raises(InvalidRequest) as refused:
        check_request(request, limits)
    assert refused.value.user_message == ("An upscale to 128x128 would exceed this server's limit of 0.01 megapixels.")


def test_an_upscale_past_the_gpu_budget_of_max_batch_is_refused(tmp_path, astronaut_rgb) -> None:
    parent = png_bytes(_square(astronaut_rgb, 64))
    request = UpscaleRequest("u1", parent, parent, "plain", scale=4)
    # 4x of 64 px is 256 x 256: sixteen 64 x 64 images in one UNet call.
    with pytest.raises(InvalidRequest) as refused:
        check_request(request, RequestLimits.from_config(_config(tmp_path, max_batch=4)))
    assert "GPU" in refused.value.user_message
    assert refused.value.user_message.endswith("try a smaller scale.")
    check_request(request, RequestLimits.from_config(_config(tmp_path, max_batch=16)))


@pytest.mark.parametrize(
    ("request_", "sentence"),
    [
        (UpscaleRequest("u1", b"", b"x", "plain"), "That image is no longer available."),
        (VaryRequest("u1", b"x", b"x", "plain", strength=0.0), "The strength must be above 0 and at most 1."),
        (UpscaleRequest("u1", b"x", b"x", "plain", scale=3), "An upscale is 2x or 4x."),  # type: ignore[arg-type]
    ],
)
def test_follow_ups_out_of_range_are_refused(request_, sentence) -> None:
    with pytest.raises(InvalidRequest) as refused:
        check_request(request_, RequestLimits())
    assert refused.value.user_message == sentence


def test_follow_up_requests_cross_the_broker_unchanged(astronaut_png) -> None:
    for request in (
        UpscaleRequest("u1", b"parent", astronaut_png, "plain", seed=4, scale=4, strength=0.35),
        VaryRequest("u1", b"parent", astronaut_png, "plain", strength=0.3, references=(b"ref",), speed="turbo"),
    ):
        sealer = Sealer.from_text(generate_key(), source="test")
        assert decode_request(encode_request("job-1", request, sealer=sealer), sealer=sealer) == request


def test_an_upscale_past_the_vae_tile_goes_through_it_in_tiles_and_leaves_its_setting(
    engine: FactEngine, astronaut_rgb, monkeypatch: pytest.MonkeyPatch
) -> None:
    vae = engine.stack.base("tiny").text2img.vae
    assert vae.config.sample_size == 64  # the tiny VAE's tile: a 128 px upscale is larger
    was_tiled = vae.use_tiling  # a server setting may tile every decode; the upscale must not change it
    tiled: list[str] = []
    for name in ("_tiled_encode", "tiled_decode"):
        method = getattr(vae, name)
        monkeypatch.setattr(
            vae,
            name,
            lambda *args, name=name, method=method, **kwargs: (tiled.append(name), method(*args, **kwargs))[1],
        )
    parent = png_bytes(_square(astronaut_rgb, 64))
    _image(engine, UpscaleRequest("u1", parent, png_bytes(astronaut_rgb), "plain", seed=2))
    assert set(tiled) == {"_tiled_encode", "tiled_decode"}
    assert vae.use_tiling == was_tiled  # the portraits sharing this VAE decode as they did before
    tiled.clear()
    _image(engine, VaryRequest("u1", parent, png_bytes(astronaut_rgb), "plain", strength=0.3, seed=2))
    assert tiled == []
