"""Post-steps shared by both pipelines: face fusion with the selfie, and ranking by identity."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .face import Face, detect_faces, face_embedding, fuse_face, identity_distance

__all__ = [
    "Selfie",
    "RankedImage",
    "find_generated_faces",
    "fuse_with_selfie",
    "rank_by_identity",
    "selfie_embedding",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, eq=False)
class Selfie:
    """The analysed selfie: RGB at analysis size, its face, and whether other faces were in the photo."""

    rgb: np.ndarray
    face: Face
    has_other_faces: bool = False


@dataclass(frozen=True, slots=True, eq=False)
class RankedImage:
    rgb: np.ndarray
    seed: int
    identity_distance: float | None


def find_generated_faces(images: Sequence[np.ndarray]) -> list[Face | None]:
    """The largest face of each generated image (``None`` where none is found); fusion and ranking share it."""
    found = []
    for image in images:
        faces = detect_faces(image)
        found.append(max(faces, key=lambda face: face.area) if faces else None)
    return found


def fuse_with_selfie(
    images: Sequence[np.ndarray], faces: Sequence[Face | None], selfie: Selfie, *, strength: float
) -> list[np.ndarray]:
    """Blend the selfie's face into each generated face; images without a detectable face stay as they are."""
    fused = []
    for index, (image, face) in enumerate(zip(images, faces, strict=True)):
        if face is None:
            log.info("no face found in generated image %d: fusion skipped for it", index)
            fused.append(image)
            continue
        try:
            fused.append(fuse_face(image, face, selfie.rgb, selfie.face, strength=strength))
        except ValueError as exc:  # degenerate landmarks on a generated face: keep the image as made
            log.info("fusion skipped for generated image %d: %s", index, exc)
            fused.append(image)
    return fused


def selfie_embedding(selfie: Selfie) -> np.ndarray:
    """The selfie's identity embedding, the reference for ranking."""
    return face_embedding(selfie.rgb, selfie.face)


def rank_by_identity(
    images: Sequence[np.ndarray], faces: Sequence[Face | None], seeds: Sequence[int], reference: np.ndarray
) -> list[RankedImage]:
    """Order images most-like-the-reference first; images where no face is found go last, unranked.

    Unlike the original's (disabled) ranking, nothing is dropped: the user gets every image asked for.
    Fusion only blends inside the face region, so the faces found before it still locate it.
    """
    ranked: list[RankedImage] = []
    for image, face, seed in zip(images, faces, seeds, strict=True):
        distance = None if face is None else identity_distance(reference, face_embedding(image, face))
        ranked.append(RankedImage(rgb=image, seed=seed, identity_distance=distance))
    # Stable sort: unranked images keep their seed order after the ranked ones.
    ranked.sort(key=lambda item: (item.identity_distance is None, item.identity_distance or 0.0))
    return ranked
