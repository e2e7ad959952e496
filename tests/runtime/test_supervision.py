"""Background tasks cannot die silently: a failed loop is logged with its traceback and restarted, and reported meanwhile."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from fact_runtime import Runtime, RuntimeDead
from fact_runtime.config import QueueConfig
from fact_runtime.executor.supervisor import Supervisor
from tests.fakes import FakeClock, FakeEngine, portrait, wait_running


async def test_a_loop_that_fails_is_logged_with_its_traceback_and_started_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    supervisor = Supervisor("test", min_backoff_s=0.001, max_backoff_s=0.01)
    runs: list[int] = []
    third_run = asyncio.Event()

    async def flaky() -> None:
        runs.append(len(runs) + 1)
        if len(runs) < 3:
            raise ValueError(f"failure {len(runs)}")
        third_run.set()
        await asyncio.Event().wait()

    with caplog.at_level(logging.ERROR, logger="fact_runtime.executor.supervisor"):
        supervisor.loop("flaky", flaky)
        await asyncio.wait_for(third_run.wait(), 5)
    assert runs == [1, 2, 3] and supervisor.restarts == 2 and supervisor.unhealthy == ()
    failures = [record for record in caplog.records if "the flaky loop failed" in record.getMessage()]
    assert len(failures) == 2 and all(record.exc_info for record in failures)
    assert "failure 1" in str(failures[0].exc_info[1])  # type: ignore[index]
    await supervisor.close(timeout=5)


async def test_a_loop_waiting_to_be_restarted_is_reported_unhealthy() -> None:
    supervisor = Supervisor("test", min_backoff_s=600, max_backoff_s=600)

    async def broken() -> None:
        raise RuntimeError("broken")

    supervisor.loop("broken", broken)
    while not supervisor.unhealthy:
        await asyncio.sleep(0.01)
    assert supervisor.unhealthy == ("broken",)
    await supervisor.close(timeout=5)


async def test_a_one_shot_task_that_fails_is_logged_not_left_unretrieved(caplog: pytest.LogCaptureFixture) -> None:
    supervisor = Supervisor("test")
    done = asyncio.Event()

    async def deliver() -> None:
        done.set()
        raise ConnectionError("gone")

    with caplog.at_level(logging.ERROR, logger="fact_runtime.executor.supervisor"):
        supervisor.once("deliver", deliver())
        await done.wait()
        await supervisor.close(timeout=5)
    (record,) = [record for record in caplog.records if "deliver failed" in record.getMessage()]
    assert record.exc_info is not None and isinstance(record.exc_info[1], ConnectionError)


async def test_a_watchdog_that_dies_kills_the_runtime_and_is_reported() -> None:
    fake = FakeClock()

    def clock() -> float:
        if threading.current_thread().name == "fact-runtime-watchdog":
            raise OSError("the clock broke")
        return fake()

    engine = FakeEngine(is_gated=True)
    runtime = Runtime(engine, QueueConfig(), clock=clock)
    await runtime.start()
    try:
        running = runtime.submit(portrait("A"))
        waiting = runtime.submit(portrait("B"))
        await wait_running(running)  # the watchdog now reads the clock, and dies
        reason = await asyncio.wait_for(runtime.wait_dead(), 5)
        assert "the watchdog died" in reason and "the clock broke" in reason
        assert runtime.unhealthy_tasks == ("watchdog",) and runtime.is_dead
        with pytest.raises(RuntimeDead):
            await asyncio.wait_for(waiting.result(), 5)
    finally:
        engine.open()
        await runtime.close(cancel_running=True)


async def test_past_its_failure_budget_a_supervisor_gives_up_once_saying_why() -> None:
    reasons: list[str] = []
    supervisor = Supervisor(
        "test", min_backoff_s=0.001, max_backoff_s=0.01, max_failures=2, failure_window_s=60, on_give_up=reasons.append
    )
    runs = 0

    async def broken() -> None:
        nonlocal runs
        runs += 1
        raise RuntimeError("broken")

    task = supervisor.loop("broken", broken)
    await asyncio.wait_for(task, 5)  # the loop is not started again after the third failure
    assert runs == 3 and reasons == ["test: background loops failed 3 times within 60 s (the broken loop last)"]
    assert supervisor.give_up_reason == reasons[0] and supervisor.unhealthy == ("broken",)
    await supervisor.close(timeout=5)


async def test_failures_older_than_the_window_do_not_count() -> None:
    now = [0.0]
    reasons: list[str] = []
    supervisor = Supervisor(
        "test",
        min_backoff_s=0.001,
        max_backoff_s=0.001,
        max_failures=1,
        failure_window_s=10,
        on_give_up=reasons.append,
        clock=lambda: now[0],
    )
    runs = 0
    third_run = asyncio.Event()

    async def fails_twice_a_minute_apart() -> None:
        nonlocal runs
        runs += 1
        now[0] += 60.0  # each run fails a minute after the one before
        if runs < 3:
            raise RuntimeError("broken")
        third_run.set()
        await asyncio.Event().wait()

    supervisor.loop("slow", fails_twice_a_minute_apart)
    await asyncio.wait_for(third_run.wait(), 5)
    assert reasons == [] and supervisor.give_up_reason is None and supervisor.restarts == 2
    await supervisor.close(timeout=5)


async def test_a_loop_stopped_while_it_waits_to_restart_is_not_left_reported() -> None:
    supervisor = Supervisor("test", min_backoff_s=600, max_backoff_s=600)

    async def broken() -> None:
        raise RuntimeError("broken")

    task = supervisor.loop("broken", broken)
    while not supervisor.unhealthy:
        await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert supervisor.unhealthy == ()
    await supervisor.close(timeout=5)


async def test_a_supervised_task_may_close_its_supervisor() -> None:
    supervisor = Supervisor("test")
    other = asyncio.Event()
    closed = asyncio.Event()

    async def waits() -> None:
        await other.wait()

    async def closes() -> None:
        await supervisor.close(timeout=5)  # neither cancels nor waits for the task running it
        closed.set()

    waiting = supervisor.loop("waits", waits)
    supervisor.once("closes", closes())
    await asyncio.wait_for(closed.wait(), 5)
    assert waiting.cancelled()
