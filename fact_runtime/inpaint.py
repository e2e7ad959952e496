"""Template inpainting: put the selfie's identity into one face of a template photo.

One pass, where the original makes five (reference §4.3, §8 item 19): a square crop around the
chosen face (half-side ``max(w, h) / 0.7 / 2``, zero-padded at the borders, resized to the
working size) is inpainted with FACT inside a dilated face mask, then pasted back into the
full-resolution template through a feathered version of that same mask. The original also ran a
txt2img pass, a warped face paste, OpenPose/Canny ControlNets and a refinement pass to keep the
head pose and the template's lighting; inpainting only the face region of the real crop keeps
pose and lighting from the template pixels themselves, so those passes (and their ControlNets)
are not needed. Outside the paste mask every output pixel is the template's, bit for bit, and
the mask is computed once per job, so it is the same for every image (the original's mask
shrank with each image: §8 item 5).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from .errors import InvalidRequest
from .face import Face, pick_template_face
from .face.mask import face_hull_mask
from .image import decode_image, downscale_for_analysis
from .pipeline import StepCallback, encode_face_prompt, run_denoising
from .request import InpaintRequest, JobResult, StepReporter

if TYPE_CHECKING:
    from .engine import FactEngine
    from .fact import FaceTokens
    from .base import LoadedBase
    from .models import ModelStack

__all__ = ["CropPlan", "InpaintInputs", "InpaintPipeline", "plan_crop", "paste_back", "run_inpaint_job"]

log = logging.getLogger(__name__)

#: The face box is 70% of the crop's side (reference §4.3 B).
_FACE_SHARE = 0.7
#: Mask dilation, as a share of the face's square-root area (the original's ``ksize=0.1``).
_DILATE_SHARE = 0.1
_PROMPT = "{subject}, raw photo, masterpiece, solo, high detail face, photorealistic, best quality"


@dataclass(frozen=True, slots=True, eq=False)
class CropPlan:
    """Where the working square lies in the template, and the masks in working-square pixels."""

    left: int
    top: int
    side: int
    size: int
    #: Binary (size, size) uint8: where the model may change pixels.
    inpaint_mask: np.ndarray
    #: Float32 (size, size) in [0, 1]: how much of the result replaces the template.
    blend_mask: np.ndarray


@dataclass(frozen=True, slots=True, eq=False)
class InpaintInputs:
    template: np.ndarray
    face: Face
    prompt: str
    negative_prompt: str
    tokens: FaceTokens
    seeds: tuple[int, ...]
    size: int
    num_inference_steps: int
    guidance_scale: float
    adapter_scale: float
    strength: float
    scheduler: str


def plan_crop(template_shape: tuple[int, int], face: Face, size: int) -> CropPlan:
    """The square crop around ``face`` (full-resolution coordinates) and its masks at ``size``."""
    cx, cy = face.center
    half = max(int(max(face.width, face.height) / _FACE_SHARE / 2), 8)
    left, top, side = int(round(cx)) - half, int(round(cy)) - half, 2 * half
    scale = size / side
    points = (face.landmarks68 - (left, top)) * scale
    hull = face_hull_mask((size, size), points)
    radius = max(int(np.sqrt(hull.sum()) * _DILATE_SHARE), 1)
    inpaint_mask = cv2.dilate(hull, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2))
    # Feather inside the dilated region: erode by the blur radius first, so the soft edge never
    # reaches pixels the model was not allowed to change.
    inner = cv2.erode(inpaint_mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2))
    blend = cv2.GaussianBlur(np.maximum(inner, hull).astype(np.float32), (0, 0), sigmaX=radius / 2)
    blend = np.where(inpaint_mask > 0, np.clip(blend, 0.0, 1.0), 0.0).astype(np.float32)
    in_image = np.zeros((size, size), dtype=np.float32)
    height, width = template_shape
    x0, y0 = max(0, -left), max(0, -top)
    x1, y1 = min(side, width - left), min(side, height - top)
    in_image[int(y0 * scale) : int(np.ceil(y1 * scale)), int(x0 * scale) : int(np.ceil(x1 * scale))] = 1.0
    return CropPlan(left, top, side, size, inpaint_mask, blend * in_image)


def cut_square(rgb: np.ndarray, plan: CropPlan) -> np.ndarray:
    """The plan's square from ``rgb``, zero-padded where it leaves the image, resized to ``plan.size``."""
    height, width = rgb.shape[:2]
    square = np.zeros((plan.side, plan.side, 3), dtype=np.uint8)
    x0, y0 = max(plan.left, 0), max(plan.top, 0)
    x1, y1 = min(plan.left + plan.side, width), min(plan.top + plan.side, height)
    square[y0 - plan.top : y1 - plan.top, x0 - plan.left : x1 - plan.left] = rgb[y0:y1, x0:x1]
    interpolation = cv2.INTER_AREA if plan.side > plan.size else cv2.INTER_CUBIC
    return cv2.resize(square, (plan.size, plan.size), interpolation=interpolation)


