"""Posting to the event loop: every handle update travels through ``call_soon_threadsafe``.

Both the worker thread and the loop itself post here, and nothing is ever applied inline: the
loop runs the callbacks in the order they were posted, and queue snapshots are posted under the
fair queue's lock, so a handle never sees an older snapshot after a newer one.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import threading
from collections.abc import Callable, Iterable, Sequence

from ..errors import FactError
from ..metrics import MetricsRecorder
from ..results import JobResult, Progress
from .fair_queue import Job
from .handle import JobHandle

__all__ = ["LoopPoster", "QueueBoard"]

log = logging.getLogger(__name__)

Estimate = Callable[[int, int | None], float | None]


class LoopPoster:
    """Runs callbacks on one event loop, from any thread (the loop's own included)."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self) -> asyncio.AbstractEventLoop:
        """Remember the running loop (the first caller's); every later caller must be on it."""
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif loop is not self._loop:
            raise RuntimeError("the runtime is bound to another event loop")
        return loop

    def call(self, callback: Callable[..., None], *args: object) -> None:
        if self._loop is None:
            return
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:
            log.debug("event loop closed; dropped %s", getattr(callback, "__name__", callback))

    def update(self, handle: JobHandle, update: Progress | JobResult | FactError) -> None:
        self.call(handle.deliver, update)

    def updates(self, pairs: Iterable[tuple[JobHandle, Progress]]) -> None:
        """Many snapshots in one callback: one wake-up of the loop, not one per job."""
        batch = list(pairs)
        if batch:
            self.call(_put_all, batch)

    def settle(self, future: asyncio.Future[None] | None, error: BaseException | None = None) -> None:
        """Complete a loop future (start's readiness, the worker's exit) from any thread."""
        if future is not None:
            self.call(_settle, future, error)


class QueueBoard:
    """Queue positions and ETAs from the measured step times, posted to the waiting handles.

    Parameters
    ----------
    slots:
        How many jobs can run at once (1 for the local worker; the live workers' room for Redis).
    step_s:
        The mean step time to estimate with; by default the one measured in ``metrics``.
    """

    def __init__(
        self,
        poster: LoopPoster,
        metrics: MetricsRecorder,
        *,
        default_steps: int,
        slots: Callable[[], int] = lambda: 1,
        step_s: Callable[[], float | None] | None = None,
    ) -> None:
        self._poster = poster
        self._metrics = metrics
        self._default_steps = default_steps
        self._slots = slots
        self._step_s = step_s
        self._last_refresh = float("-inf")
        self._lock = threading.Lock()

    def estimator(self) -> Estimate:
        step_s = None if self._step_s is None else self._step_s()
        return self._metrics.estimator(default_steps=self._default_steps, step_s=step_s)

    @staticmethod
    def remaining_s(job: Job, estimate: Estimate) -> float | None:
        """ETA of a running job: its remaining denoising steps, or all expected ones before they are known."""
        return estimate(job.request.count, job.total - job.step if job.total else None)

    def publish(self, queued: Sequence[Job], running: Sequence[Job], force: bool) -> None:
        """Send each queued job its position and ETA when its position changed, or always with ``force``.

        A queued job starts when the first slot frees up after the jobs ahead of it took theirs,
        and is ready its own run time later. The fair queue calls this under its lock, so
        snapshots are posted in the order of the queue's changes.
        """
        estimate = self.estimator()
        busy = [self.remaining_s(job, estimate) for job in running]
        free_at: list[float] | None = None
        if None not in busy and (busy or self._slots() > 0):
            free_at = [s for s in busy if s is not None] + [0.0] * max(0, self._slots() - len(busy))
            heapq.heapify(free_at)
        updates = []
        for position, job in enumerate(queued, start=1):
            own_s = estimate(job.request.count, None)
            ready_s = None
            if free_at is not None and own_s is not None:
                ready_s = heapq.heappop(free_at) + own_s
                heapq.heappush(free_at, ready_s)
            else:
                free_at = None
            if force or job.published is None or job.published.queue_position != position:
                job.published = Progress("queued", queue_position=position, eta_s=ready_s)
                updates.append((job.handle, job.published))
        self._poster.updates(updates)

    def is_refresh_due(self, job: Job, now: float) -> bool:
        """Queued ETAs follow the running job: refresh when its step count becomes known, and about once a second."""
        with self._lock:
            if job.total == job.refreshed_total and now - self._last_refresh < 1.0:
                return False
            job.refreshed_total = job.total
            self._last_refresh = now
            return True


def _put_all(updates: list[tuple[JobHandle, Progress]]) -> None:
    for handle, progress in updates:
        handle.deliver(progress)


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
