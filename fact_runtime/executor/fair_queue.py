"""Both backends: the fair, bounded job queue shared by the event loop (admission, cancel) and whoever runs jobs (take).

Fairness: each job gets a round number. A user's next job goes one round after their newest
outstanding (queued or running) job, and never before the round now running. So users take
turns in order of arrival, a user returning after a pause joins the current round instead of
cashing in idle time, and one user's jobs stay FIFO. The queue runs in (round, arrival) order.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ..config import QueueConfig
from ..errors import JobTimedOut, QueueFull, RuntimeDead, UserLimitReached
from ..request import JobRequest
from ..results import Progress
from .handle import JobHandle

__all__ = ["RESTART_MESSAGE", "FairQueue", "Job"]

log = logging.getLogger(__name__)

#: Finished handles kept for ``get()``, so a caller that re-attaches just after the end still finds them.
_RECENT_LIMIT = 64
RESTART_MESSAGE = "The bot is restarting; please try again in a minute."

#: Called under the lock after the queue changed: (queued in order, running jobs, force).
OnChange = Callable[[Sequence["Job"], Sequence["Job"], bool], None]


@dataclass(eq=False, slots=True)
class Job:
    """The queue's record of one job: its place in the fair order and its live step count."""

    handle: JobHandle
    #: Fairness round; the queue runs in (round, arrival) order.
    round: int
    arrival: int
    #: Set from the loop, read by the engine thread's StepMonitor.
    cancel_requested: threading.Event = field(default_factory=threading.Event)
    started_at: float = 0.0
    step: int = 0
    total: int = 0
    #: The last queue snapshot sent to the handle (position and ETA).
    published: Progress | None = None
    #: ``total`` when the queue's ETAs were last refreshed for this running job.
    refreshed_total: int = 0
    #: Set by the watchdog when the job ran past a limit: its waiter already has this error.
    overrun: JobTimedOut | None = None

    def key(self) -> tuple[int, int]:
        return (self.round, self.arrival)

    @property
    def job_id(self) -> str:
        return self.handle.job_id

    @property
    def user_id(self) -> str:
        return self.handle.user_id

    @property
    def request(self) -> JobRequest:
        return self.handle.request


