"""Face analysis on offline dlib models: detection, 5 FACT landmarks, head mask, alignment, identity, fusion.

The dlib models come from a ``loading.FaceModels`` the caller passes in; nothing here loads a model.
"""

from __future__ import annotations

from .align import REFERENCE_POINTS_112, align_face, alignment_matrix, identity_crop
from .detect import (
    Face,
    SelfieFace,
    choose_selfie_face,
    choose_template_face,
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
    "REFERENCE_POINTS_112",
    "SAME_PERSON_THRESHOLD",
    "Face",
    "SelfieFace",
    "align_face",
    "alignment_matrix",
    "choose_selfie_face",
    "choose_template_face",
    "detect_faces",
    "face_embedding",
    "face_region_mask",
    "find_selfie_face",
    "find_template_faces",
    "five_points_from_68",
    "fuse_face",
    "head_mask",
    "identity_crop",
    "identity_distance",
    "pick_template_face",
]
