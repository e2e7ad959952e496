"""Alignment to FACT's 112x112 face crop (``fact-reference.md`` §3 steps 3-5)."""

from __future__ import annotations

import logging

import cv2
import numpy as np
from skimage.transform import SimilarityTransform

from .detect import Face
from .mask import head_mask

__all__ = ["REFERENCE_POINTS_112", "align_face", "alignment_matrix", "identity_crop"]

log = logging.getLogger(__name__)

#: ArcFace's 96x112 template shifted by +8 px in x, in FACT's five-point order.
REFERENCE_POINTS_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)
REFERENCE_POINTS_112.flags.writeable = False


def alignment_matrix(landmarks: np.ndarray, size: int = 112) -> np.ndarray:
    """The 2x3 similarity transform (least squares) taking the five landmarks to the reference points."""
    source = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    target = REFERENCE_POINTS_112.astype(np.float64) * (size / 112.0)
    transform = SimilarityTransform.from_estimate(source, target)
    if not transform:
        raise ValueError(f"degenerate landmarks, no similarity transform: {source.tolist()}")
    return transform.params[:2].astype(np.float64)


def align_face(rgb: np.ndarray, landmarks: np.ndarray, size: int = 112) -> np.ndarray:
    """Warp the face so its five landmarks land on the reference points; uint8 (size, size, 3).

    Parameters
    ----------
    rgb:
        (H, W, 3) uint8 RGB image.
    landmarks:
        (5, 2) points in FACT order, in ``rgb`` pixels.
    size:
        Output side; the reference points are scaled from 112.
    """
    matrix = alignment_matrix(landmarks, size)
    # cv2 warps channel-blind, so RGB stays RGB (FACT's BGR round trip is a no-op).
    return cv2.warpAffine(
        np.ascontiguousarray(rgb),
        matrix,
        (size, size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )


def identity_crop(rgb: np.ndarray, face: Face) -> np.ndarray:
    """The head-masked face aligned to 112x112: exactly what FACT's encoder consumes (uint8 RGB).

    FACT re-detects the landmarks on the masked image (§3 step 4); masking keeps the face pixels
    unchanged, so we reuse the landmarks found on the photo, which spares a detection and cannot
    fail on a masked image. The encoder side normalises to [-1, 1] (§3 step 6).
    """
    mask = head_mask(rgb, face)
    masked = (rgb.astype(np.float32) * mask[:, :, None] + 0.5).astype(np.uint8)
    return align_face(masked, face.landmarks, 112)
