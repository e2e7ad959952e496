"""Finishing a group photo: each face's own identity fused in and measured, then ranking, the safety check, PNG.

A single-face job fuses and ranks once, against its one selfie (``finishing.finish``). A group
photo has one identity per face, so each face is fused with its own member's photo and measured
against it right after its pass, before the next face is painted; the image's likeness is the
mean over its faces.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ContentBlocked
from ..face import Face, face_embedding, identity_distance
from ..image import encode_png
from ..results import GeneratedImage
from .finishing import Finished, find_generated_faces, fuse_with_selfie
from .safety import check_images, withheld_note
from .stages import timed

if TYPE_CHECKING:
    from ..loading import ModelStack
    from .stages import AnalysedSelfie

__all__ = ["GroupImage", "finish_face", "finish_group"]

log = logging.getLogger(__name__)


@dataclass(slots=True, eq=False)
class GroupImage:
    """One image of a group job while its faces are painted: the picture so far, and what each pass made."""

    seed: int
    #: The full-resolution picture: the template, with every face painted so far pasted in.
    rgb: np.ndarray
    #: Each pass's working square as pasted (for the safety check, which sees only a 224 px centre).
    squares: list[np.ndarray] = field(default_factory=list)
    #: Each face's identity distance to its member; ``None`` where no face was found or ranking is off.
    distances: list[float | None] = field(default_factory=list)

    @property
    def identity_distance(self) -> float | None:
        """The mean of the faces' distances; ``None`` unless every face was measured."""
        if not self.distances or any(distance is None for distance in self.distances):
            return None
        return float(np.mean([distance for distance in self.distances if distance is not None]))


def finish_face(
    stack: ModelStack, squares: Sequence[np.ndarray], member: AnalysedSelfie, timings: dict[str, float]
) -> tuple[list[np.ndarray], list[float | None]]:
    """The member's face fused into each painted square, and each square's identity distance to the member, as configured.

    A square where no face is found stays as painted, unmeasured.
    """
    models, generation = stack.faces, stack.config.generation
    images = list(squares)
    faces: list[Face | None] = [None] * len(images)
    if generation.is_face_fusion_enabled or generation.is_ranking_enabled:
        with timed(timings, "detect"):
            faces = find_generated_faces(models, images)
    if generation.is_face_fusion_enabled:
        with timed(timings, "fusion"):
            images = fuse_with_selfie(images, faces, member, strength=generation.face_fusion_strength)
    distances: list[float | None] = [None] * len(images)
    if generation.is_ranking_enabled:
        with timed(timings, "rank"):
            reference = member.identity(models)
            distances = [
                None if face is None else identity_distance(reference, face_embedding(models, image, face))
                for image, face in zip(images, faces, strict=True)
            ]
    return images, distances


def finish_group(stack: ModelStack, images: list[GroupImage], timings: dict[str, float]) -> Finished:
    """Rank the filled templates by their faces' mean likeness, withhold what the safety checker flags, encode PNGs.

    Raises
    ------
    ContentBlocked
        The safety checker flagged every image (fewer flagged: they are left out, with a note).
    """
    ranked = list(images)
    if stack.config.generation.is_ranking_enabled:
        # Stable: images not measured on every face keep their seed order after the others.
        ranked.sort(key=lambda image: (image.identity_distance is None, image.identity_distance or 0.0))
    notes: tuple[str, ...] = ()
    safety = stack.safety_checker()
    if safety is not None:
        # The whole picture and each painted square: a face is small in a large template.
        checked = [[image.rgb, *image.squares] for image in ranked]
        flat = [rgb for pictures in checked for rgb in pictures]
        with timed(timings, "safety"):
            flags = check_images(safety.checker, safety.processor, flat, stack.device, stack.dtype)
        is_flagged, start = [], 0
        for pictures in checked:
            is_flagged.append(any(flags[start : start + len(pictures)]))
            start += len(pictures)
        count = len(ranked)
        ranked = [image for image, flagged in zip(ranked, is_flagged, strict=True) if not flagged]
        if not ranked:
            raise ContentBlocked(f"the safety checker flagged all {count} images")
        if len(ranked) < count:
            notes = (withheld_note(count - len(ranked)),)
    with timed(timings, "png"):
        encoded = tuple(
            GeneratedImage(png=encode_png(image.rgb), seed=image.seed, identity_distance=image.identity_distance)
            for image in ranked
        )
    return Finished(encoded, notes)
