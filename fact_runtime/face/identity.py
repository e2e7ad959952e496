"""Identity similarity from dlib's ResNet 128-d face embedding (for ranking and identity checks)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from .detect import Face

if TYPE_CHECKING:
    from ..loading.face_models import FaceModels

__all__ = ["SAME_PERSON_THRESHOLD", "face_embedding", "identity_distance"]

log = logging.getLogger(__name__)

#: dlib's documented operating point: Euclidean distance below 0.6 means the same person
#: (99.38% on LFW).
SAME_PERSON_THRESHOLD = 0.6


def face_embedding(models: FaceModels, rgb: np.ndarray, face: Face) -> np.ndarray:
    """dlib's 128-d embedding (float32, unit-ish norm) of ``face`` in ``rgb``.

    Parameters
    ----------
    rgb:
        (H, W, 3) uint8 RGB image the face was detected in.
    face:
        The face; its 68 points drive dlib's own 150x150 face chip alignment.
    """
    import dlib

    points68 = face.landmarks68
    x0, y0, x1, y1 = face.box
    rect = dlib.rectangle(round(x0), round(y0), round(x1) - 1, round(y1) - 1)
    shape = dlib.full_object_detection(rect, [dlib.point(round(x), round(y)) for x, y in points68])
    pixels = np.ascontiguousarray(rgb)
    descriptor = models.run("recognizer", lambda recognizer: recognizer.compute_face_descriptor(pixels, shape))
    return np.asarray(descriptor, dtype=np.float32)


def identity_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between two embeddings; below ``SAME_PERSON_THRESHOLD`` means one person."""
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)))
