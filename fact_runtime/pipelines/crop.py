"""Where a template's face is inpainted: the working square around it, its masks, and the paste back.

A square crop around the chosen face (half-side ``max(w, h) / 0.7 / 2``, zero-padded at the
borders, resized to the working size) is inpainted inside a mask, then pasted back into the
full-resolution template through a feathered version of that mask. Outside the paste mask every
output pixel is the template's, bit for bit. The fast recipe's mask is the dilated face, the same
for every image of a job; the original recipe's follows each image's warped face, and is never
shrunk by the images before it (the original's was: §8 item 5).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from ..face import Face
from ..face.mask import face_hull_mask

__all__ = ["CropPlan", "black_out_faces", "cut_square", "feather", "paste_back", "plan_crop"]

#: The face box is 70% of the crop's side (reference §4.3 B).
_FACE_SHARE = 0.7
#: Mask dilation, as a share of the face's square-root area (the original's ``ksize=0.1``).
_DILATE_SHARE = 0.1


@dataclass(frozen=True, slots=True, eq=False)
class CropPlan:
    """Where the working square lies in the template, and the masks in working-square pixels."""

    left: int
    top: int
    side: int
    size: int
    #: Binary (size, size) uint8: where the model may change pixels.
    inpaint_mask: np.ndarray
    #: Float32 (size, size) in [0, 1]: how much of the result replaces the template.
    blend_mask: np.ndarray
    #: Float32 (size, size), 1 where the square lies inside the template (0 on the zero padding).
    in_image: np.ndarray

    def to_square(self, points: np.ndarray) -> np.ndarray:
        """Template pixel coordinates (..., 2) -> working-square pixel coordinates."""
        return (np.asarray(points, dtype=np.float32) - (self.left, self.top)) * (self.size / self.side)

    def with_paste_mask(self, mask: np.ndarray, *, keep_out: np.ndarray | None = None) -> CropPlan:
        """The same square pasted back through ``mask`` (float, working size), never where ``keep_out`` is set."""
        blend = mask * self.in_image
        if keep_out is not None:
            blend = blend * (keep_out == 0)
        return replace(self, blend_mask=blend.astype(np.float32))


def plan_crop(template_shape: tuple[int, int], face: Face, size: int) -> CropPlan:
    """The square crop around ``face`` (full-resolution coordinates) and its masks at ``size``."""
    cx, cy = face.center
    half = max(int(max(face.width, face.height) / _FACE_SHARE / 2), 8)
    left, top, side = round(cx) - half, round(cy) - half, 2 * half
    scale = size / side
    points = (face.landmarks68 - (left, top)) * scale
    hull = face_hull_mask((size, size), points)
    radius = max(int(np.sqrt(hull.sum()) * _DILATE_SHARE), 1)
    inpaint_mask = cv2.dilate(hull, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2))
    blend = feather(inpaint_mask, radius, core=hull)
    in_image = np.zeros((size, size), dtype=np.float32)
    height, width = template_shape
    x0, y0 = max(0, -left), max(0, -top)
    x1, y1 = min(side, width - left), min(side, height - top)
    in_image[int(y0 * scale) : int(np.ceil(y1 * scale)), int(x0 * scale) : int(np.ceil(x1 * scale))] = 1.0
    return CropPlan(left, top, side, size, inpaint_mask, blend * in_image, in_image)


def feather(mask: np.ndarray, radius: int, *, core: np.ndarray | None = None) -> np.ndarray:
    """Float32 in [0, 1]: ``mask`` with a soft edge of about ``radius`` pixels inside it, 0 outside it.

    The mask is eroded by the blur radius first, so the soft edge never reaches pixels the model
    was not allowed to change; ``core`` (inside the mask) stays fully opaque.
    """
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2)
    inner = cv2.erode(mask.astype(np.uint8), kernel)
    if core is not None:
        inner = np.maximum(inner, core.astype(np.uint8))
    blend = cv2.GaussianBlur(inner.astype(np.float32), (0, 0), sigmaX=radius / 2)
    return np.where(mask > 0, np.clip(blend, 0.0, 1.0), 0.0).astype(np.float32)


def black_out_faces(rgb: np.ndarray, boxes: list[tuple[float, float, float, float]]) -> np.ndarray:
    """A copy of ``rgb`` with each box (x0, y0, x1, y1) painted black, as the original hides the other faces."""
    out = rgb.copy()
    for x0, y0, x1, y1 in boxes:
        out[max(int(y0), 0) : max(int(np.ceil(y1)), 0), max(int(x0), 0) : max(int(np.ceil(x1)), 0)] = 0
    return out


def cut_square(rgb: np.ndarray, plan: CropPlan) -> np.ndarray:
    """The plan's square from ``rgb``, zero-padded where it leaves the image, resized to ``plan.size``."""
    height, width = rgb.shape[:2]
    square = np.zeros((plan.side, plan.side, 3), dtype=np.uint8)
    x0, y0 = max(plan.left, 0), max(plan.top, 0)
    x1, y1 = min(plan.left + plan.side, width), min(plan.top + plan.side, height)
    square[y0 - plan.top : y1 - plan.top, x0 - plan.left : x1 - plan.left] = rgb[y0:y1, x0:x1]
    interpolation = cv2.INTER_AREA if plan.side > plan.size else cv2.INTER_CUBIC
    return cv2.resize(square, (plan.size, plan.size), interpolation=interpolation)


def paste_back(template: np.ndarray, result: np.ndarray, plan: CropPlan) -> np.ndarray:
    """Blend ``result`` (working size) into a copy of the template through the feathered mask."""
    height, width = template.shape[:2]
    up = cv2.resize(result, (plan.side, plan.side), interpolation=cv2.INTER_CUBIC)
    mask = cv2.resize(plan.blend_mask, (plan.side, plan.side), interpolation=cv2.INTER_LINEAR)
    x0, y0 = max(plan.left, 0), max(plan.top, 0)
    x1, y1 = min(plan.left + plan.side, width), min(plan.top + plan.side, height)
    region = template[y0:y1, x0:x1].astype(np.float32)
    sx, sy = x0 - plan.left, y0 - plan.top
    weight = mask[sy : sy + (y1 - y0), sx : sx + (x1 - x0), None]
    new = up[sy : sy + (y1 - y0), sx : sx + (x1 - x0)].astype(np.float32)
    out = template.copy()
    # weight == 0 gives back the template value exactly, so pixels outside the mask never change.
    out[y0:y1, x0:x1] = np.clip(np.rint(region + weight * (new - region)), 0, 255).astype(np.uint8)
    return out
