"""``FactEngine``: the real ``Engine`` behind the executor. It owns the model stack and the selfie cache,
and hands each job to the pipeline of its kind."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import torch

from ..errors import InvalidRequest, OutOfMemory
from ..face import pick_template_face
from ..image import decode_image, downscale_for_analysis
from ..limits import RequestLimits, check_request
from ..loading.stack import ModelStack
from ..request import (
    GroupRequest,
    IdentityRequest,
    InpaintRequest,
    JobRequest,
    PortraitRequest,
    UpscaleRequest,
    VaryRequest,
)
from ..results import JobResult, StepReporter
from .follow_up_picture import start_picture
from .group import GroupPipeline
from .identity import IdentityPipeline
from .img2img import Img2ImgPipeline
from .inpaint import InpaintPipeline
from .inpaint_fast import FastInpaintPipeline
from .inpaint_original import OriginalInpaintPipeline
from .portrait import PortraitPipeline
from .references import analyse_references
from .stages import SelfieCache, style_lora

if TYPE_CHECKING:
    from ..catalog import StyleCatalog
    from ..config import RuntimeConfig

__all__ = ["FactEngine"]

log = logging.getLogger(__name__)


class FactEngine:
    """Runs portrait, inpaint, identity and group jobs on the resident models, one at a time, on the calling thread."""

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
        #: Per selfie hash: its face, face tokens per base model and identity embedding.
        self.selfies = SelfieCache(self.stack.faces, config.images, size=selfie_cache_size)
        self.portrait = PortraitPipeline(self.stack, catalog, self.selfies)
        #: One pipeline per inpainting recipe, by the recipe's name.
        self.inpaint: dict[str, InpaintPipeline] = {
            "original": OriginalInpaintPipeline(self.stack, self.selfies, config.templates_dir),
            "fast": FastInpaintPipeline(self.stack, self.selfies, config.templates_dir),
        }
        self.identity = IdentityPipeline(self.stack)
        self.img2img = Img2ImgPipeline(self.stack, catalog, self.selfies)
        self.group = GroupPipeline(self.stack, self.selfies, self.inpaint, config.templates_dir)

    def check_inputs(self, request: JobRequest) -> None:
        """Refuse a request before any diffusion model loads: limits, style or template, every image, the faces.

        Only dlib's face models are used, and the photos' analysis is cached for the run.

        Raises
        ------
        InputError
            What the job would fail with in its first stage (no face, unknown style, bad image, ...).
        """
        images = self.config.images
        if isinstance(request, PortraitRequest):
            self.portrait.check_inputs(request)
            if request.pose is not None:
                decode_image(request.pose, images)
            long_side = images.portrait_selfie_side
        elif isinstance(request, InpaintRequest):
            pipeline = self.inpaint_pipeline(request)
            pipeline.check_inputs(request)
            template = decode_image(pipeline.template_bytes(request), images).rgb
            small, _ = downscale_for_analysis(template, images.analysis_side)
            pick_template_face(self.stack.faces, small, request.face_index)
            start_picture(request.start, request.scale, template, [], images)
            long_side = images.inpaint_selfie_side
        elif isinstance(request, UpscaleRequest | VaryRequest):
            self.img2img.check_inputs(request)
            decode_image(request.image, images)
            long_side = images.portrait_selfie_side
        elif isinstance(request, IdentityRequest):
            self.identity.check_photos(request)
            return
        elif isinstance(request, GroupRequest):
            self.group.check_inputs(request)
            indices = [member.face_index for member in request.faces]
            template, faces = self.group.find_faces(
                self.group.template_bytes(request.template, request.template_id), indices
            )
            start_picture(request.start, request.scale, template, faces, images)
            for member in request.faces:
                self.group.member_references(request, member)
            return
        else:
            raise InvalidRequest(f"no inputs to check before a {type(request).__name__}")
        analyse_references(self.selfies, request, images, long_side=long_side)

    def inpaint_pipeline(self, request: InpaintRequest) -> InpaintPipeline:
        """The pipeline of the request's inpainting recipe (the server's ``generation.inpaint_recipe`` by default).

        Raises
        ------
        InvalidRequest
            The request names no known recipe.
        """
        recipe = request.recipe or self.config.generation.inpaint_recipe
        pipeline = self.inpaint.get(recipe)
        if pipeline is None:
            # The submission check names what is wrong, the recipe or a field it checks first.
            check_request(request, RequestLimits.from_config(self.config))
            raise InvalidRequest(f"no pipeline for inpaint recipe {recipe!r}")
        return pipeline

    def warm_up(self) -> None:
        """Load every resident model (the ControlNet and the OpenPose annotator wait for the first pose job)."""
        self.stack.load()

    def forget_user(self, user_id: str) -> None:
        """Drop the cached analysis (face tokens, embedding, pixels) of every photo this user sent."""
        self.selfies.forget(user_id)

    def run(self, request: JobRequest, report: StepReporter, *, max_batch: int | None = None) -> JobResult:
        """Run one job to completion on the calling thread.

        Parameters
        ----------
        request:
            A ``PortraitRequest``, ``InpaintRequest``, ``IdentityRequest``, ``GroupRequest``,
            ``UpscaleRequest`` or ``VaryRequest``.
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
                return self.portrait(request, report, max_batch=batch)
            if isinstance(request, InpaintRequest):
                return self.inpaint_pipeline(request)(request, report, max_batch=batch)
            if isinstance(request, IdentityRequest):
                return self.identity(request, report)
            if isinstance(request, UpscaleRequest | VaryRequest):
                return self.img2img(request, report, max_batch=batch)
            if isinstance(request, GroupRequest):
                return self.group(request, report, max_batch=batch)
            raise InvalidRequest(f"unknown request type {type(request).__name__}")
        except torch.OutOfMemoryError as exc:
            # The cache is emptied on the retry, once this traceback no longer holds the activations.
            used = max(min(batch, request.count), 1)  # the pipeline never batches more images than the job has
            raise OutOfMemory(f"out of device memory with {used} image(s) per batch: {exc}", batch=used) from exc

    def lora_note(self, style_id: str) -> str | None:
        """Why a style will run without its LoRA (tiny preset, not available offline); ``None`` if it will not."""
        style = self.catalog.get(style_id)
        if not self.stack.is_tiny:
            return None
        choice = style_lora(self.stack, style, styles_dir=self.catalog.directory)
        if choice is None or choice[1] is not None:
            return None
        return (
            f"the tiny preset runs style '{style.id}' without its LoRA: only local LoRA files made for the "
            "tiny models apply (catalogue LoRAs fit the full-size models and are never downloaded here)"
        )
