"""Taking a posted job further: one kept image upscaled or varied, or the job run again edited (``FollowUps``).

Each is a new job of the same member, like any other: recorded before it starts (counted against the member's
limit in the same transaction), its inputs stored (the parent image with the parent's selfie, so
a restart re-queues it and a reroll of it works), fair-queued, followed, cancellable, forgotten
with the member. It keeps the parent job's privacy, style and identity; an upscale or variation
keeps its prompt and subject too, an edit takes the member's new prompt, subject and seed. A group
photo's upscale or variation keeps its seats and template: each member's face is painted again
with their own identity, and one whose identity is gone stops it, named in its sentence.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol, cast, get_args

import discord

from fact_runtime import MAX_SEED, InvalidRequest, Subject, check_seed

from ..errors import ImageExpired, JobNotFound
from ..followups.form import MAX_STYLES
from ..followups.request import VARY_STRENGTH, FollowUpChoice
from ..respond import defer
from .group_request import members_of
from .request import build_request, identity_of, new_seed

if TYPE_CHECKING:
    from fact_runtime import StyleCatalog

    from ..store import JobKind, JobOptions, JobRecord, JobStore, StoredIdentity

__all__ = ["FollowUps", "JobStarter", "start_follow_up"]

log = logging.getLogger(__name__)

#: Parent inputs a follow-up does not use: it starts from the image, not from a template or a pose ...
_LEFT_BEHIND = ("image", "template", "pose")
#: ... except a template photo's (/inpaint, /group), which paints its faces again where the template has them.
_TEMPLATE_LEFT_BEHIND = ("image", "pose")


class JobStarter(Protocol):
    """The parts of the job service a follow-up goes through, as every other job does."""

    def check_owner(self, job_id: str, user_id: int) -> JobRecord: ...

    def admit(self, interaction: discord.Interaction[Any], *, style_id: str | None = None) -> None: ...

    def accept(
        self,
        interaction: discord.Interaction[Any],
        *,
        kind: JobKind,
        options: JobOptions,
        is_private: bool,
        status_message_id: int | None,
        parent_id: str | None = None,
    ) -> JobRecord: ...

    async def start(
        self,
        record: JobRecord,
        inputs: Mapping[str, bytes],
        *,
        identity: StoredIdentity | None = None,
        members: Sequence[StoredIdentity] = (),
    ) -> JobRecord | None: ...


class FollowUps:
    """What the follow-up buttons and the edit form ask of the job service (``bot.followups.buttons``)."""

    def __init__(self, jobs: JobStarter, store: JobStore, catalog: StyleCatalog) -> None:
        self._jobs = jobs
        self._store = store
        self._catalog = catalog

    def check_owner(self, job_id: str, user_id: int) -> JobRecord:
        """The job, if ``user_id`` owns it (raises ``JobNotFound`` or ``NotJobOwner``)."""
        return self._jobs.check_owner(job_id, user_id)

    def style_choices(self, record: JobRecord) -> list[tuple[str, str]]:
        """The styles an edit of ``record`` may switch to, (id, name), its own first: those its server has not
        disabled, as many as a menu lists. None for a job without a style (a template photo)."""
        if not _has_style(record):
            return []
        disabled = self._store.guilds.get(record.guild_id).disabled_styles if record.guild_id is not None else ()
        styles = [(style.id, style.name) for style in self._catalog.all() if style.id not in disabled]
        own = [choice for choice in styles if choice[0] == record.options.style_id]
        return (own + [choice for choice in styles if choice not in own])[:MAX_STYLES]

    async def follow_up(
        self, interaction: discord.Interaction[Any], job_id: str, number: int, choice: FollowUpChoice
    ) -> None:
        """Upscale or vary image ``number`` of a posted job as a new job; the owner check has passed."""
        await start_follow_up(self._jobs, self._store, interaction, job_id, number, choice)

    async def edit(
        self,
        interaction: discord.Interaction[Any],
        job_id: str,
        *,
        prompt: str,
        subject: str,
        seed: str,
        style_id: str | None = None,
    ) -> JobRecord | None:
        """Run a job again with the edit form's prompt, subject, seed (blank: a new one) and style (None: the
        same); its photos stay. A style the server disabled or does not know is refused as /portrait refuses it.

        Raises
        ------
        InvalidRequest
            The subject or the seed is not one the form accepts (said in one sentence).
        JobNotFound, InputsExpired, ImageExpired, IdentityGone, UserLimitReached, ...
            As for "Same again".
        """
        record = self._store.get(job_id)
        if record is None:
            raise JobNotFound(job_id)
        options = replace(
            record.options, prompt=prompt.strip(), subject=_subject(subject), seed=_seed(seed), identity_name=None
        )
        if style_id is not None and _has_style(record):  # a template job has no style to switch
            options = replace(options, style_id=style_id)
        inputs = self._store.inputs(job_id)
        identity = identity_of(self._store, record)
        if identity is not None:
            options = replace(options, identity_name=identity.record.name)
        if record.kind in ("upscale", "vary") and "image" not in inputs:
            raise ImageExpired(f"the parent image of job {job_id} was purged")
        build_request(replace(record, options=options), inputs, identity)  # InputsExpired, IdentityGone
        self._jobs.admit(interaction, style_id=options.style_id)
        status_message_id = await defer(interaction, is_private=record.is_private)
        child = self._jobs.accept(
            interaction,
            kind=record.kind,
            options=options,
            is_private=record.is_private,
            status_message_id=status_message_id,
            parent_id=job_id,
        )
        return await self._jobs.start(child, inputs, identity=identity)


def _has_style(record: JobRecord) -> bool:
    """Whether the job draws with a style (a portrait, or its upscale or variation), not into a template."""
    return bool(record.options.style_id) and not record.options.is_template


def _subject(text: str) -> Subject:
    subject = text.strip().lower() or "person"
    if subject not in get_args(Subject):
        choices = ", ".join(get_args(Subject))
        raise InvalidRequest(f"subject {text!r}", user_message=f"The subject must be one of {choices}.")
    return cast(Subject, subject)


def _seed(text: str) -> int:
    """The form's seed; blank picks a new one."""
    if not text.strip():
        return new_seed()
    try:
        seed = int(text.strip())
    except ValueError:
        raise InvalidRequest(
            f"seed {text!r}", user_message=f"The seed must be a whole number from 0 to {MAX_SEED}."
        ) from None
    check_seed(seed)
    return seed


