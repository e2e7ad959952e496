"""Bot process (local backend) and worker process: the watchdog thread, which notices a job or an engine thread that stopped making progress.

The engine thread cannot be interrupted inside a step (a CUDA kernel that never returns, a
deadlock), so the engine's reports alone cannot enforce a limit. The engine thread tells the watchdog
when a job starts and at every report; the watchdog looks at the clock a few times per limit:

- a job whose current step or stage has run past ``queue.step_timeout_s``, or which has run past
  ``queue.job_timeout_s`` in all, is failed for its waiter at once with ``JobTimedOut``. The
  engine thread learns at the engine's next report (``Job.overrun``) and posts nothing more for it.
- an engine thread silent for ``queue.hang_timeout_s`` is declared dead: every waiter gets
  ``RuntimeDead``, ``submit()`` refuses, the health endpoints turn red, and the process must be
  restarted (the bot's job store re-queues its jobs at the next start).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ..config import QueueConfig
from ..errors import JobTimedOut
from .fair_queue import Job

__all__ = ["Watchdog"]

log = logging.getLogger(__name__)

#: Checks per shortest limit, so a verdict comes at most a tenth of that limit late (and within 1 s).
_CHECKS_PER_LIMIT = 10


class Watchdog:
    """Watches the running job from its own thread; verdicts go to the two callbacks.

    Parameters
    ----------
    config:
        The step, job and hang limits.
    clock:
        Monotonic seconds, the same clock the engine thread stamps jobs with.
    on_overrun:
        Called (on the watchdog thread) with a job that ran past a limit and the error its waiter gets.
    on_hang:
        Called once (on the watchdog thread) with the reason when the engine thread is declared dead.
    """

    def __init__(
        self,
        config: QueueConfig,
        clock: Callable[[], float],
        *,
        on_overrun: Callable[[Job, JobTimedOut], None],
        on_hang: Callable[[str], None],
    ) -> None:
        self._config = config
        self._clock = clock
        self._on_overrun = on_overrun
        self._on_hang = on_hang
        shortest = min(config.step_timeout_s, config.job_timeout_s, config.hang_timeout_s)
        self.tick_s = min(1.0, max(0.005, shortest / _CHECKS_PER_LIMIT))
        self._lock = threading.Lock()
        self._job: Job | None = None
        self._last_report = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._crash: Exception | None = None

    def start(self) -> None:
        # A daemon: the watchdog must never be what keeps a process alive.
        self._thread = threading.Thread(target=self._run, name="fact-runtime-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5 * self.tick_s + 1.0)

    # Worker side

    def watch(self, job: Job) -> None:
        """The engine thread took ``job``; its limits count from now (``job.started_at``)."""
        with self._lock:
            self._job, self._last_report = job, self._clock()

    def report(self) -> None:
        """The engine reported a stage or step: the engine thread is alive and the step limit starts again."""
        with self._lock:
            self._last_report = self._clock()

    def release(self, job: Job) -> bool:
        """The engine thread is done with ``job``; False when the watchdog already failed it (nothing left to post)."""
        with self._lock:
            if self._job is job:
                self._job = None
            return job.overrun is None

    # The watchdog's thread

    @property
    def is_healthy(self) -> bool:
        """False once its thread died of an error (the engine is then declared dead: nothing watches it)."""
        return self._crash is None

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.tick_s):
                self.check()
        except Exception as exc:  # an unwatched engine must not look healthy: it is declared dead
            self._crash = exc
            log.critical("the watchdog thread died; the engine is no longer watched", exc_info=True)
            self._on_hang(f"the watchdog died: {exc!r}")

    def check(self) -> None:
        """Look at the running job once: fail it if it overran, declare the engine thread dead if it hung."""
        config = self._config
        overrun: JobTimedOut | None = None
        hang: str | None = None
        with self._lock:
            job = self._job
            if job is None:
                return
            now = self._clock()
            silent_s = now - self._last_report
            if job.overrun is None:
                if silent_s > config.step_timeout_s:
                    overrun = JobTimedOut(
                        f"job {job.job_id}: a step or stage ran past its {config.step_timeout_s:g} s limit"
                    )
                elif now - job.started_at > config.job_timeout_s:
                    overrun = JobTimedOut(f"job {job.job_id} ran past its {config.job_timeout_s:g} s limit")
                job.overrun = overrun
            # The stuck job itself always ends timed out (above), never dead: after the restart it is
            # not re-queued, so it cannot wedge the next process too.
            if silent_s > config.hang_timeout_s:
                hang = f"the engine thread has been stuck in job {job.job_id} for {silent_s:.0f} s"
                self._job = None
                self._stop.set()
        # The callbacks post to the event loop and take the fair queue's lock: never under ours.
        if overrun is not None:
            log.error("%s; failed now, the engine thread is still inside it", overrun)
            self._on_overrun(job, overrun)
        if hang is not None:
            log.critical("%s (limit %g s): the runtime is dead; restart the process", hang, config.hang_timeout_s)
            self._on_hang(hang)
