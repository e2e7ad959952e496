"""The GPU executor: one worker thread runs jobs, one at a time, from a fair bounded queue.

The event loop calls ``submit``, ``cancel`` and the queries; the worker thread owns the engine.
They share only the Scheduler (one lock, never held while the engine runs). The worker never
touches asyncio objects: progress and outcomes reach the loop through ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .config import GenerationConfig, QueueConfig
from .errors import (
    ContentBlocked,
    FactError,
    InputError,
    JobCancelled,
    JobFailed,
    JobTimedOut,
    OutOfMemory,
    QueueFull,
    RuntimeDead,
    UserLimitReached,
)
from .handoff import LoopHandoff
from .jobs import Job, JobHandle, StepTracker, check_request
from .metrics import MetricsRecorder, RuntimeMetrics
from .request import Engine, JobRequest, JobResult, Progress
from .scheduler import RESTART_MESSAGE, Scheduler

if TYPE_CHECKING:
    from .config import RuntimeConfig
    from .styles import StyleCatalog

__all__ = ["Runtime"]

log = logging.getLogger(__name__)


class Runtime:
    """Runs jobs one at a time on a single worker thread that owns the engine (and the GPU).

    Parameters
    ----------
    engine:
        The model stack (``FactEngine``) or a fake.
    queue:
        Admission bounds, the per-job time limit and the close behaviour.
    clock:
        Monotonic seconds; injectable for tests.
    max_count:
        Largest ``count`` a request may ask for.
    default_steps:
        Denoising steps per image assumed for ETAs until a job has finished.
    """

    def __init__(
        self,
        engine: Engine,
        queue: QueueConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_count: int = GenerationConfig().max_count,
        default_steps: int = GenerationConfig().num_inference_steps,
    ) -> None:
        self._engine = engine
        self._config = queue
        self._clock = clock
        self._max_count = max_count
        self._default_steps = default_steps
        self._scheduler = Scheduler(queue, self._publish_queue, clock)
        self._metrics = MetricsRecorder()
        self._last_queue_refresh = float("-inf")
        self._is_warm = False
        self._handoff = LoopHandoff()
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Future[None] | None = None

    @classmethod
    def from_config(cls, config: RuntimeConfig, catalog: StyleCatalog) -> Runtime:
        """Build the runtime around the real model stack (imported here, so ``fact_runtime`` stays torch-free)."""
        from .engine import FactEngine

        return cls(
            FactEngine(config, catalog),
            config.queue,
            max_count=config.generation.max_count,
            default_steps=config.generation.num_inference_steps,
        )

    async def start(self) -> None:
        """Start the worker thread and load the models on it; jobs submitted earlier run after that.

        Raises
        ------
        Exception
            Whatever the engine's ``warm_up`` raised (e.g. ``ModelMissing``); the runtime is then dead.
        """
        if self._thread is not None:
            raise RuntimeError("the runtime was already started")
        loop = self._handoff.bind()
        ready: asyncio.Future[None] = loop.create_future()
        self._stopped = loop.create_future()
        # A daemon, so an engine stuck in a step cannot keep the process alive after the bot exits.
        self._thread = threading.Thread(target=self._work, args=(ready,), name="fact-runtime-worker", daemon=True)
        self._thread.start()
        await ready
        log.info("runtime started (max_queued=%d, max_per_user=%d)", self._config.max_queued, self._config.max_per_user)

    async def close(self, *, cancel_running: bool | None = None) -> None:
        """Refuse new jobs, cancel the queued ones, finish or interrupt the running one, join the worker.

        Queued jobs end with ``JobCancelled`` whose ``user_message`` says the bot is restarting;
        the bot's job store re-queues them after the restart.

        Parameters
        ----------
        cancel_running:
            Interrupt the running job (True) or let it finish (False); None uses the config's
            ``is_drain_on_close``.
        """
        if cancel_running is None:
            cancel_running = not self._config.is_drain_on_close
        dropped = self._scheduler.close()
        running = self._scheduler.running
        if cancel_running and running is not None:
            running.cancel_requested.set()
        for job in dropped:
            self._metrics.record_outcome(JobCancelled.kind)
            error = JobCancelled(f"job {job.job_id}: the runtime is closing", user_message=RESTART_MESSAGE)
            self._handoff.resolve(job.handle, None, error, _final(job))
        if self._stopped is not None:
            await asyncio.shield(self._stopped)
        if self._thread is not None:
            self._thread.join()
        log.info("runtime closed (%d queued jobs cancelled)", len(dropped))

    @property
    def is_dead(self) -> bool:
        """True once the worker has died (not merely before start or while closing): a restart is needed."""
        return self._scheduler.state == "dead"

    @property
    def is_alive(self) -> bool:
        thread = self._thread
        return self._is_warm and self._scheduler.state == "open" and thread is not None and thread.is_alive()

    def submit(self, request: JobRequest, *, job_id: str | None = None) -> JobHandle:
        """Queue a job and return its handle at once; the event loop never waits here.

        Raises
        ------
        InvalidRequest
            ``count``, ``face_index`` or the inputs are out of range.
        UserLimitReached
            The user already has ``max_per_user`` jobs queued or running.
        QueueFull
            ``max_queued`` jobs are waiting.
        RuntimeDead
            The worker died, or the runtime is closing.
        """
        self._handoff.bind()
        check_request(request, max_count=self._max_count)
        handle = JobHandle(job_id or uuid.uuid4().hex, request, cancel=self._cancel, progress=Progress("queued"))
        try:
            self._scheduler.admit(handle)
        except (QueueFull, UserLimitReached) as exc:
            self._metrics.record_rejection(exc.kind)
            raise
        log.info("job %s queued for user %s", handle.job_id, handle.user_id)
        return handle

    def get(self, job_id: str) -> JobHandle | None:
        """The handle of a queued, running or recently finished job."""
        return self._scheduler.get(job_id)

    def forget_user(self, user_id: str) -> None:
        """Drop what the runtime still holds about the user's finished jobs (their photos, results, face cache).

        Queued and running jobs are the caller's to cancel first.
        """
        self._scheduler.forget(user_id)
        self._engine.forget_user(user_id)

    def jobs_of(self, user_id: str) -> list[JobHandle]:
        """The user's running and queued jobs, in the order they will run."""
        return self._scheduler.jobs_of(user_id)

    def queue_position(self, job_id: str) -> int:
        """1-based place in the queue; 0 while running; -1 when unknown or finished."""
        return self._scheduler.position(job_id)

    @property
    def queue_depth(self) -> int:
        return self._scheduler.depth()

    def metrics(self) -> RuntimeMetrics:
        """A snapshot of the counters."""
        running = int(self._scheduler.running is not None)
        return self._metrics.snapshot(queue_depth=self.queue_depth, running=running, is_alive=self.is_alive)

    def _cancel(self, handle: JobHandle) -> bool:
        found = self._scheduler.cancel(handle)
        if found is None:
            return False
        job, was_queued = found
        if was_queued:
            log.info("job %s cancelled while queued", job.job_id)
            self._metrics.record_outcome(JobCancelled.kind)
            self._handoff.resolve(handle, None, JobCancelled(f"job {job.job_id} cancelled"), _final(job))
        else:
            log.info("job %s: cancel requested while running", job.job_id)
        return True

    # Worker thread

    def _work(self, ready: asyncio.Future[None]) -> None:
        try:
            self._engine.warm_up()
        except BaseException as exc:
            log.exception("engine warm-up failed")
            self._die(f"engine warm-up failed: {exc!r}")
            self._handoff.settle(ready, exc)
            self._handoff.settle(self._stopped)
            return
        self._is_warm = True
        self._handoff.settle(ready)
        try:
            while (job := self._scheduler.take()) is not None:
                log.info("job %s started for user %s", job.job_id, job.user_id)
                start = Progress("preparing", eta_s=self._remaining_s(job, self._estimator()))
                self._handoff.progress(job.handle, start)
                self._finish(job, *self._run(job))
        except BaseException as exc:
            log.critical("the runtime's worker died", exc_info=True)
            self._die(f"the worker died: {exc!r}")
        finally:
            self._handoff.settle(self._stopped)

    def _run(self, job: Job) -> tuple[JobResult | None, FactError | None]:
        """Run one job on the engine, retrying once with a smaller batch after running out of memory."""
        max_batch: int | None = None
        while True:
            tracker = StepTracker(job, self._clock, self._config.job_timeout_s, self._metrics, self._on_step)
            try:
                return self._engine.run(job.request, tracker, max_batch=max_batch), None
            except OutOfMemory as exc:
                used = exc.batch or job.request.count
                if max_batch is not None or used <= 1:
                    # Already retried, or nothing smaller to try: a retry would only run out again.
                    log.error("job %s ran out of memory with %d image(s) per batch", job.job_id, used)
                    return None, JobFailed(f"job {job.job_id}: out of memory ({exc})", user_message=exc.user_message)
                max_batch = used // 2
                log.warning("job %s ran out of memory; retrying with max_batch=%d", job.job_id, max_batch)
            except Exception as exc:
                # The tracker's own stop wins even if the engine wrapped it in another exception.
                return None, tracker.stopped or _job_error(job, exc)
            finally:
                tracker.close()

    def _finish(self, job: Job, result: JobResult | None, error: FactError | None) -> None:
        # An accepted cancel always wins, even when the last step or a failure beat it.
        if self._scheduler.finish(job) and not isinstance(error, JobCancelled):
            result, error = None, JobCancelled(f"job {job.job_id} cancelled")
        outcome = "succeeded" if error is None else error.kind
        seconds = self._clock() - job.started_at
        self._metrics.record_outcome(outcome, seconds=seconds)
        if error is None and job.total:
            self._metrics.record_steps_per_image(job.total, job.request.count)
        log.info("job %s %s after %.1f s", job.job_id, outcome, seconds)
        self._handoff.resolve(job.handle, result, error, _final(job))

    def _die(self, reason: str) -> None:
        for job in self._scheduler.kill():
            self._metrics.record_outcome(RuntimeDead.kind)
            self._handoff.resolve(job.handle, None, RuntimeDead(f"job {job.job_id}: {reason}"), _final(job))

    def _on_step(self, job: Job, progress: Progress) -> None:
        eta = self._remaining_s(job, self._estimator())
        progress = Progress(progress.stage, progress.step, progress.total_steps, 0, eta)
        self._handoff.progress(job.handle, progress)
        # Queued jobs' ETAs follow the running job: refresh them when its step count becomes
        # known and about once a second in between.
        now = self._clock()
        if job.total != job.refreshed_total or now - self._last_queue_refresh >= 1.0:
            job.refreshed_total = job.total
            self._last_queue_refresh = now
            self._scheduler.refresh()

    # ETAs

    def _publish_queue(self, queued: Sequence[Job], running: Job | None, force: bool) -> None:
        """Send each queued job its position and ETA when its position changed, or always with ``force``.

        Called by the Scheduler under its lock, so the stamps follow the order of queue changes.
        All updates travel in one callback: one wake-up of the loop, not one per job.
        """
        estimate = self._estimator()
        ahead_s = self._remaining_s(running, estimate) if running is not None else 0.0
        updates = []
        for position, job in enumerate(queued, start=1):
            own_s = estimate(job.request.count, None)
            ahead_s = None if ahead_s is None or own_s is None else ahead_s + own_s
            if force or job.published_position != position:
                job.published_position = position
                progress = Progress("queued", queue_position=position, eta_s=ahead_s)
                updates.append((job.handle, progress))
        self._handoff.progress_many(updates)

    def _estimator(self) -> Callable[[int, int | None], float | None]:
        return self._metrics.estimator(default_steps=self._default_steps)

    @staticmethod
    def _remaining_s(job: Job, estimate: Callable[[int, int | None], float | None]) -> float | None:
        """ETA of a running job: its remaining denoising steps, or all expected ones before they are known."""
        return estimate(job.request.count, job.total - job.step if job.total else None)


def _job_error(job: Job, exc: Exception) -> FactError:
    """The error a failed job ends with: expected outcomes as they are, the rest as JobFailed."""
    if isinstance(exc, InputError | ContentBlocked | JobCancelled | JobTimedOut):
        return exc
    log.error("job %s failed", job.job_id, exc_info=exc)
    if isinstance(exc, FactError):
        return JobFailed(f"job {job.job_id}: {exc}", user_message=exc.user_message)
    return JobFailed(f"job {job.job_id}: {type(exc).__name__}: {exc}")


def _final(job: Job) -> Progress:
    return Progress("done", job.step, job.total, 0, 0.0)
