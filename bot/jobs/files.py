"""Fit result images into Discord's upload rules: per-file limit, 10 files, 25 MiB per message."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PIL import Image

__all__ = ["MAX_FILES", "MAX_REQUEST_BYTES", "FileTooLarge", "FittedFile", "fit_images"]

log = logging.getLogger(__name__)

MAX_FILES = 10
MAX_REQUEST_BYTES = 25 * 1024 * 1024
#: Room for the JSON payload and multipart framing within one request.
_REQUEST_OVERHEAD = 64 * 1024
_JPEG_QUALITIES = (90, 80, 70, 60, 50)
_DOWNSCALE = 0.75
_MIN_SIDE = 64


class FileTooLarge(Exception):
    """An image cannot be made small enough even at the smallest size tried."""


@dataclass(frozen=True, slots=True)
class FittedFile:
    filename: str
    data: bytes


def _encode_jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, optimize=True)
    return buffer.getvalue()


def _fit_one(png: bytes, limit: int, mark: Callable[[bytes], bytes]) -> tuple[bytes, str]:
    if len(png) <= limit:
        return png, "png"
    fitted, extension = _reencode(png, limit)
    marked = mark(fitted)
    if len(marked) > limit:  # the marks (a few kB) pushed it over: re-encode leaving them that room
        marked = mark(_reencode(png, limit - (len(marked) - len(fitted)))[0])
    return marked, extension


def _unmarked(data: bytes) -> bytes:
    return data


def _reencode(png: bytes, limit: int) -> tuple[bytes, str]:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    for quality in _JPEG_QUALITIES:
        data = _encode_jpeg(image, quality)
        if len(data) <= limit:
            return data, "jpg"
    while min(image.size) * _DOWNSCALE >= _MIN_SIDE:
        size = (round(image.width * _DOWNSCALE), round(image.height * _DOWNSCALE))
        image = image.resize(size, Image.Resampling.LANCZOS)
        data = _encode_jpeg(image, _JPEG_QUALITIES[-1])
        if len(data) <= limit:
            return data, "jpg"
    raise FileTooLarge(f"cannot fit an image under {limit} bytes")


def fit_images(
    images: Sequence[bytes],
    limit_bytes: int,
    *,
    name: str = "portrait",
    max_files: int = MAX_FILES,
    request_limit: int = MAX_REQUEST_BYTES,
    mark: Callable[[bytes], bytes] = _unmarked,
) -> list[FittedFile]:
    """Encode PNG results so each fits ``limit_bytes`` and all fit one message.

    PNG is kept when it fits; otherwise JPEG at falling quality, then downscaled. Only the first
    ``max_files`` images are kept (Discord allows 10 per message). ``mark`` marks each re-encoded
    image again (XMP, a new C2PA signature: ``fact_runtime.Provenance.mark``); a PNG that fits is
    posted as the runtime signed it.

    Raises
    ------
    FileTooLarge
        An image does not fit even downscaled to the smallest size tried.
    """
    kept = list(images[:max_files])
    if len(images) > len(kept):
        log.warning("dropping %d images beyond the %d-file limit", len(images) - len(kept), max_files)
    if not kept:
        return []
    per_file = min(limit_bytes, (request_limit - _REQUEST_OVERHEAD) // len(kept))
    fitted = []
    for index, png in enumerate(kept, start=1):
        data, extension = _fit_one(png, per_file, mark)
        fitted.append(FittedFile(filename=f"{name}-{index}.{extension}", data=data))
    return fitted
