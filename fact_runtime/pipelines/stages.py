"""Stages both pipelines share: the selfie's analysis (cached per photo), its face tokens, the pose map,
the style's LoRA, and the notes a user reads beside the result.

Which stage runs when is the pipelines' business; each function here does one stage.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..config import ImageLimits
from ..face import Face, face_embedding, find_selfie_face, identity_crop
from ..fact import FaceTokens, to_encoder_input
from ..image import decode_image, downscale_for_analysis
from ..pose import fit_pose_map, is_skeleton_map
from .speed import ORIGINAL, SpeedPlan

if TYPE_CHECKING:
    from ..catalog import Style
    from ..loading import FaceModels, ModelStack, ResidentBase
    from ..loading.lora import LoraSource

__all__ = [
    "DEFAULT_LORA_ADAPTER",
    "NO_LORA_NOTE",
    "SEVERAL_FACES_NOTE",
    "AnalysedSelfie",
    "SelfieCache",
    "activate_style",
    "analyse_selfie",
    "encode_faces",
    "face_tokens",
    "notes_for",
    "pose_map",
    "style_lora",
    "timed",
    "turbo_lora",
]

log = logging.getLogger(__name__)

SEVERAL_FACES_NOTE = "Your photo shows several faces; I used the largest one."
NO_LORA_NOTE = "This style's LoRA is not available here, so the portrait shows the base model's look."
#: The default LoRA's adapter name; style ids are slugs, so no style's own adapter can take it.
DEFAULT_LORA_ADAPTER = "_default_lora"


@dataclass(slots=True, eq=False)
class AnalysedSelfie:
    """A selfie at the size its path uses, its face, and what was derived from it (kept so a reroll skips it all)."""

    rgb: np.ndarray
    face: Face
    digest: str
    has_other_faces: bool = False
    #: FACT face tokens per base model (each base has its own resampler).
    tokens: dict[str, FaceTokens] = field(default_factory=dict)
    embedding: np.ndarray | None = None
    #: Who sent this photo, so /forget can drop it.
    user_ids: set[str] = field(default_factory=set)
    #: ``rgb`` is the photo at this scale (analysis pixels per photo pixel).
    scale: float = 1.0
    #: The photo's other faces, in ``rgb`` pixels.
    other_faces: tuple[Face, ...] = ()

    def identity(self, models: FaceModels) -> np.ndarray:
        """The selfie's identity embedding (the reference for ranking), computed once."""
        if self.embedding is None:
            self.embedding = face_embedding(models, self.rgb, self.face)
        return self.embedding


class SelfieCache:
    """Analysed selfies by the hash of their bytes and the size they are used at (a small LRU).

    ``forget`` is callable from any thread.
    """

    def __init__(self, models: FaceModels, limits: ImageLimits, *, size: int = 16) -> None:
        self._models = models
        self._limits = limits
        self._size = size
        self._entries: OrderedDict[tuple[str, int], AnalysedSelfie] = OrderedDict()
        self._lock = threading.Lock()
        # Per user, how often they were forgotten: an analysis that started before a forget is not cached.
        self._forgets: dict[str, int] = {}

    def __contains__(self, digest: object) -> bool:
        with self._lock:
            return any(key[0] == digest for key in self._entries)

    def analyse(self, data: bytes, *, user_id: str = "", long_side: int | None = None) -> AnalysedSelfie:
        """Decode the selfie and find its face at ``long_side`` (default: the portrait size), or return the cached analysis.

        Each path uses the selfie at its own size (``images.portrait_selfie_side``,
        ``images.inpaint_selfie_side``), so one photo may be cached once per size. An entry
        evicted or forgotten while a job uses it stays that job's private copy: what the job
        adds to it (tokens, embedding) never reaches the cache.

        Raises
        ------
        InputError
            The image cannot be used (format, size) or shows no usable face.
        """
        side = self._limits.portrait_selfie_side if long_side is None else long_side
        digest = hashlib.sha256(data).hexdigest()
        key = (digest, side)
        with self._lock:
            forgets = self._forgets.get(user_id, 0)
            cached = self._entries.get(key)
            if cached is not None:
                self._entries.move_to_end(key)
                cached.user_ids.add(user_id)
                return cached
        selfie = analyse_selfie(self._models, self._limits, data, long_side=side, user_id=user_id)
        with self._lock:
            if self._forgets.get(user_id, 0) == forgets:
                self._entries[key] = selfie
                while len(self._entries) > self._size:
                    self._entries.popitem(last=False)
        return selfie

    def forget(self, user_id: str) -> None:
        """Drop the analysis (face tokens, embedding, pixels) of every photo this user sent."""
        with self._lock:
            self._forgets[user_id] = self._forgets.get(user_id, 0) + 1
            for key in [key for key, entry in self._entries.items() if user_id in entry.user_ids]:
                del self._entries[key]


