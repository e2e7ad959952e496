"""/queue, /cancel and /forget: a user's view of their own jobs and data."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from fact_runtime import FactError

from ..errors import JobNotFound
from ..respond import defer, tell
from ..texts import clip_content, plural

if TYPE_CHECKING:
    from fact_runtime import JobRuntime, StyleCatalog

    from ..client import PortraitBot
    from ..jobs import JobService
    from ..store import JobRecord, JobStore

log = logging.getLogger(__name__)

_NO_SUCH_JOB = "You have no job with that id; pick one from the list."


class QueueCog(commands.Cog):
    """What a member can see and undo of their own jobs."""

    def __init__(
        self,
        jobs: JobService,
        *,
        store: JobStore,
        runtime: JobRuntime,
        catalog: StyleCatalog,
        clock: Callable[[], float],
    ) -> None:
        self._jobs = jobs
        self._store = store
        self._runtime = runtime
        self._catalog = catalog
        self._clock = clock

    def _what(self, record: JobRecord) -> str:
        """What a job makes, as users know it: the style's name (and which image a follow-up takes further), or the template."""
        name = ""
        if record.options.is_template:  # /inpaint, /group, and their upscales and variations
            template = record.options.template_id
            name = f"{template} template" if template else "your template photo"
            if record.kind in ("inpaint", "group"):
                return name
        style_id = record.options.style_id or ""
        try:
            name = self._catalog.get(style_id).name if style_id else name
        except FactError:
            name = style_id
        # A follow-up names the image and the job it takes further, as its result's note does.
        source = f"image {record.options.image_number} of job `{record.parent_id}`"
        if record.kind == "upscale":
            return f"{name} upscale of {source}"
        if record.kind == "vary":
            return f"{name} variation of {source}"
        return name

    def _line(self, record: JobRecord) -> str:
        runtime = self._runtime
        handle = runtime.get(record.job_id)
        position = runtime.queue_position(record.job_id)
        parts = [f"**{self._what(record)}**"]
        if position == 0:
            parts.append("running")
        elif position > 0:
            parts.append(f"position {position} of {max(runtime.queue_depth, position)}")
        else:
            parts.append(record.state)
        if handle is not None and position == 0 and handle.progress.total_steps:
            parts.append(f"step {handle.progress.step}/{handle.progress.total_steps}")
        if handle is not None and handle.progress.eta_s is not None:
            parts.append(f"ready <t:{int(self._clock() + handle.progress.eta_s)}:R>")
        parts.append(f"`{record.job_id}`")
        return "• " + " · ".join(parts)

    @app_commands.command(name="queue", description="Where your jobs stand in the queue.")
    async def queue(self, interaction: discord.Interaction[PortraitBot]) -> None:
        depth = self._runtime.queue_depth
        lines = [self._line(record) for record in self._store.jobs_of(interaction.user.id)]
        summary = f"{plural(depth, 'job')} waiting in the queue." if depth else "Nobody is waiting in the queue."
        body = "Your jobs:\n" + "\n".join(lines) if lines else "You have no unfinished jobs."
        await tell(interaction, clip_content(f"{body}\n{summary}"))

    @app_commands.command(name="cancel", description="Cancel one of your jobs, or all of them.")
    @app_commands.describe(job="The job to cancel; leave empty to cancel all of yours")
    async def cancel(self, interaction: discord.Interaction[PortraitBot], job: str | None = None) -> None:
        if job is not None:
            record = self._store.get(job.strip())
            if record is None or record.user_id != interaction.user.id:
                # Someone else's job is answered like a missing one: ids must not reveal other people's jobs.
                raise JobNotFound(f"user {interaction.user.id} asked to cancel job {job!r}", user_message=_NO_SUCH_JOB)
            targets = [record]
        else:
            targets = self._store.jobs_of(interaction.user.id)
        cancelled = sum(self._jobs.cancel(record.job_id) for record in targets)
        if cancelled:
            await tell(interaction, f"Cancelling {plural(cancelled, 'job')}.")
        elif job is not None:
            await tell(interaction, "That job has already finished.")
        else:
            await tell(interaction, "You have no unfinished jobs to cancel.")

    @cancel.autocomplete("job")
    async def _own_jobs(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        records = self._store.jobs_of(interaction.user.id)
        return [
            app_commands.Choice(name=f"{self._what(r)} ({r.state}) · {r.job_id}"[:100], value=r.job_id)
            for r in records
            if r.job_id.startswith(current.strip())
        ][:25]

    @app_commands.command(
        name="forget", description="Cancel your jobs and delete everything stored about you, saved identities too."
    )
    async def forget(self, interaction: discord.Interaction[PortraitBot]) -> None:
        await defer(interaction, is_private=True)  # deleting posted images may take longer than 3 s
        forgotten = await self._jobs.forget(interaction.user.id)
        # Whatever else keeps a member's requests in memory (a /group waiting for answers) drops them too.
        interaction.client.dispatch("member_forgotten", interaction.user.id)
        if not forgotten.jobs and not forgotten.results and not forgotten.identities:
            await tell(interaction, "Done: I had nothing stored about you.")
            return
        gone = ["your photos"]
        if forgotten.jobs:
            gone.append(plural(forgotten.jobs, "job"))
        if forgotten.results:
            gone.append(plural(forgotten.results, "posted result"))
        if forgotten.identities:
            gone.append(f"{forgotten.identities} saved identit{'y' if forgotten.identities == 1 else 'ies'}")
        await tell(interaction, f"Done: I deleted {', '.join(gone[:-1])} and {gone[-1]}.")


async def setup(bot: PortraitBot) -> None:
    await bot.add_cog(QueueCog(bot.jobs, store=bot.store, runtime=bot.runtime, catalog=bot.catalog, clock=bot.clock))
