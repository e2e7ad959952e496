"""Skeleton maps: drawing people in the OpenPose palette, faces as OpenPose draws its face keypoints,
telling a map from a photo, fitting a map to a size."""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from .keypoints import DRAWN_LIMBS, LIMBS, BodyPose

__all__ = ["POSE_COLORS", "draw_body_poses", "draw_face_landmarks", "fit_pose_map", "is_skeleton_map"]

#: One RGB colour per joint, and per drawn limb (at 60 % brightness): the OpenPose palette.
POSE_COLORS: tuple[tuple[int, int, int], ...] = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
    (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
    (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)  # fmt: skip
_STICK_WIDTH = 4
#: OpenPose's face keypoint dot radius on a 512-pixel map.
_FACE_DOT_RADIUS = 3


def draw_body_poses(people: Sequence[BodyPose], height: int, width: int) -> np.ndarray:
    """The OpenPose skeleton map (RGB uint8): limbs as 60 %-bright ellipses, joints as dots, on black."""
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    for person in people:
        for (part_a, part_b), color in zip(LIMBS[:DRAWN_LIMBS], POSE_COLORS, strict=False):
            a, b = person.keypoints[part_a], person.keypoints[part_b]
            if a is None or b is None:
                continue
            length = math.hypot(a[0] - b[0], a[1] - b[1])
            angle = math.degrees(math.atan2(a[1] - b[1], a[0] - b[0]))
            centre = (int((a[0] + b[0]) / 2), int((a[1] + b[1]) / 2))
            polygon = cv2.ellipse2Poly(centre, (int(length / 2), _STICK_WIDTH), int(angle), 0, 360, 1)
            cv2.fillConvexPoly(canvas, np.asarray(polygon), tuple(int(channel * 0.6) for channel in color))
    for person in people:
        for point, color in zip(person.keypoints, POSE_COLORS, strict=True):
            if point is not None:
                cv2.circle(canvas, (int(point[0]), int(point[1])), 4, color, thickness=-1)
    return canvas


def draw_face_landmarks(faces: Sequence[np.ndarray], height: int, width: int) -> np.ndarray:
    """The face part of an OpenPose map (RGB uint8): every landmark a white dot on black.

    OpenPose's face model gives the 68 points of the iBUG 300-W layout plus the two pupils; dlib's
    68 landmarks follow the same layout, so each face is drawn from its 68 points and its two eye
    centres standing in for the pupils. The dot radius is OpenPose's at 512 pixels, scaled to the map.
    """
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    radius = max(1, round(_FACE_DOT_RADIUS * max(height, width) / 512))
    for points68 in faces:
        pupils = np.stack([points68[36:42].mean(axis=0), points68[42:48].mean(axis=0)])
        for x, y in np.concatenate([points68, pupils]):
            if 0 <= x < width and 0 <= y < height:
                cv2.circle(canvas, (int(x), int(y)), radius, (255, 255, 255), thickness=-1)
    return canvas


def is_skeleton_map(rgb: np.ndarray) -> bool:
    """Whether an image already is a pose map (used as is) rather than a photo (annotated first).

    A skeleton map is mostly black (>= 60 % of pixels darker than 40), what is not black is
    mostly strongly saturated (>= 60 % with saturation >= 0.5: the palette colours, at full or
    60 % brightness, survive JPEG ringing at the edges), and it shows several hues (>= 3 of 12
    hue sectors with 2 % of the coloured pixels each), which a dark photo with one bright sign
    does not. Transparent PNG maps arrive composited on white and count as photos.
    """
    step = max(1, max(rgb.shape[:2]) // 256)
    pixels = rgb[::step, ::step].reshape(-1, 3).astype(np.int32)
    brightest, darkest = pixels.max(axis=1), pixels.min(axis=1)
    is_dark = brightest < 40
    if is_dark.mean() < 0.6 or is_dark.all():
        return False
    lit = ~is_dark
    saturation = (brightest[lit] - darkest[lit]) / brightest[lit]
    is_coloured = saturation >= 0.5
    if is_coloured.mean() < 0.6:
        return False
    hsv = cv2.cvtColor(pixels[lit][is_coloured].astype(np.uint8)[None], cv2.COLOR_RGB2HSV_FULL)[0]
    sectors = np.bincount(hsv[:, 0].astype(int) * 12 // 256, minlength=12)
    return int(np.count_nonzero(sectors >= 0.02 * sectors.sum())) >= 3


def fit_pose_map(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """Fit a skeleton map into ``width`` x ``height``: scale to fit, pad evenly with black."""
    src_h, src_w = rgb.shape[:2]
    scale = min(width / src_w, height / src_h)
    new_w, new_h = max(1, round(src_w * scale)), max(1, round(src_h * scale))
    resized = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    # Centre on both axes (the original padded wide images only at the top: reference §8 item 6).
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    canvas[top : top + new_h, left : left + new_w] = resized
    return canvas
