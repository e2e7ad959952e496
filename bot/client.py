"""PortraitBot: the Discord client, given its runtime, styles, job store and settings."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from .health import BotCounters
from .jobs import JobService
from .respond import reply_error
from .settings import BotSettings
from .store import JobStore
from .tracker import JobTracker
from .views import JobButton

if TYPE_CHECKING:
    from fact_runtime import Runtime, StyleCatalog

__all__ = ["PortraitBot", "PortraitTree", "EXTENSIONS"]

log = logging.getLogger(__name__)

EXTENSIONS = ("bot.cogs.portrait", "bot.cogs.queue", "bot.cogs.styles", "bot.cogs.admin")


class PortraitTree(app_commands.CommandTree):
    """The command tree; every command error becomes one ephemeral sentence."""

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        await reply_error(interaction, error)


class PortraitBot(commands.Bot):
    """The portrait bot. It owns nothing it is given: ``main()`` opens and closes those.

    Parameters
    ----------
    runtime:
        A started ``fact_runtime.Runtime``.
    catalog:
        The style catalogue the runtime uses.
    store:
        The job store.
    settings:
        The ``bot:`` section of config.yaml.
    templates_dir:
        Folder of built-in inpainting templates, offered by ``/inpaint template_id``.
    """

    def __init__(
        self,
        *,
        runtime: Runtime,
        catalog: StyleCatalog,
        store: JobStore,
        settings: BotSettings,
        templates_dir: Path | None = None,
    ) -> None:
        # Slash commands, buttons and attachments need no privileged intents.
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.default(),
            tree_cls=PortraitTree,
            help_command=None,
            allowed_mentions=discord.AllowedMentions(everyone=False, roles=False, users=True),
        )
        self.runtime = runtime
        self.catalog = catalog
        self.store = store
        self.settings = settings
        self.templates_dir = templates_dir
        #: Wall-clock seconds, used to decide when an interaction token is spent; tests may replace it.
        self.clock = time.time
        self.counters = BotCounters()
        self.tracker = JobTracker(self)
        self.jobs = JobService(self)
        self._purge_task: asyncio.Task[None] | None = None

    async def load_cogs(self) -> None:
        for extension in EXTENSIONS:
            await self.load_extension(extension)

    async def setup_hook(self) -> None:
        await self.load_cogs()
        self.add_dynamic_items(JobButton)
        self._purge_task = asyncio.create_task(self._purge_loop(), name="purge-inputs")
        await self.jobs.recover()

    async def on_ready(self) -> None:
        log.info("ready as %s in %d guilds", self.user, len(self.guilds))

    async def on_app_command_completion(self, interaction: discord.Interaction, command: app_commands.Command) -> None:
        self.counters.count("commands", command.qualified_name)

    async def close(self) -> None:
        if self._purge_task is not None:
            self._purge_task.cancel()
        await self.tracker.close()
        await super().close()

    async def _purge_loop(self) -> None:
        while True:
            try:
                self.store.purge_expired(self.settings.retention_s)
            except Exception:  # noqa: BLE001 - a failed purge must not end the loop; the next one retries
                log.exception("purging expired inputs failed")
            await asyncio.sleep(self.settings.purge_interval_s)
