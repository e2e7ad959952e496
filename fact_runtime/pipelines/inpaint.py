"""The inpaint job: put the selfie's identity into one face of a template photo.

Two recipes (``generation.inpaint_recipe``, or the request's own), one pipeline class each:

- ``original``, the default (``inpaint_original.OriginalInpaintPipeline``): the original app's
  five passes (fact-reference §4.3).
- ``fast`` (``inpaint_fast.FastInpaintPipeline``): one FACT inpainting pass of the working square
  inside a dilated face mask.

What both share lives here, once: checking the request, reading the template and finding its
faces, analysing the photos, picking the inpainting base, encoding the identity, and finishing by
pasting each result back into the full-resolution template through a feathered mask, so every
pixel the passes could not change is the template's own (``crop.py``). Each recipe's
``paint_face`` is one inpaint pass over one face region of a template, callable on its own: a
group photo runs it once per face, each time on the previous pass's output.
"""

from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..catalog import SUBJECT_WORDS, template_path
from ..face import Face, choose_template_face, find_template_faces
from ..image import decode_image, downscale_for_analysis
from ..limits import RequestLimits, check_request, seeds_for
from ..request import InpaintRequest
from ..results import JobResult, StepReporter
from .crop import CropPlan, paste_back
from .finishing import finish
from .follow_up_picture import start_picture
from .references import References, analyse_references, reference_tokens
from .speed import ORIGINAL, SpeedPlan, plan_speed
from .stages import SelfieCache, notes_for, turbo_lora

if TYPE_CHECKING:
    from pathlib import Path

    from ..fact import FaceTokens
    from ..loading import ModelStack, ResidentBase
    from .inpaint_stages import StepTally

__all__ = ["InpaintJob", "InpaintPipeline", "PaintedFace"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, eq=False)
class InpaintJob:
    """A checked inpaint request, prepared: its seeds, the template and its faces, the photos, the base."""

    request: InpaintRequest
    seeds: tuple[int, ...]
    #: The full-resolution template, RGB uint8 (a follow-up's: the enlarged result it paints on).
    template: np.ndarray
    #: Every face of the template, left to right, in template pixels.
    faces: list[Face]
    #: The face the request names.
    face: Face
    references: References
    #: The inpainting base, every style LoRA off (the turbo tier's LoRA on).
    base: ResidentBase
    #: The request's speed tier: what each pass's scheduler, steps and guidance become.
    speed: SpeedPlan = ORIGINAL
    #: A follow-up's share of the face redrawn on a finished picture (the face is its member's
    #: already, so no new face is drawn); ``None``: the recipe's full passes.
    strength: float | None = None

    def steps(self, configured: int, strength: float = 1.0) -> int:
        """Steps of a pass keeping a ``strength`` share of its schedule, at the job's tier."""
        return self.speed.steps_for(configured, strength)

    def inpaint_strength(self, configured: float) -> float:
        """The strength of the recipe's inpainting pass: the follow-up's, or ``configured``."""
        return configured if self.strength is None else self.strength

    def schedule(self, configured: int) -> int:
        """The steps a pass's schedule has: ``configured``, spread for a light follow-up until one step falls inside it."""
        return configured if self.strength is None else max(configured, math.ceil(1 / self.strength - 1e-9))

    @property
    def other_boxes(self) -> list[tuple[float, float, float, float]]:
        """The boxes of the template's faces other than the chosen one."""
        return [other.box for other in self.faces if other is not self.face]

    @property
    def subject(self) -> str:
        """The words the prompts use for the person (``request.subject``)."""
        return SUBJECT_WORDS[self.request.subject]


@dataclass(frozen=True, slots=True, eq=False)
class PaintedFace:
    """One pass over one face region: per seed, the working square as painted and where it lies in the template."""

    images: list[np.ndarray]
    plans: dict[int, CropPlan]
    #: Sentences for the user about how the pass ran (a missing pose detector, ...).
    notes: tuple[str, ...] = field(default=())

    def pasted(self, template: np.ndarray, rgb: np.ndarray, seed: int) -> np.ndarray:
        """``rgb`` (this pass's square for ``seed``, or a finished version of it) blended into a copy of ``template``."""
        return paste_back(template, rgb, self.plans[seed])


