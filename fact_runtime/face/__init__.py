"""Face analysis on offline dlib models: detection, 5 FACT landmarks, head mask, alignment, identity, fusion.

The dlib models come from a ``loading.FaceModels`` the caller passes in; nothing here loads a model.
"""

from __future__ import annotations

from .align import REFERENCE_POINTS_112, align_face, alignment_matrix, identity_crop
from .detect import (
    Face,
    SelfieFace,
    choose_selfie_face,
    detect_faces,
    find_selfie_face,
    find_template_faces,
    five_points_from_68,
    pick_template_face,
)
from .fusion import face_region_mask, fuse_face
from .identity import SAME_PERSON_THRESHOLD, face_embedding, identity_distance
from .mask import head_mask

__all__ = [
    "Face",
    "SelfieFace",
    "detect_faces",
    "find_selfie_face",
    "choose_selfie_face",
    "find_template_faces",
    "pick_template_face",
    "five_points_from_68",
    "head_mask",
    "REFERENCE_POINTS_112",
    "align_face",
    "alignment_matrix",
    "identity_crop",
    "SAME_PERSON_THRESHOLD",
    "face_embedding",
    "identity_distance",
    "face_region_mask",
    "fuse_face",
]
