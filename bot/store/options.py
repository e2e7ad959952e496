"""A job's options: the request fields other than the bytes, stored as JSON beside the job."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, fields
from typing import Any, get_args

from fact_runtime import InpaintRecipe, SpeedTier, Subject

__all__ = ["GroupSeat", "JobOptions"]

log = logging.getLogger(__name__)

_SUBJECTS: tuple[str, ...] = get_args(Subject)
_RECIPES: tuple[str, ...] = get_args(InpaintRecipe)
_SPEEDS: tuple[str, ...] = get_args(SpeedTier)


@dataclass(frozen=True, slots=True)
class GroupSeat:
    """One face of a group photo: its position, the member who goes in, and which of their identities.

    The identity is named, never copied: the job loads it each time it runs.
    """

    #: The template face, counted from the left (1 = leftmost).
    face_index: int
    user_id: int
    identity_id: str
    identity_name: str

    @classmethod
    def from_plain(cls, value: Any) -> GroupSeat:
        if not isinstance(value, dict):
            raise ValueError(f"a group seat must be an object, not {value!r}")
        identity_id, identity_name = _optional_text(value, "identity_id"), _optional_text(value, "identity_name")
        if identity_id is None or identity_name is None:
            raise ValueError(f"a group seat needs its identity, not {value!r}")
        return cls(_integer(value, "face_index", 1), _integer(value, "user_id", 0), identity_id, identity_name)


@dataclass(frozen=True, slots=True)
class JobOptions:
    """What a member asked for, besides the photos; enough to build the same request again.

    A portrait names ``style_id`` (and may add ``prompt``); an inpaint job names a built-in
    ``template_id`` or has an uploaded template (``has_template``). A job made from a saved
    identity names it (``identity_id``) and shows its name on the result (``identity_name``).
    """

    count: int = 1
    #: Picked by the bot when the member gives none, so "Same again" reproduces the job.
    seed: int | None = None
    subject: Subject = "person"
    style_id: str | None = None
    prompt: str = ""
    template_id: str | None = None
    has_template: bool = False
    #: Which template face, counted from the left (1 = leftmost).
    face_index: int = 1
    #: None: the server's ``generation.inpaint_recipe``.
    recipe: InpaintRecipe | None = None
    identity_id: str | None = None
    identity_name: str | None = None
    #: A group photo's faces, left to right; empty for every other kind.
    seats: tuple[GroupSeat, ...] = ()
    #: The speed tier, chosen when the job was made so that rerolls and a re-queue keep it; None
    #: (rows of older bots): the server's default when the request is built.
    speed: SpeedTier | None = None
    #: A follow-up's image of its parent job, counted from 1 (its other options are the parent's).
    image_number: int | None = None
    #: A follow-up's redraw strength; None for an upscale: ``generation.upscale_strength``.
    strength: float | None = None
    #: An upscale's factor.
    scale: int = 2

    @property
    def is_template(self) -> bool:
        """Whether the job fills a template (/inpaint, /group, and their upscales and variations)."""
        return self.has_template or self.template_id is not None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> JobOptions:
        """The options stored as ``text``; rows of older bots (fewer keys) load with the defaults.

        Keys this bot does not know are ignored (a newer bot's row still runs as what it asked).

        Raises
        ------
        ValueError
            ``text`` is not an object of options, or a value has the wrong type.
        """
        document = json.loads(text)
        if not isinstance(document, dict):
            raise ValueError(f"job options must be a JSON object, not {type(document).__name__}")
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(document) - known)
        if unknown:
            log.debug("ignoring unknown job options %s", unknown)
        values = {name: value for name, value in document.items() if name in known}
        return cls(
            count=_integer(values, "count", 1),
            seed=_optional_integer(values, "seed"),
            subject=_choice(values, "subject", _SUBJECTS, "person"),
            style_id=_optional_text(values, "style_id"),
            prompt=_optional_text(values, "prompt") or "",
            template_id=_optional_text(values, "template_id"),
            has_template=bool(values.get("has_template", False)),
            face_index=_integer(values, "face_index", 1),
            recipe=_choice(values, "recipe", _RECIPES, None),
            identity_id=_optional_text(values, "identity_id"),
            identity_name=_optional_text(values, "identity_name"),
            seats=tuple(GroupSeat.from_plain(seat) for seat in values.get("seats", ())),
            speed=_choice(values, "speed", _SPEEDS, None),
            image_number=_optional_integer(values, "image_number"),
            strength=_optional_fraction(values, "strength"),
            scale=_integer(values, "scale", 2),
        )


def _integer(values: dict[str, Any], name: str, default: int) -> int:
    value = values.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"job option {name} must be an integer, not {value!r}")
    return value


def _optional_integer(values: dict[str, Any], name: str) -> int | None:
    return None if values.get(name) is None else _integer(values, name, 0)


def _optional_fraction(values: dict[str, Any], name: str) -> float | None:
    value = values.get(name)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ValueError(f"job option {name} must be a number, not {value!r}")
    return None if value is None else float(value)


def _optional_text(values: dict[str, Any], name: str) -> str | None:
    value = values.get(name)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"job option {name} must be text, not {value!r}")
    return value


def _choice(values: dict[str, Any], name: str, choices: tuple[str, ...], default: Any) -> Any:
    value = values.get(name, default)
    if value is not None and value not in choices:
        raise ValueError(f"job option {name} must be one of {', '.join(choices)}, not {value!r}")
    return value
