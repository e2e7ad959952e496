"""Follow-ups of one result image: upscale (enlarge, then a light redraw: A1111's "hires fix") and vary.

``Img2ImgPipeline.__call__`` is the whole job in numbered steps, like the portrait pipeline; the
redraw uses the parent job's identity, style and prompt, so only detail (upscale) or composition
(vary, with a new seed) changes. Fusion and the likeness check run again at the result's size.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from ..follow_up_size import denoised_size, follow_up_size
from ..image import decode_image
from ..limits import RequestLimits, check_request, seeds_for
from ..request import UpscaleRequest, VaryRequest
from ..results import JobResult, StepReporter
from .finishing import finish
from .img2img_stage import Img2ImgInputs, denoise_img2img
from .preview import preview_callback
from .references import analyse_references, reference_tokens
from .speed import plan_speed
from .stages import SelfieCache, activate_style, notes_for, timed

if TYPE_CHECKING:
    from ..catalog import Style, StyleCatalog
    from ..loading import ModelStack

__all__ = ["Img2ImgPipeline", "resize"]

log = logging.getLogger(__name__)


def resize(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """``rgb`` at exactly ``width`` x ``height`` (Lanczos), or itself when it has that size already."""
    if rgb.shape[:2] == (height, width):
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.LANCZOS))


class Img2ImgPipeline:
    """FACT image-to-image from a parent result, a selfie (or saved face) and the parent's style."""

    def __init__(self, stack: ModelStack, catalog: StyleCatalog, selfies: SelfieCache) -> None:
        self.stack = stack
        self.catalog = catalog
        self.selfies = selfies

    def check_inputs(self, request: UpscaleRequest | VaryRequest) -> Style:
        """The request's style, once the request is known to be servable.

        Raises
        ------
        UnknownStyle
            No style has the request's id.
        InvalidRequest
            Seed, strength or scale out of range, or a result over ``images.max_pixels`` or the GPU
            budget (the same check as at submission).
        """
        check_request(request, RequestLimits.from_config(self.stack.config))
        plan_speed(self.stack.config, request.speed)
        return self.catalog.get(request.style_id)

    def __call__(self, request: UpscaleRequest | VaryRequest, report: StepReporter, *, max_batch: int) -> JobResult:
        """Run one upscale or variation on the calling thread; ``report`` hears every stage and step and may stop it.

        Raises
        ------
        InputError
            Unknown style, bad image, no usable face in the selfie, a result too large.
        ContentBlocked
            The safety checker withheld the image.
        """
        config = self.stack.config
        generation = config.generation
        timings: dict[str, float] = {}
        report("preparing")
        with timed(timings, "prepare"):
            # 1. Check inputs: the style exists; seed, speed tier, strength and the result's size are in range.
            style = self.check_inputs(request)
            speed = plan_speed(config, request.speed)
            seeds = seeds_for(request.seed, 1)
            prompt = style.compose_prompt(subject=request.subject, extra=request.prompt)
            strength = request.strength if request.strength is not None else generation.upscale_strength

            # 2. Enlarge the parent to the result's size, rounded to the UNet's multiple of 8.
            parent = decode_image(request.image, config.images).rgb
            width, height = follow_up_size(request, parent.shape[1], parent.shape[0])
            start = resize(parent, *denoised_size(width, height))

            # 3. Analyse the selfie and any further photos (cached per photo), or place a saved face.
            references = analyse_references(
                self.selfies, request, config.images, long_side=config.images.portrait_selfie_side
            )

            # 4. Pick the style's base model and switch its LoRA on (or every LoRA off), with the
            #    turbo tier's LoRA stacked on it.
            base = self.stack.base(style.base_model)
            is_style_complete = activate_style(self.stack, base, style, styles_dir=self.catalog.directory, speed=speed)

        # 5. Encode the identity: the parent job's face tokens.
        report("encoding")
        with timed(timings, "encode"):
            tokens = reference_tokens(self.selfies, base, references, self.stack.device)

        # 6. Redraw at the strength with the tier's scheduler, steps and guidance: enough steps that
        #    at least one runs (a tiled VAE above its tile).
        steps = style.num_inference_steps or generation.num_inference_steps
        guidance = generation.guidance_scale if style.guidance_scale is None else style.guidance_scale
        inputs = Img2ImgInputs(
            image=start,
            prompt=prompt,
            negative_prompt=style.negative_prompt,
            face=tokens,
            seeds=seeds,
            num_inference_steps=speed.steps_for(max(steps, math.ceil(1 / strength)), strength),
            guidance_scale=speed.guidance_for(guidance),
            adapter_scale=generation.adapter_scale if style.adapter_scale is None else style.adapter_scale,
            strength=strength,
            scheduler=speed.scheduler_for(generation.scheduler),
            cache_interval=speed.cache_interval,
        )
        with timed(timings, "denoise"):
            images = denoise_img2img(
                base,
                inputs,
                max_batch=max_batch,
                on_step=lambda done, total: report("denoising", done, total),
                on_latents=preview_callback(report, generation, self.stack.preview_decoder),
            )

        # 7. Finish at the exact size: fuse the selfie's face in, check the likeness, safety, encode.
        report("finishing")
        images = [resize(image, width, height) for image in images]
        finished = finish(self.stack, images, seeds, references.selfie, timings)
        notes = (*notes_for(references.selfie, is_style_complete=is_style_complete), *finished.notes)
        return JobResult(images=finished.images, timings=timings, notes=notes, speed=speed.tier)
