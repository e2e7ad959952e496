"""The denoising stage: FACT-conditioned diffusers calls, batched, one seed per image, every step reported.

``denoise_portraits`` (text-to-image, with the pose ControlNet when a pose is given) and
``denoise_inpaint`` (the working square of a template) share the prompt encoding and the batched
call. The step callback can stop the job (by raising) within one step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch
from PIL import Image

from ..catalog import DEFAULT_NEGATIVE_PROMPT
from ..errors import InvalidRequest
from ..fact import set_fact_faces, set_fact_scale
from .deep_cache import reuse_deep_features

if TYPE_CHECKING:
    from ..fact import FaceTokens
    from ..loading import ModelStack, ResidentBase

__all__ = [
    "InpaintInputs",
    "PortraitInputs",
    "StepCallback",
    "count_steps",
    "denoise_inpaint",
    "denoise_portraits",
    "encode_face_prompt",
    "run_denoising",
]

log = logging.getLogger(__name__)

#: Called after each denoising step with (steps done, total steps) across all batches of a job.
StepCallback = Callable[[int, int], None]


@dataclass(frozen=True, slots=True, eq=False)
class PortraitInputs:
    """Everything one text-to-image denoising needs, already decoded and encoded."""

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
    #: The UNet's deep features are computed every this many steps (the fast tier); 1: every step.
    cache_interval: int = 1


@dataclass(frozen=True, slots=True, eq=False)
class InpaintInputs:
    """Everything one inpainting denoising needs: the working square, its mask, the conditioning."""

    square: np.ndarray
    #: Binary (size, size) uint8: where the model may change pixels.
    mask: np.ndarray
    prompt: str
    negative_prompt: str
    face: FaceTokens
    seeds: tuple[int, ...]
    num_inference_steps: int
    guidance_scale: float
    adapter_scale: float
    strength: float
    scheduler: str
    #: The UNet's deep features are computed every this many steps (the fast tier); 1: every step.
    cache_interval: int = 1


def encode_face_prompt(
    pipe: Any, prompt: str, negative_prompt: str, face: FaceTokens
) -> tuple[torch.Tensor, torch.Tensor]:
    """Text embeddings with the face tokens appended after the 77 text tokens.

    The positive branch gets the face tokens, the negative branch the null-face tokens
    (resampler of zeros), as the original's ``cfg_face=True`` (reference §2.7).
    """
    # An empty negative prompt means the default one, as in the original (not CLIP's empty string).
    negative_prompt = negative_prompt or DEFAULT_NEGATIVE_PROMPT
    positive, negative = pipe.encode_prompt(prompt, pipe.device, 1, True, negative_prompt=negative_prompt)
    dtype = positive.dtype
    positive = torch.cat([positive, face.cond.to(positive.device, dtype)], dim=1)
    negative = torch.cat([negative, face.uncond.to(negative.device, dtype)], dim=1)
    return positive, negative


class Conditioned(Protocol):
    """What every denoising's inputs carry to condition it: FACT's scale and face tokens, the prompts, the scheduler."""

    @property
    def adapter_scale(self) -> float: ...
    @property
    def face(self) -> FaceTokens: ...
    @property
    def prompt(self) -> str: ...
    @property
    def negative_prompt(self) -> str: ...
    @property
    def scheduler(self) -> str: ...


def condition(
    pipe: Any, base: ResidentBase, inputs: Conditioned, *, is_sd_inpaint: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Set FACT's scale and face count and the scheduler on ``pipe``; the prompt embeddings with the face tokens."""
    set_fact_scale(pipe, inputs.adapter_scale)
    set_fact_faces(pipe, inputs.face.num_faces)
    pipe.scheduler = base.scheduler(inputs.scheduler, is_sd_inpaint=is_sd_inpaint)
    return encode_face_prompt(pipe, inputs.prompt, inputs.negative_prompt, inputs.face)


def count_steps(scheduler: Any, num_inference_steps: int, *, strength: float = 1.0) -> int:
    """How many denoising steps a diffusers call will make: its distinct timesteps (img2img keeps a ``strength`` share).

    PNDM evaluates its second timestep twice (its warm-up), so 10 steps are 11 UNet calls; progress
    counts the 10 steps that were asked for, as ``num_inference_steps`` reads.
    """
    scheduler.set_timesteps(num_inference_steps)
    kept = min(int(num_inference_steps * strength), num_inference_steps)
    start = max(num_inference_steps - kept, 0) * scheduler.order
    timesteps = [float(t) for t in scheduler.timesteps[start:]]
    return sum(1 for index, t in enumerate(timesteps) if index == 0 or t != timesteps[index - 1])


