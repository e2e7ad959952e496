"""Photos for identity tests: variants of one real photo (one person), and other people's photos."""

from __future__ import annotations

import cv2
import numpy as np

from tests.tiny_stack import png_bytes


def zoomed(rgb: np.ndarray) -> np.ndarray:
    """A closer crop around the astronaut's face, back at 512 px: the largest face of the set."""
    return cv2.resize(rgb[20:340, 80:400], (512, 512), interpolation=cv2.INTER_CUBIC)


def mirrored(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rgb[:, ::-1])


def brighter(rgb: np.ndarray) -> np.ndarray:
    return np.clip(rgb.astype(np.int16) * 5 // 4 + 10, 0, 255).astype(np.uint8)


def blurred(rgb: np.ndarray) -> np.ndarray:
    """The same face out of focus: never the best photo of a set."""
    return cv2.GaussianBlur(rgb, (9, 9), 3)


def one_person(rgb: np.ndarray) -> tuple[bytes, bytes, bytes]:
    """Three photos of one person (mirrored, brighter, zoomed), as PNG bytes; the zoomed one is the best."""
    return png_bytes(mirrored(rgb)), png_bytes(brighter(rgb)), png_bytes(zoomed(rgb))
