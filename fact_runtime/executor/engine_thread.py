"""Bot process (local backend) and worker process: the engine thread, which warms the engine up and runs one job at a time.

It never touches asyncio objects: progress and outcomes reach the loop through the job lifecycle
(``LoopPoster`` underneath).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ..config import QueueConfig
from ..errors import ContentBlocked, FactError, InputError, JobCancelled, JobFailed, JobTimedOut, OutOfMemory
from ..metrics import MetricsRecorder
from ..results import Engine, JobResult, Progress, Stage
from .fair_queue import FairQueue, Job
from .lifecycle import JobLifecycle
from .progress import LoopPoster
from .watchdog import Watchdog

__all__ = ["EngineThread", "StepMonitor"]

log = logging.getLogger(__name__)


class StepMonitor:
    """The StepReporter (and PreviewReporter) an engine calls: stops cancelled or overdue jobs, times stages and steps."""

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

    def preview(self, jpeg: bytes) -> None:
        """A preview of the image forming (``PreviewReporter``): sent on with the job's current stage and step."""
        self._on_progress(
            self._job, Progress(self._stage or "denoising", self._job.step, self._job.total, preview=jpeg)
        )

    def close(self) -> None:
        """Record the time of the stage the job ended in."""
        self._end_stage(self._clock())
        self._stage = None

    def _end_stage(self, now: float) -> None:
        if self._stage is not None:
            self._metrics.record_stage(self._stage, now - self._stage_started)


class EngineThread:
    """The body of the runtime's one engine thread, which owns the engine (and the GPU)."""

    def __init__(
        self,
        engine: Engine,
        queue: FairQueue,
        *,
        config: QueueConfig,
        poster: LoopPoster,
        lifecycle: JobLifecycle,
        metrics: MetricsRecorder,
        clock: Callable[[], float],
        watchdog: Watchdog | None = None,
    ) -> None:
        self._engine = engine
        self._queue = queue
        self._config = config
        self._poster = poster
        self._lifecycle = lifecycle
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
                self._lifecycle.started(job)
                if self._watchdog is not None:
                    self._watchdog.watch(job)
                outcome = self._run(job)
                if self._watchdog is None or self._watchdog.release(job):
                    self._lifecycle.finish(job, outcome)
                else:
                    self._lifecycle.retire_failed(job)  # the watchdog has told its waiter already
        except BaseException as exc:
            log.critical("the runtime's engine thread died", exc_info=True)
            self.die(f"the engine thread died: {exc!r}")
        finally:
            self._poster.settle(stopped)

    def die(self, reason: str) -> None:
        """Mark the runtime dead and fail every job still waiting on it."""
        self._lifecycle.kill(reason)
        if self.on_death is not None:
            self.on_death(reason)

    def fail_overrun(self, job: Job, error: JobTimedOut) -> None:
        """The watchdog's verdict on a job that ran past a limit: its waiter learns now, not when the step returns."""
        self._lifecycle.fail_early(job, error)

    def _run(self, job: Job) -> JobResult | FactError:
        """Run one job on the engine, retrying once with a smaller batch after running out of memory."""
        max_batch: int | None = None
        while True:
            monitor = StepMonitor(job, self._clock, self._config.job_timeout_s, self._metrics, self._on_step)
            try:
                return self._engine.run(job.request, monitor, max_batch=max_batch)
            except OutOfMemory as exc:
                used = exc.batch or job.request.count
                if max_batch is not None or used <= 1:
                    # Already retried, or nothing smaller to try: a retry would only run out again.
                    log.error("job %s ran out of memory with %d image(s) per batch", job.job_id, used)
                    return JobFailed(f"job {job.job_id}: out of memory ({exc})", user_message=exc.user_message)
                max_batch = used // 2
                log.warning("job %s ran out of memory; retrying with max_batch=%d", job.job_id, max_batch)
            except Exception as exc:  # noqa: BLE001 - every engine failure ends the job, never the worker
                # The monitor's own stop wins even if the engine wrapped it in another exception.
                return monitor.stopped or _job_error(job, exc)
            finally:
                monitor.close()

    def _on_step(self, job: Job, progress: Progress) -> None:
        if self._watchdog is not None:
            self._watchdog.report()
        self._lifecycle.progressed(job, progress)


def _job_error(job: Job, exc: Exception) -> FactError:
    """The error a failed job ends with: expected outcomes as they are, the rest as JobFailed."""
    if isinstance(exc, InputError | ContentBlocked | JobCancelled | JobTimedOut):
        return exc
    log.error("job %s failed", job.job_id, exc_info=exc)
    if isinstance(exc, FactError):
        return JobFailed(f"job {job.job_id}: {exc}", user_message=exc.user_message)
    return JobFailed(f"job {job.job_id}: {type(exc).__name__}: {exc}")
