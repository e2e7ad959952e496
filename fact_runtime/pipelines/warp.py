"""The original recipe's warped paste: the new face, drawn in the template's pose, moved onto the template face.

As the original's ``crop_and_paste`` (fact-reference §4.3 step 6b): the new face's box, enlarged
1.5 times, is cut out with its face mask, and a similarity transform from its five landmarks to
the template face's five carries both into the working square. Where the warped mask lies, the
new face replaces the template. The warped 68 landmarks are what the next pass's face map is
drawn from, so the user's face shape, fused into the new face, steers the inpainting.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np
from skimage.transform import SimilarityTransform

from ..face import Face
from ..face.mask import face_hull_mask

__all__ = ["WarpedFace", "warp_face"]

log = logging.getLogger(__name__)

#: The new face's box is enlarged this much before it is cut out (the original's ``call_face_crop`` ratio).
_BOX_RATIO = 1.5


@dataclass(frozen=True, slots=True, eq=False)
class WarpedFace:
    """The square with the new face pasted in, where the face landed, and its 68 landmarks there."""

    image: np.ndarray
    #: uint8 (size, size), 1 where the warped face lies (the original's ``warp_mask``).
    mask: np.ndarray
    points68: np.ndarray


def warp_face(
    square: np.ndarray, target5: np.ndarray, new: np.ndarray, face: Face | None, *, fallback68: np.ndarray
) -> WarpedFace:
    """Warp the face of ``new`` (working size) onto the template face whose five points are ``target5``.

    ``face`` is the face found in ``new``. Without one (a generated face no detector can find, as
    every tiny-preset face is), the new image was still drawn in the template's square and pose,
    so its face is taken where the template's is: ``fallback68``, unwarped.
    """
    size = square.shape[0]
    if face is None:
        log.info("no face found in the new face image: pasting it where the template's face is")
        mask = face_hull_mask((size, size), fallback68)
        return WarpedFace(_paste(square, new, mask), mask, fallback68.astype(np.float32))
    x0, y0, x1, y1 = _enlarged_box(face, new.shape[:2])
    crop = np.ascontiguousarray(new[y0:y1, x0:x1])
    crop_mask = face_hull_mask(crop.shape[:2], face.landmarks68 - (x0, y0))
    source = (face.landmarks - (x0, y0)).astype(np.float64)
    transform = SimilarityTransform.from_estimate(source, np.asarray(target5, dtype=np.float64))
    if not transform:
        log.info("the new face's landmarks are degenerate: pasting it where the template's face is")
        mask = face_hull_mask((size, size), fallback68)
        return WarpedFace(_paste(square, new, mask), mask, fallback68.astype(np.float32))
    matrix = transform.params[:2].astype(np.float64)
    warped = cv2.warpAffine(crop, matrix, (size, size), borderValue=0)
    mask = (cv2.warpAffine(crop_mask, matrix, (size, size), borderValue=0) > 0).astype(np.uint8)
    points = (face.landmarks68 - (x0, y0)) @ matrix[:, :2].T + matrix[:, 2]
    return WarpedFace(_paste(square, warped, mask), mask, points.astype(np.float32))


def _enlarged_box(face: Face, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    height, width = shape
    grow_x, grow_y = face.width * (_BOX_RATIO - 1) / 2, face.height * (_BOX_RATIO - 1) / 2
    x0, y0, x1, y1 = face.box
    left, top = int(np.clip(x0 - grow_x, 0, width - 1)), int(np.clip(y0 - grow_y, 0, height - 1))
    right, bottom = int(np.clip(x1 + grow_x, left + 1, width)), int(np.clip(y1 + grow_y, top + 1, height))
    return left, top, right, bottom


def _paste(square: np.ndarray, face: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.where(mask[:, :, None] > 0, face, square).astype(np.uint8)
