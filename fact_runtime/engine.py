"""``FactEngine``: the real ``Engine`` behind the executor; runs one job on the calling thread."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from .config import RuntimeConfig
from .errors import ContentBlocked, InvalidRequest, OutOfMemory
from .face import find_selfie_face, identity_crop
from .image import decode_image, downscale_for_analysis, encode_png
from .base import LoadedBase
from .models import ModelStack
from .pipeline import PortraitInputs, PortraitPipeline, make_pose_map
from .post import (
    RankedImage,
    Selfie,
    find_generated_faces,
    fuse_with_selfie,
    rank_by_identity,
    selfie_embedding,
)
from .request import MAX_SEED, GeneratedImage, InpaintRequest, JobRequest, JobResult, PortraitRequest, StepReporter
from .safety import check_images, withheld_note

if TYPE_CHECKING:
    from .fact import FaceTokens
    from .style import Style
    from .styles import StyleCatalog

__all__ = ["FactEngine", "timed"]

log = logging.getLogger(__name__)

SEVERAL_FACES_NOTE = "Your photo shows several faces; I used the largest one."
NO_LORA_NOTE = "This style's LoRA is not available here, so the portrait shows the base model's look."


@dataclass(slots=True, eq=False)
class _SelfieMemo:
    """What one selfie costs to analyse, kept so a reroll of the same photo skips it all."""

    selfie: Selfie
    tokens: dict[str, FaceTokens] = field(default_factory=dict)
    embedding: np.ndarray | None = None
    #: Who sent this photo, so /forget can drop it.
    user_ids: set[str] = field(default_factory=set)


class FactEngine:
    """Decode -> face -> identity tokens -> diffusion -> fusion -> ranking -> PNG, with progress."""

    def __init__(
        self,
        config: RuntimeConfig,
        catalog: StyleCatalog,
        *,
        is_offline: bool = False,
        selfie_cache_size: int = 16,
        stack: ModelStack | None = None,
    ) -> None:
        self.config = config
        self.catalog = catalog
        self.stack = stack or ModelStack(config, is_offline=is_offline)
        # Per selfie hash: its face, face tokens per base model and identity embedding, so a
        # reroll of the same photo skips detection, the encoder and the embedding (small LRU).
        self._selfies: OrderedDict[str, _SelfieMemo] = OrderedDict()
        # forget_user comes from the event loop while the worker uses the cache.
        self._selfies_lock = threading.Lock()
        # Per user, how often they were forgotten: an analysis that started before a forget is not cached.
        self._forgets: dict[str, int] = {}
        self._selfie_cache_size = selfie_cache_size
        self._pipelines: dict[str, PortraitPipeline] = {}

    def warm_up(self) -> None:
        """Load every resident model (the ControlNet and the OpenPose annotator wait for the first pose job)."""
        self.stack.load()

    def run(self, request: JobRequest, report: StepReporter, *, max_batch: int | None = None) -> JobResult:
        """Run one job to completion on the calling thread.

        Parameters
        ----------
        request:
            A ``PortraitRequest`` or ``InpaintRequest``.
        report:
            Called at each stage and denoising step; whatever it raises (``JobCancelled``,
            ``JobTimedOut``) stops the job and propagates.
        max_batch:
            Most images per UNet call; defaults to ``generation.max_batch``.

        Raises
        ------
        InputError
            The request cannot be served (no face, unknown style, bad image, ...).
        ContentBlocked
            The safety checker flagged every image (fewer flagged: they are left out, with a note).
        OutOfMemory
            The device ran out of memory with ``batch`` images per UNet call.
        """
        batch = max_batch or self.config.generation.max_batch
        if max_batch is not None and torch.cuda.is_available():
            # A retry after running out of memory: the failed attempt's tensors are released by now.
            torch.cuda.empty_cache()
        try:
            if isinstance(request, PortraitRequest):
                result = self._run_portrait(request, report, batch)
            elif isinstance(request, InpaintRequest):
                from .inpaint import run_inpaint_job

                result = run_inpaint_job(self, request, report, batch)
            else:
                raise InvalidRequest(f"unknown request type {type(request).__name__}")
        except torch.OutOfMemoryError as exc:
            # The cache is emptied on the retry, once this traceback no longer holds the activations.
            used = min(batch, request.count)  # the pipeline never batches more images than the job has
            raise OutOfMemory(f"out of device memory with {used} image(s) per batch: {exc}", batch=used) from exc
        return result

    def lora_note(self, style_id: str) -> str | None:
        """Why a style will run without its LoRA (tiny preset, not available offline); ``None`` if it will not."""
        style = self.catalog.get(style_id)
        if not self.stack.is_tiny or style.lora is None:
            return None
        if self.stack.lora_file(style.lora, styles_dir=self.catalog.directory) is not None:
            return None
        return (
            f"the tiny preset runs style '{style.id}' without its LoRA: only local LoRA files made for the "
            "tiny models apply (catalogue LoRAs fit the full-size models and are never downloaded here)"
        )

    # -- the portrait job ----------------------------------------------------------------

    def _run_portrait(self, request: PortraitRequest, report: StepReporter, max_batch: int) -> JobResult:
        generation = self.config.generation
        timings: dict[str, float] = {}
        report("preparing")
        with timed(timings, "prepare"):
            style = self.catalog.get(request.style_id)
            seeds = self.seeds_for(request.seed, self.check_count(request.count))
            prompt = style.compose_prompt(subject=request.subject, extra=request.prompt)
            selfie, digest = self.analyse_selfie(request.selfie, user_id=request.user_id)
            pose = None
            if request.pose is not None:
                pose_rgb = decode_image(request.pose, self.config.images).rgb
                pose = make_pose_map(pose_rgb, generation.width, generation.height, self.stack)
            base = self.stack.base(style.base_model)
            is_style_complete = self.activate_style(base, style)
        report("encoding")
        with timed(timings, "encode"):
            tokens = self.face_tokens(base, selfie, digest)
        steps = style.num_inference_steps or generation.num_inference_steps
        inputs = PortraitInputs(
            prompt=prompt,
            negative_prompt=style.negative_prompt,
            face=tokens,
            seeds=seeds,
            width=generation.width,
            height=generation.height,
            num_inference_steps=steps,
            guidance_scale=generation.guidance_scale if style.guidance_scale is None else style.guidance_scale,
            adapter_scale=style.adapter_scale,
            scheduler=generation.scheduler,
            pose=pose,
        )
        with timed(timings, "denoise"):
            pipeline = self._pipelines.setdefault(base.base_id, PortraitPipeline(self.stack, base))
            images = pipeline(inputs, max_batch=max_batch, on_step=lambda done, total: report("denoising", done, total))
        report("finishing")
        notes = list(self.notes_for(selfie, is_style_complete=is_style_complete))
        finished = self.finish(images, seeds, selfie, digest, timings, notes=notes)
        return JobResult(images=finished, timings=timings, notes=tuple(notes))

    # -- stages shared with the inpaint job ----------------------------------------------

    def check_count(self, count: int) -> int:
        """The number of images, checked against ``generation.max_count``."""
        limit = self.config.generation.max_count
        if not 1 <= count <= limit:
            raise InvalidRequest(
                f"count {count} outside 1..{limit}", user_message=f"You can ask for 1 to {limit} images at a time."
            )
        return count

    def analyse_selfie(self, data: bytes, *, user_id: str = "") -> tuple[Selfie, str]:
        """Decode the selfie and find its face, at analysis size; also returns the bytes' digest."""
        digest = hashlib.sha256(data).hexdigest()
        with self._selfies_lock:
            forgets = self._forgets.get(user_id, 0)
            memo = self._selfies.get(digest)
            if memo is not None:
                self._selfies.move_to_end(digest)
                memo.user_ids.add(user_id)
                return memo.selfie, digest
        rgb = decode_image(data, self.config.images).rgb
        small, _ = downscale_for_analysis(rgb, self.config.images.analysis_side)
        found = find_selfie_face(small)
        if found.has_other_faces:
            log.info("selfie shows several faces; using the largest")
        selfie = Selfie(rgb=small, face=found.face, has_other_faces=found.has_other_faces)
        with self._selfies_lock:
            if self._forgets.get(user_id, 0) == forgets:
                self._selfies[digest] = _SelfieMemo(selfie, user_ids={user_id})
                while len(self._selfies) > self._selfie_cache_size:
                    self._selfies.popitem(last=False)
        return selfie, digest

    def forget_user(self, user_id: str) -> None:
        """Drop the cached analysis (face tokens, embedding, pixels) of every photo this user sent."""
        with self._selfies_lock:
            self._forgets[user_id] = self._forgets.get(user_id, 0) + 1
            for digest in [digest for digest, memo in self._selfies.items() if user_id in memo.user_ids]:
                del self._selfies[digest]

    def face_tokens(self, base: LoadedBase, selfie: Selfie, digest: str) -> FaceTokens:
        """FACT face tokens of the selfie for this base's resampler, encoded once per selfie."""
        from .fact import to_encoder_input

        memo = self._memo(selfie, digest)
        tokens = memo.tokens.get(base.base_id)
        if tokens is None:
            crop = identity_crop(selfie.rgb, selfie.face)
            faces = to_encoder_input([crop], device=self.stack.device, dtype=torch.float32)
            tokens = memo.tokens[base.base_id] = base.encoder.encode(faces)
        return tokens

    def _memo(self, selfie: Selfie, digest: str) -> _SelfieMemo:
        with self._selfies_lock:
            memo = self._selfies.get(digest)
            if memo is None or memo.selfie is not selfie:
                # Evicted or forgotten meanwhile: a private memo serves the rest of this job only.
                return _SelfieMemo(selfie)
            return memo

    def activate_style(self, base: LoadedBase, style: Style) -> bool:
        """Switch the base's LoRA adapters to this style's (or to none); False when its LoRA could not apply."""
        path = None if style.lora is None else self.stack.lora_file(style.lora, styles_dir=self.catalog.directory)
        if path is None:
            base.loras.deactivate()
            if style.lora is None:
                return True
            log.warning(
                "style %s: LoRA %s does not apply to the tiny preset; running without it",
                style.id, style.lora.path or f"{style.lora.model_id}/{style.lora.file}",
            )
            return False
        base.loras.activate(style.id, path, style.lora.weight)
        return True

    @staticmethod
    def notes_for(selfie: Selfie, *, is_style_complete: bool = True) -> tuple[str, ...]:
        """Sentences the user should read beside the result: what the job did differently from what they asked."""
        notes = []
        if selfie.has_other_faces:
            notes.append(SEVERAL_FACES_NOTE)
        if not is_style_complete:
            notes.append(NO_LORA_NOTE)
        return tuple(notes)

    @staticmethod
    def seeds_for(seed: int | None, count: int) -> tuple[int, ...]:
        """Image i gets seed + i, so any one image can be made again alone."""
        if seed is None:
            seed = secrets.randbelow(MAX_SEED + 1)
        if not 0 <= seed <= MAX_SEED:
            raise InvalidRequest(
                f"seed {seed} out of range", user_message=f"The seed must be between 0 and {MAX_SEED}."
            )
        return tuple(seed + index for index in range(count))

    def finish(
        self,
        images: list[np.ndarray],
        seeds: tuple[int, ...],
        selfie: Selfie,
        digest: str,
        timings: dict[str, float],
        *,
        compose: Callable[[np.ndarray], np.ndarray] | None = None,
        notes: list[str] | None = None,
    ) -> tuple[GeneratedImage, ...]:
        """Fusion, ranking, the safety check and PNG encoding, as configured; ``compose`` makes each final picture.

        Images the safety checker flags are left out, and ``notes`` gets a sentence saying how many;
        when it flags them all, ``ContentBlocked``.
        """
        generation = self.config.generation
        if generation.is_face_fusion_enabled or generation.is_ranking_enabled:
            with timed(timings, "detect"):
                faces = find_generated_faces(images)
        if generation.is_face_fusion_enabled:
            with timed(timings, "fusion"):
                images = fuse_with_selfie(images, faces, selfie, strength=generation.face_fusion_strength)
        if generation.is_ranking_enabled:
            with timed(timings, "rank"):
                memo = self._memo(selfie, digest)
                if memo.embedding is None:
                    memo.embedding = selfie_embedding(selfie)
                ranked = rank_by_identity(images, faces, seeds, memo.embedding)
        else:
            ranked = [RankedImage(rgb=image, seed=seed, identity_distance=None) for image, seed in zip(images, seeds)]
        with timed(timings, "png"):
            pictures = [(item, compose(item.rgb) if compose else item.rgb) for item in ranked]
        safety = self.stack.safety_checker()
        if safety is not None:
            # The checker sees a 224 px centre crop: for a composed picture (a large template) that
            # can miss or shrink the generated part, so the generated square is checked as well.
            checked = [rgb for _, rgb in pictures] + ([item.rgb for item in ranked] if compose else [])
            with timed(timings, "safety"):
                flags = check_images(safety.checker, safety.processor, checked, self.stack.device, self.stack.dtype)
            count = len(pictures)
            is_flagged = [flags[i] or (compose is not None and flags[count + i]) for i in range(count)]
            pictures = [picture for picture, is_nsfw in zip(pictures, is_flagged, strict=True) if not is_nsfw]
            if not pictures:
                raise ContentBlocked(f"the safety checker flagged all {count} images")
            if notes is not None and len(pictures) < count:
                notes.append(withheld_note(count - len(pictures)))
        with timed(timings, "png"):
            return tuple(
                GeneratedImage(png=encode_png(rgb), seed=item.seed, identity_distance=item.identity_distance)
                for item, rgb in pictures
            )


@contextlib.contextmanager
def timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    """Add the seconds spent in the block to ``timings[stage]``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - start
