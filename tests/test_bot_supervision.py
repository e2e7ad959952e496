"""The bot's background tasks are supervised: a crashing loop is logged, reported by /readyz and restarted; a
crashed job follower fails its job for the member while the bot keeps serving; past the crash budget the bot
closes itself (and ``python -m bot`` exits non-zero)."""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from bot.client import PortraitBot
from bot.health import HealthServer
from bot.startup import BackgroundTasksFailing
from bot.startup import _run as run_bot
from bot.store import JobStore
from fact_runtime import Runtime, load_styles
from fact_runtime.config import QueueConfig
from tests.fakediscord import FakeDiscord
from tests.fakes import FakeEngine
from tests.portrait_e2e import REPO, PortraitWorld, WorldFactory, bot_settings


class DiskFailure:
    """Makes a store method raise what SQLite raises on a failing disk, while ``is_failing`` (``calls`` counts tries)."""

    def __init__(self, method: Any, *, is_failing: bool = True) -> None:
        self._method = method
        self.is_failing = is_failing
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.is_failing:
            raise sqlite3.OperationalError("disk I/O error")
        return self._method(*args, **kwargs)


async def _readyz(health: HealthServer) -> tuple[int, dict[str, Any]]:
    url = f"http://127.0.0.1:{health.port}/readyz"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.json()


async def _poll(probe: Callable[[], Awaitable[Any]], *, timeout: float = 10.0) -> Any:
    """Ask ``probe`` again until it answers something truthy (TimeoutError after ``timeout`` seconds)."""
    async with asyncio.timeout(timeout):
        while not (found := await probe()):
            await asyncio.sleep(0.05)
    return found


async def _health(world: PortraitWorld) -> HealthServer:
    health = HealthServer(
        world.bot, world.runtime, world.bot.counters, host="127.0.0.1", port=0, supervisor=world.bot.supervisor
    )
    await health.start()
    return health


async def test_a_crashing_loop_is_restarted_and_readyz_reports_it_meanwhile(
    make_world: WorldFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    world = await make_world(purge_interval_s=0.05)
    health = await _health(world)
    try:
        assert (await _readyz(health))[0] == 200
        purge = DiskFailure(JobStore.purge_expired.__get__(world.store))
        monkeypatch.setattr(world.store, "purge_expired", purge)
        with caplog.at_level(logging.ERROR, logger="fact_runtime.executor.supervisor"):
            status, body = await _poll(_down(health))
        assert status == 503 and body["unhealthy"] == ["purge-inputs"] and body["gateway"] == "ready"
        (crash, *_) = [r for r in caplog.records if "the purge-inputs loop failed" in r.getMessage()]
        assert crash.exc_info is not None and isinstance(crash.exc_info[1], sqlite3.OperationalError)

        purge.is_failing = False  # the disk is back: the next restart purges and the loop carries on
        calls = purge.calls
        status, body = await _poll(_up(health, lambda: purge.calls > calls + 1))
        assert status == 200 and body["unhealthy"] == []
        assert world.bot.fatal_reason is None and not world.bot.is_closed()
    finally:
        await health.close()


def _down(health: HealthServer) -> Callable[[], Awaitable[Any]]:
    async def probe() -> tuple[int, dict[str, Any]] | None:
        status, body = await _readyz(health)
        return (status, body) if body["unhealthy"] else None

    return probe


def _up(health: HealthServer, is_running: Callable[[], bool]) -> Callable[[], Awaitable[Any]]:
    async def probe() -> tuple[int, dict[str, Any]] | None:
        status, body = await _readyz(health)
        return (status, body) if status == 200 and is_running() else None

    return probe


class FailingWrites:
    """``JobStore.set_state`` failing its first ``times`` calls as a failing disk does, all for the job called first."""

    def __init__(self, store: JobStore, *, times: int) -> None:
        self._set_state = JobStore.set_state.__get__(store)
        self.job_id: str | None = None
        self.left = times

    def __call__(self, job_id: str, *args: Any, **kwargs: Any) -> None:
        self.job_id = self.job_id or job_id
        if job_id == self.job_id and self.left > 0:
            self.left -= 1
            raise sqlite3.OperationalError("disk I/O error")
        self._set_state(job_id, *args, **kwargs)


async def test_a_crashed_job_follower_fails_the_job_for_its_member_and_the_bot_keeps_serving(
    make_world: WorldFactory,
    astronaut_png: bytes,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = await make_world()
    # Writing "running" fails, and so does the follower's own attempt to record the failure: the task crashes.
    writes = FailingWrites(world.store, times=2)
    monkeypatch.setattr(world.store, "set_state", writes)
    with caplog.at_level(logging.ERROR, logger="bot"):
        crashed = await world.portrait(astronaut_png)
        sentence = (await world.sentence_for(crashed)).content
    assert re.fullmatch(r"Something went wrong \(ref [A-Z0-9]{6}\)\.", sentence)
    assert writes.job_id is not None
    record = await world.wait_state(writes.job_id, "failed")
    assert record.error_kind == "unexpected" and writes.left == 0
    (crash,) = [r for r in caplog.records if f"following job {writes.job_id} crashed" in r.getMessage()]
    assert crash.exc_info is not None and isinstance(crash.exc_info[1], sqlite3.OperationalError)

    served = await world.portrait(astronaut_png)
    await world.result_message(served)
    await world.fake.wait_for(lambda: not world.bot.tracker.followed_jobs)
    assert world.bot.fatal_reason is None and not world.bot.is_closed()


async def test_past_its_crash_budget_the_bot_closes_itself_saying_why(
    make_world: WorldFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await make_world(purge_interval_s=0.05, max_task_failures=2, task_failure_window_s=600)
    purge = DiskFailure(world.store.identities.purge_expired)
    monkeypatch.setattr(world.store.identities, "purge_expired", purge)
    await world.fake.wait_for(world.bot.is_closed, timeout=15)  # failures 1 and 2 restarted, the third is one too many
    assert purge.calls == 3
    assert (
        world.bot.fatal_reason == "bot: background loops failed 3 times within 600 s (the purge-identities loop last)"
    )
    assert world.bot.supervisor.unhealthy == ("purge-identities",)


async def test_a_bot_that_gave_up_makes_serve_end_with_its_one_line_reason(
    fake_discord: FakeDiscord, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = bot_settings(tmp_path, purge_interval_s=0.05, max_task_failures=1)
    runtime = Runtime(FakeEngine(), QueueConfig())
    store = JobStore(settings.database, clock=fake_discord.clock.now)
    catalog = load_styles(REPO / "styles")
    bot = PortraitBot(runtime=runtime, catalog=catalog, store=store, settings=settings, clock=fake_discord.clock.now)
    purge = DiskFailure(store.purge_expired)
    monkeypatch.setattr(store, "purge_expired", purge)
    try:
        with pytest.raises(BackgroundTasksFailing) as failing:
            await asyncio.wait_for(run_bot(bot, runtime, settings, SecretStr("fake-bot-token")), 30)
    finally:
        await runtime.close()
        store.close()
    assert str(failing.value) == "bot: background loops failed 2 times within 300 s (the purge-inputs loop last)"
    assert purge.calls == 2 and bot.is_closed()
