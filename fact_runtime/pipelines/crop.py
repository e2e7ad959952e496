"""Where a template's face is inpainted: the working square around it, its masks, and the paste back.

A square crop around the chosen face (half-side ``max(w, h) / 0.7 / 2``, zero-padded at the
borders, resized to the working size) is inpainted inside a dilated face mask, then pasted back
into the full-resolution template through a feathered version of that same mask. Outside the
paste mask every output pixel is the template's, bit for bit, and the mask is computed once per
job, so it is the same for every image (the original's mask shrank with each image: §8 item 5).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..face import Face
from ..face.mask import face_hull_mask

__all__ = ["CropPlan", "cut_square", "paste_back", "plan_crop"]

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
    # Feather inside the dilated region: erode by the blur radius first, so the soft edge never
    # reaches pixels the model was not allowed to change.
    inner = cv2.erode(inpaint_mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2))
    blend = cv2.GaussianBlur(np.maximum(inner, hull).astype(np.float32), (0, 0), sigmaX=radius / 2)
    blend = np.where(inpaint_mask > 0, np.clip(blend, 0.0, 1.0), 0.0).astype(np.float32)
    in_image = np.zeros((size, size), dtype=np.float32)
    height, width = template_shape
    x0, y0 = max(0, -left), max(0, -top)
    x1, y1 = min(side, width - left), min(side, height - top)
    in_image[int(y0 * scale) : int(np.ceil(y1 * scale)), int(x0 * scale) : int(np.ceil(x1 * scale))] = 1.0
    return CropPlan(left, top, side, size, inpaint_mask, blend * in_image)


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
