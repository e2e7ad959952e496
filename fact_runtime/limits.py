"""Every limit a request is held to, defined once: the bot, the CLI and the runtime all check here.

Each check raises the same typed error with the same sentence wherever it runs, so a member who
breaks a rule in Discord reads exactly what a terminal user reads.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, get_args

from .config import GenerationConfig, ImageLimits, QueueConfig
from .errors import InputError, InvalidRequest, UserLimitReached
from .image import image_size
from .request import (
    IdentityRequest,
    InpaintRecipe,
    InpaintRequest,
    JobRequest,
    PortraitRequest,
    UpscaleRequest,
    UpscaleScale,
    VaryRequest,
)
from .tokens import check_saved_face

if TYPE_CHECKING:
    from .config import RuntimeConfig

__all__ = [
    "MAX_SEED",
    "RequestLimits",
    "check_request",
    "check_seed",
    "check_template_choice",
    "denoised_size",
    "follow_up_size",
    "named_photo",
    "seeds_for",
]

#: Largest seed a request may give. Image i of a job uses seed + i, and a job has at most 10
#: images, so every image's seed stays a non-negative 32-bit integer.
MAX_SEED = 2**31 - 16


@dataclass(frozen=True, slots=True)
class RequestLimits:
    """The configured limits: images per job (``generation.max_count``), unfinished jobs per member
    (``queue.max_per_user``), the image caps (``images``), photos of one person per job
    (``generation.max_photos``), and the GPU budget: ``generation.max_batch`` images of
    ``generation.width`` x ``generation.height`` (``batch_pixels``) in one UNet call."""

    max_count: int = GenerationConfig().max_count
    max_per_user: int = QueueConfig().max_per_user
    images: ImageLimits = field(default_factory=ImageLimits)
    max_photos: int = GenerationConfig().max_photos
    max_batch: int = GenerationConfig().max_batch
    batch_pixels: int = GenerationConfig().width * GenerationConfig().height

    @classmethod
    def from_config(cls, config: RuntimeConfig) -> RequestLimits:
        generation = config.generation
        return cls(
            generation.max_count,
            config.queue.max_per_user,
            config.images,
            generation.max_photos,
            generation.max_batch,
            generation.width * generation.height,
        )

    def check_count(self, count: int) -> int:
        """The number of images, if allowed.

        Raises
        ------
        InvalidRequest
            ``count`` is outside 1..``max_count``.
        """
        if not 1 <= count <= self.max_count:
            raise InvalidRequest(
                f"count {count} is outside 1..{self.max_count}",
                user_message=f"You can ask for 1 to {self.max_count} images at a time.",
            )
        return count

    def check_photos(self, count: int) -> int:
        """The number of photos of one person, if allowed.

        Raises
        ------
        InvalidRequest
            ``count`` is outside 1..``max_photos``.
        """
        if not 1 <= count <= self.max_photos:
            noun = "photo" if self.max_photos == 1 else "photos"
            raise InvalidRequest(
                f"{count} photos is outside 1..{self.max_photos}",
                user_message=f"An identity takes 1 to {self.max_photos} {noun}.",
            )
        return count

    def user_limit_reached(self, limit: int | None = None) -> UserLimitReached:
        """The refusal for a member who already has ``limit`` (default ``max_per_user``) unfinished jobs."""
        return UserLimitReached.at(self.max_per_user if limit is None else limit)


def check_seed(seed: int | None) -> None:
    """Raises ``InvalidRequest`` for a seed outside 0..MAX_SEED."""
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise InvalidRequest(f"seed {seed} out of range", user_message=f"The seed must be between 0 and {MAX_SEED}.")


def seeds_for(seed: int | None, count: int) -> tuple[int, ...]:
    """Image i gets seed + i, so any one image can be made again alone; no seed picks one at random."""
    check_seed(seed)
    first = secrets.randbelow(MAX_SEED + 1) if seed is None else seed
    return tuple(first + index for index in range(count))


def check_template_choice(*, has_template: bool, template_id: str | None) -> None:
    """Raises ``InvalidRequest`` unless exactly one of an uploaded template and a built-in one is given."""
    if has_template == (template_id is not None):
        raise InvalidRequest(
            "give exactly one of template and template_id",
            user_message="Give either a template image or a built-in template, not both and not neither.",
        )


@contextlib.contextmanager
def named_photo(number: int, count: int) -> Iterator[None]:
    """An ``InputError`` raised inside names the photo ("Photo 2: ...") when there are several.

    The error keeps its class and kind; only its sentence gains the photo's number.
    """
    try:
        yield
    except InputError as exc:
        if count < 2:
            raise
        raise type(exc)(f"photo {number}: {exc}", user_message=f"Photo {number}: {exc.user_message}") from exc


def check_request(request: JobRequest, limits: RequestLimits) -> None:
    """Refuse a request that can never run, before it takes a place in the queue.

    Raises
    ------
    InvalidRequest
        The count, seed, template choice, face number, inpaint recipe or number of photos is out
        of range, a photo is empty, or a precomputed face does not fit the photos.
    TypeError
        ``request`` is not a job request at all (a programming error).
    """
    if isinstance(request, IdentityRequest):
        limits.check_photos(len(request.photos))
        if not all(request.photos):
            raise InvalidRequest("a photo is empty", user_message="Please attach a photo in every photo option.")
        return
    if isinstance(request, UpscaleRequest | VaryRequest):
        _check_follow_up(request, limits)
        return
    if not isinstance(request, PortraitRequest | InpaintRequest):
        raise TypeError(f"expected a job request, got {type(request).__name__}")
    limits.check_count(request.count)
    if not request.selfie or not all(request.references):
        raise InvalidRequest("the selfie or a reference photo is empty", user_message="Please attach a selfie.")
    limits.check_photos(1 + len(request.references))
    if request.face is not None:
        check_saved_face(request.face, num_photos=1 + len(request.references))
    check_seed(request.seed)
    if isinstance(request, InpaintRequest):
        check_template_choice(has_template=request.template is not None, template_id=request.template_id)
        if request.face_index < 1:
            raise InvalidRequest(f"face_index {request.face_index} < 1", user_message="Face numbers start at 1.")
        if request.recipe not in (None, *get_args(InpaintRecipe)):
            raise InvalidRequest(
                f"unknown inpaint recipe {request.recipe!r}",
                user_message="The inpainting recipe must be original or fast.",
            )


def denoised_size(width: int, height: int) -> tuple[int, int]:
    """The size a picture of ``width`` x ``height`` is denoised at: each side to the nearest multiple of 8."""
    return max(8, round(width / 8) * 8), max(8, round(height / 8) * 8)


def follow_up_size(request: UpscaleRequest | VaryRequest, width: int, height: int) -> tuple[int, int]:
    """The size of a follow-up's result from its parent's: ``scale`` times for an upscale, the same for a variation."""
    scale = request.scale if isinstance(request, UpscaleRequest) else 1
    return width * scale, height * scale


def _check_follow_up(request: UpscaleRequest | VaryRequest, limits: RequestLimits) -> None:
    """Photos, seed and strength as for any job; the result's size against ``images.max_pixels`` and the GPU budget."""
    if not request.image:
        raise InvalidRequest("the parent image is empty", user_message="That image is no longer available.")
    if not request.selfie or not all(request.references):
        raise InvalidRequest("the selfie or a reference photo is empty", user_message="Please attach a selfie.")
    limits.check_photos(1 + len(request.references))
    if request.face is not None:
        check_saved_face(request.face, num_photos=1 + len(request.references))
    check_seed(request.seed)
    if request.strength is not None and not 0 < request.strength <= 1:
        raise InvalidRequest(
            f"strength {request.strength} outside (0, 1]", user_message="The strength must be above 0 and at most 1."
        )
    if isinstance(request, UpscaleRequest) and request.scale not in get_args(UpscaleScale):
        raise InvalidRequest(f"scale {request.scale} is not 2 or 4", user_message="An upscale is 2x or 4x.")
    width, height = follow_up_size(request, *image_size(request.image, limits.images))
    cap = limits.images.max_pixels
    what = "An upscale" if isinstance(request, UpscaleRequest) else "A variation"
    if width * height > cap:
        raise InvalidRequest(
            f"result {width}x{height} over images.max_pixels {cap}",
            user_message=f"{what} to {width}x{height} would exceed this server's limit of {cap / 1e6:g} megapixels.",
        )
    # A UNet pass over N times the pixels of one image costs about what a batch of N images does.
    budget = limits.max_batch * limits.batch_pixels
    denoised = denoised_size(width, height)
    if denoised[0] * denoised[1] > budget:
        raise InvalidRequest(
            f"result {width}x{height} over the GPU budget of {budget} pixels (generation.max_batch)",
            user_message=(
                f"{what} to {width}x{height} is more than this server's GPU denoises at once "
                f"({budget:,} pixels); try a smaller scale."
            ),
        )