async def start_follow_up(
    jobs: JobStarter,
    store: JobStore,
    interaction: discord.Interaction[Any],
    parent_id: str,
    number: int,
    choice: FollowUpChoice,
) -> JobRecord | None:
    """Record and start the follow-up of image ``number`` of job ``parent_id``; the owner check has passed.

    Raises
    ------
    JobNotFound
        The parent job was forgotten meanwhile.
    ImageExpired
        The parent's images are gone (retention, Delete) or it has no image ``number``.
    IdentityGone, UserLimitReached, RuntimeDead, ...
        As for any job: refused before anything is posted, in one sentence.
    """
    parent = store.get(parent_id)
    if parent is None:
        raise JobNotFound(parent_id)
    kept = store.results(parent_id)
    if kept is None or not 1 <= number <= len(kept.images):
        raise ImageExpired(f"job {parent_id} keeps no image {number}")
    image = kept.images[number - 1]
    kind: JobKind = "upscale" if choice == "upscale" else "vary"
    options = replace(
        parent.options,
        count=1,
        image_number=number,
        # An upscale redraws with the image's own seed; a variation is a new draw.
        seed=image.seed if kind == "upscale" else new_seed(),
        strength=None if kind == "upscale" else VARY_STRENGTH[choice],
        scale=2,
    )
    identity = identity_of(store, parent)
    if identity is not None:
        options = replace(options, identity_name=identity.record.name)  # it may have been renamed since
    # A template photo's follow-up keeps its template, recipe, tier and seats: its members' faces are
    # painted again, each with their own identity (the one they consented to a group photo with).
    left_behind = _TEMPLATE_LEFT_BEHIND if parent.options.is_template else _LEFT_BEHIND
    inputs = {name: data for name, data in store.inputs(parent_id).items() if name not in left_behind}
    inputs["image"] = image.png
    draft = replace(parent, kind=kind, options=options)
    members = members_of(store, draft)
    # Raises InputsExpired or IdentityGone (naming a group member whose identity is gone) before anything is posted.
    build_request(draft, inputs, identity, members)
    jobs.admit(interaction, style_id=options.style_id)
    status_message_id = await defer(interaction, is_private=parent.is_private)
    record = jobs.accept(
        interaction,
        kind=kind,
        options=options,
        is_private=parent.is_private,
        status_message_id=status_message_id,
        parent_id=parent_id,
    )
    log.info("job %s: %s of image %d of job %s", record.job_id, choice, number, parent_id)
    return await jobs.start(record, inputs, identity=identity, members=members)
