"""The fast inpainting recipe: one FACT inpainting pass of the working square inside the dilated face mask.

The template's other faces stay visible in the square, and the mask is the same for every image
of a job (``crop.plan_crop``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..catalog import DEFAULT_NEGATIVE_PROMPT
from ..request import InpaintRequest
from ..results import JobResult, StepReporter
from .crop import cut_square, plan_crop
from .diffusion import InpaintInputs, count_steps, denoise_inpaint
from .inpaint import InpaintJob, InpaintPipeline, PaintedFace
from .inpaint_stages import StepTally
from .stages import timed

if TYPE_CHECKING:
    import numpy as np

    from ..face import Face
    from ..fact import FaceTokens

__all__ = ["FastInpaintPipeline"]

log = logging.getLogger(__name__)

_PROMPT = "{subject}, raw photo, masterpiece, solo, high detail face, photorealistic, best quality"


class FastInpaintPipeline(InpaintPipeline):
    """The ``fast`` recipe: FACT inpainting of one template face in a single pass."""

    def __call__(self, request: InpaintRequest, report: StepReporter, *, max_batch: int) -> JobResult:
        """Run one inpaint job on the calling thread; ``report`` hears every stage and step and may stop the job.

        Raises
        ------
        InputError
            Bad image, no face in the selfie or the template, a face number past the template's faces, ...
        ContentBlocked
            The safety checker withheld every image.
        """
        timings: dict[str, float] = {}
        report("preparing")
        with timed(timings, "prepare"):
            # 1. Check inputs, read the template, find its faces and the chosen one, analyse the
            #    photos, pick the inpainting base (no style LoRA).
            job = self.prepare(request)

        # 2. Encode the identity.
        report("encoding")
        with timed(timings, "encode"):
            tokens = self.encode(job)

        # 3. Inpaint the chosen face's square inside its dilated face mask, every image in one pass.
        tally = StepTally(report, self.count_steps(job, max_batch=max_batch))
        painted = self.paint_face(job, job.template, job.face, tokens, tally, timings, max_batch=max_batch)

        # 4. Finish, pasting each result back into the full-resolution template.
        report("finishing")
        return self.finish(job, painted, timings)

    def count_steps(self, job: InpaintJob, *, max_batch: int) -> int:
        """The denoising steps one ``paint_face`` of this job reports (for a progress total over several faces)."""
        generation = self.stack.config.generation
        scheduler = job.base.scheduler(job.speed.scheduler_for(generation.scheduler), is_sd_inpaint=True)
        batches = -(-len(job.seeds) // max_batch)
        strength = job.inpaint_strength(generation.inpaint_strength)
        steps = job.steps(job.schedule(generation.num_inference_steps), strength)
        return count_steps(scheduler, steps, strength=strength) * batches

    def paint_face(
        self,
        job: InpaintJob,
        template: np.ndarray,
        face: Face,
        tokens: FaceTokens,
        tally: StepTally,
        timings: dict[str, float],
        *,
        max_batch: int,
        others: Sequence[tuple[float, float, float, float]] = (),
    ) -> PaintedFace:
        """One inpaint pass over ``face`` of ``template`` (template pixels): per seed, the painted square and its plan.

        ``others`` is accepted for the same signature as the original recipe; this recipe keeps
        the other faces visible. A follow-up (``job.strength``) redraws the face at its strength.
        """
        generation = self.stack.config.generation
        strength = job.inpaint_strength(generation.inpaint_strength)
        plan = plan_crop(template.shape[:2], face, min(generation.width, generation.height))
        inputs = InpaintInputs(
            square=cut_square(template, plan),
            mask=plan.inpaint_mask,
            prompt=_PROMPT.format(subject=job.subject),
            negative_prompt=DEFAULT_NEGATIVE_PROMPT,
            face=tokens,
            seeds=job.seeds,
            num_inference_steps=job.steps(job.schedule(generation.num_inference_steps), strength),
            guidance_scale=job.speed.guidance_for(generation.inpaint_guidance_scale),
            adapter_scale=generation.inpaint_adapter_scale,
            strength=strength,
            scheduler=job.speed.scheduler_for(generation.scheduler),
            cache_interval=job.speed.cache_interval,
        )
        with timed(timings, "denoise"):
            images = denoise_inpaint(job.base, inputs, max_batch=max_batch, on_step=tally.next_pass())
        return PaintedFace(images, dict.fromkeys(job.seeds, plan))
