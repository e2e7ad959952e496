"""Both backends: what happens to an admitted job, written once: start, progress and ETA, cancel, finish, close.

The local ``Runtime`` calls it from its engine thread, ``RedisRuntime`` from the one task that
applies the dispatcher's events; either way every waiter sees the same updates, the same rules
("an accepted cancel wins") and the same metrics.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..errors import FactError, JobCancelled, JobTimedOut, RuntimeDead
from ..metrics import MetricsRecorder, RuntimeMetrics
from ..results import JobResult, Progress
from .fair_queue import RESTART_MESSAGE, FairQueue, Job
from .handle import JobHandle
from .progress import LoopPoster, QueueBoard

__all__ = ["JobLifecycle"]

log = logging.getLogger(__name__)


class JobLifecycle:
    """Moves jobs through the fair queue and tells their waiters; thread-safe where the queue is."""

    def __init__(
        self,
        queue: FairQueue,
        *,
        poster: LoopPoster,
        board: QueueBoard,
        metrics: MetricsRecorder,
        clock: Callable[[], float],
    ) -> None:
        self._queue = queue
        self._poster = poster
        self._board = board
        self._metrics = metrics
        self._clock = clock

    def started(self, job: Job) -> None:
        """The job left the queue for an engine: it shows "preparing" and its ETA."""
        self._poster.update(job.handle, Progress("preparing", eta_s=self._eta(job)))

    def progressed(self, job: Job, progress: Progress) -> None:
        """A stage or step of a running job: its waiter gets it with an ETA; queued ETAs follow now and then."""
        if progress.total_steps:
            job.step, job.total = progress.step, progress.total_steps
        snapshot = Progress(progress.stage, job.step, job.total, 0, self._eta(job), preview=progress.preview)
        self._poster.update(job.handle, snapshot)
        if self._board.is_refresh_due(job, self._clock()):
            self._queue.refresh()

    def finish(self, job: Job, outcome: JobResult | FactError, *, worker: str | None = None) -> None:
        """Retire a running job and hand its waiter the outcome; ``worker`` names a remote one in the log."""
        # An accepted cancel always wins, even when the last step or a failure beat it.
        if self._queue.finish(job) and not isinstance(outcome, JobCancelled):
            outcome = JobCancelled(f"job {job.job_id} cancelled")
        kind = "succeeded" if isinstance(outcome, JobResult) else outcome.kind
        seconds = self._clock() - job.started_at
        self._metrics.record_outcome(kind, seconds=seconds)
        if isinstance(outcome, JobResult) and job.total and job.request.count:  # identity jobs make no images
            self._metrics.record_steps_per_image(job.total, job.request.count)
        where = "" if worker is None else f" on worker {worker or '?'}"
        log.info("job %s %s%s after %.1f s", job.job_id, kind, where, seconds)
        self._poster.update(job.handle, outcome)

    def fail_early(self, job: Job, error: JobTimedOut) -> None:
        """A job that ran past a limit: its waiter learns now, while the engine is still inside the step."""
        self._metrics.record_outcome(error.kind, seconds=self._clock() - job.started_at)
        self._poster.update(job.handle, error)

    def retire_failed(self, job: Job) -> None:
        """The engine is done with a job ``fail_early`` already answered: retire it, tell nobody."""
        self._queue.finish(job)

    def cancel(self, handle: JobHandle, *, stop_running: Callable[[Job], None]) -> bool:
        """Drop a queued job (its waiter gets ``JobCancelled`` now), or flag a running one and ``stop_running`` it.

        Returns False when the job had already finished.
        """
        found = self._queue.cancel(handle)
        if found is None:
            return False
        job, was_queued = found
        if was_queued:
            log.info("job %s cancelled while queued", job.job_id)
            self._metrics.record_outcome(JobCancelled.kind)
            self._poster.update(handle, JobCancelled(f"job {job.job_id} cancelled"))
        else:
            stop_running(job)
        return True

    def close(self) -> list[Job]:
        """Refuse new jobs and cancel the queued ones, telling their waiters the bot is restarting."""
        dropped = self._queue.close()
        for job in dropped:
            self._metrics.record_outcome(JobCancelled.kind)
            error = JobCancelled(f"job {job.job_id}: the runtime is closing", user_message=RESTART_MESSAGE)
            self._poster.update(job.handle, error)
        return dropped

    def kill(self, reason: str) -> None:
        """The engine is dead: every job still waiting on it fails with ``RuntimeDead``."""
        for job in self._queue.kill():
            if job.overrun is None:  # an overrun job's waiter has its outcome already
                self._metrics.record_outcome(RuntimeDead.kind)
                self._poster.update(job.handle, RuntimeDead(f"job {job.job_id}: {reason}"))

    def metrics(self, *, is_alive: bool) -> RuntimeMetrics:
        """The counters, with the queue's depth and the number of running jobs."""
        running = len(self._queue.running_jobs)
        return self._metrics.snapshot(queue_depth=self._queue.depth(), running=running, is_alive=is_alive)

    def _eta(self, job: Job) -> float | None:
        return self._board.remaining_s(job, self._board.estimator())
