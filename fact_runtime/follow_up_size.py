"""The size of a follow-up's result (upscale, variation) and its checks against the image and GPU limits."""

from __future__ import annotations

from typing import TYPE_CHECKING, get_args

from .errors import InvalidRequest
from .image import image_size
from .request import UpscaleRequest, UpscaleScale, VaryRequest

if TYPE_CHECKING:
    from .config import ImageLimits

__all__ = ["check_follow_up_size", "denoised_size", "follow_up_size"]


def denoised_size(width: int, height: int) -> tuple[int, int]:
    """The size a picture of ``width`` x ``height`` is denoised at: each side to the nearest multiple of 8."""
    return max(8, round(width / 8) * 8), max(8, round(height / 8) * 8)


def follow_up_size(request: UpscaleRequest | VaryRequest, width: int, height: int) -> tuple[int, int]:
    """The size of a follow-up's result from its parent's: ``scale`` times for an upscale, the same for a variation."""
    scale = request.scale if isinstance(request, UpscaleRequest) else 1
    return width * scale, height * scale


def check_follow_up_size(request: UpscaleRequest | VaryRequest, images: ImageLimits, *, gpu_pixels: int) -> None:
    """A parent image, strength and scale in range; the result's size within ``images.max_pixels`` and what the GPU
    denoises at once (``gpu_pixels``: ``generation.max_batch`` images of the configured size).

    Raises
    ------
    InvalidRequest
        No parent image, or any of them out of range, said in one sentence.
    InputError
        The parent image cannot be read (too large, not an image).
    """
    if not request.image:
        raise InvalidRequest("the parent image is empty", user_message="That image is no longer available.")
    if request.strength is not None and not 0 < request.strength <= 1:
        raise InvalidRequest(
            f"strength {request.strength} outside (0, 1]", user_message="The strength must be above 0 and at most 1."
        )
    if isinstance(request, UpscaleRequest) and request.scale not in get_args(UpscaleScale):
        raise InvalidRequest(f"scale {request.scale} is not 2 or 4", user_message="An upscale is 2x or 4x.")
    width, height = follow_up_size(request, *image_size(request.image, images))
    cap = images.max_pixels
    what = "An upscale" if isinstance(request, UpscaleRequest) else "A variation"
    if width * height > cap:
        raise InvalidRequest(
            f"result {width}x{height} over images.max_pixels {cap}",
            user_message=f"{what} to {width}x{height} would exceed this server's limit of {cap / 1e6:g} megapixels.",
        )
    # A UNet pass over N times the pixels of one image costs about what a batch of N images does.
    denoised = denoised_size(width, height)
    if denoised[0] * denoised[1] > gpu_pixels:
        raise InvalidRequest(
            f"result {width}x{height} over the GPU budget of {gpu_pixels} pixels (generation.max_batch)",
            user_message=(
                f"{what} to {width}x{height} is more than this server's GPU denoises at once "
                f"({gpu_pixels:,} pixels); try a smaller scale."
            ),
        )
