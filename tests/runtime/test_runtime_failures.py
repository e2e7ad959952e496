"""Runtime failures: a failing job fails alone, typed errors reach the caller, out-of-memory retries, a dead worker."""

from __future__ import annotations

import logging

import pytest

from fact_runtime import (
    JobCancelled,
    JobFailed,
    ModelMissing,
    NoFaceFound,
    OutOfMemory,
    Runtime,
    RuntimeDead,
)
from fact_runtime.config import QueueConfig
from tests.fakes import FakeEngine, Start, portrait, wait_running


async def test_a_failing_job_does_not_stop_the_next(
    start: Start, engine: FakeEngine, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = await start()
    engine.fail_next(RuntimeError("kaboom"))
    engine.open()
    bad = runtime.submit(portrait("A"))
    with caplog.at_level(logging.ERROR, logger="fact_runtime.runtime"), pytest.raises(JobFailed, match="kaboom"):
        await bad.result()
    assert any(bad.job_id in r.getMessage() and r.exc_info for r in caplog.records)
    good = runtime.submit(portrait("A"))
    assert len((await good.result()).images) == 1
    assert runtime.metrics().jobs_by_outcome == {"job_failed": 1, "succeeded": 1}


async def test_other_runtime_errors_fail_the_job_with_their_sentence(start: Start, engine: FakeEngine) -> None:
    runtime = await start()
    engine.fail_next(ModelMissing("lora file missing"))
    engine.open()
    with pytest.raises(JobFailed, match="lora file missing") as caught:
        await runtime.submit(portrait("A")).result()
    assert caught.value.user_message == ModelMissing.user_message


class WrappingEngine(FakeEngine):
    """An engine that (wrongly) wraps every exception from the reporter in its own error."""

    def run(self, request, report, *, max_batch=None):
        def wrapped(*args: object) -> None:
            try:
                report(*args)
            except Exception as exc:
                raise RuntimeError("pipeline failed") from exc

        return super().run(request, wrapped, max_batch=max_batch)


async def test_a_cancel_wins_even_when_the_engine_wraps_it() -> None:
    engine = WrappingEngine(is_gated=True)
    runtime = Runtime(engine, QueueConfig())
    await runtime.start()
    handle = runtime.submit(portrait("A"))
    await wait_running(handle)
    handle.cancel()
    engine.open()
    with pytest.raises(JobCancelled):
        await handle.result()
    await runtime.close()


async def test_input_errors_reach_the_caller_unchanged(start: Start, engine: FakeEngine) -> None:
    runtime = await start()
    error = NoFaceFound("no face in selfie")
    engine.fail_next(error)
    engine.open()
    handle = runtime.submit(portrait("A"))
    with pytest.raises(NoFaceFound) as caught:
        await handle.result()
    assert caught.value is error and handle.outcome == "no_face"


async def test_out_of_memory_retries_once_with_half_the_batch(start: Start, engine: FakeEngine) -> None:
    runtime = await start()
    engine.fail_next(OutOfMemory("CUDA out of memory"))
    engine.open()
    handle = runtime.submit(portrait("A", count=4))
    assert len((await handle.result()).images) == 4
    assert [run.max_batch for run in engine.runs] == [None, 2]


async def test_out_of_memory_halves_the_batch_the_engine_used(start: Start, engine: FakeEngine) -> None:
    runtime = await start()
    engine.fail_next(OutOfMemory("CUDA out of memory", batch=2))
    engine.open()
    await runtime.submit(portrait("A", count=4)).result()
    assert [run.max_batch for run in engine.runs] == [None, 1]


async def test_out_of_memory_twice_fails_the_job_only(start: Start, engine: FakeEngine) -> None:
    runtime = await start()
    engine.fail_next(OutOfMemory("CUDA out of memory"), times=2)
    engine.open()
    handle = runtime.submit(portrait("A", count=2))
    with pytest.raises(JobFailed) as caught:
        await handle.result()
    assert caught.value.user_message == OutOfMemory.user_message
    assert [run.max_batch for run in engine.runs] == [None, 1]


async def test_out_of_memory_with_one_image_per_batch_fails_without_a_pointless_retry(
    start: Start, engine: FakeEngine
) -> None:
    runtime = await start()
    engine.fail_next(OutOfMemory("CUDA out of memory", batch=1))
    engine.open()
    with pytest.raises(JobFailed):
        await runtime.submit(portrait("A", count=3)).result()
    assert [run.max_batch for run in engine.runs] == [None]
    await runtime.submit(portrait("A")).result()
    assert runtime.is_alive


class WorkerKilled(BaseException):
    """Escapes ``except Exception``, as a crash of the worker itself would."""


async def test_a_dead_worker_fails_every_waiter_and_refuses_jobs(start: Start, engine: FakeEngine) -> None:
    runtime = await start()
    engine.fail_next(WorkerKilled())
    running = runtime.submit(portrait("A"))
    await wait_running(running)
    queued = runtime.submit(portrait("B"))
    engine.open()
    for handle in (running, queued):
        with pytest.raises(RuntimeDead):
            await handle.result()
    assert not runtime.is_alive and runtime.is_dead
    assert not runtime.metrics().is_alive
    with pytest.raises(RuntimeDead):
        runtime.submit(portrait("C"))