class FairQueue:
    """Queued and running jobs behind one lock.

    The local engine thread blocks in ``take`` until there is work; the Redis backend releases jobs with
    ``take_nowait`` whenever a remote worker has room, so several jobs may run at once.
    """

    def __init__(self, config: QueueConfig, on_change: OnChange, clock: Callable[[], float]) -> None:
        self._config = config
        self._on_change = on_change
        self._clock = clock
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self.state: Literal["open", "closing", "dead"] = "open"
        self._queued: list[Job] = []  # sorted by Job.key
        self._jobs: dict[str, Job] = {}  # queued + running
        self._running: dict[str, Job] = {}  # in the order they started
        self._recent: OrderedDict[str, JobHandle] = OrderedDict()
        self._round = 0
        self._arrivals = itertools.count()

    # Event loop side

    @property
    def running(self) -> Job | None:
        """The job that started first of those running (the local backend runs one at a time)."""
        with self._lock:
            return next(iter(self._running.values()), None)

    @property
    def running_jobs(self) -> list[Job]:
        with self._lock:
            return list(self._running.values())

    def admit(self, handle: JobHandle, *, is_running: bool = False) -> Job:
        """Queue a job, or refuse it with the typed error of the bound it breaks.

        ``is_running`` admits a job that is already running elsewhere (a remote worker took it
        before this process started): it takes its fair place among the running jobs at once.
        """
        with self._lock:
            if self.state == "dead":
                raise RuntimeDead("the runtime's engine is dead")
            if self.state == "closing":
                raise RuntimeDead("the runtime is closed", user_message=RESTART_MESSAGE)
            if handle.job_id in self._jobs:
                raise ValueError(f"job id {handle.job_id!r} is already queued or running")
            own = [job for job in self._jobs.values() if job.user_id == handle.user_id]
            if len(own) >= self._config.max_per_user:
                raise UserLimitReached.at(self._config.max_per_user)
            if len(self._queued) >= self._config.max_queued and not is_running:
                raise QueueFull(f"{len(self._queued)} jobs are queued")
            job_round = max(self._round, max((job.round for job in own), default=self._round - 1) + 1)
            job = Job(handle, job_round, next(self._arrivals))
            self._jobs[job.job_id] = job
            self._recent.pop(job.job_id, None)
            if is_running:
                self._start(job)
            else:
                bisect.insort(self._queued, job, key=Job.key)
            self._changed()
            self._wakeup.notify()
            return job

    def cancel(self, handle: JobHandle) -> tuple[Job, bool] | None:
        """Drop the job if queued, else flag it if running: (job, was_queued); None once finished."""
        with self._lock:
            job = self._jobs.get(handle.job_id)
            if job is None or job.handle is not handle:
                return None
            if job.job_id in self._running:
                job.cancel_requested.set()
                return job, False
            self._queued.remove(job)
            self._retire(job)
            self._changed()
            return job, True

    def find(self, job_id: str) -> Job | None:
        """The record of a queued or running job."""
        with self._lock:
            return self._jobs.get(job_id)

    def get(self, job_id: str) -> JobHandle | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return job.handle if job is not None else self._recent.get(job_id)

    def forget(self, user_id: str) -> None:
        """Drop the user's recently finished handles (and with them their results)."""
        with self._lock:
            for job_id in [job_id for job_id, handle in self._recent.items() if handle.user_id == user_id]:
                del self._recent[job_id]

    def jobs_of(self, user_id: str) -> list[JobHandle]:
        with self._lock:
            return [job.handle for job in self._in_order() if job.user_id == user_id]

    def position(self, job_id: str) -> int:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return -1
            return 0 if job.job_id in self._running else self._queued.index(job) + 1

    def depth(self) -> int:
        return len(self._queued)

    def close(self) -> list[Job]:
        """Refuse new jobs, empty the queue and return the dropped jobs; the engine thread stops after its job."""
        with self._lock:
            if self.state == "open":
                self.state = "closing"
            dropped, self._queued = self._queued, []
            for job in dropped:
                self._retire(job)
            self._wakeup.notify_all()
            return dropped

    # Worker side

    def take(self) -> Job | None:
        """Block until a job is queued and mark it running; None once closing."""
        with self._lock:
            while self.state == "open" and not self._queued:
                self._wakeup.wait()
            return self._take()

    def take_nowait(self) -> Job | None:
        """Mark the next job in fair order running, if any is queued and the queue is open."""
        with self._lock:
            return self._take() if self._queued else None

    def start(self, job: Job) -> None:
        """Mark one queued job running out of turn: it is already running elsewhere."""
        with self._lock:
            if job in self._queued:
                self._queued.remove(job)
                self._start(job)
                self._changed()

    def requeue(self, job: Job) -> None:
        """Put a running job back at its fair place in the queue (its remote run was lost)."""
        with self._lock:
            if self._running.pop(job.job_id, None) is job:
                job.step = job.total = 0
                bisect.insort(self._queued, job, key=Job.key)
                self._changed()
                self._wakeup.notify()

    def finish(self, job: Job) -> bool:
        """Retire a running job; True if a cancel was accepted for it (checked under the lock)."""
        with self._lock:
            self._running.pop(job.job_id, None)
            self._retire(job)
            self._changed()
            return job.cancel_requested.is_set()

    def kill(self) -> list[Job]:
        """Mark the runtime dead and return every job that was waiting on it."""
        with self._lock:
            self.state = "dead"
            lost = list(self._in_order())
            self._queued, self._running = [], {}
            for job in lost:
                self._retire(job)
            self._wakeup.notify_all()
            return lost

    def refresh(self) -> None:
        """Republish every queued job's progress (their ETAs drift as the running job advances)."""
        with self._lock:
            self._on_change(self._queued, list(self._running.values()), True)

    # Helpers (lock held)

    def _take(self) -> Job | None:
        if self.state != "open":
            return None
        job = self._queued.pop(0)
        self._start(job)
        self._changed()
        return job

    def _start(self, job: Job) -> None:
        job.started_at = self._clock()
        self._running[job.job_id] = job
        self._round = max(self._round, job.round)

    def _changed(self) -> None:
        self._on_change(self._queued, list(self._running.values()), False)

    def _retire(self, job: Job) -> None:
        self._jobs.pop(job.job_id, None)
        # A finished job needs its photos no longer: keeping them here would outlive the
        # bot's retention window and /forget.
        job.handle.drop_inputs()
        self._recent[job.job_id] = job.handle
        while len(self._recent) > _RECENT_LIMIT:
            self._recent.popitem(last=False)

    def _in_order(self) -> Iterator[Job]:
        yield from self._running.values()
        yield from self._queued
