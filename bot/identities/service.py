"""Saved identities: consent first, then the photos checked and encoded on the worker, stored, used, deleted.

Nothing is downloaded before the member confirms with the button. The photos then go to the
runtime as an ``IdentityRequest``, which queues like any job; its result (the best photo's face
and the face tokens per base model) is stored with the photos, so portraits from the identity
skip the face analysis and the encoding.
"""

from __future__ import annotations

import logging
import re
import secrets
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from fact_runtime import IdentityRequest, named_photo

from ..attachments import check_attachment, download
from ..errors import (
    ConsentExpired,
    FaceChoice,
    IdentityLimitReached,
    IdentityNameInvalid,
    IdentityNameTaken,
    IdentityNotFound,
    NotSaveOwner,
    explain,
)
from ..store import UNFINISHED
from ..texts import plural
from . import texts
from .views import consent_view, saved_view

if TYPE_CHECKING:
    from fact_runtime import Runtime, SavedFace

    from ..health import BotCounters
    from ..jobs import JobService
    from ..settings import BotSettings
    from ..store import IdentityRecord, JobStore, StoredIdentity

__all__ = ["CONSENT_TTL_S", "IdentityService", "check_name"]

log = logging.getLogger(__name__)

#: How long a consent request can be answered (its message's token lives 15 minutes).
CONSENT_TTL_S = 600.0
_NAME = re.compile(r"\w[\w .\-]{0,31}")


def check_name(name: str) -> str:
    """The name, trimmed, if it is a valid identity name.

    Raises
    ------
    IdentityNameInvalid
    """
    name = " ".join(name.split())
    if not _NAME.fullmatch(name):
        raise IdentityNameInvalid(f"invalid identity name {name!r}")
    return name


@dataclass(frozen=True, slots=True)
class _Pending:
    """A save waiting for its member's consent: nothing of it is downloaded yet."""

    user_id: int
    name: str
    attachments: tuple[discord.Attachment, ...]
    expires_at: float


