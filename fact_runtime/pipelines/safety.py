"""The optional safety check: which finished images a ``StableDiffusionSafetyChecker`` flags as NSFW.

Flagged images are dropped from the job's result, never blurred or blacked out and posted; the
engine tells the user how many were withheld (``withheld_note``) and fails the job with
``ContentBlocked`` when every image was flagged. The checker itself is loaded by ``loading.on_demand``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import BaseImageProcessor

__all__ = ["check_images", "withheld_note"]

log = logging.getLogger(__name__)


def check_images(
    checker: StableDiffusionSafetyChecker,
    processor: BaseImageProcessor,
    images: list[np.ndarray],
    device: torch.device,
    dtype: torch.dtype,
) -> list[bool]:
    """Whether each image is NSFW by the checker's concept scores; all images go through in one batch.

    Parameters
    ----------
    checker:
        A ``StableDiffusionSafetyChecker`` resident on ``device`` in ``dtype``.
    processor:
        Its CLIP image processor (shortest side to 224 bicubic, centre crop 224, CLIP mean/std).
    images:
        HxWx3 uint8 RGB pictures, as they would be posted.
    """
    if not images:
        return []
    # Channels last stated outright: a picture 3 pixels tall would otherwise read as channels first.
    pixels = processor(images=images, return_tensors="pt", input_data_format="channels_last")["pixel_values"]
    # The checker blacks out the flagged entries of ``images``; we drop flagged pictures instead,
    # so it gets cheap stand-ins rather than the pictures themselves.
    stand_ins = np.zeros((len(images), 1), dtype=np.uint8)
    with torch.inference_mode():
        _, is_nsfw = checker(clip_input=pixels.to(device, dtype), images=stand_ins)
    flags = [bool(flag) for flag in is_nsfw]
    if any(flags):
        log.info("safety checker flagged %d of %d images; they are withheld from the reply", sum(flags), len(flags))
    return flags


def withheld_note(count: int) -> str:
    """The sentence a user reads when ``count`` of their images were withheld."""
    if count == 1:
        return "1 image was withheld by the safety filter."
    return f"{count} images were withheld by the safety filter."
