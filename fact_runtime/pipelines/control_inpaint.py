"""The original recipe's ControlNet inpainting: one image inpainted under a face map and an edge map at once.

Both its inpainting passes (fact-reference §4.3 steps 6e and 7) run diffusers'
``StableDiffusionControlNetInpaintPipeline`` with the OpenPose ControlNet reading a face map and
the canny ControlNet reading an edge map, each at its own scale. Masks, conditions and init
image differ per image, so each image is its own call, with its own seed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from ..errors import InvalidRequest
from .diffusion import StepCallback, condition, count_steps, run_denoising

if TYPE_CHECKING:
    from ..fact import FaceTokens
    from ..loading import ModelStack, ResidentBase

__all__ = ["ControlInpaintInputs", "control_inpaint_steps", "denoise_control_inpaint"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, eq=False)
class ControlInpaintInputs:
    """One image's inpainting under two ControlNets: init image, mask, conditions, and the diffusion settings."""

    image: np.ndarray
    #: Binary (size, size) uint8: where the model may change pixels.
    mask: np.ndarray
    #: RGB uint8 conditions at the image's size: the OpenPose face map, the canny edge map.
    face_map: np.ndarray
    edge_map: np.ndarray
    #: Conditioning scales of the OpenPose and the canny ControlNet.
    control_scales: tuple[float, float]
    prompt: str
    negative_prompt: str
    face: FaceTokens
    seed: int
    num_inference_steps: int
    guidance_scale: float
    adapter_scale: float
    strength: float
    scheduler: str
    #: The UNet's deep features are computed every this many steps (the fast tier); 1: every step.
    cache_interval: int = 1


def control_inpaint_steps(base: ResidentBase, scheduler: str, num_inference_steps: int, strength: float) -> int:
    """The UNet steps one such call makes, known before it starts (for a job's progress total)."""
    return count_steps(base.scheduler(scheduler), num_inference_steps, strength=strength)


def denoise_control_inpaint(
    stack: ModelStack, base: ResidentBase, inputs: ControlInpaintInputs, *, on_step: StepCallback
) -> np.ndarray:
    """Inpaint one image inside its mask under the face and edge maps; the result at the image's size.

    Raises
    ------
    InvalidRequest
        An image whose side is not a multiple of 8, conditions or a mask of another size, or a
        strength outside (0, 1].
    ModelMissing
        Full preset: the canny ControlNet is not configured or not available.
    """
    size = inputs.image.shape[0]
    shapes = {inputs.image.shape[:2], inputs.mask.shape[:2], inputs.face_map.shape[:2], inputs.edge_map.shape[:2]}
    if size % 8 or size < 8 or shapes != {(size, size)}:
        raise InvalidRequest(f"image, mask and conditions must be one square of a multiple of 8, got {shapes}")
    if not 0 < inputs.strength <= 1:
        raise InvalidRequest(f"strength must be in (0, 1], got {inputs.strength}")
    pipe = base.control_inpaint([stack.controlnet("openpose"), stack.controlnet("canny")])
    positive, negative = condition(pipe, base, inputs)
    # A 4-channel UNet: diffusers blends the known latents back outside the mask at each step.
    [result] = run_denoising(
        pipe,
        (inputs.seed,),
        max_batch=1,
        on_step=on_step,
        strength=inputs.strength,
        prompt_embeds=positive,
        negative_prompt_embeds=negative,
        image=Image.fromarray(inputs.image),
        mask_image=Image.fromarray(inputs.mask * 255),
        control_image=[Image.fromarray(inputs.face_map), Image.fromarray(inputs.edge_map)],
        controlnet_conditioning_scale=list(inputs.control_scales),
        width=size,
        height=size,
        num_inference_steps=inputs.num_inference_steps,
        guidance_scale=inputs.guidance_scale,
        cache_interval=inputs.cache_interval,
    )
    return result