def run_denoising(
    pipe: Any,
    seeds: Sequence[int],
    *,
    max_batch: int,
    on_step: StepCallback,
    strength: float | None = None,
    on_latents: Callable[[torch.Tensor], None] | None = None,
    cache_interval: int = 1,
    **call_kwargs: Any,
) -> list[np.ndarray]:
    """Call a diffusers pipeline over ``seeds`` in chunks of ``max_batch``; image i uses its own seed.

    Each image has its own ``torch.Generator``, so any single image can be made again alone
    with its recorded seed. ``on_step`` hears (0, total) first, then every step; ``on_latents``
    (previews) gets the latents after every step. With ``cache_interval`` above 1 the UNet's deep
    features (and the ControlNet's output) are reused between full steps, afresh for each chunk.
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
        seen: list[float] = []

        def step_end(
            _pipe: Any, step: int, timestep: Any, callback_kwargs: dict, offset: int = offset, seen: list[float] = seen
        ) -> dict:
            # A repeated timestep (PNDM's warm-up) is the same step evaluated again: reported once.
            if not seen or float(timestep) != seen[-1]:
                seen.append(float(timestep))
                on_step(offset + min(len(seen), steps_per_batch), total)
                if on_latents is not None:
                    on_latents(callback_kwargs["latents"])
            return callback_kwargs

        generators = [torch.Generator(device="cpu").manual_seed(seed) for seed in chunk]
        reuse = reuse_deep_features(pipe.unet, interval=cache_interval, controlnet=getattr(pipe, "controlnet", None))
        with torch.inference_mode(), reuse:
            output = pipe(
                num_images_per_prompt=len(chunk),
                generator=generators,
                output_type="np",
                callback_on_step_end=step_end,
                **call_kwargs,
            )
        images.extend((np.clip(image, 0.0, 1.0) * 255.0).round().astype(np.uint8) for image in output.images)
    return images


def denoise_portraits(
    stack: ModelStack,
    base: ResidentBase,
    inputs: PortraitInputs,
    *,
    max_batch: int,
    on_step: StepCallback,
    on_latents: Callable[[torch.Tensor], None] | None = None,
) -> list[np.ndarray]:
    """One portrait per seed, in as few UNet batches as ``max_batch`` allows.

    The ControlNet pipeline runs only when a pose is given, so no ControlNet ever runs at zero
    weight (reference §8 item 15).

    Raises
    ------
    InvalidRequest
        A size not divisible by 8, no seeds, a bad step count or batch size, a pose map of the wrong size.
    """
    if inputs.width % 8 or inputs.height % 8:
        raise InvalidRequest(f"width and height must be multiples of 8, got {inputs.width}x{inputs.height}")
    if not inputs.seeds or inputs.num_inference_steps < 1 or max_batch < 1:
        raise InvalidRequest("at least one seed, one step and one image per batch are needed")
    if inputs.pose is not None and inputs.pose.shape[:2] != (inputs.height, inputs.width):
        raise InvalidRequest("the pose map must already have the output size (see pose.fit_pose_map)")
    if inputs.face.cond.shape != inputs.face.uncond.shape:
        raise InvalidRequest("face tokens and null-face tokens must have the same shape")
    extra: dict[str, Any] = {}
    if inputs.pose is not None:
        pipe: Any = base.control(stack.controlnet())
        extra = {"image": Image.fromarray(inputs.pose), "controlnet_conditioning_scale": 1.0}
    else:
        pipe = base.text2img
    positive, negative = condition(pipe, base, inputs)
    return run_denoising(
        pipe,
        inputs.seeds,
        max_batch=max_batch,
        on_step=on_step,
        on_latents=on_latents,
        prompt_embeds=positive,
        negative_prompt_embeds=negative,
        width=inputs.width,
        height=inputs.height,
        num_inference_steps=inputs.num_inference_steps,
        guidance_scale=inputs.guidance_scale,
        cache_interval=inputs.cache_interval,
        **extra,
    )


def denoise_inpaint(
    base: ResidentBase, inputs: InpaintInputs, *, max_batch: int, on_step: StepCallback
) -> list[np.ndarray]:
    """Inpaint the working square inside the mask, one result per seed (working size).

    Raises
    ------
    InvalidRequest
        A square whose side is not a multiple of 8, no seeds, or a strength outside (0, 1].
    """
    size = inputs.square.shape[0]
    if size % 8 or size < 8 or inputs.square.shape[:2] != inputs.mask.shape[:2]:
        raise InvalidRequest(f"the working square must be a multiple of 8 wide with a mask of its size, got {size}")
    if not inputs.seeds or max_batch < 1:
        raise InvalidRequest("at least one image and a batch of at least one are needed")
    if not 0 < inputs.strength <= 1:
        raise InvalidRequest(f"strength must be in (0, 1], got {inputs.strength}")
    pipe = base.inpaint()
    positive, negative = condition(pipe, base, inputs, is_sd_inpaint=True)
    # A 4-channel UNet: diffusers blends the known latents back outside the mask at each step.
    return run_denoising(
        pipe,
        inputs.seeds,
        max_batch=max_batch,
        on_step=on_step,
        strength=inputs.strength,
        prompt_embeds=positive,
        negative_prompt_embeds=negative,
        image=Image.fromarray(inputs.square),
        mask_image=Image.fromarray(inputs.mask * 255),
        width=size,
        height=size,
        num_inference_steps=inputs.num_inference_steps,
        guidance_scale=inputs.guidance_scale,
        cache_interval=inputs.cache_interval,
    )
