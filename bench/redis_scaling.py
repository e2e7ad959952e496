"""Redis backend scaling: a sleep-per-step engine behind 1, 2, 4 and 8 worker processes, and a 64-GPU simulation.

Part 1 (real processes: redis-server, ``python -m fact_runtime worker`` with ``tests.remote_engine``
ungated, the bot's RedisRuntime) prints for each worker count:
- throughput (jobs/s) against the ideal, N x the one-worker throughput,
- the longest wait of any member (first submit to first result), members submitting in bursts,
and, once, the latency a job gains over the local backend (one job at a time, idle system).

Part 2 (no processes) replays a day-like hour on 64 GPUs and 10 000 members through the real
FairQueue on a simulated clock: 9 800 light members arriving at random, 200 heavy members who
always keep their 2 jobs in the system. It prints queue waits by kind of member, with the fair
queue and with first-come-first-served, and Jain's index of the GPU time the heavy members got.
Run: ``python bench/redis_scaling.py [--workers 1 2 4 8] [--skip-processes] [--skip-simulation]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import describe_machine, package_version
from bench.scheduling import simulate
from fact_runtime import PortraitRequest, RedisRuntime, Runtime
from fact_runtime.config import BrokerConfig, QueueConfig
from fact_runtime.executor.redis.sealing import KEY_ENV, generate_key
from tests.fakes import FakeEngine
from tests.redis_world import ROOT, RedisServer

BROKER = BrokerConfig(heartbeat_s=0.5, lost_after_s=5.0)
QUEUE = QueueConfig(max_queued=10_000, max_per_user=10_000)


def start_workers(
    server: RedisServer, count: int, *, steps: int, step_s: float, folder: Path
) -> list[subprocess.Popen]:
    config = folder / "worker.yaml"
    config.write_text(f'{{"runtime": {{"preset": "tiny", "broker": {BROKER.model_dump_json()}}}}}', encoding="utf-8")
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "FACT_TEST_REDIS": server.url,
        "FACT_TEST_GATED": "0",
        "FACT_TEST_STEPS": str(steps),
        "FACT_TEST_STEP_S": str(step_s),
    }
    processes = []
    for index in range(count):
        command = [sys.executable, "-m", "fact_runtime", "worker", "--redis", server.url, "--name", f"bench-{index}"]
        command += ["--device", "cpu", "--config", str(config), "--engine", "tests.remote_engine:RemoteEngine"]
        processes.append(
            subprocess.Popen(
                command, cwd=ROOT, env={**env, "FACT_TEST_WORKER": f"bench-{index}"}, stderr=subprocess.DEVNULL
            )
        )
    return processes


async def burst(runtime: Runtime | RedisRuntime, jobs: int, members: int) -> tuple[float, float]:
    """Wall time for ``jobs`` from ``members`` submitted in bursts, and the longest first-result wait."""
    requests = [
        PortraitRequest(user_id=f"m{m}", selfie=b"selfie", style_id="film", seed=m * 1000 + i)
        for m in range(members)
        for i in range(jobs // members)
    ]
    started = time.perf_counter()
    first: dict[str, float] = {}
    handles = [(request.user_id, runtime.submit(request)) for request in requests]

    async def follow(user: str, handle: object) -> None:
        await handle.result()  # type: ignore[attr-defined]
        first.setdefault(user, time.perf_counter() - started)

    await asyncio.gather(*(follow(user, handle) for user, handle in handles))
    return time.perf_counter() - started, max(first.values())


async def one_at_a_time(runtime: Runtime | RedisRuntime, jobs: int) -> float:
    """Mean submit-to-result latency of jobs run one after another."""
    latencies = []
    for index in range(jobs):
        started = time.perf_counter()
        await runtime.submit(PortraitRequest(user_id="solo", selfie=b"selfie", style_id="film", seed=index)).result()
        latencies.append(time.perf_counter() - started)
    return statistics.mean(latencies)


async def processes(args: argparse.Namespace) -> None:
    step_s = args.step_ms / 1000
    job_s = args.steps * step_s
    print(f"engine: {args.steps} steps x {args.step_ms} ms sleep = {job_s * 1000:.0f} ms per job")
    with tempfile.TemporaryDirectory() as folder:
        server = RedisServer(Path(folder) / "redis")
        server.start()
        try:
            local = Runtime(FakeEngine(steps=args.steps, step_delay=step_s), QUEUE)
            await local.start()
            local_latency = await one_at_a_time(local, args.latency_jobs)
            await local.close()
            rows, single = [], None
            for count in args.workers:
                server.client().flushall()
                workers = start_workers(server, count, steps=args.steps, step_s=step_s, folder=Path(folder))
                runtime = RedisRuntime(server.url, QUEUE, broker=BROKER, default_steps=args.steps)
                await runtime.start()
                while runtime.fleet.capacity < count:
                    await asyncio.sleep(0.1)
                if count == 1:
                    redis_latency = await one_at_a_time(runtime, args.latency_jobs)
                jobs = args.jobs_per_worker * count
                wall, longest = await burst(runtime, jobs, args.members)
                throughput = jobs / wall
                single = single or throughput
                rows.append((count, jobs, throughput, count * single, count / job_s, longest))
                await runtime.close()
                for worker in workers:
                    worker.terminate()
                for worker in workers:
                    worker.wait(30)
        finally:
            server.kill()
    print(
        f"{'workers':>7} {'jobs':>5} {'jobs/s':>7} {'ideal N x 1':>11} {'efficiency':>10} {'engine bound':>12} {'longest wait':>13}"
    )
    for count, jobs, throughput, ideal, bound, longest in rows:
        print(
            f"{count:>7} {jobs:>5} {throughput:>7.2f} {ideal:>11.2f} {throughput / ideal:>10.0%} {bound:>12.2f} {longest:>12.2f}s"
        )
    print(
        f"latency per job, one at a time: local {local_latency * 1000:.1f} ms, redis (1 worker) "
        f"{redis_latency * 1000:.1f} ms: +{(redis_latency - local_latency) * 1000:.1f} ms through Redis"
    )


def main() -> None:
    os.environ.setdefault(KEY_ENV, generate_key())  # the bench's bot and workers share it
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--jobs-per-worker", type=int, default=12)
    parser.add_argument("--members", type=int, default=12)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--step-ms", type=float, default=20.0)
    parser.add_argument("--latency-jobs", type=int, default=20)
    parser.add_argument("--skip-processes", action="store_true")
    parser.add_argument("--skip-simulation", action="store_true")
    parser.add_argument("--sim-gpus", type=int, default=64)
    parser.add_argument("--sim-members", type=int, default=10_000)
    args = parser.parse_args()
    print(describe_machine(f"redis-server {_redis_version()}", f"redis-py {package_version('redis')}"))
    if not args.skip_processes:
        asyncio.run(processes(args))
    if not args.skip_simulation:
        simulate(gpus=args.sim_gpus, members=args.sim_members)


def _redis_version() -> str:
    try:
        return subprocess.run(["redis-server", "--version"], capture_output=True, text=True, check=True).stdout.split()[
            2
        ]
    except (OSError, subprocess.CalledProcessError, IndexError):
        return "not installed"


if __name__ == "__main__":
    main()
