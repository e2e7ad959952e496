"""Faults with the Redis backend: a worker killed or stopped mid-job, Redis killed, the bot restarted."""

from __future__ import annotations

import asyncio

import pytest

from fact_runtime import JobCancelled, RedisRuntime
from tests.fakes import portrait
from tests.redis_world import (
    RedisServer,
    Start,
    Workers,
    eventually,
    finished,
    make_redis_runtime,
    progress_at,
    started,
)


def broker_left_clean(server: RedisServer) -> bool:
    """Nothing released, pending or unread is left in Redis."""
    client = server.client()
    return client.xlen("fact:jobs") == 0 and client.xlen("fact:results") == 0 and not client.hlen("fact:released")


async def test_a_killed_worker_s_job_is_reclaimed_by_another_and_delivered_once(
    start_redis_runtime: Start, workers: Workers, redis_server: RedisServer
) -> None:
    runtime = await started(start_redis_runtime, workers, ["w0", "w1"])
    handle = runtime.submit(portrait("A", seed=1))
    workers.release(1)
    await progress_at(handle, 1)
    (first,) = workers.runs()
    survivor = "w1" if first["worker"] == "w0" else "w0"

    workers.kill(first["worker"])  # kill -9 mid-job: its entry stays pending under its name
    await eventually(lambda: len(workers.runs()) == 2, timeout=20)
    assert workers.runs()[1] == {**first, "worker": survivor}
    workers.release(1, 4)
    assert len((await finished(handle)).images) == 1
    await eventually(lambda: runtime.metrics().broker.reclaimed == 1)  # type: ignore[union-attr]
    assert runtime.metrics().jobs_by_outcome == {"succeeded": 1}
    await eventually(lambda: broker_left_clean(redis_server))


async def test_sigterm_hands_the_running_job_back_when_configured(start_redis_runtime: Start, workers: Workers) -> None:
    workers.write_config(on_sigterm="hand_back")
    runtime = await started(start_redis_runtime, workers, ["w0", "w1"])
    handle = runtime.submit(portrait("A", seed=1))
    await eventually(lambda: workers.runs())
    leaving = workers.runs()[0]["worker"]

    workers.processes[leaving].terminate()
    await eventually(lambda: not runtime.fleet.is_ready(leaving))  # draining: its job is being interrupted
    workers.release(1)  # the step at which it stops
    await eventually(lambda: len(workers.runs()) == 2, timeout=20)
    assert workers.runs()[1]["worker"] != leaving
    assert workers.processes.pop(leaving).wait(15) == 0
    workers.release(1, 4)
    assert len((await finished(handle)).images) == 1
    await eventually(lambda: runtime.metrics().broker.handed_back == 1)  # type: ignore[union-attr]


async def test_sigterm_finishes_the_running_job_and_takes_no_more(start_redis_runtime: Start, workers: Workers) -> None:
    runtime = await started(start_redis_runtime, workers, ["w0"])
    running = runtime.submit(portrait("A", seed=1))
    await eventually(lambda: workers.runs())
    workers.processes["w0"].terminate()
    await eventually(lambda: not runtime.fleet.is_ready("w0"))
    waiting = runtime.submit(portrait("B", seed=2))  # no worker has room: it stays in the bot's queue
    workers.release(1, 4)
    assert len((await finished(running)).images) == 1
    assert workers.processes.pop("w0").wait(15) == 0
    await eventually(lambda: "w0" not in runtime.fleet.workers)  # it removed its heartbeat on the way out
    assert runtime.queue_position(waiting.job_id) == 1

    workers.start("w1")
    workers.release(2, 4)
    assert len((await finished(waiting, timeout=30)).images) == 1
    assert [(run["worker"], run["seed"]) for run in workers.runs()] == [("w0", 1), ("w1", 2)]


