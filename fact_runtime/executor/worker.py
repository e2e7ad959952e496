"""The worker thread: warms the engine up, then runs one job at a time from the fair queue.

It never touches asyncio objects: progress and outcomes reach the loop through ``LoopPoster``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ..config import QueueConfig
from ..errors import (
    ContentBlocked,
    FactError,
    InputError,
    JobCancelled,
    JobFailed,
    JobTimedOut,
    OutOfMemory,
    RuntimeDead,
)
from ..metrics import MetricsRecorder
from ..request import Engine, JobResult, Progress, Stage
from .fair_queue import FairQueue, Job
from .progress import LoopPoster, QueueBoard
from .watchdog import Watchdog

__all__ = ["StepMonitor", "Worker"]

log = logging.getLogger(__name__)


class StepMonitor:
    """The StepReporter an engine calls: stops cancelled or overdue jobs, times stages and steps."""

    def __init__(
        self,
        job: Job,
        clock: Callable[[], float],
        timeout_s: float,
        metrics: MetricsRecorder,
        on_progress: Callable[[Job, Progress], None],
    ) -> None:
        self._job = job
        self._clock = clock
        self._timeout_s = timeout_s
        self._metrics = metrics
        self._on_progress = on_progress
        self._stage: Stage | None = None
        self._stage_started = 0.0
        self._last_step_at: float | None = None
        #: The error this monitor raised to stop the job, if it did.
        self.stopped: JobCancelled | JobTimedOut | None = None

    def __call__(self, stage: Stage, step: int = 0, total: int = 0) -> None:
        job = self._job
        now = self._clock()
        if job.cancel_requested.is_set():
            self.stopped = JobCancelled(f"job {job.job_id} cancelled")
        elif job.overrun is not None:
            # The watchdog failed the job while a step ran on; its waiter already knows.
            self.stopped = job.overrun
        # A step in progress cannot be interrupted: the watchdog tells the waiter at once, and
        # the job itself stops here, at its next report.
        elif now - job.started_at > self._timeout_s:
            self.stopped = JobTimedOut(f"job {job.job_id} ran past its {self._timeout_s:g} s limit")
        if self.stopped is not None:
            raise self.stopped
        if stage != self._stage:
            self._end_stage(now)
            self._stage, self._stage_started, self._last_step_at = stage, now, None
        if stage == "denoising":
            # A step's duration is the gap between two consecutive step reports.
            if self._last_step_at is not None and step > job.step:
                self._metrics.record_step(now - self._last_step_at)
            self._last_step_at = now
        if total:
            job.step, job.total = step, total
        # Stages without steps keep showing the last step count (e.g. "finishing 50/50").
        self._on_progress(job, Progress(stage, job.step, job.total))

    def close(self) -> None:
        """Record the time of the stage the job ended in."""
        self._end_stage(self._clock())
        self._stage = None

    def _end_stage(self, now: float) -> None:
        if self._stage is not None:
            self._metrics.record_stage(self._stage, now - self._stage_started)


class Worker:
    """The body of the runtime's one worker thread, which owns the engine (and the GPU)."""

    def __init__(
        self,
        engine: Engine,
        queue: FairQueue,
        *,
        config: QueueConfig,
        poster: LoopPoster,
        board: QueueBoard,
        metrics: MetricsRecorder,
        clock: Callable[[], float],
        watchdog: Watchdog | None = None,
    ) -> None:
        self._engine = engine
        self._queue = queue
        self._config = config
        self._poster = poster
        self._board = board
        self._metrics = metrics
        self._clock = clock
        self._watchdog = watchdog
        self.is_warm = False
        #: Called once with the reason when the runtime is declared dead (from any thread).
        self.on_death: Callable[[str], None] | None = None

    def run(self, ready: asyncio.Future[None], stopped: asyncio.Future[None]) -> None:
        """Warm up (settling ``ready``), then take and run jobs until the queue closes (settling ``stopped``)."""
        try:
            self._engine.warm_up()
        except BaseException as exc:
            log.exception("engine warm-up failed")
            self.die(f"engine warm-up failed: {exc!r}")
            self._poster.settle(ready, exc)
            self._poster.settle(stopped)
            return
        self.is_warm = True
        self._poster.settle(ready)
        try:
            while (job := self._queue.take()) is not None:
                log.info("job %s started for user %s", job.job_id, job.user_id)
                eta = self._board.remaining_s(job, self._board.estimator())
                self._poster.update(job.handle, Progress("preparing", eta_s=eta))
                if self._watchdog is not None:
                    self._watchdog.watch(job)
                outcome = self._run(job)
                if self._watchdog is None or self._watchdog.release(job):
                    self._finish(job, *outcome)
                else:
                    self._queue.finish(job)  # the watchdog has told its waiter already
        except BaseException as exc:
            log.critical("the runtime's worker died", exc_info=True)
            self.die(f"the worker died: {exc!r}")
        finally:
            self._poster.settle(stopped)

    def die(self, reason: str) -> None:
        """Mark the runtime dead and fail every job still waiting on it."""
        for job in self._queue.kill():
            if job.overrun is None:  # an overrun job's waiter has its outcome already
                self._metrics.record_outcome(RuntimeDead.kind)
                self._poster.update(job.handle, RuntimeDead(f"job {job.job_id}: {reason}"))
        if self.on_death is not None:
            self.on_death(reason)

    def fail_overrun(self, job: Job, error: JobTimedOut) -> None:
        """The watchdog's verdict on a job that ran past a limit: its waiter learns now, not when the step returns."""
        self._metrics.record_outcome(error.kind, seconds=self._clock() - job.started_at)
        self._poster.update(job.handle, error)

    def _run(self, job: Job) -> tuple[JobResult | None, FactError | None]:
        """Run one job on the engine, retrying once with a smaller batch after running out of memory."""
        max_batch: int | None = None
        while True:
            monitor = StepMonitor(job, self._clock, self._config.job_timeout_s, self._metrics, self._on_step)
            try:
                return self._engine.run(job.request, monitor, max_batch=max_batch), None
            except OutOfMemory as exc:
                used = exc.batch or job.request.count
                if max_batch is not None or used <= 1:
                    # Already retried, or nothing smaller to try: a retry would only run out again.
                    log.error("job %s ran out of memory with %d image(s) per batch", job.job_id, used)
                    return None, JobFailed(f"job {job.job_id}: out of memory ({exc})", user_message=exc.user_message)
                max_batch = used // 2
                log.warning("job %s ran out of memory; retrying with max_batch=%d", job.job_id, max_batch)
            except Exception as exc:  # noqa: BLE001 - every engine failure ends the job, never the worker
                # The monitor's own stop wins even if the engine wrapped it in another exception.
                return None, monitor.stopped or _job_error(job, exc)
            finally:
                monitor.close()

    def _finish(self, job: Job, result: JobResult | None, error: FactError | None) -> None:
        # An accepted cancel always wins, even when the last step or a failure beat it.
        if self._queue.finish(job) and not isinstance(error, JobCancelled):
            result, error = None, JobCancelled(f"job {job.job_id} cancelled")
        outcome = "succeeded" if error is None else error.kind
        seconds = self._clock() - job.started_at
        self._metrics.record_outcome(outcome, seconds=seconds)
        if error is None and job.total and job.request.count:  # identity jobs make no images
            self._metrics.record_steps_per_image(job.total, job.request.count)
        log.info("job %s %s after %.1f s", job.job_id, outcome, seconds)
        final = error if error is not None else result
        assert final is not None
        self._poster.update(job.handle, final)

    def _on_step(self, job: Job, progress: Progress) -> None:
        if self._watchdog is not None:
            self._watchdog.report()
        eta = self._board.remaining_s(job, self._board.estimator())
        self._poster.update(job.handle, Progress(progress.stage, progress.step, progress.total_steps, 0, eta))
        if self._board.is_refresh_due(job, self._clock()):
            self._queue.refresh()


def _job_error(job: Job, exc: Exception) -> FactError:
    """The error a failed job ends with: expected outcomes as they are, the rest as JobFailed."""
    if isinstance(exc, InputError | ContentBlocked | JobCancelled | JobTimedOut):
        return exc
    log.error("job %s failed", job.job_id, exc_info=exc)
    if isinstance(exc, FactError):
        return JobFailed(f"job {job.job_id}: {exc}", user_message=exc.user_message)
    return JobFailed(f"job {job.job_id}: {type(exc).__name__}: {exc}")
