"""Starting a follow-up: one kept image of a posted job, upscaled or varied as a new job of the same member.

The follow-up is a job like any other: recorded before it starts (counted against the member's
limit in the same transaction), its inputs stored (the parent image with the parent's selfie, so
a restart re-queues it and a reroll of it works), fair-queued, followed, cancellable, forgotten
with the member. It keeps the parent job's privacy, style, prompt, subject and identity.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

import discord

from ..errors import ImageExpired, JobNotFound
from ..followups.request import VARY_STRENGTH, FollowUpChoice
from ..respond import defer
from .request import build_request, identity_of, new_seed

if TYPE_CHECKING:
    from ..store import JobKind, JobOptions, JobRecord, JobStore, StoredIdentity

__all__ = ["JobStarter", "start_follow_up"]

log = logging.getLogger(__name__)

#: Parent inputs a follow-up does not use: it starts from the image, not from a template or a pose.
_LEFT_BEHIND = ("image", "template", "pose")


class JobStarter(Protocol):
    """The parts of the job service a follow-up goes through, as every other job does."""

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
        self, record: JobRecord, inputs: Mapping[str, bytes], *, identity: StoredIdentity | None = None
    ) -> JobRecord | None: ...


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
    inputs = {name: data for name, data in store.inputs(parent_id).items() if name not in _LEFT_BEHIND}
    inputs["image"] = image.png
    draft = replace(parent, kind=kind, options=options)
    build_request(draft, inputs, identity)  # raises InputsExpired or IdentityGone before anything is posted
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
    return await jobs.start(record, inputs, identity=identity)
