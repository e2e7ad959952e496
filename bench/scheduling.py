"""A simulated hour of a large community on many GPUs: the real FairQueue on a simulated clock, no processes.

Each free GPU takes the next job the queue releases, as a Redis worker would. Light members arrive
at random (Poisson) and ask for one job; heavy members always keep their two jobs in the system
(they resubmit the moment one finishes), which keeps every GPU busy and the queue long. The same
workload also runs through first-come-first-served, for comparison.
"""

from __future__ import annotations

import heapq
import itertools
import random
import statistics
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from fact_runtime import JobHandle, PortraitRequest, UserLimitReached
from fact_runtime.config import QueueConfig
from fact_runtime.executor.fair_queue import FairQueue

__all__ = ["simulate"]

#: Seconds of one job on a current GPU: 50 steps of ~0.1 s plus face analysis and finishing.
MEAN_JOB_S = 6.0
PER_MEMBER = 2


@dataclass(slots=True)
class Outcome:
    waits: dict[str, list[float]] = field(default_factory=lambda: {"light": [], "heavy": []})
    gpu_s: Counter[str] = field(default_factory=Counter)
    refused: int = 0
    busy_s: float = 0.0


class _Fifo:
    """First come, first served, with the same per-member limit."""

    def __init__(self) -> None:
        self._queue: deque[JobHandle] = deque()
        self._open: Counter[str] = Counter()

    def admit(self, handle: JobHandle) -> None:
        if self._open[handle.user_id] >= PER_MEMBER:
            raise UserLimitReached.at(PER_MEMBER)
        self._open[handle.user_id] += 1
        self._queue.append(handle)

    def take(self) -> JobHandle | None:
        return self._queue.popleft() if self._queue else None

    def finish(self, handle: JobHandle) -> None:
        self._open[handle.user_id] -= 1


class _Fair:
    """The bot's FairQueue, released one job per free GPU."""

    def __init__(self, clock: Callable[[], float]) -> None:
        config = QueueConfig(max_queued=1_000_000, max_per_user=PER_MEMBER)
        self._queue = FairQueue(config, lambda queued, running, force: None, clock)
        self._jobs: dict[str, object] = {}

    def admit(self, handle: JobHandle) -> None:
        self._jobs[handle.job_id] = self._queue.admit(handle)

    def take(self) -> JobHandle | None:
        job = self._queue.take_nowait()
        return None if job is None else job.handle

    def finish(self, handle: JobHandle) -> None:
        self._queue.finish(self._jobs.pop(handle.job_id))  # type: ignore[arg-type]


def _run(policy: str, *, gpus: int, light: int, heavy: int, light_rate: float, horizon: float, seed: int) -> Outcome:
    rng = random.Random(seed)
    now = 0.0
    queue = _Fair(lambda: now) if policy == "fair" else _Fifo()
    events: list[tuple[float, int, str, str]] = []
    order = itertools.count()
    arrived: dict[str, float] = {}
    kind_of: dict[str, str] = {}
    outcome = Outcome()
    free = gpus
    ids = itertools.count()

    def submit(member: str, kind: str) -> None:
        handle = JobHandle(
            f"j{next(ids)}", PortraitRequest(user_id=member, selfie=b"x", style_id="s"), cancel=lambda _: False
        )
        try:
            queue.admit(handle)
        except UserLimitReached:
            outcome.refused += 1
            return
        arrived[handle.job_id], kind_of[handle.job_id] = now, kind

    t = 0.0
    while (t := t + rng.expovariate(light_rate)) < horizon:
        heapq.heappush(events, (t, next(order), "arrive", f"light{rng.randrange(light)}"))
    for member in range(heavy):
        for _ in range(PER_MEMBER):
            heapq.heappush(events, (rng.uniform(0, 60), next(order), "arrive", f"heavy{member}"))
    running: dict[str, JobHandle] = {}
    while events:
        now, _, what, subject = heapq.heappop(events)
        if what == "arrive":
            submit(subject, "light" if subject.startswith("light") else "heavy")
        else:
            handle = running.pop(subject)
            queue.finish(handle)
            free += 1
            if handle.user_id.startswith("heavy") and now < horizon:
                submit(handle.user_id, "heavy")
        while free and (handle := queue.take()) is not None:
            free -= 1
            service = rng.lognormvariate(0, 0.3) * MEAN_JOB_S / 1.046  # mean MEAN_JOB_S
            outcome.waits[kind_of[handle.job_id]].append(now - arrived[handle.job_id])
            outcome.gpu_s[handle.user_id] += service
            outcome.busy_s += service
            running[handle.job_id] = handle
            heapq.heappush(events, (now + service, next(order), "finish", handle.job_id))
    return outcome


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def _jain(values: list[float]) -> float:
    return sum(values) ** 2 / (len(values) * sum(v * v for v in values)) if values else 1.0


def simulate(*, gpus: int, members: int, heavy: int = 200, light_load: float = 0.6, hours: float = 1.0) -> None:
    """Print queue waits (light and heavy members, fair vs FIFO) and the heavy members' GPU-time fairness."""
    light = members - heavy
    capacity = gpus / MEAN_JOB_S
    horizon = hours * 3600
    print(
        f"simulation: {gpus} GPUs, {members} members ({light} light arriving at random, {light_load:.0%} of capacity;"
        f" {heavy} heavy keeping {PER_MEMBER} jobs each), {hours:g} h, jobs {MEAN_JOB_S:g} s mean (lognormal)"
    )
    print(f"{'queue':>6} {'member':>6} {'jobs':>7} {'wait p50':>9} {'p95':>7} {'p99':>7} {'max':>7}")
    fairness = {}
    for policy in ("fair", "fifo"):
        run = _run(
            policy, gpus=gpus, light=light, heavy=heavy, light_rate=light_load * capacity, horizon=horizon, seed=7
        )
        for kind in ("light", "heavy"):
            waits = run.waits[kind]
            print(
                f"{policy:>6} {kind:>6} {len(waits):>7} {statistics.median(waits):>8.1f}s {_percentile(waits, 0.95):>6.1f}s"
                f" {_percentile(waits, 0.99):>6.1f}s {max(waits):>6.1f}s"
            )
        heavy_share = [run.gpu_s[f"heavy{member}"] for member in range(heavy)]
        fairness[policy] = _jain(heavy_share)
    print(f"Jain's index of the heavy members' GPU time: fair {fairness['fair']:.3f}, fifo {fairness['fifo']:.3f}")
