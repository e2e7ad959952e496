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
from .config_speed import SpeedConfig
from .errors import InputError, InvalidRequest, UserLimitReached
from .request import IdentityRequest, InpaintRecipe, InpaintRequest, JobRequest, PortraitRequest
from .tokens import check_saved_face

if TYPE_CHECKING:
    from .config import RuntimeConfig

__all__ = [
    "MAX_SEED",
    "RequestLimits",
    "check_request",
    "check_seed",
    "check_speed",
    "check_template_choice",
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
    (``generation.max_photos``) and the speed tiers on offer (``speed.allowed``)."""

    max_count: int = GenerationConfig().max_count
    max_per_user: int = QueueConfig().max_per_user
    images: ImageLimits = field(default_factory=ImageLimits)
    max_photos: int = GenerationConfig().max_photos
    speeds: tuple[str, ...] = SpeedConfig().allowed

    @classmethod
    def from_config(cls, config: RuntimeConfig) -> RequestLimits:
        generation = config.generation
        return cls(
            generation.max_count, config.queue.max_per_user, config.images, generation.max_photos, config.speed.allowed
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


def check_speed(tier: str | None, allowed: tuple[str, ...]) -> None:
    """Raises ``InvalidRequest`` for a speed tier this server does not offer (``None``: the default, always fine)."""
    if tier is not None and tier not in allowed:
        raise InvalidRequest(
            f"speed tier {tier!r} is not one of {list(allowed)}",
            user_message=f"This server offers these speeds: {', '.join(allowed)}.",
        )


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
        The count, seed, speed tier, template choice, face number, inpaint recipe or number of
        photos is out of range, a photo is empty, or a precomputed face does not fit the photos.
    TypeError
        ``request`` is not a job request at all (a programming error).
    """
    if isinstance(request, IdentityRequest):
        limits.check_photos(len(request.photos))
        if not all(request.photos):
            raise InvalidRequest("a photo is empty", user_message="Please attach a photo in every photo option.")
        return
    if not isinstance(request, PortraitRequest | InpaintRequest):
        raise TypeError(f"expected a PortraitRequest, InpaintRequest or IdentityRequest, got {type(request).__name__}")
    limits.check_count(request.count)
    if not request.selfie or not all(request.references):
        raise InvalidRequest("the selfie or a reference photo is empty", user_message="Please attach a selfie.")
    limits.check_photos(1 + len(request.references))
    if request.face is not None:
        check_saved_face(request.face, num_photos=1 + len(request.references))
    check_seed(request.seed)
    check_speed(request.speed, limits.speeds)
    if isinstance(request, InpaintRequest):
        check_template_choice(has_template=request.template is not None, template_id=request.template_id)
        if request.face_index < 1:
            raise InvalidRequest(f"face_index {request.face_index} < 1", user_message="Face numbers start at 1.")
        if request.recipe not in (None, *get_args(InpaintRecipe)):
            raise InvalidRequest(
                f"unknown inpaint recipe {request.recipe!r}",
                user_message="The inpainting recipe must be original or fast.",
            )
