"""Decoding untrusted bytes: every format and mode to RGB, every bad input to its typed error."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from fact_runtime.config import ImageLimits
from fact_runtime.errors import ImageTooLarge, ImageTooSmall, ImageUnreadable, UnsupportedImage
from fact_runtime.image import decode_image, downscale_for_analysis, encode_png

LIMITS = ImageLimits(max_bytes=5 * 1024 * 1024, max_pixels=4_000_000, min_side=128)


def _save(image: Image.Image, image_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def _png_with_declared_size(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR claims ``width`` x ``height`` (valid CRC, almost no pixel data)."""
    data = bytearray(_save(Image.new("RGB", (200, 200), (9, 9, 9)), "PNG"))
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


def test_jpeg_png_and_webp_decode_to_the_same_rgb(astronaut_rgb, astronaut_png, grace_hopper_jpeg, grace_hopper_rgb):
    png = decode_image(astronaut_png, LIMITS)
    assert png.format == "PNG" and png.rgb.dtype == np.uint8
    np.testing.assert_array_equal(png.rgb, astronaut_rgb)
    jpeg = decode_image(grace_hopper_jpeg, LIMITS)
    assert jpeg.format == "JPEG" and jpeg.rgb.shape == grace_hopper_rgb.shape
    assert np.abs(jpeg.rgb.astype(int) - grace_hopper_rgb).mean() < 3
    webp = decode_image(_save(Image.fromarray(astronaut_rgb), "WEBP", lossless=True), LIMITS)
    assert webp.format == "WEBP"
    np.testing.assert_array_equal(webp.rgb, astronaut_rgb)


def test_animated_webp_gives_its_first_frame():
    frames = [Image.new("RGB", (160, 160), colour) for colour in ((250, 0, 0), (0, 0, 250))]
    data = _save(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True, duration=100)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    rgb = decode_image(data, LIMITS).rgb
    assert rgb.shape == (160, 160, 3)
    np.testing.assert_array_equal(rgb[80, 80], [250, 0, 0])


def test_exif_orientation_is_applied(grace_hopper_rgb):
    # Orientation 6 means "rotate 90 degrees clockwise to display": store the photo turned the other way.
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(grace_hopper_rgb, k=1)))
    exif = Image.Exif()
    exif[0x0112] = 6
    decoded = decode_image(_save(stored, "JPEG", quality=95, exif=exif.tobytes()), LIMITS).rgb
    assert decoded.shape == grace_hopper_rgb.shape
    assert np.abs(decoded.astype(int) - grace_hopper_rgb).mean() < 3


def test_rgba_is_composited_on_white():
    rgba = np.zeros((130, 130, 4), dtype=np.uint8)
    rgba[:, :65] = (10, 20, 200, 255)  # opaque blue on the left, fully transparent on the right
    rgba[0, 0] = (200, 0, 0, 128)  # half-transparent red
    rgb = decode_image(_save(Image.fromarray(rgba, "RGBA"), "PNG"), LIMITS).rgb
    np.testing.assert_array_equal(rgb[50, 10], [10, 20, 200])
    np.testing.assert_array_equal(rgb[50, 100], [255, 255, 255])
    assert abs(int(rgb[0, 0, 0]) - 228) <= 2 and abs(int(rgb[0, 0, 1]) - 127) <= 2


def test_palette_grey_cmyk_and_16_bit_modes_become_rgb():
    palette = Image.new("P", (130, 130))
    palette.putpalette([0, 0, 0, 30, 140, 60] + [0] * 762)
    palette.paste(1, (0, 0, 130, 65))
    rgb = decode_image(_save(palette, "PNG"), LIMITS).rgb
    np.testing.assert_array_equal(rgb[10, 10], [30, 140, 60])
    np.testing.assert_array_equal(rgb[100, 10], [0, 0, 0])

    transparent = palette.copy()
    transparent.info["transparency"] = 0
    rgb = decode_image(_save(transparent, "PNG", transparency=0), LIMITS).rgb
    np.testing.assert_array_equal(rgb[100, 10], [255, 255, 255])

    grey = decode_image(_save(Image.new("L", (130, 130), 77), "PNG"), LIMITS).rgb
    np.testing.assert_array_equal(grey[5, 5], [77, 77, 77])

    cmyk = decode_image(_save(Image.new("CMYK", (130, 130), (0, 255, 255, 0)), "JPEG", quality=95), LIMITS).rgb
    assert cmyk.shape == (130, 130, 3)
    assert cmyk[60, 60, 0] > 230 and cmyk[60, 60, 1] < 25 and cmyk[60, 60, 2] < 25

    ramp = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (130, 1))
    sixteen = Image.fromarray(ramp)
    assert sixteen.mode.startswith("I;16")
    rgb = decode_image(_save(sixteen, "PNG"), LIMITS).rgb
    np.testing.assert_array_equal(rgb[0, :, 0], np.rint(ramp[0] / 257).astype(np.uint8))
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])


def test_bad_inputs_get_their_errors(grace_hopper_jpeg):
    with pytest.raises(UnsupportedImage):
        decode_image(b"hello, this is a text file, not a photo\n" * 10, LIMITS)
    with pytest.raises(UnsupportedImage):
        decode_image(_save(Image.new("RGB", (200, 200)), "GIF"), LIMITS)
    with pytest.raises(ImageUnreadable):
        decode_image(grace_hopper_jpeg[: len(grace_hopper_jpeg) // 2], LIMITS)
    with pytest.raises(ImageUnreadable):
        decode_image(b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 40, LIMITS)


def test_pixel_cap_is_checked_from_the_header_before_decoding():
    modest = _png_with_declared_size(3000, 3000)  # 9 MP: under Pillow's own bomb limit, over ours
    assert len(modest) < 2000
    with pytest.raises(ImageTooLarge) as caught:
        decode_image(modest, LIMITS)
    assert "4 megapixels" in caught.value.user_message
    with pytest.raises(ImageTooLarge):
        decode_image(_png_with_declared_size(100_000, 100_000), LIMITS)


def test_pillow_bomb_warning_is_a_refusal_too(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 150 * 150)
    with pytest.raises(ImageTooLarge):
        decode_image(_save(Image.new("RGB", (200, 200)), "PNG"), LIMITS)


def test_too_small_and_over_the_byte_cap(grace_hopper_jpeg):
    with pytest.raises(ImageTooSmall) as caught:
        decode_image(_save(Image.new("RGB", (300, 100)), "PNG"), LIMITS)
    assert "128 pixels" in caught.value.user_message
    tight = ImageLimits(max_bytes=10_000, max_pixels=4_000_000, min_side=128)
    with pytest.raises(ImageTooLarge):
        decode_image(grace_hopper_jpeg, tight)
    with pytest.raises(ImageTooLarge):  # the byte cap comes before any parsing
        decode_image(b"x" * 10_001, tight)


def test_downscale_for_analysis_and_encode_png(astronaut_rgb):
    wide = np.zeros((1024, 2048, 3), dtype=np.uint8)
    small, scale = downscale_for_analysis(wide, 1024)
    assert small.shape == (512, 1024, 3) and scale == 0.5
    same, scale = downscale_for_analysis(astronaut_rgb, 1024)
    assert same is astronaut_rgb and scale == 1.0
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(encode_png(astronaut_rgb)))), astronaut_rgb)
