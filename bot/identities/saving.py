"""Saving an identity: consent first, then the photos checked and encoded on the worker, then stored.

Nothing is downloaded before the member confirms with the button, under a message that says what
is kept and for how long. The photos then go to the runtime as an ``IdentityRequest``, which
queues like any job; its result (the best photo's face and the face tokens per base model) is
stored with the photos, so portraits from the identity skip the face analysis and the encoding.
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

from fact_runtime import IdentityRequest, named_photo

from ..attachments import check_attachment, download
from ..errors import ConsentExpired, IdentityLimitReached, IdentityNameInvalid, IdentityNameTaken, NotSaveOwner, explain
from . import texts
from .views import consent_view, saved_view

if TYPE_CHECKING:
    from fact_runtime import JobRuntime, SavedFace

    from ..health import BotCounters
    from ..settings import BotSettings
    from ..store import IdentityRecord, IdentityStore

__all__ = ["CONSENT_TTL_S", "IdentitySaver", "check_name"]

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


class IdentitySaver:
    """Asks for consent, then saves; only the member who asked can answer (the buttons call ``answer``).

    Parameters
    ----------
    identities:
        The store's identity tables.
    runtime:
        Runs the identity jobs; its ``limits`` say how many photos an identity takes.
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
        identities: IdentityStore,
        runtime: JobRuntime,
        settings: BotSettings,
        counters: BotCounters,
        clock: Callable[[], float],
    ) -> None:
        self._identities = identities
        self._runtime = runtime
        self._settings = settings
        self._counters = counters
        self._clock = clock
        self._pending: dict[str, _Pending] = {}

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
        # A quick refusal before the photos are fetched; the store counts again as it inserts.
        self._check_room(pending.user_id, pending.name)
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
        limit = self._settings.max_identities
        try:
            record = self._identities.save(pending.user_id, pending.name, photos, result.face, limit=limit)
        except sqlite3.IntegrityError as exc:
            raise IdentityNameTaken(f"user {pending.user_id} already has {pending.name!r}") from exc
        if record is None:  # another save finished while this one's photos were checked
            raise IdentityLimitReached.at(limit)
        log.info("user %s saved identity %s (%d photos)", pending.user_id, record.identity_id, len(photos))
        return record, result.face

    def _check_room(self, user_id: int, name: str) -> None:
        records = self._identities.of(user_id)
        if any(record.name.casefold() == name.casefold() for record in records):
            raise IdentityNameTaken(f"user {user_id} already has an identity {name!r}")
        if len(records) >= self._settings.max_identities:
            raise IdentityLimitReached.at(self._settings.max_identities)


async def _edit(interaction: discord.Interaction, content: str, *, view: discord.ui.View | None = None) -> None:
    """Edit the message the consent buttons were on; an edit that fails is logged, the outcome stands."""
    try:
        await interaction.edit_original_response(content=content, view=view)
    except discord.HTTPException as exc:
        log.warning("could not tell user %s about their identity: %s", interaction.user.id, exc)
