"""The real PortraitBot wired to a real Runtime (fake or tiny engine), a temporary store and styles, and the fake Discord."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.client import PortraitBot
from bot.settings import BotSettings
from bot.store import FINISHED, UNFINISHED, JobRecord, JobState, JobStore
from fact_runtime import Engine, JobRuntime, RequestLimits, Runtime, StyleCatalog, load_styles
from fact_runtime.config import QueueConfig
from tests.fakediscord import ALICE, BotRunner, Driver, FakeDiscord, FakeInteraction, FakeUser, StoredMessage
from tests.fakediscord.harness import buttons
from tests.fakes import FakeEngine

REPO = Path(__file__).resolve().parent.parent
#: A few of the seed styles; enough for autocomplete and reloads, cheap to validate.
STYLE_FILES = ("astronaut.yaml", "cyberpunk.yaml", "comic.yaml", "christmas.yaml")

EngineFactory = Callable[[], Engine]


@dataclass
class PortraitWorld:
    """Everything a bot process owns, rebuilt by `restart()` over the same store file and styles folder."""

    fake: FakeDiscord
    tmp: Path
    make_engine: EngineFactory
    queue: QueueConfig
    settings: BotSettings
    #: Builds the runtime itself (e.g. ``Runtime.from_config`` for the tiny preset) instead of over `make_engine`.
    make_runtime: Callable[[StyleCatalog], JobRuntime] | None = None
    #: Images per job the runtime allows (``runtime.generation.max_count``).
    max_count: int = RequestLimits().max_count
    templates_dir: Path | None = None
    #: The bot's wall clock; by default Discord's, so the bot and Discord agree on when tokens expire.
    bot_clock: Callable[[], float] | None = None
    #: Photos per identity the runtime allows (``runtime.generation.max_photos``).
    max_photos: int = RequestLimits().max_photos
    #: ``runtime.max_style_bytes`` for the world's catalogue; None keeps the default.
    max_style_bytes: int | None = None
    engine: Any = None
    runtime: JobRuntime = field(init=False)
    catalog: StyleCatalog = field(init=False)
    store: JobStore = field(init=False)
    bot: PortraitBot = field(init=False)
    driver: Driver = field(init=False)
    _runner: BotRunner | None = None

    @property
    def styles_dir(self) -> Path:
        """The admin's styles folder; a test may fill it before the world starts, else seed styles are copied."""
        return self.tmp / "styles"

    async def start(self) -> None:
        if not self.styles_dir.exists():
            self.styles_dir.mkdir(parents=True)
            for name in STYLE_FILES:
                shutil.copy(REPO / "styles" / name, self.styles_dir / name)
        caps = {} if self.max_style_bytes is None else {"max_file_bytes": self.max_style_bytes}
        self.catalog = load_styles(self.styles_dir, **caps)
        if self.make_runtime is not None:
            self.engine, self.runtime = None, self.make_runtime(self.catalog)
        else:
            self.engine = self.make_engine()
            limits = RequestLimits(
                max_count=self.max_count, max_per_user=self.queue.max_per_user, max_photos=self.max_photos
            )
            self.runtime = Runtime(self.engine, self.queue, limits=limits, default_steps=4)
        await self.runtime.start()
        # The store keeps the bot's time too, so retention follows the clock a test moves.
        self.store = JobStore(self.settings.database, clock=self.bot_clock or self.fake.clock.now)
        self.bot = PortraitBot(
            runtime=self.runtime,
            catalog=self.catalog,
            store=self.store,
            settings=self.settings,
            templates_dir=self.templates_dir,
            clock=self.bot_clock or self.fake.clock.now,
        )
        self.driver = Driver(self.fake, self.bot)
        self._runner = BotRunner(self.bot)
        await self._runner.start()

    async def stop(self) -> None:
        """What a process exit does: close the bot, interrupt the running job, close the store."""
        if self._runner is None:
            return
        runner, self._runner = self._runner, None
        await runner.stop()
        closing = asyncio.create_task(self.runtime.close(cancel_running=True))
        if isinstance(self.engine, FakeEngine):
            self.engine.open()  # a gated step must run on to notice the cancel
        await closing
        self.store.close()

    async def restart(self, *, downtime_s: float = 0.0) -> None:
        """Stop, let `downtime_s` pass on the shared clock, and start a new process on the same files."""
        await self.stop()
        self.fake.clock.advance(downtime_s)
        await self.start()

    # -- what users do ---------------------------------------------------------------------------

    async def portrait(
        self,
        photo: bytes,
        filename: str = "me.png",
        *,
        user: FakeUser = ALICE,
        content_type: str | None = None,
        age_s: float = 0.0,
        **options: Any,
    ) -> FakeInteraction:
        """Run /portrait with `photo` as the selfie and the astronaut style unless told otherwise."""
        selfie = self.driver.attach(photo, filename, content_type=content_type)
        options.setdefault("style", "astronaut")
        return await self.driver.send_command("portrait", {"selfie": selfie, **options}, user=user, age_s=age_s)

    async def save_identity(
        self, name: str, *photos: bytes, user: FakeUser = ALICE, timeout: float = 20.0
    ) -> StoredMessage:
        """Run /identity save with `photos`, press "Save my face", and return the message once it tells the outcome."""
        options: dict[str, Any] = {"name": name}
        for number, photo in enumerate(photos, start=1):
            options[f"photo{number}"] = self.driver.attach(photo, f"photo{number}.png")
        command = await self.driver.send_command("identity save", options, user=user)
        consent = await self.sentence_for(command)
        await self.driver.click_button(self.button_id(consent, "Save my face"), message=consent, user=user)
        await self.fake.wait_for(lambda: not consent.content.startswith(("Save your", "⏳")), timeout=timeout)
        return consent

    async def result_message(
        self, interaction: FakeInteraction | None = None, *, timeout: float = 10.0
    ) -> StoredMessage:
        """The first message carrying files (the delivered portraits), or the one posted for `interaction`."""

        def probe() -> StoredMessage | None:
            for message in self.fake.messages.values():
                if (
                    message.files
                    and not message.is_deleted
                    and (interaction is None or message.token == interaction.token)
                ):
                    return message
            return None

        return await self.fake.wait_for(probe, timeout=timeout)

    async def sentence_for(self, interaction: FakeInteraction, *, timeout: float = 10.0) -> StoredMessage:
        """The ephemeral message the user got back for an interaction (reply or followup)."""

        def probe() -> StoredMessage | None:
            for message in self.fake.messages.values():
                if message.token == interaction.token and message.is_ephemeral and message.content:
                    return message
            return None

        return await self.fake.wait_for(probe, timeout=timeout)

    async def reply_to(self, interaction: FakeInteraction, *, timeout: float = 10.0) -> str:
        """The sentence the bot answered with at once: one ephemeral reply (type 4) and nothing before it."""
        message = await self.sentence_for(interaction, timeout=timeout)
        assert interaction.callback_type == 4 and interaction.is_ephemeral
        assert [r.route for r in self.driver.requests_for(interaction)] == ["interaction_callback"]
        return message.content

    async def deferred_reply(self, interaction: FakeInteraction, *, timeout: float = 10.0) -> str:
        """The sentence the bot answered with after a private "thinking" acknowledgement (type 5), in its place."""
        message = await self.sentence_for(interaction, timeout=timeout)
        assert interaction.callback_type == 5 and interaction.is_ephemeral
        assert message.id == interaction.original_message_id
        return message.content

    def status_texts(self) -> list[str]:
        """Every status text Discord accepted, in order (webhook and bot-token edits)."""
        return [
            r.content for r in self.fake.requests_to("webhook_edit", "channel_edit") if r.status == 200 and r.content
        ]

    async def only_job(
        self, state: JobState | None = None, *, user: FakeUser = ALICE, timeout: float = 10.0
    ) -> JobRecord:
        """The user's one stored job once the command has recorded it (and, given `state`, once it is in it)."""

        def probe() -> list[JobRecord]:
            records = self.store.jobs_of(user.id, states=(*UNFINISHED, *FINISHED))
            return records if state is None or [r.state for r in records] == [state] else []

        (record,) = await self.fake.wait_for(probe, timeout=timeout)
        return record

    async def wait_state(self, job_id: str, state: JobState, *, timeout: float = 10.0) -> JobRecord:
        """The job's record once the store shows `state`."""

        def probe() -> JobRecord | None:
            record = self.store.get(job_id)
            return record if record is not None and record.state == state else None

        return await self.fake.wait_for(probe, timeout=timeout)

    def button_id(self, message: StoredMessage, label: str) -> str:
        return next(b["custom_id"] for b in buttons(message) if b.get("label") == label)

    async def engine_started(self) -> None:
        """Wait until the fake engine has started a job, then re-arm for the next one."""
        await self.fake.wait_for(self.engine.started.is_set, timeout=5)
        self.engine.started.clear()


