"""Finishing, the last stage of every pipeline: face fusion, ranking, the safety check, marked PNG encoding."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ContentBlocked
from ..face import Face, detect_faces, face_embedding, fuse_face, identity_distance
from ..provenance import Provenance
from ..results import GeneratedImage
from .safety import check_images, withheld_note
from .stages import AnalysedSelfie, timed

if TYPE_CHECKING:
    from ..loading import FaceModels, ModelStack

__all__ = ["Finished", "RankedImage", "find_generated_faces", "finish", "fuse_with_selfie", "rank_by_identity"]

log = logging.getLogger(__name__)

#: Makes the posted picture from a generated one and its seed (inpainting pastes it into the template).
Compose = Callable[[np.ndarray, int], np.ndarray]


@dataclass(frozen=True, slots=True, eq=False)
class RankedImage:
    rgb: np.ndarray
    seed: int
    identity_distance: float | None


@dataclass(frozen=True, slots=True)
class Finished:
    """The encoded images, most-like-the-selfie first, and a note when the safety filter withheld some."""

    images: tuple[GeneratedImage, ...]
    notes: tuple[str, ...] = ()


def find_generated_faces(models: FaceModels, images: Sequence[np.ndarray]) -> list[Face | None]:
    """The largest face of each generated image (``None`` where none is found); fusion and ranking share it."""
    found = []
    for image in images:
        faces = detect_faces(models, image)
        found.append(max(faces, key=lambda face: face.area) if faces else None)
    return found


def fuse_with_selfie(
    images: Sequence[np.ndarray], faces: Sequence[Face | None], selfie: AnalysedSelfie, *, strength: float
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


def rank_by_identity(
    models: FaceModels,
    images: Sequence[np.ndarray],
    faces: Sequence[Face | None],
    seeds: Sequence[int],
    reference: np.ndarray,
) -> list[RankedImage]:
    """Order images most-like-the-reference first; images where no face is found go last, unranked.

    Unlike the original's (disabled) ranking, nothing is dropped: the user gets every image asked for.
    Fusion only blends inside the face region, so the faces found before it still locate it.
    """
    ranked: list[RankedImage] = []
    for image, face, seed in zip(images, faces, seeds, strict=True):
        distance = None if face is None else identity_distance(reference, face_embedding(models, image, face))
        ranked.append(RankedImage(rgb=image, seed=seed, identity_distance=distance))
    # Stable sort: unranked images keep their seed order after the ranked ones.
    ranked.sort(key=lambda item: (item.identity_distance is None, item.identity_distance or 0.0))
    return ranked


def finish(
    stack: ModelStack,
    images: list[np.ndarray],
    seeds: Sequence[int],
    selfie: AnalysedSelfie,
    timings: dict[str, float],
    *,
    compose: Compose | None = None,
) -> Finished:
    """Fusion, ranking, the safety check and PNG encoding, as configured; ``compose`` makes each posted picture.

    Every image produced anywhere is encoded here, with the configured provenance marks
    (watermark, XMP, C2PA: ``fact_runtime.provenance``).

    Raises
    ------
    ContentBlocked
        The safety checker flagged every image (fewer flagged: they are left out, with a note).
    ConfigError
        A provenance mark is configured but cannot be made (its package or credentials are missing).
    JobFailed
        Signing an image failed.
    """
    models, generation = stack.faces, stack.config.generation
    faces: list[Face | None] = [None] * len(images)
    if generation.is_face_fusion_enabled or generation.is_ranking_enabled:
        with timed(timings, "detect"):
            faces = find_generated_faces(models, images)
    if generation.is_face_fusion_enabled:
        with timed(timings, "fusion"):
            images = fuse_with_selfie(images, faces, selfie, strength=generation.face_fusion_strength)
    if generation.is_ranking_enabled:
        with timed(timings, "rank"):
            ranked = rank_by_identity(models, images, faces, seeds, selfie.identity(models))
    else:
        ranked = [RankedImage(image, seed, None) for image, seed in zip(images, seeds, strict=True)]
    with timed(timings, "png"):
        pictures = [(item, compose(item.rgb, item.seed) if compose else item.rgb) for item in ranked]
    notes: tuple[str, ...] = ()
    safety = stack.safety_checker()
    if safety is not None:
        # The checker sees a 224 px centre crop: for a composed picture (a large template) that
        # can miss or shrink the generated part, so the generated square is checked as well.
        checked = [rgb for _, rgb in pictures] + ([item.rgb for item in ranked] if compose else [])
        with timed(timings, "safety"):
            flags = check_images(safety.checker, safety.processor, checked, stack.device, stack.dtype)
        count = len(pictures)
        is_flagged = [flags[i] or (compose is not None and flags[count + i]) for i in range(count)]
        pictures = [picture for picture, is_nsfw in zip(pictures, is_flagged, strict=True) if not is_nsfw]
        if not pictures:
            raise ContentBlocked(f"the safety checker flagged all {count} images")
        if len(pictures) < count:
            notes = (withheld_note(count - len(pictures)),)
    provenance = Provenance.from_config(stack.config.provenance)
    with timed(timings, "png"):
        encoded = tuple(
            GeneratedImage(png=provenance.encode_png(rgb), seed=item.seed, identity_distance=item.identity_distance)
            for item, rgb in pictures
        )
    return Finished(encoded, notes)
