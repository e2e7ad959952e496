"""The portrait job: a selfie and a style in, ranked portraits out, in the stage order of diffusers' pipelines.

``PortraitPipeline.__call__`` is the whole job in numbered steps; each step is a stage from
``stages``, ``diffusion`` or ``finishing``, and this file is the only place that knows their order.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..image import decode_image
from ..limits import RequestLimits, check_request, seeds_for
from ..request import PortraitRequest
from ..results import JobResult, StepReporter
from .diffusion import PortraitInputs, denoise_portraits
from .finishing import finish
from .preview import preview_callback
from .references import analyse_references, reference_tokens
from .speed import plan_speed
from .stages import SelfieCache, activate_style, notes_for, pose_map, timed

if TYPE_CHECKING:
    from ..catalog import StyleCatalog
    from ..loading import ModelStack

__all__ = ["PortraitPipeline"]

log = logging.getLogger(__name__)


class PortraitPipeline:
    """FACT text-to-image from a selfie and a style (+ an optional pose), on the resident models."""

    def __init__(self, stack: ModelStack, catalog: StyleCatalog, selfies: SelfieCache) -> None:
        self.stack = stack
        self.catalog = catalog
        self.selfies = selfies

    def check_inputs(self, request: PortraitRequest) -> None:
        """Raise if the request is not servable (the check of submission, and its style).

        Raises
        ------
        UnknownStyle
            No style has the request's id.
        InvalidRequest
            The count, the seed or the selfie is out of range (the same check as at submission).
        """
        check_request(request, RequestLimits.from_config(self.stack.config))
        plan_speed(self.stack.config, request.speed)
        self.catalog.get(request.style_id)

    def __call__(self, request: PortraitRequest, report: StepReporter, *, max_batch: int) -> JobResult:
        """Run one portrait job on the calling thread; ``report`` hears every stage and step and may stop the job.

        Raises
        ------
        InputError
            Unknown style, bad image, no usable face, a pose photo without an annotator, ...
        ContentBlocked
            The safety checker withheld every image.
        """
        config = self.stack.config
        generation = config.generation
        timings: dict[str, float] = {}
        report("preparing")
        with timed(timings, "prepare"):
            # 1. Check inputs: the style exists, count, seed and speed tier are in range.
            self.check_inputs(request)
            style = self.catalog.get(request.style_id)
            speed = plan_speed(config, request.speed)
            seeds = seeds_for(request.seed, request.count)
            prompt = style.compose_prompt(subject=request.subject, extra=request.prompt)

            # 2. Analyse the selfie and any further photos: decode, find the face (cached per
            #    photo, so rerolls skip it); a saved face is placed on the selfie without a search.
            references = analyse_references(
                self.selfies, request, config.images, long_side=config.images.portrait_selfie_side
            )
            selfie = references.selfie

            # 3. Turn the pose image, if any, into the ControlNet's skeleton map.
            pose = None
            if request.pose is not None:
                pose_rgb = decode_image(request.pose, config.images).rgb
                pose = pose_map(pose_rgb, self.stack, generation.width, generation.height)

            # 4. Pick the style's base model and switch its LoRA on (or every LoRA off), with the
            #    turbo tier's LoRA stacked on it.
            base = self.stack.base(style.base_model)
            is_style_complete = activate_style(self.stack, base, style, styles_dir=self.catalog.directory, speed=speed)

        # 5. Encode the identity: aligned face crop -> TransFace-S -> 16 face tokens per photo
        #    (a saved face brings its tokens).
        report("encoding")
        with timed(timings, "encode"):
            tokens = reference_tokens(self.selfies, base, references, self.stack.device)

        # 6. Denoise at the tier's scheduler, steps and guidance, batched, every step reported.
        guidance = generation.guidance_scale if style.guidance_scale is None else style.guidance_scale
        inputs = PortraitInputs(
            prompt=prompt,
            negative_prompt=style.negative_prompt,
            face=tokens,
            seeds=seeds,
            width=generation.width,
            height=generation.height,
            num_inference_steps=speed.steps_for(style.num_inference_steps or generation.num_inference_steps),
            guidance_scale=speed.guidance_for(guidance),
            adapter_scale=generation.adapter_scale if style.adapter_scale is None else style.adapter_scale,
            scheduler=speed.scheduler_for(generation.scheduler),
            pose=pose,
            cache_interval=speed.cache_interval,
        )
        with timed(timings, "denoise"):
            images = denoise_portraits(
                self.stack,
                base,
                inputs,
                max_batch=max_batch,
                on_step=lambda done, total: report("denoising", done, total),
                on_latents=preview_callback(report, generation, self.stack.preview_decoder),
            )

        # 7. Finish: fuse the selfie's face in, rank by likeness, safety check, encode.
        report("finishing")
        finished = finish(self.stack, images, seeds, selfie, timings)
        notes = (*notes_for(selfie, is_style_complete=is_style_complete), *finished.notes)
        return JobResult(images=finished.images, timings=timings, notes=notes, speed=speed.tier)
