"""RedisRuntime: the executor seam over Redis Streams, for worker processes on any number of GPUs.

The bot keeps the authority: its fair queue admits, orders and bounds jobs exactly as with the
local backend, and a job is released to the ``jobs`` stream only when a live worker has room, so
fairness is decided at release. Workers (``python -m fact_runtime worker``) pull from a consumer
group, stream progress back and publish the outcome; ``BrokerLink`` reads those and keeps the
connection. Jobs survive the bot's restart (released ones keep running; their outcomes wait in
Redis and are re-attached when the job store resubmits them) and Redis's (AOF persistence).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..config import BrokerConfig, GenerationConfig, QueueConfig
from ..errors import FactError, IncompatibleMessage, JobCancelled
from ..limits import RequestLimits
from ..metrics import RuntimeMetrics
from ..request import JobRequest, JobResult, Progress
from .fair_queue import RESTART_MESSAGE, FairQueue, Job
from .fleet import Fleet
from .front import QueueFront
from .handle import JobHandle
from .link import BrokerLink
from .progress import QueueBoard

if TYPE_CHECKING:
    from ..config import RuntimeConfig

__all__ = ["RedisRuntime"]

log = logging.getLogger(__name__)


class RedisRuntime(QueueFront):
    """Runs jobs on remote worker processes fed through Redis Streams; the same interface as ``Runtime``.

    Parameters
    ----------
    url:
        The Redis server (``redis://host:port/db``).
    queue:
        Admission bounds (the same as the local backend's).
    broker:
        Key prefix, heartbeat and loss timings.
    limits:
        What a request may ask for; checked before it is queued.
    clock:
        Monotonic seconds; injectable for tests.
    default_steps:
        Denoising steps per image assumed for ETAs until a job has finished.
    """

    def __init__(
        self,
        url: str,
        queue: QueueConfig | None = None,
        *,
        broker: BrokerConfig | None = None,
        limits: RequestLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
        default_steps: int = GenerationConfig().num_inference_steps,
    ) -> None:
        super().__init__(queue, limits)
        self._clock = clock
        self.fleet = Fleet()
        self._board = QueueBoard(
            self._poster,
            self._metrics,
            default_steps=default_steps,
            slots=lambda: self.fleet.capacity,
            step_s=self.fleet.mean_step_s,
        )
        self._queue = FairQueue(self._config, self._board.publish, clock)
        #: In-flight job id -> the worker running it (None until a worker reports it).
        self._workers_of: dict[str, str | None] = {}
        self._link = BrokerLink(url, broker or BrokerConfig(), self)
        self._is_started = False

    @classmethod
    def from_config(cls, config: RuntimeConfig) -> RedisRuntime:
        return cls(
            config.redis_url,
            config.queue,
            broker=config.broker,
            limits=RequestLimits.from_config(config),
            default_steps=config.generation.num_inference_steps,
        )

    async def start(self) -> None:
        """Connect (or keep trying in the background: jobs wait in the fair queue meanwhile) and start reading."""
        if self._is_started:
            raise RuntimeError("the runtime was already started")
        self._is_started = True
        self._poster.bind()
        await self._link.start()
        log.info(
            "redis runtime started (max_queued=%d, max_per_user=%d)", self._config.max_queued, self._config.max_per_user
        )

    async def close(self, *, cancel_running: bool | None = None) -> None:
        """Refuse new jobs, cancel the queued ones and stop reading.

        Released jobs belong to their workers and outlive this process: their outcomes wait in
        Redis and reach the next process when its job store resubmits them, so nothing running is
        interrupted here (``cancel_running`` applies to the local backend only). Queued jobs end
        with ``JobCancelled`` saying the bot is restarting; the job store re-queues them.
        """
        dropped = self._queue.close()
        for job in dropped:
            self._metrics.record_outcome(JobCancelled.kind)
            error = JobCancelled(f"job {job.job_id}: the runtime is closing", user_message=RESTART_MESSAGE)
            self._poster.update(job.handle, error)
        await self._link.close()
        log.info(
            "redis runtime closed (%d queued jobs cancelled, %d left running on workers)",
            len(dropped),
            len(self._workers_of),
        )

    @property
    def is_dead(self) -> bool:
        """Never: a lost broker or worker is waited for, not fatal."""
        return False

    async def wait_dead(self) -> str:
        """Never returns (see ``is_dead``): a lost broker or worker is waited for; cancel the wait to stop it."""
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    @property
    def is_alive(self) -> bool:
        """True while Redis answers and a worker of this schema takes jobs."""
        return self._queue.state == "open" and self._link.is_connected and self.fleet.capacity > 0

    def submit(self, request: JobRequest, *, job_id: str | None = None) -> JobHandle:
        """Queue a job and return its handle at once; a job a worker already runs is re-attached.

        Raises
        ------
        InvalidRequest, UserLimitReached, QueueFull, RuntimeDead
            As ``Runtime.submit``.
        """
        is_running = job_id is not None and self._link.inbox.is_released(job_id)
        handle, job = self._admit(request, job_id, is_running=is_running)
        if is_running:
            self._workers_of[job.job_id] = self._link.inbox.attach(job.job_id)
            handle.progress = Progress("preparing")
            log.info("job %s re-attached: it was released before this process started", job.job_id)
        else:
            log.info("job %s queued for user %s", handle.job_id, handle.user_id)
        self._link.wake()
        return handle

    def forget_user(self, user_id: str) -> None:
        """Drop the user's finished handles here, and tell every worker to drop its face cache of them."""
        self._queue.forget(user_id)
        self._link.forget(user_id)

    def metrics(self) -> RuntimeMetrics:
        """The bot's counters, the live workers' step times, and the broker's state."""
        snapshot = self._metrics.snapshot(
            queue_depth=self.queue_depth, running=len(self._workers_of), is_alive=self.is_alive
        )
        workers = tuple(self.fleet.workers.values())
        steps = (sum(w.step_seconds[0] for w in workers), sum(w.step_seconds[1] for w in workers))
        return RuntimeMetrics(
            jobs_by_outcome=snapshot.jobs_by_outcome,
            rejected_by_reason=snapshot.rejected_by_reason,
            queue_depth=snapshot.queue_depth,
            running=snapshot.running,
            step_seconds=steps,
            job_seconds=snapshot.job_seconds,
            is_alive=snapshot.is_alive,
            workers=workers,
            broker=self._link.stats(),
        )

    # What BrokerLink calls, on the loop.

    def free_slots(self) -> int:
        return self.fleet.free_slots({**self._workers_of, **self._link.inbox.detached})

    def take(self) -> Job | None:
        """The next job in fair order, marked released; None when none is queued."""
        job = self._queue.take_nowait()
        if job is not None:
            self._workers_of[job.job_id] = None
        return job

    def released(self, job: Job) -> None:
        eta = self._board.remaining_s(job, self._board.estimator())
        self._poster.update(job.handle, Progress("preparing", eta_s=eta))
        log.info("job %s released to the workers", job.job_id)
        if job.cancel_requested.is_set():  # cancelled while its release was on the way
            self._link.cancel(job.job_id)

    def unrelease(self, job: Job) -> None:
        """Back to its fair place: its release failed, or Redis lost it."""
        self._workers_of.pop(job.job_id, None)
        self._queue.requeue(job)

    def running_job(self, job_id: str) -> Job | None:
        job = self._queue.find(job_id)
        return job if job is not None and job.job_id in self._workers_of else None

    def queued_job(self, job_id: str) -> Job | None:
        job = self._queue.find(job_id)
        return job if job is not None and job.job_id not in self._workers_of else None

    def running_ids(self) -> list[str]:
        return list(self._workers_of)

    def attach_queued(self, job: Job, worker: str | None) -> None:
        """A queued job turned out to be released already (before a restart): it runs."""
        self._queue.start(job)
        self._workers_of[job.job_id] = worker

    def on_progress(self, job: Job, progress: Progress, worker: str) -> None:
        self._workers_of[job.job_id] = worker or None
        if progress.total_steps:
            job.step, job.total = progress.step, progress.total_steps
        eta = self._board.remaining_s(job, self._board.estimator())
        self._poster.update(job.handle, Progress(progress.stage, job.step, job.total, 0, eta))
        if self._board.is_refresh_due(job, self._clock()):
            self._queue.refresh()

    def settle(self, job: Job, outcome: JobResult | FactError, worker: str) -> None:
        """Hand a job its outcome; an accepted cancel wins, as with the local backend."""
        self._workers_of.pop(job.job_id, None)
        if self._queue.finish(job) and not isinstance(outcome, JobCancelled):
            outcome = JobCancelled(f"job {job.job_id} cancelled")
        kind = "succeeded" if isinstance(outcome, JobResult) else outcome.kind
        seconds = self._clock() - job.started_at
        self._metrics.record_outcome(kind, seconds=seconds)
        if isinstance(outcome, JobResult) and job.total:
            self._metrics.record_steps_per_image(job.total, job.request.count)
        if isinstance(outcome, IncompatibleMessage):
            log.error("job %s: worker %s could not read it: %s", job.job_id, worker or "?", outcome)
        log.info("job %s %s on worker %s after %.1f s", job.job_id, kind, worker or "?", seconds)
        self._poster.update(job.handle, outcome)

    def _cancel(self, handle: JobHandle) -> bool:
        found = self._queue.cancel(handle)
        if found is None:
            return False
        job, was_queued = found
        if was_queued:
            log.info("job %s cancelled while queued", job.job_id)
            self._metrics.record_outcome(JobCancelled.kind)
            self._poster.update(handle, JobCancelled(f"job {job.job_id} cancelled"))
        else:
            log.info("job %s: cancel sent to the workers", job.job_id)
            self._link.cancel(job.job_id)
        return True
