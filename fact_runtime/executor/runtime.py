"""Bot process (local backend) and worker process: ``Runtime.submit(request) -> JobHandle`` on an engine in this process.

The event loop calls ``submit``, ``cancel`` and the queries; one engine thread owns the engine
(``engine_thread.py``). They share only the fair queue (one lock, never held while the engine
runs) and the job lifecycle over it. A watchdog thread (``watchdog.py``) fails jobs whose step
overran and declares a stuck engine dead. ``RedisRuntime`` is the other backend.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..config import GenerationConfig, QueueConfig
from ..limits import RequestLimits
from ..metrics import RuntimeMetrics
from ..request import JobRequest
from ..results import Engine
from .engine_thread import EngineThread
from .fair_queue import Job
from .front import QueueFront
from .handle import JobHandle
from .progress import QueueBoard
from .watchdog import Watchdog

if TYPE_CHECKING:
    from ..catalog import StyleCatalog
    from ..config import RuntimeConfig

__all__ = ["Runtime"]

log = logging.getLogger(__name__)


class Runtime(QueueFront):
    """Runs jobs one at a time on a single engine thread that owns the engine (and the GPU).

    Parameters
    ----------
    engine:
        The model stack (``FactEngine``) or a fake.
    queue:
        Admission bounds, the job, step and hang limits, and the close behaviour.
    limits:
        What a request may ask for (count, image caps); checked before it is queued.
    clock:
        Monotonic seconds; injectable for tests.
    default_steps:
        Denoising steps per image assumed for ETAs until a job has finished.
    """

    def __init__(
        self,
        engine: Engine,
        queue: QueueConfig | None = None,
        *,
        limits: RequestLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
        default_steps: int = GenerationConfig().num_inference_steps,
    ) -> None:
        super().__init__(queue, limits)
        self._build_queue(QueueBoard(self._poster, self._metrics, default_steps=default_steps), clock)
        # The watchdog's verdicts are carried out by the engine thread's object (the thread itself may be stuck).
        self._watchdog = Watchdog(
            self._config,
            clock,
            on_overrun=lambda job, error: self._engine_thread.fail_overrun(job, error),
            on_hang=lambda reason: self._engine_thread.die(reason),
        )
        self._engine_thread = EngineThread(
            engine,
            self._queue,
            config=self._config,
            poster=self._poster,
            lifecycle=self._lifecycle,
            metrics=self._metrics,
            clock=clock,
            watchdog=self._watchdog,
        )
        self._engine_thread.on_death = self._on_death
        self._engine = engine
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Future[None] | None = None
        self._died: asyncio.Future[None] | None = None
        self._death_reason = ""

    @classmethod
    def from_config(cls, config: RuntimeConfig, catalog: StyleCatalog) -> Runtime:
        """Build the runtime around the real model stack (imported here, so ``fact_runtime`` stays torch-free)."""
        from ..pipelines import FactEngine

        return cls(
            FactEngine(config, catalog),
            config.queue,
            limits=RequestLimits.from_config(config),
            default_steps=config.generation.num_inference_steps,
        )

    async def start(self) -> None:
        """Start the engine thread and load the models on it; jobs submitted earlier run after that.

        Raises
        ------
        Exception
            Whatever the engine's ``warm_up`` raised (e.g. ``ModelMissing``); the runtime is then dead.
        """
        if self._thread is not None:
            raise RuntimeError("the runtime was already started")
        loop = self._poster.bind()
        ready: asyncio.Future[None] = loop.create_future()
        self._stopped = loop.create_future()
        self._died = self._died or loop.create_future()
        self._watchdog.start()
        # A daemon, so an engine stuck in a step cannot keep the process alive after the bot exits.
        self._thread = threading.Thread(
            target=self._engine_thread.run, args=(ready, self._stopped), name="fact-engine-thread", daemon=True
        )
        self._thread.start()
        await ready
        log.info("runtime started (max_queued=%d, max_per_user=%d)", self._config.max_queued, self._config.max_per_user)

    async def close(self, *, cancel_running: bool | None = None) -> None:
        """Refuse new jobs, cancel the queued ones, finish or interrupt the running one, join the engine thread.

        Queued jobs end with ``JobCancelled`` whose ``user_message`` says the bot is restarting;
        the bot's job store re-queues them after the restart. It returns in bounded time whatever
        the engine does: an interrupted job gets ``queue.close_timeout_s`` to stop, a drained one
        is bounded by the watchdog (its job limit, then the hang limit); an engine thread still stuck after
        that is left behind (a daemon thread) and the runtime is dead.

        Parameters
        ----------
        cancel_running:
            Interrupt the running job (True) or let it finish (False); None uses the config's
            ``is_drain_on_close``.
        """
        if cancel_running is None:
            cancel_running = not self._config.is_drain_on_close
        dropped = self._lifecycle.close()
        running = self._queue.running
        if cancel_running and running is not None:
            running.cancel_requested.set()
        if self._stopped is not None and self._died is not None:
            timeout = self._config.close_timeout_s if cancel_running else None
            await asyncio.wait((self._stopped, self._died), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if not self._stopped.done() and not self.is_dead:
                self._engine_thread.die(
                    f"the engine thread did not stop within {self._config.close_timeout_s:g} s of close()"
                )
        self._watchdog.stop()
        if self._thread is not None and self._stopped is not None and self._stopped.done():
            self._thread.join()
        log.info("runtime closed (%d queued jobs cancelled)", len(dropped))

    async def wait_dead(self) -> str:
        """Wait until the runtime is declared dead (engine thread crashed, or stuck past ``queue.hang_timeout_s``); why.

        It may be awaited before ``start()``: a warm-up that fails counts as a death too.
        """
        if self._died is None:
            self._died = self._poster.bind().create_future()
        await asyncio.shield(self._died)
        return self._death_reason

    @property
    def is_dead(self) -> bool:
        """True once the engine thread has died (not merely before start or while closing): a restart is needed."""
        return self._queue.state == "dead"

    @property
    def is_alive(self) -> bool:
        thread = self._thread
        return self._engine_thread.is_warm and self._queue.state == "open" and thread is not None and thread.is_alive()

    def submit(self, request: JobRequest, *, job_id: str | None = None) -> JobHandle:
        """Queue a job and return its handle at once; the event loop never waits here.

        Raises
        ------
        InvalidRequest
            ``count``, the seed, ``face_index`` or the inputs are out of range.
        UserLimitReached
            The user already has ``max_per_user`` jobs queued or running.
        QueueFull
            ``max_queued`` jobs are waiting.
        RuntimeDead
            The engine thread died, or the runtime is closing.
        """
        handle, _ = self._admit(request, job_id)
        log.info("job %s queued for user %s", handle.job_id, handle.user_id)
        return handle

    def forget_user(self, user_id: str) -> None:
        """Drop what the runtime still holds about the user's finished jobs (their photos, results, face cache).

        Queued and running jobs are the caller's to cancel first.
        """
        self._queue.forget(user_id)
        self._engine.forget_user(user_id)

    @property
    def unhealthy_tasks(self) -> tuple[str, ...]:
        """The background threads that died: the watchdog (the runtime is then dead too)."""
        return () if self._watchdog.is_healthy else ("watchdog",)

    def metrics(self) -> RuntimeMetrics:
        """A snapshot of the counters."""
        return self._lifecycle.metrics(is_alive=self.is_alive)

    def _on_death(self, reason: str) -> None:
        # From any thread, possibly twice (the watchdog, then close): the first reason stands.
        if not self._death_reason:
            self._death_reason = reason
        self._poster.settle(self._died)

    def _stop_running(self, job: Job) -> None:
        # The job's StepMonitor sees the flag the fair queue set, at the engine's next report.
        log.info("job %s: cancel requested while running", job.job_id)
