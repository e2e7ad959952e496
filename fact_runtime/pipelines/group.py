"""The group job: several saved identities into one template, each into its own face, one face after another.

Every face is painted by the recipe the job runs (``generation.inpaint_recipe``, or the request's
own) through that recipe's single-face pass, ``paint_face``, on the picture the previous face's
pass left. Each pass's paste mask keeps out every other face of the template, so the faces done
before it keep their pixels, and everything outside the paste masks stays the template's own, bit
for bit (``crop.paste_back``). Each identity's stored face tokens are used as they are: nothing is
detected or encoded in the members' photos. The output has the template's own size.
A follow-up of a filled template (``GroupRequest.start``: an upscale or a variation) paints the same
faces again on that picture, enlarged ``scale`` times, at the follow-up's strength
(``follow_up_picture``).
``GroupPipeline.__call__`` is the whole job in numbered steps, like the other pipelines.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..catalog import template_path
from ..errors import InvalidRequest
from ..face import Face, find_template_faces
from ..image import decode_image, downscale_for_analysis
from ..limits import RequestLimits, check_group_template, check_request, named_face, seeds_for
from ..request import GroupFace, GroupRequest, InpaintRequest
from ..results import JobResult, StepReporter
from ..tokens import DAMAGED_FACE, saved_photo_count
from .crop import paste_back
from .follow_up_picture import start_picture
from .group_finishing import GroupImage, finish_face, finish_group
from .inpaint import InpaintJob, InpaintPipeline
from .inpaint_stages import StepTally
from .recipe_masks import boxes_mask
from .references import References, analyse_references, load_saved_tokens
from .speed import plan_speed
from .stages import SelfieCache, timed, turbo_lora

if TYPE_CHECKING:
    from pathlib import Path

    from ..fact import FaceTokens
    from ..loading import ModelStack, ResidentBase

__all__ = ["GroupPipeline"]

log = logging.getLogger(__name__)


class GroupPipeline:
    """Fills several faces of one template with saved identities, with the inpainting recipes' own passes."""

    def __init__(
        self, stack: ModelStack, selfies: SelfieCache, recipes: Mapping[str, InpaintPipeline], templates_dir: Path
    ) -> None:
        self.stack = stack
        self.selfies = selfies
        #: The inpainting recipes by name; a group pass is their ``paint_face``.
        self.recipes = recipes
        self.templates_dir = templates_dir

    def check_inputs(self, request: GroupRequest) -> None:
        """Raise if the request is not servable (the check of submission, and the built-in template's existence).

        Raises
        ------
        InvalidRequest
            Count, seed, speed tier, recipe, the template choice, the number of faces or a face is out of range.
        UnknownTemplate
            No built-in template has the request's id.
        """
        check_request(request, RequestLimits.from_config(self.stack.config))
        plan_speed(self.stack.config, request.speed)
        if request.template_id is not None:
            template_path(self.templates_dir, request.template_id)

    def template_bytes(self, template: bytes | None, template_id: str | None) -> bytes:
        """The template's bytes: the uploaded ones, or the file of the built-in template ``template_id``.

        Raises
        ------
        UnknownTemplate
            No built-in template has that id.
        """
        if template is not None:
            return template
        assert template_id is not None  # check_request: exactly one of the two
        return template_path(self.templates_dir, template_id).read_bytes()

    def find_faces(self, data: bytes, face_indices: Sequence[int]) -> tuple[np.ndarray, list[Face]]:
        """The full-resolution template and its faces, left to right, in its pixels (dlib only).

        Raises
        ------
        InputError
            The template is not a usable image, or has fewer faces than ``face_indices`` fill or a
            face number past its last face.
        """
        images = self.stack.config.images
        template = decode_image(data, images).rgb
        small, scale = downscale_for_analysis(template, images.analysis_side)
        faces = [face.scaled(1 / scale) for face in find_template_faces(self.stack.faces, small)]
        check_group_template(face_indices, len(faces))
        return template, faces

    def __call__(self, request: GroupRequest, report: StepReporter, *, max_batch: int) -> JobResult:
        """Run one group job on the calling thread; ``report`` hears every stage and step and may stop the job.

        Raises
        ------
        InputError
            Bad template or photo, a template with too few faces, an identity without tokens for
            the inpainting base (saved before it was configured), ...
        ContentBlocked
            The safety checker withheld every image.
        ModelMissing
            Full preset: a model the recipe needs (the canny ControlNet) is not available.
        """
        config = self.stack.config
        timings: dict[str, float] = {}
        report("preparing")
        with timed(timings, "prepare"):
            # 1. Check inputs, pick the recipe and the speed tier, read the template and find its faces, left to right.
            self.check_inputs(request)
            seeds = seeds_for(request.seed, request.count)
            painter = self.recipes[request.recipe or config.generation.inpaint_recipe]
            speed = plan_speed(config, request.speed)

            # 2. The faces are painted left to right, whatever order the request gives them in.
            members = sorted(request.faces, key=lambda member: member.face_index)
            data = self.template_bytes(request.template, request.template_id)
            template, faces = self.find_faces(data, [member.face_index for member in members])
            picture, faces = start_picture(request.start, request.scale, template, faces, config.images)
            strength = request.strength
            if strength is None and request.scale > 1:
                strength = config.generation.upscale_strength

            # 3. The inpainting base runs without any style LoRA (the turbo tier's few-step LoRA only).
            base = self.stack.inpaint_base()
            base.loras.deactivate(turbo=turbo_lora(self.stack, speed))

            # 4. Each face as the recipe sees it: an inpaint job with its member's photo, the saved
            #    face placed on it (no detection).
            jobs = []
            for member in members:
                single, references = self.member_references(request, member)
                face = faces[member.face_index - 1]
                jobs.append(InpaintJob(single, seeds, picture, faces, face, references, base, speed, strength))

        # 5. Load each identity's stored tokens for the base (never encoded again).
        report("encoding")
        with timed(timings, "encode"):
            tokens = [self._member_tokens(member, base) for member in members]

        # 6. One progress count over every pass of every face of every image.
        tally = StepTally(
            report, sum(painter.count_steps(self._one_seed(job, seeds[0]), max_batch=1) for job in jobs) * len(seeds)
        )

        # 7. Paint the faces in turn: each pass on the picture the previous one left, its paste
        #    kept off every other face; each face fused with, and measured against, its own member.
        #    A pass paints one image: after the first face, every image's picture is its own.
        images = [GroupImage(seed, picture) for seed in seeds]
        notes: list[str] = []
        for job, face_tokens in zip(jobs, tokens, strict=True):
            for image in images:
                tally.between_passes()
                one = self._one_seed(job, image.seed)
                painted = painter.paint_face(
                    one, image.rgb, job.face, face_tokens, tally, timings, max_batch=1, others=job.other_boxes
                )
                notes.extend(note for note in painted.notes if note not in notes)
                squares, distances = finish_face(self.stack, painted.images, job.references.selfie, timings)
                plan = painted.plans[image.seed]
                keep_out = boxes_mask(plan.size, [plan.to_square(np.reshape(box, (2, 2))) for box in job.other_boxes])
                image.rgb = paste_back(image.rgb, squares[0], plan.with_paste_mask(plan.blend_mask, keep_out=keep_out))
                image.squares.append(squares[0])
                image.distances.append(distances[0])

        # 8. Rank by the faces' mean likeness, the safety check, PNG encoding.
        report("finishing")
        finished = finish_group(self.stack, images, timings)
        return JobResult(images=finished.images, timings=timings, notes=(*notes, *finished.notes), speed=speed.tier)

    def member_references(self, request: GroupRequest, member: GroupFace) -> tuple[InpaintRequest, References]:
        """One face of the group as the recipes see it: an inpaint of that face with the member's saved face placed on their photo.

        Raises
        ------
        InvalidRequest
            The saved face does not fit the photo (its sentence names the face).
        """
        single = InpaintRequest(
            user_id=member.user_id,
            selfie=member.photo,
            template=request.template,
            template_id=request.template_id,
            face_index=member.face_index,
            count=request.count,
            seed=request.seed,
            subject=member.subject,
            recipe=request.recipe,
            face=member.face,
            speed=request.speed,
        )
        images = self.stack.config.images
        with named_face(member.face_index):
            return single, analyse_references(self.selfies, single, images, long_side=images.inpaint_selfie_side)

    def _member_tokens(self, member: GroupFace, base: ResidentBase) -> FaceTokens:
        with named_face(member.face_index):
            saved = next((tokens for tokens in member.face.tokens if tokens.base_id == base.base_id), None)
            if saved is None:
                raise InvalidRequest(
                    f"the saved identity has no tokens for base {base.base_id}", user_message=DAMAGED_FACE
                )
            return load_saved_tokens(saved.npy, base, saved_photo_count(member.face), self.stack.device)

    @staticmethod
    def _one_seed(job: InpaintJob, seed: int) -> InpaintJob:
        return dataclasses.replace(job, seeds=(seed,))
