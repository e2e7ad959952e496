"""Where a job's identity comes from: one selfie, several photos of one person, or a saved face.

The selfie is what finishing fuses in and ranks against; the face tokens cover the selfie and
then the other photos. A saved face (``request.face``) places the selfie's face without searching
for it and brings the tokens along, so neither the analysis nor the encoding runs again.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..errors import InvalidRequest
from ..face import Face, five_points_from_68
from ..fact import FaceTokens
from ..image import decode_image, downscale_for_analysis
from ..limits import named_photo
from ..tokens import DAMAGED_FACE, decode_tokens
from .stages import AnalysedSelfie, SelfieCache, face_tokens

if TYPE_CHECKING:
    from ..config import ImageLimits
    from ..loading import ResidentBase
    from ..request import FaceAnalysis, InpaintRequest, PortraitRequest, UpscaleRequest, VaryRequest

    #: Every request that brings photos of one person.
    PhotoRequest = PortraitRequest | InpaintRequest | UpscaleRequest | VaryRequest

__all__ = ["References", "analyse_references", "load_saved_tokens", "reference_tokens"]

log = logging.getLogger(__name__)


@dataclass(slots=True, eq=False)
class References:
    """A job's analysed photos: the selfie, the others (none while a saved face serves), the request."""

    selfie: AnalysedSelfie
    request: PhotoRequest
    #: The long side this job's path uses its photos at.
    long_side: int
    others: list[AnalysedSelfie] = field(default_factory=list)


def analyse_references(
    selfies: SelfieCache, request: PhotoRequest, limits: ImageLimits, *, long_side: int
) -> References:
    """Analyse the request's photos at ``long_side`` (each cached), or place a saved face on its selfie.

    Raises
    ------
    InputError
        A photo cannot be used (with several photos, the sentence names it), or a saved face does
        not fit its selfie.
    """
    if request.face is not None:
        placed = _placed(request.selfie, request.face.analysis, limits, request.user_id, long_side)
        return References(placed, request, long_side)
    count = 1 + len(request.references)
    with named_photo(1, count):
        selfie = selfies.analyse(request.selfie, user_id=request.user_id, long_side=long_side)
    references = References(selfie, request, long_side)
    references.others = _analyse_others(selfies, references)
    return references


def reference_tokens(
    selfies: SelfieCache, base: ResidentBase, references: References, device: torch.device
) -> FaceTokens:
    """FACT face tokens of every photo for this base: the saved ones, or each photo's own, concatenated.

    A saved face without tokens for this base (one added since it was saved) falls back to
    analysing and encoding the photos.

    Raises
    ------
    InvalidRequest
        Saved tokens of another width than this base's.
    """
    request = references.request
    if request.face is not None:
        saved = next((tokens for tokens in request.face.tokens if tokens.base_id == base.base_id), None)
        if saved is not None:
            return load_saved_tokens(saved.npy, base, 1 + len(request.references), device)
        log.info("the saved face has no tokens for base %s: encoding its photos", base.base_id)
        references.others = _analyse_others(selfies, references)
    parts = [face_tokens(base, photo, device) for photo in (references.selfie, *references.others)]
    if len(parts) == 1:
        return parts[0]
    return FaceTokens(
        cond=torch.cat([part.cond for part in parts], dim=1),
        uncond=torch.cat([part.uncond for part in parts], dim=1),
        num_faces=sum(part.num_faces for part in parts),
    )


def _analyse_others(selfies: SelfieCache, references: References) -> list[AnalysedSelfie]:
    request = references.request
    count = 1 + len(request.references)
    others = []
    for number, photo in enumerate(request.references, start=2):
        with named_photo(number, count):
            others.append(selfies.analyse(photo, user_id=request.user_id, long_side=references.long_side))
    return others


def _placed(data: bytes, analysis: FaceAnalysis, limits: ImageLimits, user_id: str, long_side: int) -> AnalysedSelfie:
    """The selfie at ``long_side`` with the saved face on it (its coordinates are the photo's own)."""
    rgb = decode_image(data, limits).rgb
    small, scale = downscale_for_analysis(rgb, long_side)
    points68 = np.asarray(analysis.landmarks68, dtype=np.float32).reshape(68, 2)
    face = Face(analysis.box, five_points_from_68(points68), analysis.score, points68).scaled(scale)
    height, width = small.shape[:2]
    x0, y0, x1, y1 = face.box
    if x0 < 0 or y0 < 0 or x1 > width + 1 or y1 > height + 1:
        raise InvalidRequest(
            f"the saved face box {face.box} lies outside the {width}x{height} selfie", user_message=DAMAGED_FACE
        )
    embedding = np.asarray(analysis.embedding, dtype=np.float32)
    digest = hashlib.sha256(data).hexdigest()
    return AnalysedSelfie(small, face, digest, embedding=embedding, user_ids={user_id}, scale=scale)


def load_saved_tokens(npy: bytes, base: ResidentBase, num_photos: int, device: torch.device) -> FaceTokens:
    """Stored ``.npy`` face tokens of ``num_photos`` photos as this base's ``FaceTokens``; ``InvalidRequest`` if they do not fit it."""
    array = decode_tokens(npy, num_photos=num_photos)
    width = base.encoder.dims.cross_attention_dim
    if array.shape[2] != width:
        raise InvalidRequest(
            f"saved tokens are {array.shape[2]} wide; base {base.base_id} takes {width}", user_message=DAMAGED_FACE
        )
    tokens = torch.from_numpy(array).to(device)
    return FaceTokens(cond=tokens[0:1], uncond=tokens[1:2], num_faces=num_photos)