class InpaintPipeline(ABC):
    """What both inpainting recipes share, over the resident inpainting base; each recipe's class adds its passes."""

    def __init__(self, stack: ModelStack, selfies: SelfieCache, templates_dir: Path) -> None:
        self.stack = stack
        self.selfies = selfies
        self.templates_dir = templates_dir

    def check_inputs(self, request: InpaintRequest) -> None:
        """Raise if the request is not servable (the check of submission).

        Raises
        ------
        InvalidRequest
            Count, seed, face number, recipe or the template choice is out of range.
        UnknownTemplate
            No built-in template has the request's id.
        """
        check_request(request, RequestLimits.from_config(self.stack.config))
        plan_speed(self.stack.config, request.speed)
        if request.template_id is not None:
            template_path(self.templates_dir, request.template_id)

    def template_bytes(self, request: InpaintRequest) -> bytes:
        """The template's bytes: the uploaded one, or the built-in one the request names."""
        if request.template is not None:
            return request.template
        assert request.template_id is not None  # check_request: exactly one of the two
        return template_path(self.templates_dir, request.template_id).read_bytes()

    def prepare(self, request: InpaintRequest) -> InpaintJob:
        """Check the request, find the template's faces and the chosen one, analyse the photos, pick the base.

        Raises
        ------
        InputError
            Bad image, no face in the selfie or the template, a face number past the template's faces, ...
        """
        config = self.stack.config
        self.check_inputs(request)
        seeds = seeds_for(request.seed, request.count)
        template = decode_image(self.template_bytes(request), config.images).rgb
        small, scale = downscale_for_analysis(template, config.images.analysis_side)
        faces = [face.scaled(1 / scale) for face in find_template_faces(self.stack.faces, small)]
        # A follow-up paints on its result (enlarged), where the template's faces lie.
        picture, faces = start_picture(request.start, request.scale, template, faces, config.images)
        face = choose_template_face(faces, request.face_index)
        # The photos are cached per photo and size; a saved face is placed without a search.
        references = analyse_references(
            self.selfies, request, config.images, long_side=config.images.inpaint_selfie_side
        )
        speed = plan_speed(config, request.speed)
        base = self.stack.inpaint_base()
        base.loras.deactivate(turbo=turbo_lora(self.stack, speed))
        strength = request.strength
        if strength is None and request.scale > 1:
            strength = config.generation.upscale_strength
        return InpaintJob(request, seeds, picture, faces, face, references, base, speed, strength)

    def encode(self, job: InpaintJob) -> FaceTokens:
        """FACT face tokens of the job's photos (or its saved face's) for the inpainting base."""
        return reference_tokens(self.selfies, job.base, job.references, self.stack.device)

    def finish(self, job: InpaintJob, painted: PaintedFace, timings: dict[str, float]) -> JobResult:
        """Fusion, ranking, the safety check and PNG encoding, each result pasted back into the template.

        Raises
        ------
        ContentBlocked
            The safety checker withheld every image.
        """
        selfie = job.references.selfie
        finished = finish(
            self.stack,
            painted.images,
            job.seeds,
            selfie,
            timings,
            compose=lambda rgb, seed: painted.pasted(job.template, rgb, seed),
        )
        notes = (*notes_for(selfie), *painted.notes, *finished.notes)
        return JobResult(images=finished.images, timings=timings, notes=notes, speed=job.speed.tier)

    @abstractmethod
    def __call__(self, request: InpaintRequest, report: StepReporter, *, max_batch: int) -> JobResult:
        """Run one inpaint job on the calling thread; ``report`` hears every stage and step and may stop the job."""

    @abstractmethod
    def count_steps(self, job: InpaintJob, *, max_batch: int) -> int:
        """The denoising steps one ``paint_face`` of this job reports (for a progress total over several faces)."""

    @abstractmethod
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

        ``others`` are boxes of faces the pass must leave alone; ``template`` may be an earlier
        pass's pasted output, so a group photo paints its faces one after the other.
        """