def analyse_selfie(
    models: FaceModels, limits: ImageLimits, data: bytes, *, long_side: int, user_id: str = ""
) -> AnalysedSelfie:
    """Decode a photo, scale it to ``long_side`` and find its face (the largest; others are noted).

    Raises
    ------
    InputError
        The image cannot be used (format, size) or shows no usable face.
    """
    rgb = decode_image(data, limits).rgb
    small, scale = downscale_for_analysis(rgb, long_side)
    found = find_selfie_face(models, small)
    if found.has_other_faces:
        log.info("selfie shows several faces; using the largest")
    digest = hashlib.sha256(data).hexdigest()
    return AnalysedSelfie(
        small, found.face, digest, found.has_other_faces, user_ids={user_id}, scale=scale, other_faces=found.others
    )


def encode_faces(base: ResidentBase, photos: Sequence[AnalysedSelfie], device: torch.device) -> FaceTokens:
    """FACT face tokens of the photos' faces for this base's resampler, in one encoder batch, in order."""
    crops = [identity_crop(photo.rgb, photo.face) for photo in photos]
    return base.encoder.encode(to_encoder_input(crops, device=device, dtype=torch.float32))


def face_tokens(base: ResidentBase, selfie: AnalysedSelfie, device: torch.device) -> FaceTokens:
    """FACT face tokens of the selfie for this base's resampler, encoded once per selfie and base."""
    tokens = selfie.tokens.get(base.base_id)
    if tokens is None:
        tokens = selfie.tokens[base.base_id] = encode_faces(base, [selfie], device)
    return tokens


def pose_map(rgb: np.ndarray, stack: ModelStack, width: int, height: int) -> np.ndarray:
    """The ControlNet condition for a decoded pose image: a skeleton map as it is, a photo through OpenPose.

    Raises
    ------
    PoseUnavailable
        A photo, and no OpenPose annotator on this server (never a made-up skeleton).
    NoPoseFound
        A photo in which OpenPose finds nobody.
    """
    if not is_skeleton_map(rgb):
        rgb = stack.pose_annotator().skeleton_map(rgb)
    return fit_pose_map(rgb, width, height)


def style_lora(stack: ModelStack, style: Style, *, styles_dir: Path) -> tuple[str, Path | None, float] | None:
    """The LoRA a style runs with: (adapter name, local file, weight); the file is ``None`` where it cannot apply.

    A style's own LoRA is named after the style; a style without one gets the default LoRA
    (``models.default_lora``) at the style's weight, as the original does (fact-reference §4.2
    step 6). ``None``: no LoRA at all (the style opted out, or no default LoRA is configured).
    """
    lora = style.lora
    if lora is None:
        return None
    if not lora.is_default:
        return style.id, stack.lora_file(lora.to_model_ref(), relative_to=styles_dir), lora.weight
    default = None if stack.config.models is None else stack.config.models.default_lora
    if default is None:
        return None
    return DEFAULT_LORA_ADAPTER, stack.lora_file(default, relative_to=styles_dir), lora.weight


def turbo_lora(stack: ModelStack, speed: SpeedPlan) -> tuple[LoraSource, float] | None:
    """The few-step LoRA and weight a tier stacks on the style's; ``None`` for tiers without one.

    Raises
    ------
    ModelMissing
        The turbo LoRA is not configured or not available (the sentence names the download command).
    """
    if not speed.uses_turbo_lora:
        return None
    return stack.turbo_lora(), stack.config.speed.turbo.weight


def activate_style(
    stack: ModelStack, base: ResidentBase, style: Style, *, styles_dir: Path, speed: SpeedPlan = ORIGINAL
) -> bool:
    """Switch the base's LoRA adapters to the style's LoRA (or to none) and the tier's; False when the style's could not apply."""
    turbo = turbo_lora(stack, speed)
    choice = style_lora(stack, style, styles_dir=styles_dir)
    if choice is None:
        base.loras.deactivate(turbo=turbo)
        return True
    name, path, weight = choice
    if path is None:
        base.loras.deactivate(turbo=turbo)
        # The job's notes tell the user; the log says which file.
        log.info("style %s: LoRA %s does not apply to the tiny preset; running without it", style.id, name)
        return False
    base.loras.activate(name, path, weight, turbo=turbo)
    return True


def notes_for(selfie: AnalysedSelfie, *, is_style_complete: bool = True) -> list[str]:
    """Sentences the user should read beside the result: what the job did differently from what they asked."""
    notes = []
    if selfie.has_other_faces:
        notes.append(SEVERAL_FACES_NOTE)
    if not is_style_complete:
        notes.append(NO_LORA_NOTE)
    return notes


@contextlib.contextmanager
def timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    """Add the seconds spent in the block to ``timings[stage]``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - start
