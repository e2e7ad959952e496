"""The original inpainting recipe's masks and edge maps, on the working square (fact-reference §4.3).

The original cuts its masks from M2FP's human parsing (its ``segment``); ours start from the
landmark hull of the face (jaw line and lifted brows, ``face.mask.face_hull_mask``), which plays
the part of M2FP's ``Face`` mask. The growth shares (a square kernel of a share of the face's
square-root area), the eye line and the Canny thresholds are the original's.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["boxes_mask", "canny_edges", "composite", "eye_line_mask", "grow_mask", "paste_radius"]

#: Canny hysteresis thresholds of the original's edge maps.
_CANNY_LOW, _CANNY_HIGH = 100, 200
#: Feather width when a pass's result is laid over its input, as a share of the face's square-root area.
_FEATHER_SHARE = 0.05


def grow_mask(mask: np.ndarray, share: float) -> np.ndarray:
    """Dilate a 0/1 mask with a square kernel ``share`` x the square root of its area wide (the original's ``ksize``)."""
    side = int(np.sqrt(float(mask.sum())) * share)
    if side < 1:
        return mask.astype(np.uint8)
    return cv2.dilate(mask.astype(np.uint8), np.ones((side, side), dtype=np.uint8))


def eye_line_mask(
    face: np.ndarray, eye_y: int, *, grow: float, pre_grow: float = 0.0, within: np.ndarray | None = None
) -> np.ndarray:
    """The face grown by ``pre_grow``, then by ``grow`` from the eye line down only (uint8 0/1).

    Above the eye line the mask stays tight, so the template's hairline and forehead are kept;
    below it, the wider mask lets the new jaw and cheeks replace the old ones. ``within`` (the
    warped new face) bounds that wider part, together with the face itself.
    """
    mask = grow_mask(face, pre_grow) if pre_grow > 0 else face.astype(np.uint8)
    grown = grow_mask(mask, grow)
    if within is not None:
        grown = grown * np.clip(mask + within, 0, 1).astype(np.uint8)
    row = min(max(int(eye_y), 0), mask.shape[0])
    return np.concatenate([mask[:row], grown[row:]]).astype(np.uint8)


def canny_edges(rgb: np.ndarray, *, erase: np.ndarray | None = None) -> np.ndarray:
    """The canny ControlNet's condition: Canny(100, 200) edges as white on black RGB, none where ``erase`` is set."""
    edges = cv2.Canny(np.ascontiguousarray(rgb), _CANNY_LOW, _CANNY_HIGH)
    if erase is not None:
        edges = edges * (erase == 0)
    return np.repeat(edges[:, :, None], 3, axis=2).astype(np.uint8)


def paste_radius(face: np.ndarray) -> int:
    """The feather radius for a face of this mask: a share of its square-root area, at least one pixel."""
    return max(1, int(np.sqrt(float(face.sum())) * _FEATHER_SHARE))


def composite(below: np.ndarray, above: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``above`` laid over ``below`` with per-pixel ``weight`` in [0, 1]; weight 0 keeps ``below`` exactly.

    This takes the place of the original's zero-mask "auto" passes: they undid the VAE's loss
    outside the person by adding back (input - VAE round trip); keeping the input's own pixels
    wherever the pass could not change anything undoes it exactly.
    """
    out = below.astype(np.float32) + weight[:, :, None] * (above.astype(np.float32) - below.astype(np.float32))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def boxes_mask(size: int, boxes: list[np.ndarray]) -> np.ndarray:
    """uint8 (size, size), 1 inside each box ((2, 2) corners in square pixels), every box rounded outwards."""
    mask = np.zeros((size, size), dtype=np.uint8)
    for corners in boxes:
        (x0, y0), (x1, y1) = np.floor(corners[0]).astype(int), np.ceil(corners[1]).astype(int)
        mask[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = 1
    return mask
