"""Face fusion: blend the user's face into a generated image, inside the face region only.

FACT calls ModelScope's ``face_fusion_torch`` here and blends its output inside a dilated M2FP
face mask (``fact-reference.md`` §4.3 E). Ours is classical and offline:

1. **Landmark alignment:** a similarity transform (least squares on the 68 points) warps the
   source face onto the target face; a similarity keeps the source's proportions, which carry
   the identity.
2. **Colour matching:** per-channel mean and standard deviation in CIE Lab, measured inside the
   face region, move the source's skin tone and lighting to the target's.
3. **Feathered blend:** alpha = ``strength`` x the target's feathered face region x the warped
   source's face region, so only face pixels are mixed and the seam fades out.

Everything where ``face_region_mask`` is 0 is returned bit for bit.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np
from skimage.transform import SimilarityTransform

from .detect import Face
from .mask import face_hull_mask

__all__ = ["face_region_mask", "fuse_face"]

log = logging.getLogger(__name__)

_FOREHEAD = 0.1  # lift the brows a little: FACT dilates its face mask by ~0.1 sqrt(area)
_FEATHER = 0.12  # feather width, as a fraction of the eyes-to-chin distance
_STD_RATIO_RANGE = (0.5, 2.0)  # keep colour matching from amplifying noise in flat regions


def _feathered_region(shape: tuple[int, int], points68: np.ndarray) -> np.ndarray:
    hull = face_hull_mask(shape, points68, forehead=_FOREHEAD)
    eyes = (points68[36:42].mean(axis=0) + points68[42:48].mean(axis=0)) / 2
    distance = float(np.linalg.norm(eyes - points68[8]))
    width = max(1, round(_FEATHER * distance))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))
    core = cv2.erode(hull, kernel).astype(np.float32)
    # Blurring the eroded hull ramps alpha from 0 at the hull edge to 1 inside; the product with
    # the hull keeps it exactly 0 outside even where the blur spreads.
    soft = cv2.GaussianBlur(core, (4 * width + 1, 4 * width + 1), width)
    return soft * hull


def face_region_mask(rgb: np.ndarray, face: Face) -> np.ndarray:
    """Float32 (H,W) in [0,1]: the feathered face region (jaw, cheeks, brows) ``fuse_face`` may change.

    Parameters
    ----------
    rgb:
        (H, W, 3) uint8 RGB image the face was detected in.
    face:
        The face (its 68 points are predicted from the box if the detector did not keep them).
    """
    return _feathered_region(rgb.shape[:2], face.landmarks68)


def fuse_face(
    target: np.ndarray,
    target_face: Face,
    source: np.ndarray,
    source_face: Face,
    *,
    strength: float = 0.6,
) -> np.ndarray:
    """Blend the source face's identity into ``target``; pixels outside the face region stay as they are.

    Parameters
    ----------
    target:
        (H, W, 3) uint8 RGB image to change (e.g. a generated portrait).
    target_face:
        The face in ``target`` to replace.
    source:
        (H', W', 3) uint8 RGB image with the identity to keep (e.g. the user's selfie).
    source_face:
        The face in ``source``.
    strength:
        0 returns ``target`` unchanged; 1 replaces the face region's core with the source face.

    Returns
    -------
    numpy.ndarray
        A new (H, W, 3) uint8 RGB image; the inputs are not modified.
    """
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be in [0, 1], got {strength}")
    height, width = target.shape[:2]
    target_points = target_face.landmarks68
    source_points = source_face.landmarks68
    region = _feathered_region((height, width), target_points)
    if strength == 0.0 or not region.any():
        return target.copy()

    transform = SimilarityTransform.from_estimate(source_points.astype(np.float64), target_points.astype(np.float64))
    if not transform:
        raise ValueError("degenerate landmarks: cannot align the source face to the target")
    # Work only inside the region's bounding box: the rest of the image is returned as it is.
    rows, cols = np.nonzero(region)
    y0, y1, x0, x1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    matrix = transform.params[:2].copy()
    matrix[:, 2] -= (x0, y0)
    warped = cv2.warpAffine(
        np.ascontiguousarray(source),
        matrix,
        (int(x1 - x0), int(y1 - y0)),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT,
    )
    warped_points = (source_points @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)
    # Only where the source has face too: no source hair or background on the target's face.
    alpha = strength * region[y0:y1, x0:x1] * _feathered_region(warped.shape[:2], warped_points)

    window = target[y0:y1, x0:x1]
    matched = _match_colours(warped, window, alpha > 0.5 * strength)
    blended = window.astype(np.float32) * (1.0 - alpha[:, :, None]) + matched * alpha[:, :, None]
    result = target.copy()
    # Bit-exact outside the region, whatever floating point did inside it.
    result[y0:y1, x0:x1] = np.where(
        (region[y0:y1, x0:x1] > 0)[:, :, None], np.clip(np.rint(blended), 0, 255).astype(np.uint8), window
    )
    return result


def _match_colours(source: np.ndarray, target: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """``source`` (float32 RGB) with its Lab mean/std inside ``inside`` moved to ``target``'s."""
    if inside.sum() < 16:
        return source.astype(np.float32)
    source_lab = cv2.cvtColor(source.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    target_lab = cv2.cvtColor(target.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    source_values, target_values = source_lab[inside], target_lab[inside]
    source_mean, source_std = source_values.mean(axis=0), source_values.std(axis=0) + 1e-6
    target_mean, target_std = target_values.mean(axis=0), target_values.std(axis=0) + 1e-6
    ratio = np.clip(target_std / source_std, *_STD_RATIO_RANGE)
    matched_lab = (source_lab - source_mean) * ratio + target_mean
    matched = cv2.cvtColor(matched_lab.astype(np.float32), cv2.COLOR_Lab2RGB) * 255.0
    return np.clip(matched, 0, 255)