async def test_redis_killed_and_restarted_loses_no_job(
    start_redis_runtime: Start, workers: Workers, redis_server: RedisServer
) -> None:
    runtime = await started(start_redis_runtime, workers, ["w0", "w1"], max_per_user=3)
    running = runtime.submit(portrait("A", seed=1))
    workers.release(1)
    await progress_at(running, 1)

    redis_server.kill()
    await eventually(lambda: not runtime.is_alive)
    accepted = runtime.submit(portrait("A", seed=2))  # accepted before (the bot refuses new ones now): it waits
    assert runtime.metrics().broker.is_connected is False  # type: ignore[union-attr]
    await asyncio.sleep(1.5)  # longer than lost_after_s: heartbeats and claims look stale when Redis returns
    redis_server.start()  # the same folder: the append-only file brings every stream and group back

    await eventually(lambda: runtime.is_alive, timeout=20)
    workers.release(1, 3)
    assert len((await finished(running, timeout=30)).images) == 1
    workers.release(2, 4)
    assert len((await finished(accepted, timeout=30)).images) == 1
    assert sorted(run["seed"] for run in workers.runs()) == [1, 2]  # the running job was not run again
    await eventually(lambda: broker_left_clean(redis_server))


async def test_a_restarted_bot_re_attaches_jobs_the_workers_ran_meanwhile(
    workers: Workers, redis_server: RedisServer
) -> None:
    for name in ("w0", "w1"):
        workers.start(name)
    before = make_redis_runtime(redis_server, max_per_user=3)
    await before.start()
    await eventually(lambda: before.fleet.capacity == 2, timeout=30)
    requests = [portrait("A", seed=seed) for seed in (1, 2, 3)]
    jobs = [before.submit(request) for request in requests]
    await eventually(lambda: len(workers.runs()) == 2)
    await before.close()  # the bot process ends; the two released jobs go on on their workers
    with pytest.raises(JobCancelled) as queued:
        await finished(jobs[2])
    assert "restarting" in queued.value.user_message
    workers.release(1, 4)  # the first finishes while no bot runs: its outcome waits in Redis
    await eventually(lambda: redis_server.client().xlen("fact:results") == 1)

    after: RedisRuntime = make_redis_runtime(redis_server, max_per_user=3)
    await after.start()
    try:
        # What the job store's recovery does: resubmit every unfinished job under its id.
        again = [after.submit(request, job_id=job.job_id) for request, job in zip(requests, jobs, strict=True)]
        assert len((await finished(again[0])).images) == 1
        assert after.queue_position(again[1].job_id) == 0  # still running on its worker
        workers.release(2, 4)
        workers.release(3, 4)
        for handle in again[1:]:
            assert len((await finished(handle, timeout=30)).images) == 1
        assert sorted(run["seed"] for run in workers.runs()) == [1, 2, 3]  # each ran once
        await eventually(lambda: broker_left_clean(redis_server))
    finally:
        await after.close()


async def test_a_dispatcher_loop_that_raises_is_logged_reported_meanwhile_and_restarted(
    start_redis_runtime: Start, workers: Workers, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = await started(start_redis_runtime, workers, ["w0"])
    update = runtime.fleet.update
    is_broken = True

    def broken_update(statuses: object) -> object:
        if is_broken:
            raise RuntimeError("injected fault in the fleet")
        return update(statuses)  # type: ignore[arg-type]

    runtime.fleet.update = broken_update  # type: ignore[method-assign]
    await eventually(lambda: "broker-keeper" in runtime.unhealthy_tasks)
    failures = [r for r in caplog.records if "broker-keeper loop failed" in r.getMessage()]
    assert failures and failures[0].exc_info is not None and "injected fault" in str(failures[0].exc_info[1])

    is_broken = False
    await eventually(lambda: runtime.unhealthy_tasks == (), timeout=30)  # restarted: it scans again
    workers.open()
    assert len((await finished(runtime.submit(portrait("A", seed=1)))).images) == 1