@dataclass(frozen=True)
class ResultCard:
    """The embed a result arrives in, read the way a member reads it."""

    title: str
    description: str | None
    fields: dict[str, str]
    image_url: str | None
    footer: str | None


def result_card(message: StoredMessage) -> ResultCard:
    """The one embed of a delivered result; its image is one of the message's own attachments."""
    (embed,) = message.payload["embeds"]
    return ResultCard(
        title=embed["title"],
        description=embed.get("description"),
        fields={field["name"]: field["value"] for field in embed.get("fields") or []},
        image_url=(embed.get("image") or {}).get("url"),
        footer=(embed.get("footer") or {}).get("text"),
    )


def gated_engine() -> FakeEngine:
    """A FakeEngine whose jobs hold at every step until the test releases them (or the world stops)."""
    return FakeEngine(steps=4, is_gated=True)


def bot_settings(tmp: Path, **overrides: Any) -> BotSettings:
    # The responsible-use notice is off unless a test turns it on: the others test what comes after it.
    values: dict[str, Any] = {
        "database": tmp / "jobs.sqlite3",
        "is_health_enabled": False,
        "status_interval_s": 0.5,
        "is_notice_enabled": False,
    }
    return BotSettings(**{**values, **overrides})


WorldFactory = Callable[..., Awaitable[PortraitWorld]]


@pytest.fixture
async def make_world(fake_discord: FakeDiscord, tmp_path: Path) -> AsyncIterator[WorldFactory]:
    """Build and start a world; every world is stopped at teardown."""
    worlds: list[PortraitWorld] = []

    async def build(
        *,
        engine: EngineFactory = FakeEngine,
        queue: QueueConfig | None = None,
        make_runtime: Callable[[StyleCatalog], JobRuntime] | None = None,
        max_count: int = RequestLimits().max_count,
        templates_dir: Path | None = None,
        bot_clock: Callable[[], float] | None = None,
        max_photos: int = RequestLimits().max_photos,
        max_style_bytes: int | None = None,
        **settings: Any,
    ) -> PortraitWorld:
        """A started world; `queue` holds the runtime's per-member limit, `settings` the bot's fields."""
        world = PortraitWorld(
            fake_discord,
            tmp_path,
            engine,
            queue or QueueConfig(max_queued=5, max_per_user=2),
            bot_settings(tmp_path, **settings),
            make_runtime,
            max_count,
            templates_dir,
            bot_clock,
            max_photos,
            max_style_bytes,
        )
        worlds.append(world)
        await world.start()
        return world

    yield build
    for world in worlds:
        await world.stop()
