"""Accepting jobs: admission rules, the store record before submit, and the button actions."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

import discord

from fact_runtime import (
    MAX_SEED,
    FactError,
    InpaintRequest,
    JobRequest,
    PortraitRequest,
    RuntimeDead,
    UserLimitReached,
)

from .errors import BotError, ChannelNotAllowed, InputsExpired, JobNotFound, StyleDisabled
from .respond import defer, tell
from .store import JobRecord
from .texts import plural

if TYPE_CHECKING:
    from .client import PortraitBot
    from .views import Action

__all__ = ["JobService", "build_request", "new_job_id", "new_seed"]

log = logging.getLogger(__name__)

JobKind = Literal["portrait", "inpaint"]


def new_job_id() -> str:
    return secrets.token_hex(8)


def new_seed() -> int:
    # The bot picks the seed, so "same again" reproduces a job exactly and rerolls differ.
    return secrets.randbelow(MAX_SEED + 1)


def build_request(record: JobRecord, inputs: Mapping[str, bytes]) -> JobRequest:
    """The runtime request for a stored job.

    Raises
    ------
    InputsExpired
        The selfie (or uploaded template) was purged after the retention window.
    """
    options = record.options
    if "selfie" not in inputs or (options.get("has_template") and "template" not in inputs):
        raise InputsExpired(f"inputs of job {record.job_id} were purged")
    if record.kind == "inpaint":
        return InpaintRequest(
            user_id=str(record.user_id),
            selfie=inputs["selfie"],
            template=inputs.get("template"),
            template_id=options.get("template_id"),
            face_index=int(options.get("face_index", 1)),
            count=int(options.get("count", 1)),
            seed=options.get("seed"),
            subject=options.get("subject", "person"),
        )
    return PortraitRequest(
        user_id=str(record.user_id),
        selfie=inputs["selfie"],
        style_id=options["style_id"],
        count=int(options.get("count", 1)),
        seed=options.get("seed"),
        prompt=options.get("prompt", ""),
        subject=options.get("subject", "person"),
        pose=inputs.get("pose"),
    )


class JobService:
    """Everything that creates or acts on jobs, shared by commands, buttons and recovery."""

    def __init__(self, bot: PortraitBot) -> None:
        self.bot = bot

    def admit(self, interaction: discord.Interaction, *, style_id: str | None = None) -> None:
        """Check guild rules and the user's limit before anything is downloaded.

        Raises
        ------
        ChannelNotAllowed, StyleDisabled, UnknownStyle, UserLimitReached, RuntimeDead
        """
        bot = self.bot
        guild = bot.store.guilds.get(interaction.guild_id) if interaction.guild_id is not None else None
        if guild is not None and not guild.is_channel_allowed(interaction.channel_id):
            raise ChannelNotAllowed(f"channel {interaction.channel_id} is not allowed in guild {guild.guild_id}")
        if style_id is not None:
            bot.catalog.get(style_id)
            if guild is not None and style_id in guild.disabled_styles:
                raise StyleDisabled(f"style {style_id} is disabled in guild {guild.guild_id}")
        limit = bot.settings.max_jobs_per_user
        if guild is not None and guild.max_jobs_per_user is not None:
            limit = min(limit, guild.max_jobs_per_user)
        if len(bot.store.jobs_of(interaction.user.id)) >= limit:
            raise UserLimitReached(
                f"user {interaction.user.id} has {limit} unfinished jobs",
                user_message=f"You already have {plural(limit, 'unfinished job')}, the most allowed; "
                "wait for one to finish or /cancel one.",
            )
        if not bot.runtime.is_alive:
            raise RuntimeDead("the runtime is not running")

    async def start(
        self,
        interaction: discord.Interaction,
        *,
        kind: JobKind,
        options: Mapping[str, Any],
        inputs: Mapping[str, bytes],
        is_private: bool,
        parent_id: str | None = None,
    ) -> JobRecord:
        """Record a job (the interaction is already deferred), submit it and start following it.

        Raises
        ------
        QueueFull, UserLimitReached, InvalidRequest, RuntimeDead
            Submission refused; the job is stored as ``refused``.
        """
        bot = self.bot
        status_id = interaction.extras.get("status_message_id")
        record = JobRecord(
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
            status_message_id=status_id,
        )
        record = bot.store.record(record, inputs)
        try:
            handle = bot.runtime.submit(build_request(record, inputs), job_id=record.job_id)
        except FactError as exc:
            bot.store.set_state(record.job_id, "refused", error_kind=exc.kind)
            bot.counters.count("refusals", exc.kind)
            raise
        log.info("job %s accepted: %s for user %s", record.job_id, kind, record.user_id)
        bot.counters.count("jobs", kind)
        bot.tracker.follow(record, handle)
        return record

    async def recover(self) -> int:
        """Re-queue jobs left unfinished by the previous process; tell owners about the ones that cannot be."""
        bot = self.bot
        recovered = 0
        for record in bot.store.unfinished():
            try:
                request = build_request(record, bot.store.inputs(record.job_id))
                handle = bot.runtime.submit(request, job_id=record.job_id)
            except (FactError, BotError) as exc:
                await self._report_unrecoverable(record, exc)
                continue
            bot.store.set_state(record.job_id, "queued")
            bot.tracker.follow(replace(record, state="queued"), handle)
            recovered += 1
        if recovered:
            log.info("re-queued %d unfinished jobs from the previous run", recovered)
        return recovered

    async def _report_unrecoverable(self, record: JobRecord, exc: FactError | BotError) -> None:
        bot = self.bot
        bot.store.set_state(record.job_id, "failed", error_kind=exc.kind, has_retry=False)
        log.warning("job %s could not be re-queued after a restart: %s", record.job_id, exc)
        sentence = f"The bot restarted and your job could not be resumed: {exc.user_message}"
        await bot.tracker.courier.notify(record, sentence)

    async def handle_button(self, interaction: discord.Interaction, action: Action, job_id: str) -> None:
        """Run a button's action; the owner check has passed already."""
        if action == "cancel":
            await self.cancel_one(interaction, job_id)
        elif action == "delete":
            await self.delete(interaction, job_id)
        else:
            await self.repeat(interaction, job_id, is_new_seed=action == "reroll")

    async def repeat(self, interaction: discord.Interaction, job_id: str, *, is_new_seed: bool) -> None:
        """Submit a stored job again: same inputs and options, with a new seed for a reroll."""
        record = self.bot.store.get(job_id)
        if record is None:
            raise JobNotFound(job_id)
        inputs = self.bot.store.inputs(job_id)
        build_request(record, inputs)  # raises InputsExpired before anything is posted
        self.admit(interaction, style_id=record.options.get("style_id"))
        options = dict(record.options)
        if is_new_seed:
            options["seed"] = new_seed()
        await defer(interaction, is_private=record.is_private)
        await self.start(
            interaction, kind=record.kind, options=options, inputs=inputs, is_private=record.is_private, parent_id=job_id
        )

    def cancel(self, job_id: str) -> bool:
        """Cancel a job the runtime knows; a stored job it does not know is marked cancelled directly."""
        handle = self.bot.runtime.get(job_id)
        if handle is not None:
            return handle.cancel()
        record = self.bot.store.get(job_id)
        if record is not None and not record.is_finished:
            self.bot.store.set_state(job_id, "cancelled")
            return True
        return False

    async def cancel_one(self, interaction: discord.Interaction, job_id: str) -> None:
        if self.cancel(job_id):
            await tell(interaction, "Cancelling that job.")
        else:
            await tell(interaction, "That job has already finished.")

    async def delete(self, interaction: discord.Interaction, job_id: str) -> None:
        """Delete the message the button is on and the job's stored photos; the status says so."""
        self.bot.store.purge_inputs(job_id)
        await interaction.response.defer()
        with suppress(discord.NotFound):
            await interaction.delete_original_response()
        record = self.bot.store.get(job_id)
        if record is not None:
            # Otherwise "Done: 2 images delivered." would stay above images that are gone.
            await self.bot.tracker.courier.edit_status(record, "🗑️ Deleted by its owner.")
