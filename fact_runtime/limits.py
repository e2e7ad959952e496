"""Every limit a request is held to, defined once: the bot, the CLI and the runtime all check here.

Each check raises the same typed error with the same sentence wherever it runs, so a member who
breaks a rule in Discord reads exactly what a terminal user reads.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, get_args

from .config import GenerationConfig, ImageLimits, QueueConfig
from .config_speed import SpeedConfig
from .errors import FaceIndexOutOfRange, InputError, InvalidRequest, NoFaceFound, UserLimitReached
from .follow_up_size import check_follow_up_size, check_template_follow_up
from .request import (
    GroupRequest,
    IdentityRequest,
    InpaintRecipe,
    InpaintRequest,
    JobRequest,
    PortraitRequest,
    SpeedTier,
    UpscaleRequest,
    VaryRequest,
)
from .tokens import check_saved_face, saved_photo_count

if TYPE_CHECKING:
    from .config import RuntimeConfig

__all__ = [
    "MAX_SEED",
    "RequestLimits",
    "check_group_template",
    "check_request",
    "check_seed",
    "check_speed",
    "check_template_choice",
    "named_face",
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
    (``generation.max_photos``), faces per group photo (``generation.max_group_faces``), the
    speed tiers on offer (``speed.allowed``) and the one a request naming none gets (``speed.default``),
    and the GPU budget: ``generation.max_batch`` images of ``generation.width`` x ``generation.height``
    (``batch_pixels``) in one UNet call."""

    max_count: int = GenerationConfig().max_count
    max_per_user: int = QueueConfig().max_per_user
    images: ImageLimits = field(default_factory=ImageLimits)
    max_photos: int = GenerationConfig().max_photos
    max_group_faces: int = GenerationConfig().max_group_faces
    speeds: tuple[SpeedTier, ...] = SpeedConfig().allowed
    max_batch: int = GenerationConfig().max_batch
    batch_pixels: int = GenerationConfig().width * GenerationConfig().height
    default_speed: SpeedTier = SpeedConfig().default

    @classmethod
    def from_config(cls, config: RuntimeConfig) -> RequestLimits:
        generation = config.generation
        return cls(
            generation.max_count,
            config.queue.max_per_user,
            config.images,
            generation.max_photos,
            generation.max_group_faces,
            config.speed.allowed,
            generation.max_batch,
            generation.width * generation.height,
            default_speed=config.speed.default,
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

    def check_group_faces(self, face_indices: Sequence[int]) -> None:
        """Refuse the face numbers of a group photo unless there are 2 to ``max_group_faces``, each 1 or more, none twice.

        Raises
        ------
        InvalidRequest
            Too few or too many faces, a face number below 1, or one face given two identities.
        """
        count = len(face_indices)
        if not 2 <= count <= self.max_group_faces:
            allowed = "2" if self.max_group_faces == 2 else f"2 to {self.max_group_faces}"
            raise InvalidRequest(
                f"{count} faces is outside 2..{self.max_group_faces}",
                user_message=f"A group photo takes {allowed} faces.",
            )
        seen: set[int] = set()
        for index in face_indices:
            if index < 1:
                raise InvalidRequest(f"face_index {index} < 1", user_message="Face numbers start at 1.")
            if index in seen:
                raise InvalidRequest(
                    f"face {index} given twice",
                    user_message=f"Face {index} is given two identities; give each face one.",
                )
            seen.add(index)

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


def check_group_template(face_indices: Sequence[int], face_count: int) -> None:
    """Refuse face numbers that a template with ``face_count`` faces (counted from the left) cannot take.

    Raises
    ------
    NoFaceFound
        The template has no face.
    FaceIndexOutOfRange
        The template has fewer faces than the request fills, or a face number is past its last face.
    """
    if face_count == 0:
        raise NoFaceFound(
            "no face in the template",
            user_message="No face was found in that template photo; please pick a photo with a visible face.",
        )
    noun = "face" if face_count == 1 else "faces"
    asked = len(face_indices)
    if face_count < asked:
        raise FaceIndexOutOfRange(
            f"{asked} faces asked of a template with {face_count}",
            user_message=(
                f"The template has {face_count} {noun}, fewer than the {asked} asked for; "
                f"pick a template with at least {asked} faces."
            ),
        )
    if past := [index for index in face_indices if index > face_count]:
        raise FaceIndexOutOfRange(
            f"face index {max(past)} with {face_count} {noun}",
            user_message=f"The template has {face_count} {noun}; pick face numbers from 1 to {face_count}.",
        )


def check_request(request: JobRequest, limits: RequestLimits) -> None:
    """Refuse a request that can never run, before it takes a place in the queue.

    Raises
    ------
    InvalidRequest
        The count, seed, speed tier, template choice, face number, inpaint recipe, number of
        photos or of group faces is out of range, a photo is empty, a face of a group is given
        twice, or a precomputed face does not fit the photos.
    TypeError
        ``request`` is not a job request at all (a programming error).
    """
    if isinstance(request, IdentityRequest):
        limits.check_photos(len(request.photos))
        if not all(request.photos):
            raise InvalidRequest("a photo is empty", user_message="Please attach a photo in every photo option.")
        return
    if isinstance(request, GroupRequest):
        _check_group(request, limits)
        return
    if not isinstance(request, PortraitRequest | InpaintRequest | UpscaleRequest | VaryRequest):
        raise TypeError(f"expected a job request, got {type(request).__name__}")
    if isinstance(request, PortraitRequest | InpaintRequest):
        limits.check_count(request.count)
    if not request.selfie or not all(request.references):
        raise InvalidRequest("the selfie or a reference photo is empty", user_message="Please attach a selfie.")
    limits.check_photos(1 + len(request.references))
    if request.face is not None:
        check_saved_face(request.face, num_photos=1 + len(request.references))
    check_seed(request.seed)
    check_speed(request.speed, limits.speeds)
    if isinstance(request, UpscaleRequest | VaryRequest):
        check_follow_up_size(request, limits.images, gpu_pixels=limits.max_batch * limits.batch_pixels)
    if isinstance(request, InpaintRequest):
        check_template_choice(has_template=request.template is not None, template_id=request.template_id)
        if request.face_index < 1:
            raise InvalidRequest(f"face_index {request.face_index} < 1", user_message="Face numbers start at 1.")
        _check_recipe(request.recipe)
        check_template_follow_up(request, limits.images)


def _check_group(request: GroupRequest, limits: RequestLimits) -> None:
    limits.check_count(request.count)
    check_seed(request.seed)
    check_speed(request.speed, limits.speeds)
    check_template_choice(has_template=request.template is not None, template_id=request.template_id)
    _check_recipe(request.recipe)
    limits.check_group_faces([face.face_index for face in request.faces])
    check_template_follow_up(request, limits.images)
    for face in request.faces:
        with named_face(face.face_index):
            if not face.photo:
                raise InvalidRequest("the photo is empty", user_message="The identity has no photo.")
            num_photos = saved_photo_count(face.face)
            limits.check_photos(num_photos)
            check_saved_face(face.face, num_photos=num_photos)


def _check_recipe(recipe: str | None) -> None:
    if recipe not in (None, *get_args(InpaintRecipe)):
        raise InvalidRequest(
            f"unknown inpaint recipe {recipe!r}",
            user_message="The inpainting recipe must be original or fast.",
        )


@contextlib.contextmanager
def named_face(number: int) -> Iterator[None]:
    """An ``InputError`` raised inside names the group's face ("Face 2: ...") whose identity it concerns."""
    try:
        yield
    except InputError as exc:
        raise type(exc)(f"face {number}: {exc}", user_message=f"Face {number}: {exc.user_message}") from exc
