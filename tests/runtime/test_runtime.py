"""Runtime: fair order, admission bounds, cancellation, time limit, failures, dead worker, close."""

from __future__ import annotations

import asyncio

import pytest

from fact_runtime import (
    InpaintRequest,
    InvalidRequest,
    JobCancelled,
    JobTimedOut,
    ModelMissing,
    PortraitRequest,
    QueueFull,
    Runtime,
    RuntimeDead,
    UserLimitReached,
)
from fact_runtime.config import QueueConfig
from tests.fakes import FakeClock, FakeEngine, Start, portrait, wait_running


async def test_users_take_turns_and_each_user_is_fifo(start: Start, engine: FakeEngine) -> None:
    runtime = await start(max_per_user=3)
    first = runtime.submit(portrait("A", seed=1))
    await wait_running(first)
    rest = [runtime.submit(portrait("A", seed=2)), runtime.submit(portrait("A", seed=3))]
    rest.append(runtime.submit(portrait("B", seed=4)))
    assert [runtime.queue_position(h.job_id) for h in rest] == [2, 3, 1]
    engine.open()
    for handle in (first, *rest):
        await handle.result()
    assert [r.seed for r in engine.requests] == [1, 4, 2, 3]


async def test_a_burst_does_not_starve_later_users(start: Start, engine: FakeEngine) -> None:
    runtime = await start(max_per_user=2)
    handles = [runtime.submit(portrait(user)) for user in ("A", "A", "B", "B", "C")]
    engine.open()
    await asyncio.gather(*(h.result() for h in handles))
    assert [r.user_id for r in engine.requests] == ["A", "B", "C", "A", "B"]


async def test_user_limit_counts_queued_and_running_jobs(start: Start, engine: FakeEngine) -> None:
    runtime = await start(max_per_user=2)
    running = runtime.submit(portrait("A"))
    await wait_running(running)
    runtime.submit(portrait("A"))
    with pytest.raises(UserLimitReached):
        runtime.submit(portrait("A"))
    runtime.submit(portrait("B"))  # other users are unaffected
    assert runtime.metrics().rejected_by_reason == {"user_limit": 1}
    engine.release(engine.steps)
    await running.result()
    runtime.submit(portrait("A"))  # a finished job frees a place


async def test_queue_bound_counts_only_waiting_jobs(start: Start) -> None:
    runtime = await start(max_queued=2)
    running = runtime.submit(portrait("A"))
    await wait_running(running)
    runtime.submit(portrait("B"))
    runtime.submit(portrait("C"))
    with pytest.raises(QueueFull):
        runtime.submit(portrait("D"))
    assert runtime.queue_depth == 2
    assert runtime.metrics().rejected_by_reason == {"queue_full": 1}


async def test_submit_refuses_requests_that_cannot_run(start: Start) -> None:
    runtime = await start()
    for bad in (
        portrait("A", count=0),
        portrait("A", count=5),
        PortraitRequest(user_id="A", selfie=b"", style_id="film"),
        InpaintRequest(user_id="A", selfie=b"x"),
        InpaintRequest(user_id="A", selfie=b"x", template_id="t", face_index=0),
    ):
        with pytest.raises(InvalidRequest):
            runtime.submit(bad)
    assert runtime.queue_depth == 0
    handle = runtime.submit(portrait("A"), job_id="job-1")
    assert runtime.get("job-1") is handle
    with pytest.raises(ValueError, match="job-1"):
        runtime.submit(portrait("B"), job_id="job-1")


async def test_cancel_while_queued_drops_the_job(start: Start, engine: FakeEngine) -> None:
    runtime = await start()
    running = runtime.submit(portrait("A", seed=1))
    await wait_running(running)
    queued = runtime.submit(portrait("B", seed=2))
    assert queued.cancel() is True
    assert await queued.wait(timeout=5)
    assert queued.done() and queued.outcome == "cancelled"
    assert queued.cancel() is False
    with pytest.raises(JobCancelled):
        await queued.result()
    assert runtime.queue_position(queued.job_id) == -1
    engine.open()
    await running.result()
    assert [r.seed for r in engine.requests] == [1]


async def test_cancel_while_running_stops_at_the_next_step(start: Start, engine: FakeEngine) -> None:
    runtime = await start()
    running = runtime.submit(portrait("A"))
    await wait_running(running)
    engine.release(1)
    assert running.cancel() is True
    engine.release(1)
    with pytest.raises(JobCancelled):
        await running.result()
    assert running.progress.step < engine.steps
    nxt = runtime.submit(portrait("A"))
    engine.open()
    assert len((await nxt.result()).images) == 1


async def test_job_over_its_time_limit_is_stopped(start: Start, engine: FakeEngine, clock: FakeClock) -> None:
    runtime = await start(job_timeout_s=10)
    slow = runtime.submit(portrait("A"))
    await wait_running(slow)
    clock.advance(11)
    engine.release(1)
    with pytest.raises(JobTimedOut):
        await slow.result()
    nxt = runtime.submit(portrait("A"))  # the limit counts from each job's own start
    engine.open()
    await nxt.result()


async def test_start_raises_when_warm_up_fails() -> None:
    runtime = Runtime(FakeEngine(warm_up_error=ModelMissing("no unet")), QueueConfig())
    with pytest.raises(ModelMissing, match="no unet"):
        await runtime.start()
    assert not runtime.is_alive
    with pytest.raises(RuntimeDead):
        runtime.submit(portrait("A"))
    await runtime.close()


async def test_close_drains_the_running_job_and_cancels_the_queue(start: Start, engine: FakeEngine) -> None:
    runtime = await start()
    running = runtime.submit(portrait("A"))
    await wait_running(running)
    queued = runtime.submit(portrait("B"))
    closing = asyncio.create_task(runtime.close(cancel_running=False))
    await asyncio.sleep(0)
    with pytest.raises(JobCancelled) as caught:
        await queued.result()
    assert "restarting" in caught.value.user_message
    with pytest.raises(RuntimeDead):
        runtime.submit(portrait("C"))
    assert not closing.done()
    engine.open()
    await closing
    assert running.outcome == "succeeded"
    assert not runtime.is_alive


async def test_close_can_interrupt_the_running_job(start: Start, engine: FakeEngine) -> None:
    runtime = await start(is_drain_on_close=False)
    running = runtime.submit(portrait("A"))
    await wait_running(running)
    closing = asyncio.create_task(runtime.close())
    await asyncio.sleep(0)
    engine.release(1)
    await closing
    assert running.outcome == "cancelled"


async def test_an_abandoned_await_does_not_cancel_the_job(start: Start, engine: FakeEngine) -> None:
    runtime = await start()
    handle = runtime.submit(portrait("A"))
    waiter = asyncio.create_task(handle.result())
    await wait_running(handle)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    engine.open()
    assert len((await handle.result()).images) == 1
    assert runtime.get(handle.job_id) is handle
