"""A worker process honours every ``runtime.queue`` time limit, as the local runtime does."""

from __future__ import annotations

import pytest

from fact_runtime import JobTimedOut
from tests.fakes import portrait
from tests.redis_world import RedisServer, Start, Workers, eventually, finished, started


async def test_a_step_past_step_timeout_fails_its_job_and_the_worker_serves_on(
    start_redis_runtime: Start, workers: Workers, redis_server: RedisServer
) -> None:
    workers.write_config(queue={"step_timeout_s": 0.5, "hang_timeout_s": 60})
    runtime = await started(start_redis_runtime, workers, ["w0"])
    stuck = runtime.submit(portrait("A", seed=1))  # gated: its first step never gets a permit

    with pytest.raises(JobTimedOut, match=r"0\.5 s limit"):
        await finished(stuck, timeout=20)
    workers.release(1)  # the stuck step returns; the job stops at its next report
    workers.open()
    after = runtime.submit(portrait("B", seed=2))
    assert len((await finished(after, timeout=20)).images) == 1
    assert workers.processes["w0"].poll() is None


async def test_a_worker_stuck_past_hang_timeout_exits_non_zero_with_one_line(
    start_redis_runtime: Start, workers: Workers, redis_server: RedisServer
) -> None:
    workers.write_config(queue={"step_timeout_s": 0.3, "hang_timeout_s": 1.0})
    runtime = await started(start_redis_runtime, workers, ["w0"])
    stuck = runtime.submit(portrait("A", seed=1))  # never released: the engine is stuck in its step

    with pytest.raises(JobTimedOut):
        await finished(stuck, timeout=20)
    process = workers.processes["w0"]
    await eventually(lambda: process.poll() is not None, timeout=30)
    assert process.returncode == 1
    log = workers.log("w0")
    assert "Traceback" not in log
    errors = [line for line in log.splitlines() if line.startswith("error:")]
    assert errors == ["error: the engine got stuck in a job and the worker stopped; restart it"]
