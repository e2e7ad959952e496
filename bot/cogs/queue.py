"""/queue, /cancel and /forget: a user's view of their own jobs and data."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from ..errors import JobNotFound, NotJobOwner
from ..respond import tell

if TYPE_CHECKING:
    from ..client import PortraitBot

log = logging.getLogger(__name__)


class QueueCog(commands.Cog):
    def __init__(self, bot: PortraitBot) -> None:
        self.bot = bot

    @app_commands.command(name="queue", description="Where your jobs stand in the queue.")
    async def queue(self, interaction: discord.Interaction[PortraitBot]) -> None:
        runtime = self.bot.runtime
        lines = []
        for record in self.bot.store.jobs_of(interaction.user.id):
            handle = runtime.get(record.job_id)
            position = runtime.queue_position(record.job_id)
            where = "running" if position == 0 else f"position {position}" if position > 0 else record.state
            if handle is not None and handle.progress.total_steps:
                where += f", step {handle.progress.step}/{handle.progress.total_steps}"
            if handle is not None and handle.progress.eta_s is not None:
                where += f", ready <t:{int(self.bot.clock() + handle.progress.eta_s)}:R>"
            what = record.options.get("style_id") or "inpaint"
            lines.append(f"`{record.job_id}` {what}: {where}")
        summary = f"{runtime.queue_depth} job{'s' * (runtime.queue_depth != 1)} waiting in total."
        body = "\n".join(lines) if lines else "You have no jobs in the queue."
        await tell(interaction, f"{body}\n{summary}")

    @app_commands.command(name="cancel", description="Cancel one of your jobs, or all of them.")
    @app_commands.describe(job="The job to cancel; leave empty to cancel all of yours")
    async def cancel(self, interaction: discord.Interaction[PortraitBot], job: str | None = None) -> None:
        store = self.bot.store
        if job is not None:
            record = store.get(job)
            if record is None:
                raise JobNotFound(job)
            if record.user_id != interaction.user.id:
                raise NotJobOwner(job)
            targets = [record]
        else:
            targets = store.jobs_of(interaction.user.id)
        cancelled = sum(self.bot.jobs.cancel(record.job_id) for record in targets)
        if cancelled:
            await tell(interaction, f"Cancelling {cancelled} job{'s' * (cancelled != 1)}.")
        else:
            await tell(interaction, "You have no unfinished jobs to cancel.")

    @cancel.autocomplete("job")
    async def _own_jobs(self, interaction: discord.Interaction[PortraitBot], current: str) -> list[app_commands.Choice[str]]:
        records = self.bot.store.jobs_of(interaction.user.id)
        return [
            app_commands.Choice(name=f"{r.job_id} ({r.options.get('style_id') or 'inpaint'}, {r.state})", value=r.job_id)
            for r in records
            if r.job_id.startswith(current.strip())
        ][:25]

    @app_commands.command(name="forget", description="Cancel your jobs and delete everything stored about you.")
    async def forget(self, interaction: discord.Interaction[PortraitBot]) -> None:
        user_id = interaction.user.id
        for record in self.bot.store.jobs_of(user_id):
            self.bot.jobs.cancel(record.job_id)
        deleted = self.bot.store.forget(user_id)
        log.info("user %s asked to be forgotten: %d jobs deleted", user_id, deleted)
        await tell(
            interaction,
            f"Done: your {deleted} job record{'s' * (deleted != 1)} and every photo you sent are deleted."
            " Images already posted stay where they are; their Delete button no longer works.",
        )


async def setup(bot: PortraitBot) -> None:
    await bot.add_cog(QueueCog(bot))
