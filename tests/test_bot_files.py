"""Fitting result images into Discord's upload limits."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from bot.jobs.files import MAX_FILES, FileTooLarge, fit_images
from bot.texts import clip_content


def _noisy_png(seed: int, side: int = 512) -> bytes:
    # Noise defeats PNG compression, like the detail of a real 512x512 portrait does.
    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def test_large_pngs_are_reencoded_under_the_limit() -> None:
    images = [_noisy_png(seed) for seed in range(3)]
    limit = 150_000
    assert all(len(png) > 4 * limit for png in images)

    fitted = fit_images(images, limit)

    assert len(fitted) == 3
    for item in fitted:
        assert len(item.data) <= limit
        assert item.filename.endswith(".jpg")
        assert Image.open(io.BytesIO(item.data)).format == "JPEG"


def test_a_very_small_limit_downscales() -> None:
    fitted = fit_images([_noisy_png(1)], 20_000)
    image = Image.open(io.BytesIO(fitted[0].data))
    assert len(fitted[0].data) <= 20_000
    assert image.width < 512


def test_small_pngs_stay_png_and_keep_their_bytes() -> None:
    png = _noisy_png(2, side=32)
    fitted = fit_images([png], 10 * 1024 * 1024, name="portrait-ab")
    assert fitted[0].filename == "portrait-ab-1.png"
    assert fitted[0].data == png


def test_at_most_ten_files_and_one_request_under_25_mib() -> None:
    images = [_noisy_png(seed, side=64) for seed in range(12)]
    fitted = fit_images(images, 10 * 1024 * 1024, request_limit=100_000)
    assert len(fitted) == MAX_FILES
    assert sum(len(item.data) for item in fitted) <= 100_000


def test_an_impossible_limit_raises() -> None:
    with pytest.raises(FileTooLarge):
        fit_images([_noisy_png(3)], 100)


def test_content_is_clipped_to_2000_characters() -> None:
    assert clip_content("x" * 10) == "x" * 10
    clipped = clip_content("y" * 2500)
    assert len(clipped) == 2000 and clipped.endswith("…")
