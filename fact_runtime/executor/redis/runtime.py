"""Bot process: ``RedisRuntime``, the executor seam over Redis Streams, for worker processes on any number of GPUs.

The bot keeps the authority: its fair queue admits, orders and bounds jobs exactly as with the
local backend, and the dispatcher releases a job to the ``jobs`` stream only when a live worker
has room, so fairness is decided at release. Workers (``python -m fact_runtime worker``) pull
from a consumer group, stream progress back and publish the outcome. The dispatcher reports all
of it as events, which one task here applies through the same ``JobLifecycle`` as the local
backend. Jobs survive the bot's restart (released ones keep running; their outcomes wait in
Redis and are re-attached when the job store resubmits them) and Redis's (AOF persistence).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ...config import BrokerConfig, GenerationConfig, QueueConfig
from ...limits import RequestLimits
from ...metrics import RuntimeMetrics
from ...request import JobRequest
from ...results import Progress
from ..fair_queue import Job
from ..front import QueueFront
from ..handle import JobHandle
from ..progress import QueueBoard
from ..supervisor import Supervisor
from .dispatcher import Dispatcher
from .events import Event, Finished, Progressed, Reconnected, Released, ReleaseFailed, Scanned, WorkerLost
from .fleet import Fleet
from .sealing import Sealer

if TYPE_CHECKING:
    from ...config import RuntimeConfig

__all__ = ["RedisRuntime"]

log = logging.getLogger(__name__)

#: An outcome whose job no process resubmits within this long is dropped (its job was forgotten).
UNCLAIMED_S = 600.0


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
    sealer:
        The deployment key every message is sealed with; by default ``FACT_BROKER_KEY`` or
        ``broker.key_file``.

    Raises
    ------
    ConfigError
        No broker key (or a malformed one); the message says how to make one.
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
        sealer: Sealer | None = None,
    ) -> None:
        broker = broker or BrokerConfig()
        # Refused before anything else: without the key no message could be sealed or opened.
        sealer = sealer or Sealer.from_environment(broker.key_file)
        super().__init__(queue, limits)
        self._clock = clock
        self.fleet = Fleet(fingerprint=sealer.fingerprint)
        board = QueueBoard(
            self._poster,
            self._metrics,
            default_steps=default_steps,
            slots=lambda: self.fleet.capacity,
            step_s=self.fleet.mean_step_s,
        )
        self._build_queue(board, clock)
        self._supervisor = Supervisor("redis runtime")
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._dispatcher = Dispatcher(
            url,
            broker,
            jobs=self,
            fleet=self.fleet,
            emit=self._events.put_nowait,
            supervisor=self._supervisor,
            sealer=sealer,
        )
        #: Outcomes of jobs nobody follows yet (the bot restarted meanwhile): job -> (outcome, when read).
        self._waiting: dict[str, tuple[Finished, float]] = {}
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
        await self._dispatcher.start()
        # What the first connection found (jobs released before a restart) is known before any resubmission.
        while not self._events.empty():
            self._apply(self._events.get_nowait())
        self._supervisor.loop("events", self._apply_events)
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
        dropped = self._lifecycle.close()
        await self._supervisor.close(timeout=self._dispatcher.connection.block_ms / 1000 + 5.0)
        await self._dispatcher.close()
        log.info(
            "redis runtime closed (%d queued jobs cancelled, %d left running on workers)",
            len(dropped),
            len(self._queue.running_jobs),
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
        return self._queue.state == "open" and self._dispatcher.is_connected and self.fleet.capacity > 0

    @property
    def unhealthy_tasks(self) -> tuple[str, ...]:
        """The background loops that failed and wait to be restarted, by name."""
        return self._supervisor.unhealthy

    def submit(self, request: JobRequest, *, job_id: str | None = None) -> JobHandle:
        """Queue a job and return its handle at once; a job a worker already runs is re-attached.

        Raises
        ------
        InvalidRequest, UserLimitReached, QueueFull, RuntimeDead
            As ``Runtime.submit``.
        """
        is_running = job_id is not None and (self._dispatcher.is_released(job_id) or job_id in self._waiting)
        handle, job = self._admit(request, job_id, is_running=is_running)
        if is_running:
            handle.progress = Progress("preparing")
            log.info("job %s re-attached: it was released before this process started", job.job_id)
            if job.job_id in self._waiting:  # its outcome is here already
                self._events.put_nowait(self._waiting.pop(job.job_id)[0])
        else:
            log.info("job %s queued for user %s", handle.job_id, handle.user_id)
        self._dispatcher.wake()
        return handle

    def forget_user(self, user_id: str) -> None:
        """Drop the user's finished handles and waiting outcomes here, and tell every worker to drop its face cache."""
        self._queue.forget(user_id)
        self._dispatcher.forget(user_id)
        for job_id in [job_id for job_id, (event, _) in self._waiting.items() if event.user_id == user_id]:
            self._retire(self._waiting.pop(job_id)[0])

    def metrics(self) -> RuntimeMetrics:
        """The bot's counters, the live workers' step times, and the broker's state."""
        snapshot = self._lifecycle.metrics(is_alive=self.is_alive)
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
            broker=self._dispatcher.stats(),
        )

    def take_next(self) -> Job | None:
        """The dispatcher's ``JobSource``: the next job in fair order, marked running."""
        return self._queue.take_nowait()

    def _stop_running(self, job: Job) -> None:
        log.info("job %s: cancel sent to the workers", job.job_id)
        self._dispatcher.cancel(job.job_id)

    # The one task that applies the dispatcher's events.

    async def _apply_events(self) -> None:
        while True:
            self._apply(await self._events.get())

    def _apply(self, event: Event) -> None:
        match event:
            case Released(job_id):
                if (job := self._running(job_id)) is not None:
                    log.info("job %s released to the workers", job_id)
                    self._lifecycle.started(job)
                    if job.cancel_requested.is_set():  # cancelled while its release was on the way
                        self._dispatcher.cancel(job_id)
            case ReleaseFailed(job_id):
                if (job := self._running(job_id)) is not None:
                    self._queue.requeue(job)
            case Reconnected(released):
                self._reconcile(released)
            case Progressed(job_id, progress, _):
                if (job := self._running(job_id)) is not None:
                    self._lifecycle.progressed(job, progress)
            case Finished():
                self._finish(event)
            case WorkerLost(name, job_id):
                if job_id is not None and self._running(job_id) is not None:
                    log.warning("job %s: worker %s is gone; another worker takes the job over", job_id, name)
            case Scanned():
                self._expire_waiting()

    def _running(self, job_id: str) -> Job | None:
        job = self._queue.find(job_id)
        return job if job is not None and self._queue.position(job_id) == 0 else None

    def _reconcile(self, released: dict[str, str]) -> None:
        """After (re)connecting: a release Redis lost goes back to its fair place; a queued job found released runs."""
        for job in self._queue.running_jobs:
            if not self._dispatcher.is_released(job.job_id):
                log.warning("job %s: Redis lost its release (restarted without it); it is queued again", job.job_id)
                self._queue.requeue(job)
        for job_id in released:
            if (queued := self._queue.find(job_id)) is not None and self._running(job_id) is None:
                self._queue.start(queued)

    def _finish(self, event: Finished) -> None:
        job_id = event.job_id
        if (queued := self._queue.find(job_id)) is not None and self._running(job_id) is None:
            self._queue.start(queued)  # released before a restart and resubmitted while Redis was away
        if (job := self._running(job_id)) is not None:
            self._lifecycle.finish(job, event.outcome, worker=event.worker)
            self._retire(event)
        elif (handle := self.get(job_id)) is not None and handle.done():
            log.info("job %s: a second outcome (from %s) dropped; it was delivered once", job_id, event.worker or "?")
            self._retire(event)
        else:
            self._waiting[job_id] = (event, self._clock())

    def _expire_waiting(self) -> None:
        now = self._clock()
        for job_id in [job_id for job_id, (_, read_at) in self._waiting.items() if now - read_at > UNCLAIMED_S]:
            log.warning("dropped the outcome of job %s: no process resubmitted it", job_id)
            self._retire(self._waiting.pop(job_id)[0])

    def _retire(self, event: Finished) -> None:
        """The one place a job's Redis entries are retired, once its outcome is handed over or dropped."""
        self._dispatcher.retire(event.entry_id, event.job_id)
