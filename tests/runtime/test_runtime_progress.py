"""Runtime progress: the single-slot mailbox, queue positions, ETAs and the metrics text."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from fact_runtime import JobFailed, JobHandle, PortraitRequest, Progress, Runtime
from fact_runtime.config import QueueConfig
from tests.fakes import FakeClock, FakeEngine, wait_running


def portrait(user: str, *, count: int = 1) -> PortraitRequest:
    return PortraitRequest(user_id=user, selfie=b"selfie", style_id="film", count=count)


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine(is_gated=True, steps=4)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def runtime(engine: FakeEngine, clock: FakeClock) -> AsyncIterator[Runtime]:
    runtime = Runtime(engine, QueueConfig(max_per_user=3), clock=clock, default_steps=10)
    await runtime.start()
    yield runtime
    engine.open()
    await runtime.close(cancel_running=True)


async def until(handle: JobHandle, predicate) -> None:
    """Wait for the worker's progress to satisfy ``predicate`` (without consuming the mailbox)."""
    async with asyncio.timeout(5):
        while not predicate(handle.progress):
            await asyncio.sleep(0.001)


async def test_mailbox_keeps_only_the_latest_progress(runtime: Runtime, engine: FakeEngine) -> None:
    handle = runtime.submit(portrait("A"))
    updates = aiter(handle)
    assert (await wait_running(handle)).stage in ("preparing", "denoising")
    engine.release(3)
    await until(handle, lambda p: p.step == 3)
    latest = await anext(updates)
    assert isinstance(latest, Progress)
    assert (latest.stage, latest.step, latest.total_steps) == ("denoising", 3, 4)
    waiter = asyncio.create_task(anext(updates))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not waiter.done()  # nothing newer than step 3 yet
    engine.release(1)
    newer = await waiter
    result = await handle.result()
    # Step 4, or (when the worker finished before the loop woke the reader) the result itself.
    assert newer is result or (isinstance(newer, Progress) and newer.step == 4)
    rest = [] if newer is result else [update async for update in updates]
    assert (rest or [newer])[-1] is result  # the slot's final value is the result
    assert [update async for update in handle] == [result]  # a finished job never blocks a reader
    assert handle.progress.stage == "done"


async def test_a_failed_job_raises_from_the_iteration(runtime: Runtime, engine: FakeEngine) -> None:
    engine.fail_next(RuntimeError("boom"))
    engine.open()
    handle = runtime.submit(portrait("A"))
    seen = []
    with pytest.raises(JobFailed):
        async for update in handle:
            seen.append(update)
    assert all(isinstance(update, Progress) for update in seen)
    assert handle.outcome == "job_failed"


async def test_queue_positions_follow_the_queue(runtime: Runtime, engine: FakeEngine) -> None:
    running = runtime.submit(portrait("A"))
    await wait_running(running)
    b, c, d = (runtime.submit(portrait(user)) for user in "BCD")
    assert [h.progress.queue_position for h in (b, c, d)] == [1, 2, 3]
    assert runtime.queue_position(running.job_id) == 0
    assert b.cancel()
    await until(d, lambda p: p.queue_position == 2)
    assert [h.progress.queue_position for h in (c, d)] == [1, 2]
    assert [h.job_id for h in runtime.jobs_of("C")] == [c.job_id]
    engine.release(engine.steps)
    await running.result()
    await wait_running(c)
    await until(d, lambda p: p.queue_position == 1)
    assert runtime.queue_position(c.job_id) == 0
    assert runtime.queue_position(running.job_id) == -1


async def test_eta_comes_from_measured_step_times(runtime: Runtime, engine: FakeEngine, clock: FakeClock) -> None:
    first = runtime.submit(portrait("A"))
    await wait_running(first)
    assert first.progress.eta_s is None  # nothing measured yet
    for _ in range(engine.steps):
        clock.advance(2.0)
        engine.release(1)
        await until(first, lambda p, step=first.progress.step: p.step > step)
    await first.result()
    assert runtime.metrics().mean_step_s == pytest.approx(2.0)

    # Now 2 s per step and 4 steps per image have been measured.
    running = runtime.submit(portrait("A"))
    await wait_running(running)
    queued = runtime.submit(portrait("B", count=2))
    clock.advance(2.0)
    engine.release(1)
    await until(running, lambda p: p.step == 1)
    assert running.progress.eta_s == pytest.approx(3 * 2.0)
    await until(queued, lambda p: p.eta_s == pytest.approx(3 * 2.0 + 2 * 4 * 2.0))
    assert queued.progress.queue_position == 1


async def test_metrics_render_as_prometheus_text(runtime: Runtime, engine: FakeEngine) -> None:
    engine.fail_next(RuntimeError("boom"))
    engine.open()
    with pytest.raises(JobFailed):
        await runtime.submit(portrait("A")).result()
    await runtime.submit(portrait("A")).result()
    text = runtime.metrics().to_prometheus()
    lines = set(text.splitlines())
    assert 'fact_jobs_total{outcome="succeeded"} 1.0' in lines
    assert 'fact_jobs_total{outcome="job_failed"} 1.0' in lines
    assert "fact_step_seconds_count 3.0" in lines  # 4 steps: 3 gaps between step reports
    assert 'fact_stage_seconds_count{stage="denoising"} 1.0' in lines
    assert "fact_runtime_alive 1.0" in lines
    assert "fact_queue_depth 0.0" in lines
    for line in lines:
        assert line.startswith(("# HELP fact_", "# TYPE fact_", "fact_")), line
