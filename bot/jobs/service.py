"""Accepting jobs and acting on them: admission, the store record before submit, buttons, recovery, /forget.

The service writes a job's state only while no tracker follows it: it records the job (queued),
marks a refused submission, re-queues or fails jobs left over from the previous process, and
cancels a stored job the runtime does not know. Everything after submission is the tracker's.
Besides states, the service purges a job's photos (Delete) and deletes a user's jobs and saved
identities (/forget). A job made from a saved identity stores no photo of its own: its request
takes the identity's photos and face each time it is built, and each use keeps the identity.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import discord

from fact_runtime import FactError, RuntimeDead

from ..errors import BotError, ChannelNotAllowed, JobNotFound, NotJobOwner, StyleDisabled
from ..respond import defer, tell
from ..store import FINISHED, JobKind, JobRecord, StoredIdentity
from ..texts import DELETED
from .request import build_request, new_job_id, new_seed

if TYPE_CHECKING:
    from fact_runtime import Runtime, StyleCatalog

    from ..health import BotCounters
    from ..store import JobStore
    from .courier import Courier
    from .tracker import JobTracker
    from .views import Action

__all__ = ["Forgotten", "JobService"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Forgotten:
    """What /forget deleted: stored jobs, posted result messages and saved identities."""

    jobs: int
    results: int
    identities: int = 0


class JobService:
    """Everything that creates or acts on jobs, shared by commands, buttons and recovery.

    Parameters
    ----------
    store:
        The job store; guild rules are read from ``store.guilds``.
    runtime:
        Takes the jobs; its ``limits`` say how many unfinished jobs a member may have.
    catalog:
        Checks that a style exists before anything is downloaded.
    tracker:
        Follows every submitted job.
    courier:
        Reaches owners for what happens outside a followed job (recovery, delete, /forget).
    counters:
        Bot-side metrics.
    """

    def __init__(
        self,
        *,
        store: JobStore,
        runtime: Runtime,
        catalog: StyleCatalog,
        tracker: JobTracker,
        courier: Courier,
        counters: BotCounters,
    ) -> None:
        self._store = store
        self._runtime = runtime
        self._catalog = catalog
        self._tracker = tracker
        self._courier = courier
        self._counters = counters

    def admit(self, interaction: discord.Interaction, *, style_id: str | None = None) -> None:
        """Check guild rules and the user's limit before anything is downloaded.

        Raises
        ------
        ChannelNotAllowed, StyleDisabled, UnknownStyle, UserLimitReached, RuntimeDead
        """
        guild = self._store.guilds.get(interaction.guild_id) if interaction.guild_id is not None else None
        if guild is not None and not guild.is_channel_allowed(interaction.channel_id):
            raise ChannelNotAllowed(f"channel {interaction.channel_id} is not allowed in guild {guild.guild_id}")
        if style_id is not None:
            self._catalog.get(style_id)
            if guild is not None and style_id in guild.disabled_styles:
                raise StyleDisabled(f"style {style_id} is disabled in guild {guild.guild_id}")
        limits = self._runtime.limits
        limit = limits.max_per_user if guild is None else guild.per_member_limit(limits.max_per_user)
        if len(self._store.jobs_of(interaction.user.id)) >= limit:
            raise limits.user_limit_reached(limit)
        if not self._runtime.is_alive:
            raise RuntimeDead("the runtime is not running")

    async def start(
        self,
        interaction: discord.Interaction,
        *,
        kind: JobKind,
        options: Mapping[str, Any],
        inputs: Mapping[str, bytes],
        is_private: bool,
        status_message_id: int | None,
        parent_id: str | None = None,
        identity: StoredIdentity | None = None,
    ) -> JobRecord:
        """Record a job (the interaction is already deferred), submit it and start following it.

        Parameters
        ----------
        status_message_id:
            The deferred response (what ``defer`` returned): the job's status message.
        identity:
            The member's saved identity the job is made from (``options`` then name it).

        Raises
        ------
        QueueFull, UserLimitReached, InvalidRequest, RuntimeDead
            Submission refused; the job is stored as ``refused``.
        """
        record = self._store.record(
            JobRecord(
                job_id=new_job_id(),
                user_id=interaction.user.id,
                kind=kind,
                options=dict(options),
                guild_id=interaction.guild_id,
                channel_id=interaction.channel_id,
                is_private=is_private,
                parent_id=parent_id,
                application_id=interaction.application_id,
                interaction_token=interaction.token,
                token_expires_at=interaction.expires_at.timestamp(),
                status_message_id=status_message_id,
            ),
            inputs,
        )
        try:
            handle = self._runtime.submit(build_request(record, inputs, identity), job_id=record.job_id)
        except (FactError, BotError) as exc:
            self._store.set_state(record.job_id, "refused", error_kind=exc.kind)
            self._counters.count("refusals", exc.kind)
            raise
        if identity is not None:
            self._store.identities.touch(identity.record.identity_id)
        log.info("job %s accepted: %s for user %s", record.job_id, kind, record.user_id)
        self._counters.count("jobs", kind)
        self._tracker.follow(record, handle)
        return record

    async def recover(self) -> int:
        """Re-queue jobs left unfinished by the previous process; tell owners about the ones that cannot be."""
        recovered = 0
        for record in self._store.unfinished():
            try:
                request = build_request(record, self._store.inputs(record.job_id), self._identity_of(record))
                handle = self._runtime.submit(request, job_id=record.job_id)
            except (FactError, BotError) as exc:
                self._store.set_state(record.job_id, "failed", error_kind=exc.kind, has_retry=False)
                log.warning("job %s could not be re-queued after a restart: %s", record.job_id, exc)
                sentence = f"The bot restarted and your job could not be resumed: {exc.user_message}"
                await self._courier.notify(record, sentence)
                continue
            self._store.set_state(record.job_id, "queued")
            self._tracker.follow(replace(record, state="queued"), handle)
            recovered += 1
        if recovered:
            log.info("re-queued %d unfinished jobs from the previous run", recovered)
        return recovered

    def check_owner(self, job_id: str, user_id: int) -> JobRecord:
        """The job, if ``user_id`` owns it.

        Raises
        ------
        JobNotFound
            The job was never stored or its owner ran /forget.
        NotJobOwner
            Someone else clicked the button.
        """
        record = self._store.get(job_id)
        if record is None:
            raise JobNotFound(f"job {job_id} is not in the store")
        if record.user_id != user_id:
            raise NotJobOwner(f"user {user_id} clicked a button of job {job_id} owned by {record.user_id}")
        return record

    async def press(self, interaction: discord.Interaction, action: Action, job_id: str) -> None:
        """Run a button's action; the owner check has passed already."""
        if action == "cancel":
            await tell(interaction, "Cancelling that job." if self.cancel(job_id) else "That job has already finished.")
        elif action == "delete":
            await self._delete(interaction, job_id)
        else:
            await self._repeat(interaction, job_id, is_new_seed=action == "reroll")

    def cancel(self, job_id: str) -> bool:
        """Cancel a job; False when it has already finished.

        A job the runtime knows ends through its handle, and its tracker records that. A stored
        job the runtime does not know (nothing follows it) is marked cancelled here.
        """
        handle = self._runtime.get(job_id)
        if handle is not None:
            return handle.cancel()
        record = self._store.get(job_id)
        if record is not None and not record.is_finished:
            self._store.set_state(job_id, "cancelled")
            return True
        return False

    async def forget(self, user_id: int) -> Forgotten:
        """Cancel the user's jobs, delete their posted results, every stored job and what the runtime holds."""
        for record in self._store.jobs_of(user_id):
            self.cancel(record.job_id)
        removed = 0
        for record in self._store.jobs_of(user_id, states=FINISHED):
            if await self._courier.delete_result(record):
                removed += 1
        deleted = self._store.forget(user_id)
        identities = self._store.identities.forget(user_id)
        self._runtime.forget_user(str(user_id))
        log.info(
            "user %s asked to be forgotten: %d jobs, %d posted results and %d saved identities deleted",
            user_id,
            deleted,
            removed,
            identities,
        )
        return Forgotten(jobs=deleted, results=removed, identities=identities)

    def _identity_of(self, record: JobRecord) -> StoredIdentity | None:
        """The saved identity a job was made from, if it still exists; only its owner's is ever found."""
        identity_id = record.options.get("identity_id")
        return None if identity_id is None else self._store.identities.load(record.user_id, identity_id)

    async def _repeat(self, interaction: discord.Interaction, job_id: str, *, is_new_seed: bool) -> None:
        """Submit a stored job again: same inputs and options, with a new seed for a reroll."""
        record = self._store.get(job_id)
        if record is None:
            raise JobNotFound(job_id)
        inputs = self._store.inputs(job_id)
        identity = self._identity_of(record)
        build_request(record, inputs, identity)  # raises InputsExpired or IdentityGone before anything is posted
        self.admit(interaction, style_id=record.options.get("style_id"))
        options = dict(record.options)
        if is_new_seed:
            options["seed"] = new_seed()
        if identity is not None:
            options["identity_name"] = identity.record.name  # it may have been renamed since
        status_message_id = await defer(interaction, is_private=record.is_private)
        await self.start(
            interaction,
            kind=record.kind,
            options=options,
            inputs=inputs,
            is_private=record.is_private,
            status_message_id=status_message_id,
            parent_id=job_id,
            identity=identity,
        )

    async def _delete(self, interaction: discord.Interaction, job_id: str) -> None:
        """Delete the message the button is on and the job's stored photos; the status says so."""
        self._store.purge_inputs(job_id)
        await interaction.response.defer()
        with suppress(discord.NotFound):
            await interaction.delete_original_response()
        record = self._store.get(job_id)
        if record is not None:
            # Otherwise "Done: 2 images delivered." would stay above images that are gone. The job
            # has finished, so a status found gone now needs no record: nothing edits it again.
            await self._courier.edit_status(record, DELETED)
