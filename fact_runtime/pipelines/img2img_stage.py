"""The image-to-image denoising stage: redraw a picture at a strength, FACT-conditioned, with a tiled VAE when large.

The UNet, VAE and text encoder are the base's resident ones (``ResidentBase.img2img``), so the
style's LoRA and the FACT processors already on the UNet apply as in a portrait.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from ..errors import InvalidRequest
from .diffusion import StepCallback, condition, run_denoising

if TYPE_CHECKING:
    from ..fact import FaceTokens
    from ..loading import ResidentBase
    from .preview import LatentCallback

__all__ = ["Img2ImgInputs", "denoise_img2img", "tiled_vae"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, eq=False)
class Img2ImgInputs:
    """Everything one image-to-image denoising needs: the starting picture and the conditioning."""

    #: RGB uint8, each side a multiple of 8: the size the result has.
    image: np.ndarray
    prompt: str
    negative_prompt: str
    face: FaceTokens
    seeds: tuple[int, ...]
    num_inference_steps: int
    guidance_scale: float
    adapter_scale: float
    #: Share of the steps run, from the matching noise level: 0.3 keeps most of the picture.
    strength: float
    scheduler: str
    #: The speed tier's deep-feature reuse (``SpeedPlan.cache_interval``); 1: the whole UNet every step.
    cache_interval: int = 1


@contextlib.contextmanager
def tiled_vae(vae: Any, *, is_tiled: bool) -> Iterator[None]:
    """Encode and decode in overlapping tiles inside the block (memory grows with a tile, not the image).

    The VAE is shared with every other pipeline of the base, so its setting is restored after.
    """
    was_tiled = bool(getattr(vae, "use_tiling", False))
    if is_tiled and not was_tiled:
        vae.enable_tiling()
    try:
        yield
    finally:
        if is_tiled and not was_tiled:
            vae.disable_tiling()


def denoise_img2img(
    base: ResidentBase,
    inputs: Img2ImgInputs,
    *,
    max_batch: int,
    on_step: StepCallback,
    on_latents: LatentCallback | None = None,
) -> list[np.ndarray]:
    """Redraw ``inputs.image`` once per seed at ``inputs.strength``; results have the image's size.

    Pictures larger than the VAE's tile (its ``sample_size``, 512 px for SD1.5) go through it in tiles.

    Raises
    ------
    InvalidRequest
        A side not a multiple of 8, no seeds, a strength outside (0, 1], or fewer steps than one
        redraw step.
    """
    height, width = inputs.image.shape[:2]
    if height % 8 or width % 8 or inputs.image.ndim != 3:
        raise InvalidRequest(f"the picture must be RGB with sides that are multiples of 8, got {width}x{height}")
    if not inputs.seeds or max_batch < 1:
        raise InvalidRequest("at least one image and a batch of at least one are needed")
    if not 0 < inputs.strength <= 1:
        raise InvalidRequest(f"strength must be in (0, 1], got {inputs.strength}")
    if int(inputs.num_inference_steps * inputs.strength) < 1:
        raise InvalidRequest(f"{inputs.num_inference_steps} steps at strength {inputs.strength} make no step")
    pipe = base.img2img()
    # The scheduler variant without PNDM's Runge-Kutta warm-up: a redraw starts mid-schedule, where it has no place.
    positive, negative = condition(pipe, base, inputs, is_sd_inpaint=True)
    tile = int(pipe.vae.config.sample_size)
    with tiled_vae(pipe.vae, is_tiled=max(height, width) > tile):
        return run_denoising(
            pipe,
            inputs.seeds,
            max_batch=max_batch,
            on_step=on_step,
            strength=inputs.strength,
            on_latents=on_latents,
            prompt_embeds=positive,
            negative_prompt_embeds=negative,
            image=Image.fromarray(inputs.image),
            num_inference_steps=inputs.num_inference_steps,
            guidance_scale=inputs.guidance_scale,
            cache_interval=inputs.cache_interval,
        )
