"""PortraitBot: the Discord client, given its runtime, styles, job store and settings, and wiring the rest."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from fact_runtime import Supervisor

from .followups.buttons import EditButton, FollowUpButton, FollowUpSelect
from .followups.form import submit_edit_form
from .groups import GroupButtonServices, GroupConsent, GroupConsentButton, RequestMessages
from .health import BotCounters
from .identities import IdentityButton, IdentityButtonServices, IdentitySaver, IdentityService
from .jobs import AdminAlerts, Courier, JobButton, JobButtonServices, JobService, JobTracker
from .respond import reply_error
from .responsible import NoticeButton, ResponsibleUse, load_notice
from .settings import BotSettings
from .store import JobStore

if TYPE_CHECKING:
    from fact_runtime import JobRuntime, Provenance, StyleCatalog

__all__ = [
    "BOT_PERMISSIONS",
    "COMMAND_EXTENSIONS",
    "EXTENSIONS",
    "PortraitBot",
    "PortraitTree",
    "build_sync_bot",
    "invite_url",
    "skip_voice_warnings",
]

log = logging.getLogger(__name__)

#: The extensions that define slash commands (all that ``python -m bot sync`` needs).
COMMAND_EXTENSIONS = (
    "bot.cogs.portrait",
    "bot.cogs.group",
    "bot.cogs.identity",
    "bot.cogs.queue",
    "bot.cogs.styles",
    "bot.cogs.admin",
    "bot.cogs.audit",
)
EXTENSIONS = (*COMMAND_EXTENSIONS, "bot.cogs.retention")
#: What the bot needs in the channels it serves: see them, post, show result cards, upload images.
# Read Message History lets a restarted bot find results it posted just before a crash (not to post them twice).
BOT_PERMISSIONS = discord.Permissions(
    view_channel=True, send_messages=True, embed_links=True, attach_files=True, read_message_history=True
)


def skip_voice_warnings() -> None:
    """The bot never joins voice, so discord.py's warnings about missing voice libraries are noise."""
    discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False


def invite_url(application_id: int) -> str:
    """The link that adds the bot to a server: scopes ``bot`` and ``applications.commands``, ``BOT_PERMISSIONS``."""
    return (
        f"https://discord.com/oauth2/authorize?client_id={application_id}"
        f"&scope=bot+applications.commands&permissions={BOT_PERMISSIONS.value}"
    )


class PortraitTree(app_commands.CommandTree[Any]):
    """The command tree; every command error becomes one ephemeral sentence."""

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        # Prompt rules, the channel rule and the notice, before any command runs (see responsible.gate).
        responsible: ResponsibleUse | None = getattr(self.client, "responsible", None)
        return responsible is None or await responsible.check(interaction)

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        await reply_error(interaction, error)


