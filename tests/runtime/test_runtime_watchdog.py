"""The watchdog: a step that overruns fails its job at once, a worker stuck past the hang limit kills the runtime."""

from __future__ import annotations

import asyncio
import threading

import pytest

from fact_runtime import JobTimedOut, Runtime, RuntimeDead
from fact_runtime.config import QueueConfig
from fact_runtime.request import JobRequest
from fact_runtime.results import JobResult, Stage, StepReporter
from tests.fakes import FakeClock, FakeEngine, Start, portrait, wait_running

#: Small limits on the fake clock: the watchdog looks every 0.1 s of real time.
LIMITS = {"step_timeout_s": 1.0, "hang_timeout_s": 2.0}


class SleepyEngine(FakeEngine):
    """A FakeEngine whose first job sleeps (really) for ``first_step_s`` before its first step; ``wake()`` ends it."""

    def __init__(self, first_step_s: float) -> None:
        super().__init__(steps=2)
        self.first_step_s = first_step_s
        self.steps_done = 0
        self._awake = threading.Event()
        self._has_slept = False

    def wake(self) -> None:
        self._awake.set()

    def run(self, request: JobRequest, report: StepReporter, *, max_batch: int | None = None) -> JobResult:
        def counted(stage: Stage, step: int = 0, total: int = 0) -> None:
            self.steps_done += stage == "denoising"
            report(stage, step, total)

        if not self._has_slept:
            self._has_slept = True
            report("preparing")
            self._awake.wait(self.first_step_s)
        return super().run(request, counted, max_batch=max_batch)


async def test_a_hung_step_fails_its_job_at_once_and_then_kills_the_runtime(
    start: Start, engine: FakeEngine, clock: FakeClock
) -> None:
    runtime = await start(**LIMITS)
    hung = runtime.submit(portrait("A"))
    waiting = runtime.submit(portrait("B"))
    await wait_running(hung)
    # Not before: the engine thread stamps the watchdog when it takes the job and when it reports
    # "preparing", after the member saw "preparing"; a stamp after the advance would hide the overrun.
    assert await asyncio.to_thread(engine.waiting_for_permit.wait, 5)

    clock.advance(1.5)  # the step never returns: past the step limit, short of the hang limit
    with pytest.raises(JobTimedOut):
        await asyncio.wait_for(hung.result(), 5)
    assert engine.runs and hung.progress.step == 0  # the engine is still inside its first step
    assert runtime.is_alive and not waiting.done()

    clock.advance(1.0)  # silent past the hang limit
    reason = await asyncio.wait_for(runtime.wait_dead(), 5)
    assert "stuck" in reason and runtime.is_dead and not runtime.is_alive
    with pytest.raises(RuntimeDead):
        await waiting.result()
    with pytest.raises(RuntimeDead):
        runtime.submit(portrait("C"))
    assert runtime.metrics().jobs_by_outcome == {"timed_out": 1, "runtime_dead": 1}


async def test_close_returns_while_the_worker_is_stuck(start: Start, engine: FakeEngine) -> None:
    runtime = await start(step_timeout_s=60, hang_timeout_s=120, close_timeout_s=0.2)
    hung = runtime.submit(portrait("A"))
    await wait_running(hung)
    # The gated step never returns, so the interrupt is never seen: close gives up after close_timeout_s.
    await asyncio.wait_for(runtime.close(cancel_running=True), 5)
    assert runtime.is_dead
    with pytest.raises(RuntimeDead):
        await hung.result()


async def test_a_drain_of_a_stuck_worker_ends_when_the_watchdog_declares_it_dead(
    start: Start, clock: FakeClock
) -> None:
    runtime = await start(**LIMITS)
    hung = runtime.submit(portrait("A"))
    await wait_running(hung)
    closing = asyncio.create_task(runtime.close(cancel_running=False))
    await asyncio.sleep(0.3)
    assert not closing.done()  # draining: the job may still finish
    clock.advance(2.5)
    await asyncio.wait_for(closing, 5)
    assert runtime.is_dead
    with pytest.raises(JobTimedOut):
        await hung.result()


async def test_a_step_longer_than_the_job_limit_ends_the_job_when_the_limit_passes() -> None:
    engine = SleepyEngine(first_step_s=30)
    runtime = Runtime(engine, QueueConfig(job_timeout_s=0.3, step_timeout_s=60, hang_timeout_s=120))
    await runtime.start()
    try:
        slow = runtime.submit(portrait("A"))
        nxt = runtime.submit(portrait("A"))
        with pytest.raises(JobTimedOut, match=r"0\.3 s limit"):
            await asyncio.wait_for(slow.result(), 10)
        assert engine.steps_done == 0  # told before the step returned
        engine.wake()  # the step returns; the worker drops the overrun job at its next report
        assert len((await asyncio.wait_for(nxt.result(), 10)).images) == 1
        assert runtime.metrics().jobs_by_outcome == {"timed_out": 1, "succeeded": 1}
        assert runtime.is_alive
    finally:
        engine.wake()
        await runtime.close()


async def test_a_step_sleeping_past_the_step_limit_fails_only_its_job() -> None:
    engine = SleepyEngine(first_step_s=30)
    runtime = Runtime(engine, QueueConfig(step_timeout_s=0.3, hang_timeout_s=60))
    await runtime.start()
    try:
        slow = runtime.submit(portrait("A"))
        with pytest.raises(JobTimedOut, match=r"a step or stage ran past its 0\.3 s limit"):
            await asyncio.wait_for(slow.result(), 10)
        assert engine.steps_done == 0
        engine.wake()
        assert len((await asyncio.wait_for(runtime.submit(portrait("B")).result(), 10)).images) == 1
    finally:
        engine.wake()
        await runtime.close()


def test_the_hang_limit_must_be_longer_than_the_step_limit() -> None:
    with pytest.raises(ValueError, match="hang_timeout_s must be longer than step_timeout_s"):
        QueueConfig(step_timeout_s=60, hang_timeout_s=60)
