"""The inpaint job: put the selfie's identity into one face of a template photo.

One pass, where the original makes five (reference §4.3, §8 item 19): the working square around
the chosen face is inpainted with FACT inside a dilated face mask and pasted back (``crop.py``).
The original also ran a txt2img pass, a warped face paste, OpenPose/Canny ControlNets and a
refinement pass to keep the head pose and the template's lighting; inpainting only the face
region of the real crop keeps pose and lighting from the template pixels themselves.

``InpaintPipeline.__call__`` is the whole job in numbered steps, like ``PortraitPipeline``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..catalog import DEFAULT_NEGATIVE_PROMPT, SUBJECT_WORDS, template_path
from ..face import pick_template_face
from ..image import decode_image, downscale_for_analysis
from ..limits import RequestLimits, check_request, seeds_for
from ..request import InpaintRequest, JobResult, StepReporter
from .crop import cut_square, paste_back, plan_crop
from .diffusion import InpaintInputs, denoise_inpaint
from .finishing import finish
from .references import analyse_references, reference_tokens
from .stages import SelfieCache, notes_for, timed

if TYPE_CHECKING:
    from pathlib import Path

    from ..loading import ModelStack

__all__ = ["InpaintPipeline"]

log = logging.getLogger(__name__)

_PROMPT = "{subject}, raw photo, masterpiece, solo, high detail face, photorealistic, best quality"


class InpaintPipeline:
    """FACT inpainting of one template face, over the resident inpainting base."""

    def __init__(self, stack: ModelStack, selfies: SelfieCache, templates_dir: Path) -> None:
        self.stack = stack
        self.selfies = selfies
        self.templates_dir = templates_dir

    def check_inputs(self, request: InpaintRequest) -> bytes:
        """The template's bytes, once the request is known to be servable.

        Raises
        ------
        InvalidRequest
            Count, seed, face number or the template choice is out of range (the check of submission).
        UnknownTemplate
            No built-in template has the request's id.
        """
        check_request(request, RequestLimits.from_config(self.stack.config))
        if request.template is not None:
            return request.template
        assert request.template_id is not None  # check_request: exactly one of the two
        return template_path(self.templates_dir, request.template_id).read_bytes()

    def __call__(self, request: InpaintRequest, report: StepReporter, *, max_batch: int) -> JobResult:
        """Run one inpaint job on the calling thread; ``report`` hears every stage and step and may stop the job.

        Raises
        ------
        InputError
            Bad image, no face in the selfie or the template, a face number past the template's faces, ...
        ContentBlocked
            The safety checker withheld every image.
        """
        config = self.stack.config
        generation = config.generation
        timings: dict[str, float] = {}
        report("preparing")
        with timed(timings, "prepare"):
            # 1. Check inputs and read the template (uploaded or built in).
            data = self.check_inputs(request)
            seeds = seeds_for(request.seed, request.count)

            # 2. Find the chosen face in the template, counted from the left.
            template = decode_image(data, config.images).rgb
            small, scale = downscale_for_analysis(template, config.images.analysis_side)
            face = pick_template_face(self.stack.faces, small, request.face_index).scaled(1 / scale)

            # 3. Analyse the selfie and any further photos (cached per photo), or place a saved face.
            references = analyse_references(self.selfies, request, config.images)
            selfie = references.selfie

            # 4. The inpainting base runs without any style LoRA.
            base = self.stack.inpaint_base()
            base.loras.deactivate()

            # 5. Plan the working square around the face and cut it out.
            plan = plan_crop(template.shape[:2], face, min(generation.width, generation.height))
            square = cut_square(template, plan)

        # 6. Encode the identity.
        report("encoding")
        with timed(timings, "encode"):
            tokens = reference_tokens(self.selfies, base, references, self.stack.device)

        # 7. Inpaint the square inside the face mask.
        inputs = InpaintInputs(
            square=square,
            mask=plan.inpaint_mask,
            prompt=_PROMPT.format(subject=SUBJECT_WORDS[request.subject]),
            negative_prompt=DEFAULT_NEGATIVE_PROMPT,
            face=tokens,
            seeds=seeds,
            num_inference_steps=generation.num_inference_steps,
            guidance_scale=generation.guidance_scale,
            adapter_scale=generation.inpaint_adapter_scale,
            strength=generation.inpaint_strength,
            scheduler=generation.scheduler,
        )
        with timed(timings, "denoise"):
            results = denoise_inpaint(
                base, inputs, max_batch=max_batch, on_step=lambda done, total: report("denoising", done, total)
            )

        # 8. Finish, pasting each result back into the full-resolution template.
        report("finishing")
        finished = finish(
            self.stack, results, seeds, selfie, timings, compose=lambda rgb: paste_back(template, rgb, plan)
        )
        notes = (*notes_for(selfie), *finished.notes)
        return JobResult(images=finished.images, timings=timings, notes=notes)
