"""The original inpainting recipe: the original app's five passes over one template face (fact-reference §4.3).

(1) A new face is drawn with FACT in the template's pose (OpenPose ControlNet); (2) the selfie's
face is fused into it; (3) it is warped onto the template face; (4) the template's square is
inpainted with FACT under two ControlNets, a face map of the warped face and the square's edges,
inside a mask that stays tight above the eye line; (5) a light refinement pass under the result's
own face map and edges. Other faces of the template are blacked out of the square the passes see.
The recipe's numbers and single stages are in ``inpaint_stages``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..face.mask import face_hull_mask
from ..pose import draw_face_landmarks
from ..request import InpaintRequest
from ..results import JobResult, StepReporter
from . import inpaint_stages as recipe
from .control_inpaint import ControlInpaintInputs, control_inpaint_steps, denoise_control_inpaint
from .crop import black_out_faces, cut_square, feather, plan_crop
from .diffusion import PortraitInputs, count_steps, denoise_portraits
from .inpaint import InpaintJob, InpaintPipeline, PaintedFace
from .recipe_masks import boxes_mask, canny_edges, composite, eye_line_mask, grow_mask, paste_radius
from .stages import timed
from .warp import warp_face

if TYPE_CHECKING:
    from ..face import Face
    from ..fact import FaceTokens

__all__ = ["OriginalInpaintPipeline"]

log = logging.getLogger(__name__)


class OriginalInpaintPipeline(InpaintPipeline):
    """The ``original`` recipe: FACT inpainting of one template face in five passes."""

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

        # 3. The five passes over the chosen face, the template's other faces blacked out; one
        #    progress count over every pass of every image.
        tally = recipe.StepTally(report, self.count_steps(job, max_batch=max_batch))
        painted = self.paint_face(
            job, job.template, job.face, tokens, tally, timings, max_batch=max_batch, others=job.other_boxes
        )

        # 4. Finish, pasting each result back into the full-resolution template.
        report("finishing")
        return self.finish(job, painted, timings)

    def count_steps(self, job: InpaintJob, *, max_batch: int) -> int:
        """The denoising steps one ``paint_face`` of this job reports (for a progress total over several faces)."""
        generation = self.stack.config.generation
        steps, scheduler = job.steps(generation.num_inference_steps), job.speed.scheduler_for(generation.scheduler)
        strength = job.inpaint_strength(generation.inpaint_strength)
        inpaint_steps = control_inpaint_steps(
            job.base, scheduler, job.steps(job.schedule(generation.num_inference_steps), strength), strength
        )
        refine_steps = control_inpaint_steps(
            job.base,
            scheduler,
            job.steps(generation.num_inference_steps, recipe.REFINE_STRENGTH),
            recipe.REFINE_STRENGTH,
        )
        # A follow-up draws no new face (pass 1).
        batches = 0 if job.strength is not None else -(-len(job.seeds) // max_batch)
        return count_steps(job.base.scheduler(scheduler), steps) * batches + (inpaint_steps + refine_steps) * len(
            job.seeds
        )

    def paint_face(
        self,
        job: InpaintJob,
        template: np.ndarray,
        face: Face,
        tokens: FaceTokens,
        tally: recipe.StepTally,
        timings: dict[str, float],
        *,
        max_batch: int,
        others: Sequence[tuple[float, float, float, float]] = (),
    ) -> PaintedFace:
        """The five passes over ``face`` of ``template`` (template pixels), with the ``others`` boxes blacked out.

        Per seed: the painted working square and the plan that pastes it back (never over ``others``).
        A follow-up (``job.strength``) paints on a face that is its member's already: no new face is
        drawn (passes 1 to 3); passes 4 and 5 redraw it where it lies, pass 4 at the follow-up's strength.

        Raises
        ------
        ModelMissing
            Full preset: the canny ControlNet is not available (found before any pass runs).
        """
        generation = self.stack.config.generation
        # The job's tier sets each pass's scheduler, steps and guidance (the original tier: the config's).
        speed, steps = job.speed, generation.num_inference_steps
        guidance, scheduler = (
            speed.guidance_for(generation.inpaint_guidance_scale),
            speed.scheduler_for(generation.scheduler),
        )
        self.stack.controlnet("canny")
        plan = plan_crop(template.shape[:2], face, min(generation.width, generation.height))
        square = cut_square(black_out_faces(template, list(others)), plan)
        prompt = recipe.PROMPT.format(subject=job.subject)
        target = recipe.template_face(square, plan.to_square(face.landmarks68), plan.to_square(face.landmarks))
        keep_out = boxes_mask(plan.size, [plan.to_square(np.reshape(box, (2, 2))) for box in others])
        strength = job.inpaint_strength(generation.inpaint_strength)
        fused, pose_note = None, None
        if job.strength is None:
            fused, pose_note = self._new_faces(job, square, tokens, tally, timings, max_batch=max_batch)
        images, plans = [], {}
        for index, seed in enumerate(job.seeds):
            points68, within = target.points68, None
            if fused is not None:
                # Pass 3: the new face warped onto the template face.
                tally.between_passes()
                new_face, found = fused[index]
                warped = warp_face(square, target.points5, new_face, found, fallback68=target.points68)
                points68, within = warped.points68, warped.mask

            # Pass 4: inpaint the square under the (warped) face's face map and the square's edges,
            # inside the face grown below the eye line, bounded by the warped face.
            mask = eye_line_mask(
                target.mask,
                target.eye_y,
                grow=recipe.INPAINT_MASK_GROW,
                pre_grow=recipe.INPAINT_MASK_PRE_GROW,
                within=within,
            )
            inpaint_pass = ControlInpaintInputs(
                image=square,
                mask=mask,
                face_map=draw_face_landmarks([points68], plan.size, plan.size),
                edge_map=target.edges,
                control_scales=recipe.INPAINT_CONTROL_SCALES,
                prompt=prompt,
                negative_prompt=recipe.NEGATIVE_PROMPT,
                face=tokens,
                seed=seed,
                num_inference_steps=job.steps(job.schedule(steps), strength),
                guidance_scale=guidance,
                adapter_scale=generation.inpaint_adapter_scale,
                strength=strength,
                scheduler=scheduler,
                cache_interval=speed.cache_interval,
            )
            with timed(timings, "denoise"):
                painted = denoise_control_inpaint(self.stack, job.base, inpaint_pass, on_step=tally.next_pass())
            painted = composite(square, painted, feather(mask, paste_radius(target.mask)))

            # Pass 5: refine the result lightly under its own face map and edges.
            tally.between_passes()
            with timed(timings, "detect"):
                refined_face = recipe.largest_face(self.stack.faces, painted)
            points68 = points68 if refined_face is None else refined_face.landmarks68
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
                num_inference_steps=job.steps(steps, recipe.REFINE_STRENGTH),
            )
            with timed(timings, "denoise"):
                refined = denoise_control_inpaint(self.stack, job.base, refine_pass, on_step=tally.next_pass())
            images.append(composite(painted, refined, feather(refine_mask, paste_radius(target.mask))))
            changed = (mask | refine_mask).astype(np.uint8)
            plans[seed] = plan.with_paste_mask(feather(changed, paste_radius(target.mask)), keep_out=keep_out)
        return PaintedFace(images, plans, (pose_note,) if pose_note else ())

    def _new_faces(
        self,
        job: InpaintJob,
        square: np.ndarray,
        tokens: FaceTokens,
        tally: recipe.StepTally,
        timings: dict[str, float],
        *,
        max_batch: int,
    ) -> tuple[list[tuple[np.ndarray, Face | None]], str | None]:
        """Passes 1 and 2: per seed, a new face drawn in the square's pose and the selfie's face fused into it."""
        generation = self.stack.config.generation
        speed, size = job.speed, square.shape[0]
        guidance = speed.guidance_for(generation.inpaint_guidance_scale)
        with timed(timings, "pose"):
            pose, pose_note = recipe.template_pose(self.stack, square)

        # Pass 1: a new face with the selfie's identity, drawn in the template's pose.
        pose_pass = PortraitInputs(
            prompt=recipe.PROMPT.format(subject=job.subject),
            negative_prompt=recipe.NEGATIVE_PROMPT,
            face=tokens,
            seeds=job.seeds,
            width=size,
            height=size,
            num_inference_steps=job.steps(generation.num_inference_steps),
            guidance_scale=guidance,
            adapter_scale=generation.adapter_scale,
            scheduler=speed.scheduler_for(generation.scheduler),
            pose=pose,
            cache_interval=speed.cache_interval,
        )
        with timed(timings, "denoise"):
            new_faces = denoise_portraits(
                self.stack, job.base, pose_pass, max_batch=max_batch, on_step=tally.next_pass()
            )

        # Pass 2: the selfie's face fused into every new face.
        with timed(timings, "fusion"):
            fused = recipe.fuse_new_faces(self.stack.faces, new_faces, job.references.selfie)
        return fused, pose_note
