"""The size of a follow-up's result (upscale, variation) and its checks against the image and GPU limits."""

from __future__ import annotations

from typing import TYPE_CHECKING, get_args

from .errors import InvalidRequest
from .image import image_size
from .request import GroupRequest, InpaintRequest, UpscaleRequest, UpscaleScale, VaryRequest

if TYPE_CHECKING:
    from .config import ImageLimits

__all__ = ["check_follow_up_size", "check_template_follow_up", "denoised_size", "follow_up_size"]


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
    _check_start(request.image, request.strength)
    if isinstance(request, UpscaleRequest) and request.scale not in get_args(UpscaleScale):
        raise InvalidRequest(f"scale {request.scale} is not 2 or 4", user_message="An upscale is 2x or 4x.")
    width, height = follow_up_size(request, *image_size(request.image, images))
    what = "An upscale" if isinstance(request, UpscaleRequest) else "A variation"
    _check_pixels(what, width, height, images.max_pixels)
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


def check_template_follow_up(request: GroupRequest | InpaintRequest, images: ImageLimits) -> None:
    """A template follow-up's (group photo, /inpaint result) start picture, scale and strength in range, and its result within ``images.max_pixels``.

    The GPU budget needs no check: whatever the picture's size, only the faces' working squares
    (``generation.width`` x ``height`` at most) are denoised.

    Raises
    ------
    InvalidRequest
        A scale or strength without a start picture, an empty one, or any of them out of range.
    InputError
        The start picture cannot be read (too large, not an image).
    """
    if request.start is None:
        if request.scale != 1 or request.strength is not None:
            raise InvalidRequest(
                "a scale or strength without a start picture",
                user_message="An upscale or a variation needs the image it starts from.",
            )
        return
    _check_start(request.start, request.strength)
    if request.scale not in (1, 2):
        raise InvalidRequest(
            f"scale {request.scale} is not 1 or 2", user_message="A photo made from a template upscales 2x."
        )
    width, height = image_size(request.start, images)
    what = "An upscale" if request.scale > 1 else "A variation"
    _check_pixels(what, width * request.scale, height * request.scale, images.max_pixels)


def _check_start(image: bytes, strength: float | None) -> None:
    if not image:
        raise InvalidRequest("the parent image is empty", user_message="That image is no longer available.")
    if strength is not None and not 0 < strength <= 1:
        raise InvalidRequest(
            f"strength {strength} outside (0, 1]", user_message="The strength must be above 0 and at most 1."
        )


def _check_pixels(what: str, width: int, height: int, cap: int) -> None:
    if width * height > cap:
        raise InvalidRequest(
            f"result {width}x{height} over images.max_pixels {cap}",
            user_message=f"{what} to {width}x{height} would exceed this server's limit of {cap / 1e6:g} megapixels.",
        )
