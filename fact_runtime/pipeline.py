"""Text-to-image with FACT: style prompt + face tokens (+ optional pose) -> a batch of portraits.

Follows diffusers' pipeline shape: ``check_inputs``, then ``__call__`` in numbered steps, with a
per-step callback that reports progress and can stop the job (by raising) within one step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from .errors import InvalidRequest

if TYPE_CHECKING:
    from .fact import FaceTokens
    from .base import LoadedBase
    from .models import ModelStack

__all__ = [
    "PortraitInputs",
    "PortraitPipeline",
    "StepCallback",
    "count_steps",
    "encode_face_prompt",
    "make_pose_map",
    "prepare_pose_map",
    "run_denoising",
]

log = logging.getLogger(__name__)

#: Called after each denoising step with (steps done, total steps) across all batches of a job.
StepCallback = Callable[[int, int], None]


@dataclass(frozen=True, slots=True, eq=False)
class PortraitInputs:
    """Everything one text-to-image job needs, already decoded and encoded."""

    prompt: str
    negative_prompt: str
    face: FaceTokens
    seeds: tuple[int, ...]
    width: int
    height: int
    num_inference_steps: int
    guidance_scale: float
    adapter_scale: float
    scheduler: str
    #: An OpenPose skeleton map (RGB uint8), already at ``width`` x ``height``; ``None`` = no ControlNet.
    pose: np.ndarray | None = None


def prepare_pose_map(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """Fit a skeleton map into ``width`` x ``height``: scale to fit, pad evenly with black."""
    import cv2

    src_h, src_w = rgb.shape[:2]
    scale = min(width / src_w, height / src_h)
    new_w, new_h = max(1, round(src_w * scale)), max(1, round(src_h * scale))
    resized = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    # Centre on both axes (the original padded wide images only at the top: reference §8 item 6).
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    canvas[top : top + new_h, left : left + new_w] = resized
    return canvas


def make_pose_map(rgb: np.ndarray, width: int, height: int, stack: ModelStack) -> np.ndarray:
    """The ControlNet condition for a pose image: a skeleton map as it is, a photo through OpenPose.

    Raises
    ------
    PoseUnavailable
        A photo, and no OpenPose annotator on this server (never a made-up skeleton).
    NoPoseFound
        A photo in which OpenPose finds nobody.
    """
    from .openpose import is_skeleton_map

    if not is_skeleton_map(rgb):
        rgb = stack.pose_annotator().skeleton_map(rgb)
    return prepare_pose_map(rgb, width, height)


def encode_face_prompt(
    pipe, prompt: str, negative_prompt: str, face: FaceTokens
) -> tuple[torch.Tensor, torch.Tensor]:
    """Text embeddings with the face tokens appended after the 77 text tokens.

    The positive branch gets the face tokens, the negative branch the null-face tokens
    (resampler of zeros), as the original's ``cfg_face=True`` (reference §2.7).
    """
    positive, negative = pipe.encode_prompt(
        prompt, pipe.device, 1, True, negative_prompt=negative_prompt or None
    )
    dtype = positive.dtype
    positive = torch.cat([positive, face.cond.to(positive.device, dtype)], dim=1)
    negative = torch.cat([negative, face.uncond.to(negative.device, dtype)], dim=1)
    return positive, negative


def count_steps(scheduler, num_inference_steps: int, *, strength: float = 1.0) -> int:
    """How many UNet steps a diffusers call will make (PNDM adds one; img2img keeps a ``strength`` share)."""
    scheduler.set_timesteps(num_inference_steps)
    kept = min(int(num_inference_steps * strength), num_inference_steps)
    start = max(num_inference_steps - kept, 0) * scheduler.order
    return len(scheduler.timesteps[start:])


def run_denoising(
    pipe,
    seeds: Sequence[int],
    *,
    max_batch: int,
    on_step: StepCallback,
    strength: float | None = None,
    **call_kwargs,
) -> list[np.ndarray]:
    """Call a diffusers pipeline over ``seeds`` in chunks of ``max_batch``; image i uses its own seed.

    Each image has its own ``torch.Generator``, so any single image can be made again alone
    with its recorded seed. ``on_step`` hears (0, total) first, then every step.
    """
    chunks = [list(seeds[start : start + max_batch]) for start in range(0, len(seeds), max_batch)]
    steps_per_batch = count_steps(pipe.scheduler, call_kwargs["num_inference_steps"], strength=strength or 1.0)
    if strength is not None:
        call_kwargs["strength"] = strength
    total = steps_per_batch * len(chunks)
    on_step(0, total)
    images: list[np.ndarray] = []
    for index, chunk in enumerate(chunks):
        offset = index * steps_per_batch

        def step_end(_pipe, step: int, _timestep, callback_kwargs: dict, offset: int = offset) -> dict:
            on_step(offset + step + 1, total)
            return callback_kwargs

        generators = [torch.Generator(device="cpu").manual_seed(seed) for seed in chunk]
        with torch.inference_mode():
            output = pipe(
                num_images_per_prompt=len(chunk),
                generator=generators,
                output_type="np",
                callback_on_step_end=step_end,
                **call_kwargs,
            )
        images.extend((np.clip(image, 0.0, 1.0) * 255.0).round().astype(np.uint8) for image in output.images)
    return images


class PortraitPipeline:
    """FACT text-to-image on one resident base model; the ControlNet joins only for pose jobs."""

    def __init__(self, stack: ModelStack, base: LoadedBase) -> None:
        self.stack = stack
        self.base = base

    def check_inputs(self, inputs: PortraitInputs, *, max_batch: int) -> None:
        """Reject settings the models cannot run before any work is done.

        Raises
        ------
        InvalidRequest
            A size not divisible by 8, no seeds, a bad step count or batch size.
        """
        if inputs.width % 8 or inputs.height % 8:
            raise InvalidRequest(f"width and height must be multiples of 8, got {inputs.width}x{inputs.height}")
        if not inputs.seeds:
            raise InvalidRequest("at least one image must be asked for")
        if inputs.num_inference_steps < 1 or max_batch < 1:
            raise InvalidRequest("num_inference_steps and max_batch must be at least 1")
        if inputs.pose is not None and inputs.pose.shape[:2] != (inputs.height, inputs.width):
            raise InvalidRequest("the pose map must already have the output size (use prepare_pose_map)")
        if inputs.face.cond.shape != inputs.face.uncond.shape:
            raise InvalidRequest("face tokens and null-face tokens must have the same shape")

    def __call__(self, inputs: PortraitInputs, *, max_batch: int, on_step: StepCallback) -> list[np.ndarray]:
        """Generate one image per seed, in as few UNet batches as ``max_batch`` allows.

        Raises
        ------
        InvalidRequest
            See ``check_inputs``.
        """
        from .fact import set_fact_num_faces, set_fact_scale

        # 1. Check inputs.
        self.check_inputs(inputs, max_batch=max_batch)
        unet = self.base.text2img.unet

        # 2. Pick the diffusers pipeline: the ControlNet one only when a pose is given, so no
        #    ControlNet ever runs at zero weight (reference §8 item 15).
        controlnets = ()
        extra: dict = {}
        if inputs.pose is not None:
            controlnet = self.stack.controlnet()
            controlnets = (controlnet,)
            pipe = self.base.control(controlnet)
            extra = {"image": _pose_tensor(inputs.pose), "controlnet_conditioning_scale": 1.0}
        else:
            pipe = self.base.text2img

        # 3. Configure FACT and the scheduler for this job.
        set_fact_scale(unet, inputs.adapter_scale)
        set_fact_num_faces(unet, inputs.face.num_faces, controlnets=controlnets)
        pipe.scheduler = self.base.scheduler(inputs.scheduler)

        # 4. Encode the prompt once for the whole job and append the face tokens.
        positive, negative = encode_face_prompt(pipe, inputs.prompt, inputs.negative_prompt, inputs.face)

        # 5. Denoise, batched, reporting every step.
        return run_denoising(
            pipe,
            inputs.seeds,
            max_batch=max_batch,
            on_step=on_step,
            prompt_embeds=positive,
            negative_prompt_embeds=negative,
            width=inputs.width,
            height=inputs.height,
            num_inference_steps=inputs.num_inference_steps,
            guidance_scale=inputs.guidance_scale,
            **extra,
        )


def _pose_tensor(pose: np.ndarray):
    from PIL import Image

    return Image.fromarray(pose)
