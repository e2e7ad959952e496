"""Decoding untrusted image bytes: format sniffing, caps checked before decoding, RGB out.

Every refusal is a typed ``InputError`` with one sentence for the user. The order of the checks
is the point: the byte cap before anything is parsed, the format from the magic bytes (only
JPEG, PNG and WebP are ever handed to Pillow), the pixel cap and the minimum side from the
header before a single pixel is decoded, then the decode itself, with truncated or corrupt data
refused instead of half-decoded.

Transparent images are composited on **white**: a cut-out selfie then looks the way Discord's
light theme and every browser show it, and dark hair stays distinct from the background, which
the face detector and the head mask need; on black, dark hair would merge into the background.
"""

from __future__ import annotations

import contextlib
import io
import logging
import struct
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageOps

from .config import ImageLimits
from .errors import ImageTooLarge, ImageTooSmall, ImageUnreadable, UnsupportedImage

__all__ = ["DecodedImage", "decode_image", "downscale_for_analysis", "encode_png", "image_size", "sniff_format"]

log = logging.getLogger(__name__)

# warnings.catch_warnings mutates process-wide filter state; serialise our use of it.
_WARNINGS_LOCK = threading.Lock()

_MODES_WITH_ALPHA = {"RGBA", "LA", "PA", "RGBa", "La"}
_BACKGROUND = (255, 255, 255)
_EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True, slots=True, eq=False)
class DecodedImage:
    """A decoded photo: full-resolution RGB after EXIF orientation, and the container format."""

    rgb: np.ndarray
    format: str

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


def sniff_format(data: bytes) -> str | None:
    """The container format from the magic bytes: "JPEG", "PNG", "WEBP", or None."""
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def decode_image(data: bytes, limits: ImageLimits) -> DecodedImage:
    """Decode untrusted bytes into an RGB array, refusing anything unsafe or unusable.

    Parameters
    ----------
    data:
        The raw file as uploaded.
    limits:
        Byte cap, pixel cap and minimum side (``runtime.images`` in config.yaml).

    Raises
    ------
    ImageTooLarge
        Over the byte cap, or the header declares more pixels than the cap (checked before decoding).
    UnsupportedImage
        Not a JPEG, PNG or WebP file.
    ImageUnreadable
        Truncated or corrupt data.
    ImageTooSmall
        The shorter side is below ``limits.min_side``.
    """
    image_format = _format(data, limits)
    with _refusing(image_format, "decode failed", limits):
        image = _open(data, image_format, limits)
        _check_header(image, limits)
        image.seek(0)  # the first frame of an animation
        image.load()
    image = _apply_orientation(image)
    rgb = _to_rgb(image)
    log.debug("decoded %s %dx%d (mode %s)", image_format, rgb.shape[1], rgb.shape[0], image.mode)
    return DecodedImage(rgb=rgb, format=image_format)


def image_size(data: bytes, limits: ImageLimits) -> tuple[int, int]:
    """(width, height) as ``decode_image`` would return them, read from the header alone (no pixel is decoded).

    Raises
    ------
    InputError
        What ``decode_image`` raises before decoding: too many bytes or pixels, not an image, too small.
    """
    image_format = _format(data, limits)
    with _refusing(image_format, "header unreadable", limits):
        image = _open(data, image_format, limits)
        _check_header(image, limits)
        orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
    width, height = image.size
    # Orientations 5 to 8 turn the picture a quarter: decoding swaps its sides.
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _format(data: bytes, limits: ImageLimits) -> str:
    """The image format its first bytes name, once the data is within ``limits.max_bytes``."""
    if len(data) > limits.max_bytes:
        raise ImageTooLarge.by_bytes(len(data), limits.max_bytes)
    image_format = sniff_format(data)
    if image_format is None:
        raise UnsupportedImage(f"unrecognised magic bytes {data[:12]!r}")
    return image_format


@contextlib.contextmanager
def _refusing(image_format: str, what: str, limits: ImageLimits) -> Iterator[None]:
    """Pillow's errors inside the block as the refusals a user reads: too many pixels, or unreadable."""
    try:
        yield
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge.by_pixels(limits.max_pixels) from exc
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        # OSError covers UnidentifiedImageError and "image file is truncated";
        # struct.error comes from some plugins on malformed headers.
        raise ImageUnreadable(f"{image_format} {what}: {exc}") from exc


def _open(data: bytes, image_format: str, limits: ImageLimits) -> Image.Image:
    """Parse the header only (Pillow decodes lazily), with Pillow's bomb warning made a refusal."""
    with _WARNINGS_LOCK, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return Image.open(io.BytesIO(data), formats=[image_format])
        except Image.DecompressionBombWarning as exc:
            raise ImageTooLarge.by_pixels(limits.max_pixels) from exc


def _apply_orientation(image: Image.Image) -> Image.Image:
    """Rotate/flip as the EXIF Orientation tag says; a broken EXIF block leaves the pixels as stored."""
    try:
        return ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError, KeyError, TypeError, struct.error) as exc:
        log.warning("ignoring unreadable EXIF orientation: %s", exc)
        return image


def _check_header(image: Image.Image, limits: ImageLimits) -> None:
    width, height = image.size
    if width <= 0 or height <= 0:
        raise ImageUnreadable(f"header declares {width}x{height}")
    if width * height > limits.max_pixels:
        raise ImageTooLarge.by_pixels(limits.max_pixels, (width, height))
    if min(width, height) < limits.min_side:
        raise ImageTooSmall.below(width, height, limits.min_side)


def _to_rgb(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # 16-bit (or 32-bit integer) grey: keep the top 8 bits of a 16-bit range.
        grey = np.asarray(image, dtype=np.float64)
        grey = np.clip(grey, 0, 65535) / 257.0
        grey8 = np.rint(grey).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey8[:, :, None], 3, axis=2))
    if mode == "F":
        grey8 = np.clip(np.rint(np.asarray(image, dtype=np.float64)), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey8[:, :, None], 3, axis=2))
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in _MODES_WITH_ALPHA:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*_BACKGROUND, 255))
        image = Image.alpha_composite(background, rgba)
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))


def downscale_for_analysis(rgb: np.ndarray, long_side: int) -> tuple[np.ndarray, float]:
    """Shrink so the long side is at most ``long_side``; returns (image, scale factor applied).

    Multiply analysis coordinates by ``1 / scale`` (``Face.scaled(1 / scale)``) to get back to
    full resolution. Images already small enough are returned as they are, with scale 1.0.
    """
    height, width = rgb.shape[:2]
    longest = max(height, width)
    if longest <= long_side:
        return rgb, 1.0
    scale = long_side / longest
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # INTER_AREA averages the source pixels, which avoids aliasing on strong reductions.
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return small, scale


def encode_png(rgb: np.ndarray) -> bytes:
    """Encode an RGB uint8 array as PNG bytes."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected (H,W,3) uint8, got {rgb.shape} {rgb.dtype}")
    is_ok, buffer = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not is_ok:
        raise ValueError("PNG encoding failed")
    return buffer.tobytes()
