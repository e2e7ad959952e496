"""Accepting jobs and acting on them: admission, the store record before submit, buttons, recovery, /forget.

The service writes a job's state only while no tracker follows it: it records the job when its
command is acknowledged (``accepted``, counted against the member's limit in the same transaction),
stores its photos (``queued``), marks a refused submission, re-queues or reports jobs left over from
the previous process, and cancels a stored job the runtime does not know. Everything after
submission is the tracker's. A job made from a saved identity stores no photo of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import replace
from typing import TYPE_CHECKING

import discord

from fact_runtime import FactError, RuntimeDead

from ..errors import BotError, ChannelNotAllowed, JobNotFound, NotJobOwner, StyleDisabled
from ..respond import defer, tell
from ..store import UNFINISHED, JobKind, JobOptions, JobRecord, StoredIdentity
from ..texts import CANCELLED, DELETED
from .follow_ups import FollowUps
from .forget import Forgotten, forget_member
from .group_request import members_of
from .origin import Origin
from .recovery import recover_jobs
from .request import build_request, identity_of, new_job_id, new_seed
from .speeds import choose_speed

if TYPE_CHECKING:
    from fact_runtime import JobRuntime, StyleCatalog

    from ..health import BotCounters
    from ..store import JobStore
    from .courier import Courier
    from .tracker import JobTracker
    from .views import Action

__all__ = ["JobService"]

log = logging.getLogger(__name__)


class JobService:
    """Everything that creates or acts on jobs, shared by commands, buttons and recovery.

    Its parts: the job ``store`` (guild rules in ``store.guilds``), the ``runtime`` (its ``limits``
    bound a member's unfinished jobs), the style ``catalog`` (checked before any download), the
    ``tracker`` (follows every submitted job), the ``courier`` (reaches owners outside a followed
    job: recovery, delete, /forget) and the bot-side ``counters``.
    """

    def __init__(
        self,
        *,
        store: JobStore,
        runtime: JobRuntime,
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
        """Check guild rules and the user's limit before anything is acknowledged or downloaded.

        A quick answer for the common case; ``accept`` checks the limit again, atomically.

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
        limit = self._member_limit(interaction)
        if len(self._store.jobs_of(interaction.user.id)) >= limit:
            raise self._runtime.limits.user_limit_reached(limit)
        if not self._runtime.is_alive:
            raise RuntimeDead("the runtime is not running")

    def accept(
        self,
        interaction: discord.Interaction | Origin,
        *,
        kind: JobKind,
        options: JobOptions,
        is_private: bool,
        status_message_id: int | None,
        parent_id: str | None = None,
    ) -> JobRecord:
        """Record an acknowledged job before anything slow happens (its photos are fetched after this).

        A restart at any later point finds the job: re-queued once its photos are stored, else
        reported to its owner. The member's limit is counted in the same transaction as the insert.

        Parameters
        ----------
        status_message_id:
            The deferred response (what ``defer`` returned): the job's status message.

        Raises
        ------
        UserLimitReached
            The member already has as many unfinished jobs as this server allows.
        """
        origin = interaction if isinstance(interaction, Origin) else Origin.of(interaction)
        limit = self._member_limit(origin)
        record = self._store.admit(
            JobRecord(
                job_id=new_job_id(),
                user_id=origin.user_id,
                kind=kind,
                options=options,
                guild_id=origin.guild_id,
                channel_id=origin.channel_id,
                is_private=is_private,
                parent_id=parent_id,
                application_id=origin.application_id,
                interaction_token=origin.token,
                token_expires_at=origin.token_expires_at,
                status_message_id=status_message_id,
            ),
            limit=limit,
        )
        if record is None:
            self._counters.count("refusals", "user_limit")
            raise self._runtime.limits.user_limit_reached(limit)
        return record

    def abandon(self, record: JobRecord, error: BaseException) -> None:
        """An accepted job whose photos could not be fetched (or were refused): it ends as ``refused``."""
        kind = getattr(error, "kind", "unexpected")
        self._store.set_state(record.job_id, "refused", error_kind=kind)
        self._counters.count("refusals", kind)

    async def start(
        self,
        record: JobRecord,
        inputs: Mapping[str, bytes],
        *,
        identity: StoredIdentity | None = None,
        members: Sequence[StoredIdentity] = (),
    ) -> JobRecord | None:
        """Store an accepted job's photos, submit it and start following it; None if it was cancelled meanwhile.

        ``identity`` is the member's saved identity the job is made from (``options`` then name it);
        ``members`` are a group photo's identities, one per seat.

        Raises
        ------
        QueueFull, UserLimitReached, InvalidRequest, RuntimeDead
            Submission refused; the job is stored as ``refused``.
        """
        queued = self._store.attach_inputs(record.job_id, inputs)
        if queued is None:  # /cancel or /forget while the photo was downloading
            log.info("job %s was cancelled before its photos arrived", record.job_id)
            await self._courier.edit_status(record, CANCELLED)
            return None
        try:
            handle = self._runtime.submit(build_request(queued, inputs, identity, members), job_id=queued.job_id)
        except (FactError, BotError) as exc:
            self._store.set_state(queued.job_id, "refused", error_kind=exc.kind)
            self._counters.count("refusals", exc.kind)
            raise
        for used in (identity, *members) if identity is not None else members:
            self._store.identities.touch(used.record.identity_id)
        log.info("job %s accepted: %s for user %s", queued.job_id, queued.kind, queued.user_id)
        self._counters.count("jobs", queued.kind)
        self._tracker.follow(queued, handle)
        return queued

    async def recover(self) -> int:
        """Re-queue jobs left unfinished by the previous process; tell owners about the ones that cannot be."""
        return await recover_jobs(
            store=self._store, runtime=self._runtime, tracker=self._tracker, courier=self._courier
        )

    @property
    def follow_ups(self) -> FollowUps:
        """Upscales, variations and edits of posted jobs, started through this service."""
        return FollowUps(self, self._store, self._catalog)

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
        # A delivering job's images are out of the runtime already: it is past cancelling.
        if record is not None and record.state in ("accepted", "queued", "running"):
            self._store.set_state(job_id, "cancelled")
            return True
        return False

    async def forget(self, user_id: int) -> Forgotten:
        """Cancel the user's jobs and others' group photos with their face, then delete all of theirs (``forget_member``)."""
        others = self._store.groups.jobs_with(user_id, states=UNFINISHED)
        for job_id in (*(record.job_id for record in self._store.jobs_of(user_id)), *others):
            self.cancel(job_id)
        return await forget_member(user_id, store=self._store, runtime=self._runtime, courier=self._courier)

    async def _repeat(self, interaction: discord.Interaction, job_id: str, *, is_new_seed: bool) -> None:
        """Submit a stored job again (same inputs and options, a new seed for a reroll), or post its kept images."""
        record = self._store.get(job_id)
        if record is None:
            raise JobNotFound(job_id)
        kept = self._store.results(job_id) if record.state == "failed" and not is_new_seed else None
        if kept is not None:
            # "Try again" after a failed upload: the images exist, so no GPU time is spent again.
            status_message_id = await defer(interaction, is_private=record.is_private)
            await self._tracker.resend(record, kept, via=interaction, status_message_id=status_message_id)
            return
        inputs = self._store.inputs(job_id)
        identity, members = identity_of(self._store, record), members_of(self._store, record)
        # Raises InputsExpired or IdentityGone before anything is posted.
        build_request(record, inputs, identity, members)
        self.admit(interaction, style_id=record.options.style_id)
        guild = self._store.guilds.get(interaction.guild_id) if interaction.guild_id is not None else None
        # Its own tier again, if the server still offers it (a job of an older bot: the default now).
        options = replace(record.options, speed=choose_speed(record.options.speed, guild, self._runtime.limits))
        if is_new_seed:
            options = replace(options, seed=new_seed())
        if identity is not None:
            options = replace(options, identity_name=identity.record.name)  # it may have been renamed since
        status_message_id = await defer(interaction, is_private=record.is_private)
        child = self.accept(
            interaction,
            kind=record.kind,
            options=options,
            is_private=record.is_private,
            status_message_id=status_message_id,
            parent_id=job_id,
        )
        await self.start(child, inputs, identity=identity, members=members)

    def _member_limit(self, interaction: discord.Interaction | Origin) -> int:
        """Unfinished jobs the member may have where the command ran (a server may lower the bot's limit)."""
        limits = self._runtime.limits
        if interaction.guild_id is None:
            return limits.max_per_user
        return self._store.guilds.get(interaction.guild_id).per_member_limit(limits.max_per_user)

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
