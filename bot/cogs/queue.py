"""/queue, /cancel and /forget: a user's view of their own jobs and data."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from fact_runtime import FactError

from ..delivery import clip_content
from ..errors import JobNotFound
from ..respond import defer, tell
from ..store import FINISHED, JobRecord
from ..texts import plural

if TYPE_CHECKING:
    from ..client import PortraitBot

log = logging.getLogger(__name__)

_NO_SUCH_JOB = "You have no job with that id; pick one from the list."


class QueueCog(commands.Cog):
    def __init__(self, bot: PortraitBot) -> None:
        self.bot = bot

    def _what(self, record: JobRecord) -> str:
        """What a job makes, as users know it: the style's name, or the template."""
        if record.kind == "inpaint":
            template = record.options.get("template_id")
            return f"{template} template" if template else "your template photo"
        style_id = record.options.get("style_id", "")
        try:
            return self.bot.catalog.get(style_id).name
        except FactError:
            return style_id

    @app_commands.command(name="queue", description="Where your jobs stand in the queue.")
    async def queue(self, interaction: discord.Interaction[PortraitBot]) -> None:
        runtime = self.bot.runtime
        depth = runtime.queue_depth
        lines = []
        for record in self.bot.store.jobs_of(interaction.user.id):
            handle = runtime.get(record.job_id)
            position = runtime.queue_position(record.job_id)
            parts = [f"**{self._what(record)}**"]
            parts.append("running" if position == 0 else f"position {position} of {max(depth, position)}"
                         if position > 0 else record.state)
            if handle is not None and position == 0 and handle.progress.total_steps:
                parts.append(f"step {handle.progress.step}/{handle.progress.total_steps}")
            if handle is not None and handle.progress.eta_s is not None:
                parts.append(f"ready <t:{int(self.bot.clock() + handle.progress.eta_s)}:R>")
            parts.append(f"`{record.job_id}`")
            lines.append("• " + " · ".join(parts))
        summary = f"{plural(depth, 'job')} waiting in the queue." if depth else "Nobody is waiting in the queue."
        body = "Your jobs:\n" + "\n".join(lines) if lines else "You have no unfinished jobs."
        await tell(interaction, clip_content(f"{body}\n{summary}"))

    @app_commands.command(name="cancel", description="Cancel one of your jobs, or all of them.")
    @app_commands.describe(job="The job to cancel; leave empty to cancel all of yours")
    async def cancel(self, interaction: discord.Interaction[PortraitBot], job: str | None = None) -> None:
        store = self.bot.store
        if job is not None:
            record = store.get(job.strip())
            if record is None or record.user_id != interaction.user.id:
                # Someone else's job is answered like a missing one: ids must not reveal other people's jobs.
                raise JobNotFound(f"user {interaction.user.id} asked to cancel job {job!r}", user_message=_NO_SUCH_JOB)
            targets = [record]
        else:
            targets = store.jobs_of(interaction.user.id)
        cancelled = sum(self.bot.jobs.cancel(record.job_id) for record in targets)
        if cancelled:
            await tell(interaction, f"Cancelling {plural(cancelled, 'job')}.")
        elif job is not None:
            await tell(interaction, "That job has already finished.")
        else:
            await tell(interaction, "You have no unfinished jobs to cancel.")

    @cancel.autocomplete("job")
    async def _own_jobs(self, interaction: discord.Interaction[PortraitBot], current: str) -> list[app_commands.Choice[str]]:
        records = self.bot.store.jobs_of(interaction.user.id)
        return [
            app_commands.Choice(name=f"{self._what(r)} ({r.state}) · {r.job_id}"[:100], value=r.job_id)
            for r in records
            if r.job_id.startswith(current.strip())
        ][:25]

    @app_commands.command(name="forget", description="Cancel your jobs and delete everything stored about you.")
    async def forget(self, interaction: discord.Interaction[PortraitBot]) -> None:
        await defer(interaction, is_private=True)  # deleting posted images may take longer than 3 s
        bot, user_id = self.bot, interaction.user.id
        for record in bot.store.jobs_of(user_id):
            bot.jobs.cancel(record.job_id)
        removed = 0
        for record in bot.store.jobs_of(user_id, states=FINISHED):
            if record.result_channel_id is None or record.result_message_id is None:
                continue
            message = bot.get_partial_messageable(record.result_channel_id).get_partial_message(record.result_message_id)
            try:
                await message.delete()
                removed += 1
            except discord.NotFound:
                pass  # already deleted with its Delete button
            except discord.HTTPException as exc:
                log.warning("could not delete result of job %s for /forget: %s", record.job_id, exc)
        deleted = bot.store.forget(user_id)
        bot.runtime.forget_user(str(user_id))
        log.info("user %s asked to be forgotten: %d jobs and %d posted results deleted", user_id, deleted, removed)
        if not deleted and not removed:
            await tell(interaction, "Done: I had nothing stored about you.")
            return
        gone = ["your photos", plural(deleted, "job")] + ([plural(removed, "posted result")] if removed else [])
        await tell(interaction, f"Done: I deleted {', '.join(gone[:-1])} and {gone[-1]}.")


async def setup(bot: PortraitBot) -> None:
    await bot.add_cog(QueueCog(bot))