class IdentityService:
    """Everything that creates, uses or deletes saved identities; the /identity cog and the buttons call it.

    Parameters
    ----------
    store:
        The job store; identities live in ``store.identities``.
    runtime:
        Runs the identity jobs; its ``limits`` say how many photos an identity takes.
    jobs:
        Cancels unfinished jobs of an identity that is deleted.
    settings:
        Identities per member, retention, accepted attachment types.
    counters:
        Bot-side metrics.
    clock:
        Wall-clock seconds, for consent expiry.
    """

    def __init__(
        self,
        *,
        store: JobStore,
        runtime: Runtime,
        jobs: JobService,
        settings: BotSettings,
        counters: BotCounters,
        clock: Callable[[], float],
    ) -> None:
        self._store = store
        self._identities = store.identities
        self._runtime = runtime
        self._jobs = jobs
        self._settings = settings
        self._counters = counters
        self._clock = clock
        self._pending: dict[str, _Pending] = {}

    # -- choosing a face for a job ------------------------------------------------------------

    def for_job(self, user_id: int, *, has_selfie: bool, identity: str | None) -> StoredIdentity | None:
        """The member's identity a command names, or None for a selfie; exactly one of the two.

        Raises
        ------
        FaceChoice
            Both a selfie and an identity, or neither.
        IdentityNotFound
            The member has no identity of that name or id (whoever else might).
        """
        if has_selfie == (identity is not None):
            raise FaceChoice(f"selfie given: {has_selfie}, identity given: {identity is not None}")
        return None if identity is None else self.lookup(user_id, identity)

    def lookup(self, user_id: int, key: str) -> StoredIdentity:
        """The member's own identity by id or name, with its photos and face.

        Raises
        ------
        IdentityNotFound
        """
        record = self._identities.find(user_id, key)
        stored = None if record is None else self._identities.load(user_id, record.identity_id)
        if stored is None:
            raise IdentityNotFound(f"user {user_id} has no identity {key!r}")
        return stored

    def names(self, user_id: int) -> list[IdentityRecord]:
        return self._identities.of(user_id)

    def choices(self, user_id: int, current: str) -> list[app_commands.Choice[str]]:
        """Autocomplete: the member's own identities whose name contains what they typed; nobody else's."""
        needle = current.strip().casefold()
        records = [record for record in self._identities.of(user_id) if needle in record.name.casefold()]
        return [
            app_commands.Choice(name=f"{r.name} ({plural(r.photo_count, 'photo')})"[:100], value=r.identity_id)
            for r in records[:25]
        ]

    # -- saving, with consent -----------------------------------------------------------------

    async def ask_consent(
        self, interaction: discord.Interaction, name: str, attachments: Sequence[discord.Attachment]
    ) -> None:
        """Check the name, the limits and each photo's metadata, then ask to save (ephemeral, with buttons).

        Raises
        ------
        IdentityNameInvalid, IdentityNameTaken, IdentityLimitReached, InvalidRequest, InputError
            A refusal; a photo's sentence names the photo ("Photo 2: ...").
        """
        user_id = interaction.user.id
        name = check_name(name)
        self._check_room(user_id, name)
        limits = self._runtime.limits
        limits.check_photos(len(attachments))
        for number, attachment in enumerate(attachments, start=1):
            with named_photo(number, len(attachments)):
                check_attachment(attachment, limits, content_types=self._settings.content_types)
        now = self._clock()
        for stale in [key for key, pending in self._pending.items() if pending.expires_at <= now]:
            del self._pending[stale]
        pending_id = secrets.token_hex(8)
        self._pending[pending_id] = _Pending(user_id, name, tuple(attachments), now + CONSENT_TTL_S)
        text = texts.consent_text(name, len(attachments), retention_days=self._settings.identity_retention_days)
        await interaction.response.send_message(text, view=consent_view(pending_id), ephemeral=True)

    async def answer(self, interaction: discord.Interaction, pending_id: str, *, is_accepted: bool) -> None:
        """A consent button: save the photos (or not). Only the member who asked can answer.

        Raises
        ------
        ConsentExpired, NotSaveOwner
            Before anything is acknowledged; later failures are told in the consent message itself.
        """
        pending = self._pending.get(pending_id)
        if pending is None or pending.expires_at <= self._clock():
            self._pending.pop(pending_id, None)
            raise ConsentExpired(f"consent {pending_id} is unknown or expired")
        if pending.user_id != interaction.user.id:
            raise NotSaveOwner(f"user {interaction.user.id} answered consent {pending_id} of {pending.user_id}")
        del self._pending[pending_id]
        if not is_accepted:
            await interaction.response.edit_message(content=texts.NOT_SAVED, view=None)
            return
        await interaction.response.edit_message(content=texts.CHECKING, view=None)
        try:
            record, face = await self._save(interaction, pending)
        except Exception as exc:  # noqa: BLE001 - every failure becomes the member's one sentence
            self._counters.count("identities", getattr(exc, "kind", "unexpected"))
            await _edit(interaction, explain(exc))
            return
        self._counters.count("identities", "saved")
        text = texts.saved_text(record, face, retention_days=self._settings.identity_retention_days)
        await _edit(interaction, text, view=saved_view(record.identity_id))

    async def _save(self, interaction: discord.Interaction, pending: _Pending) -> tuple[IdentityRecord, SavedFace]:
        self._check_room(pending.user_id, pending.name)  # another save may have finished meanwhile
        limits = self._runtime.limits
        photos = []
        for number, attachment in enumerate(pending.attachments, start=1):
            with named_photo(number, len(pending.attachments)):
                photos.append(await download(attachment, limits))
        handle = self._runtime.submit(IdentityRequest(str(pending.user_id), tuple(photos)))
        # A save that starts at once takes a second or two; one behind other jobs says where it waits.
        if not await handle.wait(2.0) and handle.progress.stage == "queued":
            position = handle.progress.queue_position
            await _edit(interaction, f"⏳ Waiting in the queue (position {position}) to check your photos…")
        result = await handle.result()
        assert result.face is not None  # an identity job's result always carries its face
        try:
            record = self._identities.save(pending.user_id, pending.name, photos, result.face)
        except sqlite3.IntegrityError as exc:
            raise IdentityNameTaken(f"user {pending.user_id} already has {pending.name!r}") from exc
        log.info("user %s saved identity %s (%d photos)", pending.user_id, record.identity_id, len(photos))
        return record, result.face

    def _check_room(self, user_id: int, name: str) -> None:
        records = self._identities.of(user_id)
        if any(record.name.casefold() == name.casefold() for record in records):
            raise IdentityNameTaken(f"user {user_id} already has an identity {name!r}")
        if len(records) >= self._settings.max_identities:
            raise IdentityLimitReached.at(self._settings.max_identities)

    # -- renaming and deleting ------------------------------------------------------------------

    def rename(self, user_id: int, key: str, new_name: str) -> tuple[str, str]:
        """Rename the member's identity; returns (old name, new name).

        Raises
        ------
        IdentityNotFound, IdentityNameInvalid, IdentityNameTaken
        """
        record = self.lookup(user_id, key).record
        new_name = check_name(new_name)
        try:
            self._identities.rename(user_id, record.identity_id, new_name)
        except sqlite3.IntegrityError as exc:
            raise IdentityNameTaken(f"user {user_id} already has {new_name!r}") from exc
        return record.name, new_name

    def delete(self, user_id: int, key: str) -> str:
        """Delete the member's identity, cancelling unfinished jobs made from it; returns its name.

        Raises
        ------
        IdentityNotFound
        """
        record = self._identities.find(user_id, key)
        if record is None or not self._identities.delete(user_id, record.identity_id):
            raise IdentityNotFound(f"user {user_id} has no identity {key!r}")
        for job in self._store.jobs_of(user_id, states=UNFINISHED):
            if job.options.get("identity_id") == record.identity_id:
                self._jobs.cancel(job.job_id)
        # What the runtime still holds of the member's photos (cached analyses, finished handles) goes too.
        self._runtime.forget_user(str(user_id))
        log.info("user %s deleted identity %s", user_id, record.identity_id)
        return record.name

    async def delete_by_button(self, interaction: discord.Interaction, identity_id: str) -> None:
        """The Delete button under a saved identity: only its owner's click finds it."""
        name = self.delete(interaction.user.id, identity_id)
        await interaction.response.edit_message(content=texts.deleted_text(name), view=None)

    def purge_member(self, user_id: int) -> int:
        """Delete every identity of a member who left (``bot.is_identity_purged_on_leave``); returns how many."""
        deleted = self._identities.forget(user_id)
        if deleted:
            self._runtime.forget_user(str(user_id))
            log.info("user %s left every shared server: %d saved identities deleted", user_id, deleted)
        return deleted


async def _edit(interaction: discord.Interaction, content: str, *, view: discord.ui.View | None = None) -> None:
    """Edit the message the consent buttons were on; an edit that fails is logged, the outcome stands."""
    try:
        await interaction.edit_original_response(content=content, view=view)
    except discord.HTTPException as exc:
        log.warning("could not tell user %s about their identity: %s", interaction.user.id, exc)
