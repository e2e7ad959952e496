"""The identity job: photos of one person in, their checked and encoded face out, for the bot to save.

``IdentityPipeline.__call__`` is the whole job in numbered steps. It runs on the worker like any
job, so it queues fairly; what it returns (``JobResult.face``) lets every later portrait of the
identity skip the face analysis and the encoding.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ..errors import IdentityMismatch, SeveralFaces
from ..face import SAME_PERSON_THRESHOLD, align_face, identity_distance
from ..limits import RequestLimits, check_request, named_photo
from ..request import BaseTokens, FaceAnalysis, IdentityRequest, SavedFace
from ..results import JobResult, StepReporter
from ..tokens import encode_tokens
from .stages import AnalysedSelfie, analyse_selfie, encode_faces, timed

if TYPE_CHECKING:
    from ..loading import ModelStack

__all__ = ["IdentityPipeline", "odd_photo_out"]

log = logging.getLogger(__name__)

#: A second face at least this share of the largest one's area makes a photo ambiguous; smaller
#: faces (people far behind the member) are ignored.
RIVAL_AREA = 0.25
#: Face sides beyond this add nothing to the 112 px crop the encoder reads (twice its size).
_USEFUL_SIDE = 224.0


class IdentityPipeline:
    """Checks and encodes the photos of one identity on the resident models."""

    def __init__(self, stack: ModelStack) -> None:
        self.stack = stack

    def check_inputs(self, request: IdentityRequest) -> None:
        """Raise if the request is not servable: 1 to ``max_photos`` photos, none empty.

        Raises
        ------
        InvalidRequest
            Too few or too many photos, or an empty one.
        """
        check_request(request, RequestLimits.from_config(self.stack.config))

    def check_photos(self, request: IdentityRequest) -> list[AnalysedSelfie]:
        """The photos analysed, once each is known to show one clear face and all one person (dlib only).

        Raises
        ------
        InputError
            As ``__call__``: a photo is refused (named when there are several), or the photos show
            more than one person.
        """
        images, models = self.stack.config.images, self.stack.faces
        self.check_inputs(request)
        # Each photo is analysed as a portrait's selfie is (at the portrait size, so the tokens and
        # the embedding are made from the photo as a portrait uses it), but must show one clear face.
        photos = []
        for number, data in enumerate(request.photos, start=1):
            with named_photo(number, len(request.photos)):
                photo = analyse_selfie(models, images, data, long_side=images.portrait_selfie_side)
                _check_single_face(photo)
            photos.append(photo)
        # The photos must show one person; otherwise the one that differs is named.
        odd = odd_photo_out([photo.identity(models) for photo in photos])
        if odd is not None:
            raise _mismatch(odd, len(photos))
        return photos

    def __call__(self, request: IdentityRequest, report: StepReporter) -> JobResult:
        """Run one identity job on the calling thread; ``report`` hears every stage and may stop the job.

        Raises
        ------
        InputError
            A photo is refused (its sentence starts with "Photo N:"), or the photos show more than
            one person (``IdentityMismatch`` names the photo that differs).
        """
        models = self.stack.faces
        timings: dict[str, float] = {}
        report("preparing")
        with timed(timings, "prepare"):
            # 1. Check inputs: the limits, one clear face in every photo, one person in them all.
            photos = self.check_photos(request)
            embeddings = [photo.identity(models) for photo in photos]

            # 2. The best photo (largest, sharpest face) comes first: later jobs fuse it in and rank against it.
            best = max(range(len(photos)), key=lambda index: _quality(photos[index]))
            order = [best, *(index for index in range(len(photos)) if index != best)]

        # 3. Encode the photos, best first, in one batch for every resident base (each has its own resampler).
        report("encoding")
        with timed(timings, "encode"):
            ordered = [photos[index] for index in order]
            tokens = []
            for base in self.stack.resident_bases():
                encoded = encode_faces(base, ordered, self.stack.device)
                cond, uncond = (part[0].float().cpu().numpy() for part in (encoded.cond, encoded.uncond))
                tokens.append(BaseTokens(base_id=base.base_id, npy=encode_tokens(cond, uncond)))

        # 4. The face to save: the best photo's analysis in its own pixels, the tokens, the distances.
        chosen = photos[best]
        face = chosen.face.scaled(1 / chosen.scale)
        reference = chosen.identity(models)
        saved = SavedFace(
            analysis=FaceAnalysis(
                box=face.box,
                landmarks68=tuple(float(value) for value in face.landmarks68.reshape(-1)),
                embedding=tuple(float(value) for value in reference),
                score=face.score,
            ),
            tokens=tuple(tokens),
            best_index=best,
            distances=tuple(identity_distance(reference, embedding) for embedding in embeddings),
        )
        log.info("identity of %d photo(s) encoded for %d base(s); best is photo %d", len(photos), len(tokens), best + 1)
        return JobResult(images=(), timings=timings, face=saved)


def _check_single_face(photo: AnalysedSelfie) -> None:
    """Refuse a photo in which another face is nearly as large as the chosen one."""
    rivals = [face for face in photo.other_faces if face.area >= RIVAL_AREA * photo.face.area]
    if rivals:
        raise SeveralFaces(f"{len(rivals) + 1} faces of similar size")


def _quality(photo: AnalysedSelfie) -> float:
    """Larger and sharper is better: the useful face side times the root of the crop's Laplacian variance."""
    aligned = cv2.cvtColor(align_face(photo.rgb, photo.face.landmarks), cv2.COLOR_RGB2GRAY)
    sharpness = float(cv2.Laplacian(aligned, cv2.CV_64F).var())
    return min(math.sqrt(photo.face.area), _USEFUL_SIDE) * math.sqrt(sharpness)


def odd_photo_out(embeddings: list[np.ndarray], *, threshold: float = SAME_PERSON_THRESHOLD) -> int | None:
    """The 0-based index of the photo that differs, or None when every pair is under ``threshold``.

    The photo furthest on average from the others is the odd one; between equals (two photos)
    the later one, since the first photo is the member's reference.
    """
    count = len(embeddings)
    distances = np.array([[identity_distance(a, b) for b in embeddings] for a in embeddings])
    if count < 2 or distances.max() < threshold:
        return None
    mean = distances.sum(axis=1) / (count - 1)
    return max(range(count), key=lambda index: (round(float(mean[index]), 6), index))


def _mismatch(odd: int, count: int) -> IdentityMismatch:
    others = "photo 1" if count == 2 else "the other photos"
    return IdentityMismatch(
        f"photo {odd + 1} of {count} is another person",
        user_message=(
            f"Photo {odd + 1} does not look like the same person as {others}; please use photos of one person only."
        ),
    )
