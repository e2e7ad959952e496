"""RedisRuntime with real redis-server and worker processes: fair release, bounds, cancel, typed errors, schemas."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from fact_runtime import (
    ConfigError,
    IncompatibleMessage,
    InvalidRequest,
    JobCancelled,
    JobFailed,
    NoFaceFound,
    PortraitRequest,
    Progress,
    RedisRuntime,
    UpscaleRequest,
    UserLimitReached,
    VaryRequest,
)
from fact_runtime.executor.redis.codec import SCHEMA_VERSION, encode_request
from fact_runtime.executor.redis.sealing import KEY_ENV, generate_key
from tests.fakes import _png, portrait
from tests.old_worker import OLD_SCHEMA
from tests.redis_world import (
    SEALER,
    RedisServer,
    Start,
    Workers,
    cancel_reached_redis,
    eventually,
    finished,
    free_port,
    progress_at,
    started,
)


@pytest.mark.parametrize("count", [1, 3], ids=["1-worker", "3-workers"])
async def test_jobs_are_released_in_fair_order_only_to_free_workers(
    start_redis_runtime: Start, workers: Workers, redis_server: RedisServer, count: int
) -> None:
    runtime = await started(start_redis_runtime, workers, [f"w{i}" for i in range(count)], max_per_user=3)
    burst = [("A", 1), ("A", 2), ("A", 3), ("B", 4), ("B", 5), ("C", 6)]
    handles = {seed: runtime.submit(portrait(user, seed=seed)) for user, seed in burst}
    fair = [1, 4, 6, 2, 5, 3]  # members take turns; each member's jobs stay in order

    await eventually(lambda: len(workers.runs()) == count)
    assert {run["seed"] for run in workers.runs()} == set(fair[:count])
    assert runtime.queue_depth == len(fair) - count
    assert redis_server.client().xlen("fact:jobs") == count  # released = running: none waits in Redis
    for done, seed in enumerate(fair):
        workers.release(seed, 4)
        assert len((await finished(handles[seed])).images) == 1
        if done + count < len(fair):
            await eventually(lambda n=done + count + 1: len(workers.runs()) == n)
            assert workers.runs()[-1]["seed"] == fair[done + count]
    assert [run["seed"] for run in workers.runs()][count:] == fair[count:]
    assert runtime.metrics().jobs_by_outcome == {"succeeded": 6}


async def test_member_limit_and_positions_hold_as_with_one_gpu(start_redis_runtime: Start, workers: Workers) -> None:
    runtime = await started(start_redis_runtime, workers, ["w0"], max_per_user=2)
    running = runtime.submit(portrait("A", seed=1))
    queued = runtime.submit(portrait("A", seed=2))
    with pytest.raises(UserLimitReached):
        runtime.submit(portrait("A", seed=3))
    other = runtime.submit(portrait("B", seed=4))
    await eventually(lambda: workers.runs())
    assert [runtime.queue_position(h.job_id) for h in (running, queued, other)] == [0, 2, 1]
    assert [h.job_id for h in runtime.jobs_of("A")] == [running.job_id, queued.job_id]
    assert runtime.metrics().rejected_by_reason == {"user_limit": 1}
    workers.open()
    await asyncio.gather(finished(running), finished(queued), finished(other))


async def test_cancel_while_queued_and_while_running_on_a_remote_worker(
    start_redis_runtime: Start, workers: Workers, redis_server: RedisServer
) -> None:
    runtime = await started(start_redis_runtime, workers, ["w0"])
    running = runtime.submit(portrait("A", seed=1))
    queued = runtime.submit(portrait("B", seed=2))
    await eventually(lambda: workers.runs())

    assert queued.cancel() is True
    with pytest.raises(JobCancelled):
        await finished(queued)
    workers.release(1)
    await progress_at(running, 1)
    assert running.cancel() is True
    await cancel_reached_redis(redis_server, running)
    workers.release(1)  # the worker's engine notices at its next step
    with pytest.raises(JobCancelled):
        await finished(running)
    assert running.progress.step < 4
    after = runtime.submit(portrait("B", seed=3))
    workers.release(3, 4)
    await finished(after)
    assert [run["seed"] for run in workers.runs()] == [1, 3]  # the cancelled queued job never ran
    assert runtime.metrics().jobs_by_outcome == {"cancelled": 2, "succeeded": 1}


async def test_a_job_the_worker_fails_fails_alone(start_redis_runtime: Start, workers: Workers) -> None:
    runtime = await started(start_redis_runtime, workers, ["w0"], max_per_user=3)
    workers.open()
    faceless = runtime.submit(PortraitRequest(user_id="A", selfie=b"x", style_id="no-face", seed=1))
    crashed = runtime.submit(PortraitRequest(user_id="A", selfie=b"x", style_id="crash", seed=2))
    fine = runtime.submit(portrait("A", seed=3))
    with pytest.raises(NoFaceFound) as refused:
        await finished(faceless)
    assert refused.value.user_message == NoFaceFound.user_message
    with pytest.raises(JobFailed):
        await finished(crashed)
    assert len((await finished(fine)).images) == 1
    assert runtime.metrics().jobs_by_outcome == {"no_face": 1, "job_failed": 1, "succeeded": 1}
    assert runtime.is_alive


async def test_a_worker_of_an_older_schema_gets_no_jobs_and_refuses_what_it_cannot_read(
    start_redis_runtime: Start, workers: Workers, redis_server: RedisServer
) -> None:
    workers.start("old", module="tests.old_worker")
    await workers.ready("old")
    runtime: RedisRuntime = await start_redis_runtime()
    await eventually(lambda: "old" in runtime.fleet.workers)
    assert not runtime.fleet.workers["old"].is_compatible and runtime.fleet.capacity == 0
    assert not runtime.is_alive  # the bot refuses new jobs rather than queue them for nobody
    assert 'fact_worker_up{compatible="0",device="cpu",ready="1",worker="old"} 1.0' in runtime.metrics().to_prometheus()

    # A job in the stream anyway (released just before the fleet changed): the old worker refuses it.
    handle = runtime.submit(portrait("A", seed=1))
    redis_server.client().xadd("fact:jobs", encode_request(handle.job_id, handle.request, sealer=SEALER))
    with pytest.raises(IncompatibleMessage) as refused:
        await finished(handle)
    assert f"schema {SCHEMA_VERSION}" in str(refused.value) and f"schema {OLD_SCHEMA}" in str(refused.value)
    assert "another version" in refused.value.user_message
    assert workers.runs() == []  # refused before it reached the engine

    workers.start("new")
    await eventually(lambda: runtime.is_alive, timeout=30)
    workers.terminate("old")
    upgraded = runtime.submit(portrait("A", seed=2))
    workers.open()
    assert len((await finished(upgraded)).images) == 1


async def test_a_worker_with_another_broker_key_gets_no_jobs_and_is_named_once(
    start_redis_runtime: Start, workers: Workers, caplog: pytest.LogCaptureFixture
) -> None:
    workers.start("stranger", FACT_BROKER_KEY=generate_key())
    await workers.ready("stranger")
    runtime: RedisRuntime = await start_redis_runtime()
    await eventually(lambda: "stranger" in runtime.fleet.workers)
    stranger = runtime.fleet.workers["stranger"]
    assert not stranger.is_compatible and stranger.schema == SCHEMA_VERSION and runtime.fleet.capacity == 0
    assert not runtime.is_alive
    await asyncio.sleep(0.5)  # a few more scans: still said once
    lines = [r.getMessage() for r in caplog.records if r.levelname == "ERROR" and "stranger" in r.getMessage()]
    assert len(lines) == 1 and "broker key" in lines[0] and stranger.key_fingerprint in lines[0]
    assert SEALER.fingerprint in lines[0] and "FACT_BROKER_KEY" in lines[0]


async def test_without_a_broker_key_the_redis_runtime_refuses_to_start_saying_how_to_make_one(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(ConfigError, match=r"set FACT_BROKER_KEY \(make one with `python -m fact_runtime broker-key`\)"):
        RedisRuntime(redis_server.url)


async def test_workers_report_health_and_metrics(start_redis_runtime: Start, workers: Workers) -> None:
    port = free_port()
    workers.start("w0", args=("--health-port", str(port)))
    runtime: RedisRuntime = await start_redis_runtime()
    await eventually(lambda: runtime.fleet.capacity == 1, timeout=30)
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
        async with http.get("/healthz") as response:
            assert response.status == 200
            assert await response.json() == {
                "worker": "w0",
                "busy": False,
                "broker_connected": True,
                "stopping": False,
                "unhealthy": [],
            }
        workers.open()
        await finished(runtime.submit(portrait("A", seed=1)))
        published = 'fact_worker_published_total{outcome="succeeded",worker="w0"} 1.0'
        async with asyncio.timeout(10):  # the worker counts the outcome once Redis has taken it
            while True:
                async with http.get("/metrics") as response:
                    own = await response.text()
                if published in own:
                    break
                await asyncio.sleep(0.02)
    assert 'fact_worker_busy{worker="w0"} 0' in own and 'fact_jobs_total{outcome="succeeded"} 1' in own
    await eventually(lambda: runtime.fleet.workers["w0"].jobs_by_outcome.get("succeeded") == 1)
    status = runtime.fleet.workers["w0"]
    assert status.device == "cpu" and status.job_id is None and status.step_seconds[1] >= 3
    text = runtime.metrics().to_prometheus()
    for line in (
        "fact_broker_connected 1",
        "fact_broker_stream_length 0",
        "fact_broker_pending 0",
        'fact_worker_busy{worker="w0"} 0',
        'fact_worker_jobs_total{outcome="succeeded",worker="w0"} 1.0',
        'fact_jobs_total{outcome="succeeded"} 1',
    ):
        assert line in text


async def test_variations_run_on_a_remote_worker_and_their_previews_come_back(
    start_redis_runtime: Start, workers: Workers, astronaut_png: bytes
) -> None:
    runtime = await started(start_redis_runtime, workers, ["w0"], max_per_user=3)
    parent = _png((200, 40, 40), 128)  # a result as large as the runtime takes a photo
    subtle = runtime.submit(VaryRequest("A", parent, astronaut_png, "astronaut", strength=0.3, seed=21, speed="fast"))
    strong = runtime.submit(VaryRequest("A", parent, astronaut_png, "astronaut", strength=0.6, seed=22))
    await eventually(lambda: runtime.queue_position(strong.job_id) == 1)  # fair-queued like any job
    # The worker's GPU budget is a batch of small images: it refuses a 2x upscale, that job alone.
    upscale = runtime.submit(UpscaleRequest("A", parent, astronaut_png, "astronaut", seed=23))
    workers.release(21, 1)  # one step, then the job holds: its preview must reach the bot
    async with asyncio.timeout(10):
        preview = None
        async for update in subtle:
            if isinstance(update, Progress) and update.preview is not None:
                preview = update.preview
                break
    assert preview == b"preview 21:1"
    workers.open()
    assert len((await finished(subtle)).images) == 1 and len((await finished(strong)).images) == 1
    with pytest.raises(InvalidRequest) as refused:
        await finished(upscale)
    assert "more than this server's GPU denoises at once" in refused.value.user_message
    assert [(run["seed"], run["style"]) for run in workers.runs()] == [(21, "astronaut"), (22, "astronaut")]
