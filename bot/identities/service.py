"""Saved identities once saved: chosen for a job, offered in autocomplete, renamed, deleted.

Every lookup takes the member who acts: another member's identity is answered like a missing
one, whether it is named by a command, an autocomplete value or a button's ``custom_id``.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from ..errors import FaceChoice, IdentityNameTaken, IdentityNotFound
from ..store import UNFINISHED
from ..texts import plural
from . import texts
from .saving import check_name

if TYPE_CHECKING:
    from fact_runtime import JobRuntime

    from ..jobs import JobService
    from ..store import IdentityRecord, JobStore, StoredIdentity

__all__ = ["IdentityService"]

log = logging.getLogger(__name__)


class IdentityService:
    """What members do with their saved identities; the cogs and the Delete button call it.

    Parameters
    ----------
    store:
        The job store; identities live in ``store.identities``.
    runtime:
        Told to forget what it holds of a member's photos when an identity goes.
    jobs:
        Cancels unfinished jobs of an identity that is deleted.
    """

    def __init__(self, *, store: JobStore, runtime: JobRuntime, jobs: JobService) -> None:
        self._store = store
        self._identities = store.identities
        self._runtime = runtime
        self._jobs = jobs

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
            if record.identity_id in (job.options.identity_id, *(seat.identity_id for seat in job.options.seats)):
                self._jobs.cancel(job.job_id)
        # Others' group photos with this face stop too, and the member's standing shares end.
        for job_id in self._store.groups.jobs_with(user_id, states=UNFINISHED, identity_id=record.identity_id):
            self._jobs.cancel(job_id)
        self._store.groups.forget(user_id)
        # What the runtime still holds of the member's photos (cached analyses, finished handles) goes too.
        self._runtime.forget_user(str(user_id))
        log.info("user %s deleted identity %s", user_id, record.identity_id)
        return record.name

    async def delete_by_button(self, interaction: discord.Interaction, identity_id: str) -> None:
        """The Delete button under a saved identity: only its owner's click finds it."""
        name = self.delete(interaction.user.id, identity_id)
        await interaction.response.edit_message(content=texts.deleted_text(name), view=None)
        interaction.client.dispatch("identity_deleted", interaction.user.id)

    def purge_member(self, user_id: int) -> int:
        """Delete every identity of a member who left (``bot.is_identity_purged_on_leave``); returns how many."""
        deleted = self._identities.forget(user_id)
        self._store.groups.forget(user_id)
        if deleted:
            self._runtime.forget_user(str(user_id))
            log.info("user %s left every shared server: %d saved identities deleted", user_id, deleted)
        return deleted
