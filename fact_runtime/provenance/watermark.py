"""The invisible watermark: ``invisible-watermark``'s dwtDct with the 48-bit message of diffusers' SDXL watermarker.

Detectors that look for Stable Diffusion XL's mark find ours. The package is imported only here
and only when marking or reading (it imports torch at import time, so the bot never calls this).
Images are handed to it in OpenCV's BGR order, as its own examples read files.
"""

from __future__ import annotations

import importlib
from typing import Any

import cv2
import numpy as np

from ..errors import ConfigError

__all__ = ["MIN_SIDE", "WATERMARK_BITS", "add_watermark", "matching_bits", "require_watermarker"]

#: The message of diffusers' ``StableDiffusionXLWatermarker``.
WATERMARK_MESSAGE = 0b101100111110110010010000011110111011000110011110
WATERMARK_BITS = tuple(int(bit) for bit in bin(WATERMARK_MESSAGE)[2:])
#: Smaller images are left unmarked, as diffusers does: dwtDct needs room for its blocks.
MIN_SIDE = 256
_METHOD = "dwtDct"


def require_watermarker() -> Any:
    """The ``imwatermark`` module.

    Raises
    ------
    ConfigError
        The package is not installed.
    """
    try:
        return importlib.import_module("imwatermark")
    except ImportError as exc:
        raise ConfigError(
            "the invisible-watermark package is not installed; run `pip install --no-deps invisible-watermark==0.2.0` "
            "or set runtime.provenance.is_watermark_enabled: false"
        ) from exc


def add_watermark(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` with the watermark hidden in it; images under ``MIN_SIDE`` on their short side come back unchanged."""
    if min(rgb.shape[:2]) < MIN_SIDE:
        return rgb
    encoder = require_watermarker().WatermarkEncoder()
    encoder.set_watermark("bits", list(WATERMARK_BITS))
    marked = encoder.encode(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), _METHOD)
    return cv2.cvtColor(marked, cv2.COLOR_BGR2RGB)


def matching_bits(rgb: np.ndarray) -> int:
    """How many of the 48 bits decoded from ``rgb`` match our message (about 24 on an unmarked image)."""
    decoder = require_watermarker().WatermarkDecoder("bits", len(WATERMARK_BITS))
    bits = decoder.decode(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), _METHOD)
    return sum(int(bool(found)) == expected for found, expected in zip(bits, WATERMARK_BITS, strict=True))
