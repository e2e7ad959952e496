"""The runtime request of a stored follow-up job: its parent image and the parent job's identity, style and prompt."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, cast

from fact_runtime import SavedFace, UpscaleRequest, UpscaleScale, VaryRequest

from ..errors import ImageExpired

if TYPE_CHECKING:
    from ..store import JobRecord

__all__ = [
    "FOLLOW_UP_KINDS",
    "VARY_STRENGTH",
    "FollowUpChoice",
    "TemplateFollowUp",
    "follow_up_note",
    "follow_up_request",
    "template_follow_up",
]

#: The job kinds that start from one image of their parent job.
FOLLOW_UP_KINDS = ("upscale", "vary")

#: What a follow-up button asks for.
FollowUpChoice = Literal["upscale", "subtle", "strong"]

#: The redraw strength of each kind of variation (about 0.3 keeps the composition, 0.6 moves it).
VARY_STRENGTH: dict[FollowUpChoice, float] = {"subtle": 0.3, "strong": 0.6}


@dataclass(frozen=True, slots=True)
class TemplateFollowUp:
    """What a job filling a template paints on: the template (``start`` None), or for an upscale or
    variation of one, its parent image, ``scale`` times larger, at ``strength``."""

    start: bytes | None = None
    scale: Literal[1, 2] = 1
    strength: float | None = None


def template_follow_up(record: JobRecord, inputs: Mapping[str, bytes]) -> TemplateFollowUp:
    """The start picture, scale and strength of a stored template job (/inpaint, /group or a follow-up of one).

    Raises
    ------
    ImageExpired
        A follow-up's parent image was purged with the job's other photos (retention, Delete, /forget).
    """
    if record.kind not in FOLLOW_UP_KINDS:
        return TemplateFollowUp()
    image = inputs.get("image")
    if image is None:
        raise ImageExpired(f"the parent image of job {record.job_id} was purged")
    scale: Literal[1, 2] = 2 if record.kind == "upscale" else 1
    return TemplateFollowUp(image, scale, record.options.strength)


def follow_up_request(
    record: JobRecord,
    inputs: Mapping[str, bytes],
    *,
    selfie: bytes,
    references: tuple[bytes, ...],
    face: SavedFace | None,
) -> UpscaleRequest | VaryRequest:
    """The upscale or variation a stored follow-up job asks for.

    Raises
    ------
    ImageExpired
        The parent image was purged with the job's other photos (retention, Delete, /forget).
    """
    image = inputs.get("image")
    if image is None:
        raise ImageExpired(f"the parent image of job {record.job_id} was purged")
    options = record.options
    # A follow-up always names its style; "" (from a damaged row) is refused as an unknown style.
    style_id = options.style_id or ""
    if record.kind == "upscale":
        return UpscaleRequest(
            user_id=str(record.user_id),
            image=image,
            selfie=selfie,
            references=references,
            face=face,
            style_id=style_id,
            seed=options.seed,
            prompt=options.prompt,
            subject=options.subject,
            scale=cast(UpscaleScale, options.scale),
            strength=options.strength,
            speed=options.speed,
        )
    return VaryRequest(
        user_id=str(record.user_id),
        image=image,
        selfie=selfie,
        references=references,
        face=face,
        style_id=style_id,
        seed=options.seed,
        prompt=options.prompt,
        subject=options.subject,
        strength=options.strength or VARY_STRENGTH["subtle"],
        speed=options.speed,
    )


def follow_up_note(record: JobRecord, parent: JobRecord | None) -> str:
    """The sentence on a follow-up's result naming the image it came from (and linking its message when public)."""
    number = record.options.image_number or 1
    what = f"Upscaled {record.options.scale}x" if record.kind == "upscale" else "A variation"
    source = f"image {number} of the result above"
    if parent is not None and parent.result_channel_id and parent.result_message_id:
        guild = parent.guild_id or "@me"
        link = f"https://discord.com/channels/{guild}/{parent.result_channel_id}/{parent.result_message_id}"
        source = f"image {number} of [this result]({link})"
    return f"{what} of {source}." if record.kind != "upscale" else f"{what} from {source}."
