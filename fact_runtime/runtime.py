"""The GPU executor: one worker thread runs jobs from a fair, bounded queue.

Threads: the event loop calls ``submit``/``cancel``/queries; the one worker thread runs the
engine. They share the queue under ``self._lock`` (held only for list work, never while the
engine runs). The worker never touches asyncio objects: it hands progress and outcomes to the
loop with ``loop.call_soon_threadsafe``.

Fairness: each job gets a round number. A user's next job goes one round after their newest
outstanding (queued or running) job, and never before the round now running, so users take
turns, a returning user joins the current round instead of cashing in idle time, and jobs of one
user stay FIFO. The queue runs in (round, arrival) order.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal

from .config import GenerationConfig, QueueConfig
from .errors import (
    FactError,
    InputError,
    InvalidRequest,
    JobCancelled,
    JobFailed,
    JobTimedOut,
    OutOfMemory,
    QueueFull,
    RuntimeDead,
    UserLimitReached,
)
from .jobs import Job, JobHandle, StepTracker
from .metrics import MetricsRecorder, RuntimeMetrics
from .request import Engine, InpaintRequest, JobRequest, JobResult, PortraitRequest, Progress

if TYPE_CHECKING:
    from .config import RuntimeConfig

__all__ = ["Runtime"]

log = logging.getLogger(__name__)

#: Finished handles kept for ``get()``, so a caller that re-attaches just after the end still finds them.
_RECENT_LIMIT = 256
_RESTARTING = "The bot is restarting; please try again in a minute."

State = Literal["new", "running", "closing", "closed", "dead"]


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
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._state: State = "new"
        self._queued: list[Job] = []  # sorted by Job.key
        self._jobs: dict[str, Job] = {}  # queued + running
        self._running: Job | None = None
        self._recent: OrderedDict[str, JobHandle] = OrderedDict()
        self._round = 0
        self._arrivals = itertools.count()
        self._stamps = itertools.count()  # orders progress snapshots across threads
        self._metrics = MetricsRecorder()
        self._last_queue_refresh = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Future[None] | None = None

    @classmethod
    def from_config(cls, config: RuntimeConfig, catalog: Any) -> Runtime:
        """Build the runtime around the real model stack (imported here, so ``fact_runtime`` stays torch-free)."""
        from .engine import FactEngine

        return cls(
            FactEngine(config, catalog),
            config.queue,
            max_count=config.generation.max_count,
            default_steps=config.generation.num_inference_steps,
        )

    # Lifecycle

    async def start(self) -> None:
        """Start the worker thread and load the models on it.

        Raises
        ------
        Exception
            Whatever the engine's ``warm_up`` raised (e.g. ``ModelMissing``); the runtime is then dead.
        """
        if self._thread is not None:
            raise RuntimeError("the runtime was already started")
        loop = self._bind_loop()
        ready: asyncio.Future[None] = loop.create_future()
        self._stopped = loop.create_future()
        self._thread = threading.Thread(target=self._work, args=(ready,), name="fact-runtime-worker", daemon=True)
        self._thread.start()
        await ready
        log.info("runtime started (max_queued=%d, max_per_user=%d)", self._config.max_queued, self._config.max_per_user)

    async def close(self, *, cancel_running: bool | None = None) -> None:
        """Stop taking jobs, cancel the queued ones, finish or interrupt the running one, join the worker.

        Queued jobs end with ``JobCancelled`` (their ``user_message`` says the bot is restarting);
        the bot's job store re-queues them after the restart.

        Parameters
        ----------
        cancel_running:
            Interrupt the running job (True) or let it finish (False); None uses the config's
            ``is_drain_on_close``.
        """
        if cancel_running is None:
            cancel_running = not self._config.is_drain_on_close
        with self._lock:
            if self._state in ("new", "running"):
                self._state = "closing"
            dropped = self._queued
            self._queued = []
            for job in dropped:
                self._retire(job)
            if cancel_running and self._running is not None:
                self._running.cancel_requested.set()
            self._wakeup.notify_all()
        for job in dropped:
            error = JobCancelled(f"job {job.job_id}: the runtime is closing", user_message=_RESTARTING)
            self._deliver(job.handle._resolve, None, error, self._final(job))
        if self._stopped is not None:
            await asyncio.shield(self._stopped)
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            if self._state != "dead":
                self._state = "closed"
        log.info("runtime closed (%d queued jobs cancelled)", len(dropped))

    @property
    def is_alive(self) -> bool:
        return self._state == "running" and self._thread is not None and self._thread.is_alive()

    # Submission and queries (event loop)

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
        self._bind_loop()
        _check_request(request, max_count=self._max_count)
        with self._lock:
            if self._state == "dead":
                raise RuntimeDead("the runtime's worker is dead")
            if self._state in ("closing", "closed"):
                raise RuntimeDead("the runtime is closed", user_message=_RESTARTING)
            job_id = job_id or uuid.uuid4().hex
            if job_id in self._jobs:
                raise ValueError(f"job id {job_id!r} is already queued or running")
            own = [job for job in self._jobs.values() if job.user_id == request.user_id]
            if len(own) >= self._config.max_per_user:
                self._metrics.record_rejection(UserLimitReached.kind)
                raise UserLimitReached(f"user {request.user_id} has {len(own)} jobs in the queue")
            if len(self._queued) >= self._config.max_queued:
                self._metrics.record_rejection(QueueFull.kind)
                raise QueueFull(f"{len(self._queued)} jobs are queued")
            job_round = max(self._round, max((job.round for job in own), default=self._round - 1) + 1)
            handle = JobHandle(job_id, request, cancel=self._cancel, progress=Progress("queued"))
            job = Job(handle, job_round, next(self._arrivals))
            bisect.insort(self._queued, job, key=Job.key)
            self._jobs[job_id] = job
            self._recent.pop(job_id, None)
            self._publish_queue()
            self._wakeup.notify()
        log.info("job %s queued for user %s (position %d)", job_id, request.user_id, self.queue_position(job_id))
        return handle

    def get(self, job_id: str) -> JobHandle | None:
        """The handle of a queued, running or recently finished job."""
        with self._lock:
            job = self._jobs.get(job_id)
            return job.handle if job is not None else self._recent.get(job_id)

    def jobs_of(self, user_id: str) -> list[JobHandle]:
        """The user's running and queued jobs, in the order they will run."""
        with self._lock:
            return [job.handle for job in self._in_order() if job.user_id == user_id]

    def queue_position(self, job_id: str) -> int:
        """1-based place in the queue; 0 while running; -1 when unknown or finished."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return -1
            return 0 if job is self._running else self._queued.index(job) + 1

    @property
    def queue_depth(self) -> int:
        return len(self._queued)

    def metrics(self) -> RuntimeMetrics:
        """A snapshot of the counters."""
        with self._lock:
            depth, running = len(self._queued), int(self._running is not None)
        return self._metrics.snapshot(queue_depth=depth, running=running, is_alive=self.is_alive)

    def _cancel(self, handle: JobHandle) -> bool:
        with self._lock:
            job = self._jobs.get(handle.job_id)
            if job is None or job.handle is not handle:
                return False
            if job is self._running:
                job.cancel_requested.set()
                log.info("job %s: cancel requested while running", job.job_id)
                return True
            self._queued.remove(job)
            self._retire(job)
            self._metrics.record_outcome(JobCancelled.kind)
            self._publish_queue()
        log.info("job %s cancelled while queued", job.job_id)
        self._deliver(handle._resolve, None, JobCancelled(f"job {job.job_id} cancelled"), self._final(job))
        return True

    # Worker thread

    def _work(self, ready: asyncio.Future[None]) -> None:
        try:
            self._engine.warm_up()
        except BaseException as exc:
            log.exception("engine warm-up failed")
            self._die(f"engine warm-up failed: {exc!r}")
            self._deliver(_settle, ready, exc)
            self._deliver(_settle, self._stopped, None)
            return
        with self._lock:
            if self._state == "new":
                self._state = "running"
        self._deliver(_settle, ready, None)
        try:
            while (job := self._take()) is not None:
                self._run(job)
        except BaseException as exc:
            log.critical("the runtime's worker died", exc_info=True)
            self._die(f"the worker died: {exc!r}")
        finally:
            self._deliver(_settle, self._stopped, None)

    def _take(self) -> Job | None:
        with self._lock:
            while self._state == "running" and not self._queued:
                self._wakeup.wait()
            if self._state != "running":
                return None
            job = self._queued.pop(0)
            job.started_at = self._clock()
            self._running = job
            self._round = max(self._round, job.round)
            self._publish_queue()
            start = Progress("preparing", eta_s=self._expected_s(job))
            self._deliver(job.handle._put_progress, start, next(self._stamps))
        log.info("job %s started for user %s", job.job_id, job.user_id)
        return job

    def _run(self, job: Job) -> None:
        max_batch: int | None = None
        result: JobResult | None = None
        error: FactError | None = None
        for attempt in (1, 2):
            tracker = StepTracker(job, self._clock, self._config.job_timeout_s, self._metrics, self._on_step)
            try:
                result = self._engine.run(job.request, tracker, max_batch=max_batch)
                if job.cancel_requested.is_set():
                    result, error = None, JobCancelled(f"job {job.job_id} cancelled")
            except OutOfMemory as exc:
                if attempt == 1:
                    max_batch = max(1, job.request.count // 2)
                    log.warning("job %s ran out of memory; retrying with max_batch=%d", job.job_id, max_batch)
                    continue
                log.error("job %s ran out of memory again with max_batch=%d", job.job_id, max_batch)
                error = JobFailed(f"job {job.job_id}: out of memory twice ({exc})", user_message=exc.user_message)
            except (InputError, JobCancelled, JobTimedOut) as exc:
                error = exc
            except FactError as exc:
                log.exception("job %s failed", job.job_id)
                error = JobFailed(f"job {job.job_id}: {exc}", user_message=exc.user_message)
            except Exception as exc:
                log.exception("job %s failed", job.job_id)
                error = JobFailed(f"job {job.job_id}: {type(exc).__name__}: {exc}")
            finally:
                tracker.close()
            break
        self._finish(job, result, error)

    def _finish(self, job: Job, result: JobResult | None, error: FactError | None) -> None:
        outcome = "succeeded" if error is None else error.kind
        seconds = self._clock() - job.started_at
        self._metrics.record_outcome(outcome, seconds=seconds)
        if error is None and job.total:
            self._metrics.record_steps_per_image(job.total, job.request.count)
        with self._lock:
            self._running = None
            self._retire(job)
        log.info("job %s %s after %.1f s", job.job_id, outcome, seconds)
        self._deliver(job.handle._resolve, result, error, self._final(job))

    def _die(self, reason: str) -> None:
        with self._lock:
            self._state = "dead"
            lost = [job for job in (self._running, *self._queued) if job is not None]
            self._queued, self._running = [], None
            for job in lost:
                self._retire(job)
        for job in lost:
            self._metrics.record_outcome(RuntimeDead.kind)
            self._deliver(job.handle._resolve, None, RuntimeDead(f"job {job.job_id}: {reason}"), self._final(job))

    def _on_step(self, job: Job, progress: Progress) -> None:
        progress = Progress(progress.stage, progress.step, progress.total_steps, 0, self._remaining_s(job))
        self._deliver(job.handle._put_progress, progress, next(self._stamps))
        # Queued jobs' ETAs drift as the running job advances; refresh them about once a second.
        now = self._clock()
        if now - self._last_queue_refresh >= 1.0:
            self._last_queue_refresh = now
            with self._lock:
                self._publish_queue(force=True)

    # Shared helpers (callers hold the lock where noted)

    def _bind_loop(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop, self._loop_thread = loop, threading.get_ident()
        elif loop is not self._loop:
            raise RuntimeError("the runtime is bound to another event loop")
        return loop

    def _deliver(self, callback: Callable[..., None], *args: object) -> None:
        """Run ``callback`` on the event loop: directly when already there, else thread-safely."""
        if self._loop is None:
            return
        if threading.get_ident() == self._loop_thread:
            callback(*args)
            return
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:
            log.debug("event loop closed; dropped %s", getattr(callback, "__name__", callback))

    def _retire(self, job: Job) -> None:
        """Move a job out of the live set (lock held)."""
        self._jobs.pop(job.job_id, None)
        self._recent[job.job_id] = job.handle
        while len(self._recent) > _RECENT_LIMIT:
            self._recent.popitem(last=False)

    def _in_order(self) -> Iterable[Job]:
        if self._running is not None:
            yield self._running
        yield from self._queued

    def _publish_queue(self, *, force: bool = False) -> None:
        """Send each queued job its position and ETA, if changed or ``force`` (lock held)."""
        ahead_s = self._remaining_s(self._running) if self._running is not None else 0.0
        for position, job in enumerate(self._queued, start=1):
            own_s = self._expected_s(job)
            ahead_s = None if ahead_s is None or own_s is None else ahead_s + own_s
            if force or job.published_position != position:
                job.published_position = position
                progress = Progress("queued", queue_position=position, eta_s=ahead_s)
                self._deliver(job.handle._put_progress, progress, next(self._stamps))

    def _expected_s(self, job: Job) -> float | None:
        """Seconds a job is expected to take: count x steps per image x mean step time."""
        step_s = self._metrics.mean_step_s()
        if step_s is None:
            return None
        steps_per_image = self._metrics.steps_per_image() or self._default_steps
        return job.request.count * steps_per_image * step_s

    def _remaining_s(self, job: Job) -> float | None:
        """Seconds left for the running job: its remaining denoising steps, or all expected ones."""
        if not job.total:
            return self._expected_s(job)
        step_s = self._metrics.mean_step_s()
        return None if step_s is None else (job.total - job.step) * step_s

    @staticmethod
    def _final(job: Job) -> Progress:
        return Progress("done", job.step, job.total, 0, 0.0)


def _settle(future: asyncio.Future[None] | None, error: BaseException | None) -> None:
    if future is None or future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


def _check_request(request: JobRequest, *, max_count: int) -> None:
    """Refuse requests that can never run, before they take a place in the queue."""
    if not isinstance(request, PortraitRequest | InpaintRequest):
        raise TypeError(f"expected a PortraitRequest or InpaintRequest, got {type(request).__name__}")
    if not 1 <= request.count <= max_count:
        raise InvalidRequest(
            f"count {request.count} is outside 1..{max_count}",
            user_message=f"You can ask for 1 to {max_count} images.",
        )
    if not request.selfie:
        raise InvalidRequest("the selfie is empty", user_message="Please attach a selfie.")
    if request.seed is not None and request.seed < 0:
        raise InvalidRequest(f"seed {request.seed} is negative", user_message="The seed must be 0 or more.")
    if isinstance(request, InpaintRequest):
        if (request.template is None) == (request.template_id is None):
            raise InvalidRequest("give exactly one of template and template_id", user_message="Pick one template.")
        if request.face_index < 1:
            raise InvalidRequest(f"face_index {request.face_index} < 1", user_message="Face numbers start at 1.")
