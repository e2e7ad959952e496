"""Executor overhead: many jobs from many users through the Runtime vs the same fake engine called directly.

Prints, for each kind of per-step work ("sleep" releases the GIL like CUDA kernels do; "busy"
holds it like Python-heavy stages):
- the overhead ratio (runtime wall time / direct wall time) and the overhead per job,
- the event loop's worst lag while jobs run (a 1 ms ticker measuring its own lateness),
- the longest wait of any user from their first submit to their first result.

Users submit in bursts (user 0 all their jobs, then user 1, ...), the worst case for a FIFO queue.
Run: ``python bench/runtime_overhead.py [--jobs 200] [--users 20] [--steps 4] [--step-ms 2]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import describe_machine
from fact_runtime import PortraitRequest, Runtime
from fact_runtime.config import QueueConfig
from tests.fakes import FakeEngine


class WorkEngine(FakeEngine):
    """FakeEngine whose steps do a fixed amount of work: sleep (GIL released) or spin (GIL held)."""

    def __init__(self, *, steps: int, step_s: float, mode: str) -> None:
        super().__init__(steps=steps, step_delay=step_s if mode == "sleep" else 0.0)
        self.mode = mode
        self.step_s = step_s

    def run(self, request, report, *, max_batch=None):
        if self.mode == "busy":

            def spinning_report(stage, step=0, total=0):
                if stage == "denoising":
                    deadline = time.perf_counter() + self.step_s
                    while time.perf_counter() < deadline:
                        pass
                report(stage, step, total)

            return super().run(request, spinning_report, max_batch=max_batch)
        return super().run(request, report, max_batch=max_batch)


def requests(jobs: int, users: int) -> list[PortraitRequest]:
    per_user = jobs // users
    return [
        PortraitRequest(user_id=f"user{u}", selfie=b"selfie", style_id="film", seed=u * 1000 + i)
        for u in range(users)
        for i in range(per_user)
    ]


def run_direct(engine: FakeEngine, batch: list[PortraitRequest]) -> float:
    started = time.perf_counter()
    for request in batch:
        engine.run(request, lambda stage, step=0, total=0: None)
    return time.perf_counter() - started


async def run_through_runtime(engine: FakeEngine, batch: list[PortraitRequest], users: int) -> dict[str, float]:
    per_user = len(batch) // users
    runtime = Runtime(engine, QueueConfig(max_queued=len(batch), max_per_user=per_user))
    await runtime.start()
    worst_lag = 0.0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal worst_lag
        while not stop.is_set():
            expected = time.perf_counter() + 0.001
            await asyncio.sleep(0.001)
            worst_lag = max(worst_lag, time.perf_counter() - expected)

    async def follow(handle) -> None:
        # What the bot's status updater does: read every progress snapshot until the end.
        async for _ in handle:
            pass

    tick = asyncio.create_task(ticker())
    first_submit: dict[str, float] = {}
    first_result: dict[str, float] = {}

    async def track(handle) -> None:
        await follow(handle)
        first_result.setdefault(handle.user_id, time.perf_counter())

    started = time.perf_counter()
    followers = []
    for request in batch:
        first_submit.setdefault(request.user_id, time.perf_counter())
        followers.append(asyncio.create_task(track(runtime.submit(request))))
    await asyncio.gather(*followers)
    wall = time.perf_counter() - started
    stop.set()
    await tick
    await runtime.close()
    waits = [first_result[user] - first_submit[user] for user in first_submit]
    return {
        "wall": wall,
        "worst_lag": worst_lag,
        "longest_first_wait": max(waits),
        "mean_first_wait": statistics.mean(waits),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--step-ms", type=float, default=2.0)
    args = parser.parse_args()
    print(describe_machine())
    print(f"{args.jobs} jobs from {args.users} users, {args.steps} steps x {args.step_ms:g} ms per job\n")
    batch = requests(args.jobs, args.users)
    for mode in ("sleep", "busy"):
        engine = WorkEngine(steps=args.steps, step_s=args.step_ms / 1000, mode=mode)
        direct = run_direct(engine, batch)
        figures = asyncio.run(run_through_runtime(engine, batch, args.users))
        job_s = direct / len(batch)
        print(f"[{mode}] direct {direct:.3f} s, runtime {figures['wall']:.3f} s")
        print(
            f"  overhead ratio {figures['wall'] / direct:.3f} ({(figures['wall'] - direct) / len(batch) * 1e3:.2f} ms per job)"
        )
        print(f"  event loop worst lag {figures['worst_lag'] * 1e3:.2f} ms")
        print(
            f"  longest wait for a user's first result {figures['longest_first_wait']:.3f} s"
            f" = {figures['longest_first_wait'] / job_s:.1f} job times"
            f" (mean {figures['mean_first_wait'] / job_s:.1f}; FIFO would make the last user wait"
            f" ~{len(batch) - len(batch) // args.users + 1} job times)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
