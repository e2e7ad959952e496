"""Post-steps shared by both pipelines: face fusion with the selfie, and ranking by identity."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .face import Face, detect_faces, face_embedding, fuse_face, identity_distance

__all__ = ["Selfie", "RankedImage", "fuse_with_selfie", "rank_by_identity"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, eq=False)
class Selfie:
    """The analysed selfie: RGB at analysis size and its face."""

    rgb: np.ndarray
    face: Face


@dataclass(frozen=True, slots=True, eq=False)
class RankedImage:
    rgb: np.ndarray
    seed: int
    identity_distance: float | None


def _largest_face(rgb: np.ndarray) -> Face | None:
    faces = detect_faces(rgb)
    return max(faces, key=lambda face: face.area) if faces else None


def fuse_with_selfie(images: Sequence[np.ndarray], selfie: Selfie, *, strength: float) -> list[np.ndarray]:
    """Blend the selfie's face into each generated face; images without a detectable face stay as they are."""
    fused = []
    for index, image in enumerate(images):
        face = _largest_face(image)
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


def rank_by_identity(images: Sequence[np.ndarray], seeds: Sequence[int], selfie: Selfie) -> list[RankedImage]:
    """Order images most-like-the-selfie first; images where no face is found go last, unranked.

    Unlike the original's (disabled) ranking, nothing is dropped: the user gets every image asked for.
    """
    reference = face_embedding(selfie.rgb, selfie.face)
    ranked: list[RankedImage] = []
    for image, seed in zip(images, seeds, strict=True):
        face = _largest_face(image)
        distance = None if face is None else identity_distance(reference, face_embedding(image, face))
        ranked.append(RankedImage(rgb=image, seed=seed, identity_distance=distance))
    # Stable sort: unranked images keep their seed order after the ranked ones.
    ranked.sort(key=lambda item: (item.identity_distance is None, item.identity_distance or 0.0))
    return ranked