class PortraitBot(commands.Bot):
    """The portrait bot. It owns nothing it is given: ``main()`` opens and closes those.

    It builds the job objects (courier, tracker, service) and the identity ones, and holds them
    for the cogs' ``setup`` functions, which hand each cog what it uses.

    Parameters
    ----------
    runtime:
        A started runtime: ``fact_runtime.Runtime`` (local) or ``RedisRuntime`` (worker processes).
    catalog:
        The style catalogue the runtime uses.
    store:
        The job store.
    settings:
        The ``bot:`` section of config.yaml.
    templates_dir:
        Folder of built-in inpainting templates, offered by ``/inpaint template_id``.
    clock:
        Wall-clock seconds, used to decide when an interaction token is spent; tests pass Discord's.
    has_safety_checker:
        Whether the runtime withholds unsafe images (``bot.is_nsfw_channel_required`` applies only without one).
    provenance:
        Marks the images the bot re-encodes to fit Discord's upload limit (``runtime.provenance``).
    """

    def __init__(
        self,
        *,
        runtime: JobRuntime,
        catalog: StyleCatalog,
        store: JobStore,
        settings: BotSettings,
        templates_dir: Path | None = None,
        clock: Callable[[], float] = time.time,
        has_safety_checker: bool = False,
        provenance: Provenance | None = None,
    ) -> None:
        skip_voice_warnings()
        # Slash commands, buttons and attachments need no privileged intents; knowing when a member
        # has left every shared server (to delete their identities) needs the members intent.
        intents = discord.Intents.default()
        intents.members = settings.is_identity_purged_on_leave
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            tree_cls=PortraitTree,
            help_command=None,
            allowed_mentions=discord.AllowedMentions(everyone=False, roles=False, users=True),
        )
        self.runtime = runtime
        self.catalog = catalog
        self.store = store
        self.settings = settings
        self.templates_dir = templates_dir
        self.clock = clock
        self.counters = BotCounters()
        self.courier = Courier(self, clock=clock, token_margin_s=settings.token_margin_s, provenance=provenance)
        self.alerts = AdminAlerts(self, settings.admin_channel_id)
        self.tracker = JobTracker(
            store=store,
            courier=self.courier,
            runtime=runtime,
            catalog=catalog,
            counters=self.counters,
            alerts=self.alerts,
            clock=clock,
            status_interval_s=settings.status_interval_s,
            preview_interval_s=settings.preview_interval_s,
        )
        self.jobs = JobService(
            store=store,
            runtime=runtime,
            catalog=catalog,
            tracker=self.tracker,
            courier=self.courier,
            counters=self.counters,
        )
        self.identities = IdentityService(store=store, runtime=runtime, jobs=self.jobs)
        self.identity_saver = IdentitySaver(
            identities=store.identities, runtime=runtime, settings=settings, counters=self.counters, clock=clock
        )
        self.group_consent = GroupConsent(
            store=store,
            jobs=self.jobs,
            runtime=runtime,
            messages=RequestMessages(self, clock=clock, token_margin_s=settings.token_margin_s),
            clock=clock,
        )
        if settings.is_audit_enabled:
            store.audit.start_recording()
        notice = load_notice(settings.notice_path) if settings.is_notice_enabled else None
        self.responsible = ResponsibleUse(
            store, settings, notice=notice, has_safety_checker=has_safety_checker, counters=self.counters
        )
        # Every background task of the bot's own runs under this: a crash is logged and the task restarted,
        # and past too many crashes the bot closes itself and ``python -m bot`` exits non-zero.
        self.supervisor = Supervisor(
            "bot",
            min_backoff_s=1.0,
            max_backoff_s=60.0,
            max_failures=settings.max_task_failures,
            failure_window_s=settings.task_failure_window_s,
            on_give_up=self._give_up,
        )
        #: Why the bot closed itself (one line), or None.
        self.fatal_reason: str | None = None
        self._closing: asyncio.Task[None] | None = None

    async def load_cogs(self, extensions: Iterable[str] = EXTENSIONS) -> None:
        for extension in extensions:
            await self.load_extension(extension)

    async def setup_hook(self) -> None:
        await self.load_cogs()
        self.add_dynamic_items(
            JobButton, FollowUpButton, FollowUpSelect, EditButton, IdentityButton, NoticeButton, GroupConsentButton
        )
        # The Edit form is answered here, not by a modal kept in memory, so a restart does not lose it.
        self.add_listener(submit_edit_form, "on_interaction")
        await self.jobs.recover()
        self.supervisor.loop("runtime-lifeline", self._close_when_the_runtime_dies)

    async def _close_when_the_runtime_dies(self) -> None:
        """A dead runtime never recovers in-process: close, so ``python -m bot`` exits and its supervisor restarts it."""
        reason = await self.runtime.wait_dead()
        log.critical("the runtime died (%s); closing the bot so that it is restarted", reason)
        await self._shut_down(f"🛑 The portrait engine died ({reason}); the bot restarts, and unfinished jobs resume.")

    def _give_up(self, reason: str) -> None:
        self.fatal_reason = reason
        self.supervisor.once(
            "shut-down", self._shut_down(f"🛑 {reason}; the bot restarts, and unfinished jobs resume.")
        )

    async def _shut_down(self, alert: str) -> None:
        try:
            await self.alerts.post(alert)
            await self.tracker.wait_idle(timeout=5.0)  # each followed job records that it waits for the restart
        finally:
            await self.close()

    async def on_ready(self) -> None:
        log.info("ready as %s in %d guilds", self.user, len(self.guilds))

    async def on_app_command_completion(
        self, interaction: discord.Interaction, command: app_commands.Command[Any, ..., Any] | app_commands.ContextMenu
    ) -> None:
        self.counters.count("commands", command.qualified_name)

    async def close(self) -> None:
        # Closed once, in a task of its own that no caller's cancellation cuts short (the bot may close itself
        # from a supervised task, which that close cancels, while its owner closes it too).
        if self._closing is None:
            self._closing = asyncio.get_running_loop().create_task(self._close_once(), name="bot-close")
        await asyncio.shield(self._closing)

    async def _close_once(self) -> None:
        await self.supervisor.close(timeout=5.0)
        await self.tracker.close()
        await super().close()


def _offers_button_services(bot: PortraitBot) -> tuple[JobButtonServices, IdentityButtonServices, GroupButtonServices]:
    """Never called: mypy checks here that the bot offers what its buttons look up on ``interaction.client``."""
    return bot, bot, bot


def build_sync_bot(settings: BotSettings) -> PortraitBot:
    """A bot that only builds its command tree (no runtime, no jobs) for ``python -m bot sync``."""

    class _SyncBot(PortraitBot):
        async def setup_hook(self) -> None:
            await self.load_cogs(COMMAND_EXTENSIONS)

        async def close(self) -> None:
            await super().close()
            self.store.close()

    # The commands never run here, so they get no runtime or catalogue.
    return _SyncBot(runtime=None, catalog=None, store=JobStore(":memory:"), settings=settings)  # type: ignore[arg-type]
