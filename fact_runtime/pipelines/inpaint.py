"""The inpaint job: put the selfie's identity into one face of a template photo.

Two recipes (``generation.inpaint_recipe``, or the request's own):

- ``original``, the default: the original app's five passes (fact-reference §4.3). (1) A new
  face is drawn with FACT in the template's pose (OpenPose ControlNet); (2) the selfie's face is
  fused into it; (3) it is warped onto the template face; (4) the template's square is
  inpainted with FACT under two ControlNets, a face map of the warped face and the square's
  edges, inside a mask that stays tight above the eye line; (5) a light refinement pass under
  the result's own face map and edges. Other faces of the template are blacked out of the
  square the passes see.
- ``fast``: one FACT inpainting pass of the square inside a dilated face mask.

Either way the result is pasted back into the full-resolution template through a feathered
mask, so every pixel the passes could not change is the template's own (``crop.py``).
``InpaintPipeline.__call__`` is the whole job in numbered steps, like ``PortraitPipeline``.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

import numpy as np

from ..catalog import DEFAULT_NEGATIVE_PROMPT, SUBJECT_WORDS, template_path
from ..face import choose_template_face, find_template_faces
from ..face.mask import face_hull_mask
from ..image import decode_image, downscale_for_analysis
from ..limits import RequestLimits, check_request, seeds_for
from ..pose import draw_face_landmarks
from ..request import InpaintRequest, JobResult, StepReporter
from . import inpaint_stages as recipe
from .control_inpaint import ControlInpaintInputs, control_inpaint_steps, denoise_control_inpaint
from .crop import black_out_faces, cut_square, feather, paste_back, plan_crop
from .diffusion import InpaintInputs, PortraitInputs, count_steps, denoise_inpaint, denoise_portraits
from .finishing import finish
from .recipe_masks import boxes_mask, canny_edges, composite, eye_line_mask, grow_mask, paste_radius
from .references import analyse_references, reference_tokens
from .speed import plan_speed
from .stages import SelfieCache, notes_for, timed, turbo_lora
from .warp import warp_face

if TYPE_CHECKING:
    from pathlib import Path

    from ..loading import ModelStack

__all__ = ["InpaintPipeline"]

log = logging.getLogger(__name__)

_FAST_PROMPT = "{subject}, raw photo, masterpiece, solo, high detail face, photorealistic, best quality"


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
            Count, seed, face number, recipe or the template choice is out of range (the check of submission).
        UnknownTemplate
            No built-in template has the request's id.
        """
        check_request(request, RequestLimits.from_config(self.stack.config))
        plan_speed(self.stack.config, request.speed)
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
        ModelMissing
            Full preset: a model the recipe needs (the canny ControlNet) is not available.
        """
        config = self.stack.config
        generation = config.generation
        timings: dict[str, float] = {}
        notes: list[str] = []
        report("preparing")
        with timed(timings, "prepare"):
            # 1. Check inputs, read the template (uploaded or built in), pick the recipe.
            data = self.check_inputs(request)
            seeds = seeds_for(request.seed, request.count)
            is_original = (request.recipe or generation.inpaint_recipe) == "original"
            speed = plan_speed(config, request.speed)

            # 2. Find the template's faces and the chosen one, counted from the left.
            template = decode_image(data, config.images).rgb
            small, scale = downscale_for_analysis(template, config.images.analysis_side)
            faces = [face.scaled(1 / scale) for face in find_template_faces(self.stack.faces, small)]
            face = choose_template_face(faces, request.face_index)
            others = [other.box for other in faces if other is not face]

            # 3. Analyse the selfie and any further photos (cached per photo and size), or place a saved face.
            references = analyse_references(
                self.selfies, request, config.images, long_side=config.images.inpaint_selfie_side
            )
            selfie = references.selfie

            # 4. The inpainting base runs without any style LoRA (the turbo tier with its own).
            base = self.stack.inpaint_base()
            base.loras.deactivate(turbo=turbo_lora(self.stack, speed))

            # 5. Plan the working square around the face and cut it out; the original recipe
            #    blacks the template's other faces out first, so no pass copies them.
            plan = plan_crop(template.shape[:2], face, min(generation.width, generation.height))
            square = cut_square(black_out_faces(template, others) if is_original else template, plan)

        # 6. Encode the identity.
        report("encoding")
        with timed(timings, "encode"):
            tokens = reference_tokens(self.selfies, base, references, self.stack.device)
        subject = SUBJECT_WORDS[request.subject]
        steps, guidance = (
            speed.steps_for(generation.num_inference_steps),
            speed.guidance_for(generation.inpaint_guidance_scale),
        )
        scheduler, strength = speed.scheduler_for(generation.scheduler), generation.inpaint_strength
        inpaint_steps = speed.steps_for(generation.num_inference_steps, strength)
        refine_steps = speed.steps_for(generation.num_inference_steps, recipe.REFINE_STRENGTH)

        if not is_original:
            # 7. Fast recipe: inpaint the square inside the dilated face mask, in one pass.
            inputs = InpaintInputs(
                square=square,
                mask=plan.inpaint_mask,
                prompt=_FAST_PROMPT.format(subject=subject),
                negative_prompt=DEFAULT_NEGATIVE_PROMPT,
                face=tokens,
                seeds=seeds,
                num_inference_steps=inpaint_steps,
                guidance_scale=guidance,
                adapter_scale=generation.inpaint_adapter_scale,
                strength=strength,
                scheduler=scheduler,
                cache_interval=speed.cache_interval,
            )
            with timed(timings, "denoise"):
                results = denoise_inpaint(
                    base, inputs, max_batch=max_batch, on_step=lambda done, total: report("denoising", done, total)
                )
            plans = dict.fromkeys(seeds, plan)
        else:
            # 7. Original recipe: the template face in the square, its edge map, its pose; one
            #    progress count over every pass of every image. The canny ControlNet loads (or is
            #    found missing) before any pass runs.
            self.stack.controlnet("canny")
            prompt = recipe.PROMPT.format(subject=subject)
            target = recipe.template_face(square, plan.to_square(face.landmarks68), plan.to_square(face.landmarks))
            keep_out = boxes_mask(plan.size, [plan.to_square(np.reshape(box, (2, 2))) for box in others])
            with timed(timings, "pose"):
                pose, pose_note = recipe.template_pose(self.stack, square)
            notes.extend([pose_note] if pose_note else [])
            batches = -(-len(seeds) // max_batch)
            tally = recipe.StepTally(
                report,
                count_steps(base.scheduler(scheduler), steps) * batches
                + control_inpaint_steps(base, scheduler, inpaint_steps, strength) * len(seeds)
                + control_inpaint_steps(base, scheduler, refine_steps, recipe.REFINE_STRENGTH) * len(seeds),
            )

            # 8. Pass 1: a new face with the selfie's identity, drawn in the template's pose.
            pose_pass = PortraitInputs(
                prompt=prompt,
                negative_prompt=recipe.NEGATIVE_PROMPT,
                face=tokens,
                seeds=seeds,
                width=plan.size,
                height=plan.size,
                num_inference_steps=steps,
                guidance_scale=guidance,
                adapter_scale=generation.adapter_scale,
                scheduler=scheduler,
                pose=pose,
                cache_interval=speed.cache_interval,
            )
            with timed(timings, "denoise"):
                new_faces = denoise_portraits(
                    self.stack, base, pose_pass, max_batch=max_batch, on_step=tally.next_pass()
                )

            # 9. Pass 2: the selfie's face fused into every new face.
            with timed(timings, "fusion"):
                fused = recipe.fuse_new_faces(self.stack.faces, new_faces, selfie)
            results, plans = [], {}
            for seed, (new_face, found) in zip(seeds, fused, strict=True):
                # 10. Pass 3: the new face warped onto the template face.
                tally.between_passes()
                warped = warp_face(square, target.points5, new_face, found, fallback68=target.points68)

                # 11. Pass 4: inpaint the square under the warped face's face map and the square's
                #     edges, inside the face grown below the eye line, bounded by the warped face.
                mask = eye_line_mask(
                    target.mask,
                    target.eye_y,
                    grow=recipe.INPAINT_MASK_GROW,
                    pre_grow=recipe.INPAINT_MASK_PRE_GROW,
                    within=warped.mask,
                )
                inpaint_pass = ControlInpaintInputs(
                    image=square,
                    mask=mask,
                    face_map=draw_face_landmarks([warped.points68], plan.size, plan.size),
                    edge_map=target.edges,
                    control_scales=recipe.INPAINT_CONTROL_SCALES,
                    prompt=prompt,
                    negative_prompt=recipe.NEGATIVE_PROMPT,
                    face=tokens,
                    seed=seed,
                    num_inference_steps=inpaint_steps,
                    guidance_scale=guidance,
                    adapter_scale=generation.inpaint_adapter_scale,
                    strength=strength,
                    scheduler=scheduler,
                    cache_interval=speed.cache_interval,
                )
                with timed(timings, "denoise"):
                    painted = denoise_control_inpaint(self.stack, base, inpaint_pass, on_step=tally.next_pass())
                painted = composite(square, painted, feather(mask, paste_radius(target.mask)))

                # 12. Pass 5: refine the result lightly under its own face map and edges.
                tally.between_passes()
                with timed(timings, "detect"):
                    refined_face = recipe.largest_face(self.stack.faces, painted)
                points68 = warped.points68 if refined_face is None else refined_face.landmarks68
                refine_mask = grow_mask(face_hull_mask((plan.size, plan.size), points68), recipe.REFINE_MASK_GROW)
                # The same conditioning as pass 4, on its result, its own face map and edges, lighter.
                refine_pass = dataclasses.replace(
                    inpaint_pass,
                    image=painted,
                    mask=refine_mask,
                    face_map=draw_face_landmarks([points68], plan.size, plan.size),
                    edge_map=canny_edges(painted),
                    control_scales=recipe.REFINE_CONTROL_SCALES,
                    strength=recipe.REFINE_STRENGTH,
                    num_inference_steps=refine_steps,
                )
                with timed(timings, "denoise"):
                    refined = denoise_control_inpaint(self.stack, base, refine_pass, on_step=tally.next_pass())
                results.append(composite(painted, refined, feather(refine_mask, paste_radius(target.mask))))
                changed = (mask | refine_mask).astype(np.uint8)
                plans[seed] = plan.with_paste_mask(feather(changed, paste_radius(target.mask)), keep_out=keep_out)

        # 13. Finish, pasting each result back into the full-resolution template.
        report("finishing")
        finished = finish(
            self.stack,
            results,
            seeds,
            selfie,
            timings,
            compose=lambda rgb, seed: paste_back(template, rgb, plans[seed]),
        )
        notes = [*notes_for(selfie), *notes, *finished.notes]
        return JobResult(images=finished.images, timings=timings, notes=tuple(notes), speed=speed.tier)