def paste_back(template: np.ndarray, result: np.ndarray, plan: CropPlan) -> np.ndarray:
    """Blend ``result`` (working size) into a copy of the template through the feathered mask."""
    height, width = template.shape[:2]
    up = cv2.resize(result, (plan.side, plan.side), interpolation=cv2.INTER_CUBIC)
    mask = cv2.resize(plan.blend_mask, (plan.side, plan.side), interpolation=cv2.INTER_LINEAR)
    x0, y0 = max(plan.left, 0), max(plan.top, 0)
    x1, y1 = min(plan.left + plan.side, width), min(plan.top + plan.side, height)
    region = template[y0:y1, x0:x1].astype(np.float32)
    sx, sy = x0 - plan.left, y0 - plan.top
    weight = mask[sy : sy + (y1 - y0), sx : sx + (x1 - x0), None]
    new = up[sy : sy + (y1 - y0), sx : sx + (x1 - x0)].astype(np.float32)
    out = template.copy()
    # weight == 0 gives back the template value exactly, so pixels outside the mask never change.
    out[y0:y1, x0:x1] = np.clip(np.rint(region + weight * (new - region)), 0, 255).astype(np.uint8)
    return out


class InpaintPipeline:
    """FACT inpainting on the working square, over the same resident UNet/VAE/text encoder."""

    def __init__(self, stack: ModelStack, base: LoadedBase) -> None:
        self.stack = stack
        self.base = base

    def check_inputs(self, inputs: InpaintInputs, *, max_batch: int) -> None:
        """Raises ``InvalidRequest`` for sizes or settings the models cannot run."""
        if inputs.size % 8 or inputs.size < 8:
            raise InvalidRequest(f"the working size must be a multiple of 8, got {inputs.size}")
        if not inputs.seeds or max_batch < 1:
            raise InvalidRequest("at least one image and a batch of at least one are needed")
        if not 0 < inputs.strength <= 1:
            raise InvalidRequest(f"strength must be in (0, 1], got {inputs.strength}")
        if inputs.face.landmarks68 is None:
            raise InvalidRequest("the template face needs its 68 landmarks")

    def __call__(
        self, inputs: InpaintInputs, *, max_batch: int, on_step: StepCallback
    ) -> tuple[list[np.ndarray], CropPlan]:
        """Inpaint one image per seed; returns the working-size results and the plan to paste them back."""
        from PIL import Image

        from .fact import set_fact_num_faces, set_fact_scale

        # 1. Check inputs.
        self.check_inputs(inputs, max_batch=max_batch)

        # 2. Plan the crop and cut the working square out of the template.
        plan = plan_crop(inputs.template.shape[:2], inputs.face, inputs.size)
        crop = cut_square(inputs.template, plan)

        # 3. Configure FACT and the scheduler; encode the prompt once with the face tokens.
        pipe = self.base.inpaint()
        set_fact_scale(pipe.unet, inputs.adapter_scale)
        set_fact_num_faces(pipe.unet, inputs.tokens.num_faces)
        pipe.scheduler = self.base.scheduler(inputs.scheduler)
        positive, negative = encode_face_prompt(pipe, inputs.prompt, inputs.negative_prompt, inputs.tokens)

        # 4. Inpaint inside the face mask (a 4-channel UNet blends the known latents back each step).
        results = run_denoising(
            pipe,
            inputs.seeds,
            max_batch=max_batch,
            on_step=on_step,
            strength=inputs.strength,
            prompt_embeds=positive,
            negative_prompt_embeds=negative,
            image=Image.fromarray(crop),
            mask_image=Image.fromarray(plan.inpaint_mask * 255),
            width=inputs.size,
            height=inputs.size,
            num_inference_steps=inputs.num_inference_steps,
            guidance_scale=inputs.guidance_scale,
        )
        return results, plan


def run_inpaint_job(engine: FactEngine, request: InpaintRequest, report: StepReporter, max_batch: int) -> JobResult:
    """The inpaint job's stages, run by ``FactEngine.run``."""
    from .engine import timed
    from .style import DEFAULT_NEGATIVE_PROMPT, SUBJECT_WORDS
    from .templates import template_path

    config = engine.config
    generation = config.generation
    timings: dict[str, float] = {}
    report("preparing")
    with timed(timings, "prepare"):
        seeds = engine.seeds_for(request.seed, engine.check_count(request.count))
        if (request.template is None) == (request.template_id is None):
            raise InvalidRequest("give exactly one of template and template_id")
        data = request.template
        if data is None:
            data = template_path(config.templates_dir, request.template_id).read_bytes()
        template = decode_image(data, config.images).rgb
        small, scale = downscale_for_analysis(template, config.images.analysis_side)
        face = pick_template_face(small, request.face_index).scaled(1 / scale)
        selfie, digest = engine.analyse_selfie(request.selfie, user_id=request.user_id)
        base = engine.stack.inpaint_base()
        base.loras.deactivate()
    report("encoding")
    with timed(timings, "encode"):
        tokens = engine.face_tokens(base, selfie, digest)
    inputs = InpaintInputs(
        template=template,
        face=face,
        prompt=_PROMPT.format(subject=SUBJECT_WORDS[request.subject]),
        negative_prompt=DEFAULT_NEGATIVE_PROMPT,
        tokens=tokens,
        seeds=seeds,
        size=min(generation.width, generation.height),
        num_inference_steps=generation.num_inference_steps,
        guidance_scale=generation.guidance_scale,
        adapter_scale=generation.inpaint_adapter_scale,
        strength=generation.inpaint_strength,
        scheduler=generation.scheduler,
    )
    with timed(timings, "denoise"):
        results, plan = InpaintPipeline(engine.stack, base)(
            inputs, max_batch=max_batch, on_step=lambda done, total: report("denoising", done, total)
        )
    report("finishing")
    notes = list(engine.notes_for(selfie))
    images = engine.finish(
        results, seeds, selfie, digest, timings, compose=lambda rgb: paste_back(template, rgb, plan), notes=notes
    )
    return JobResult(images=images, timings=timings, notes=tuple(notes))
