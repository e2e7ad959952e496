"""Bot process: what the dispatcher tells the Redis runtime (events), and what it reads of it (``JobSource``).

The dispatcher never holds the runtime: it takes jobs through ``JobSource`` and puts events on a
queue that one runtime task applies in order, so every change to a job happens on that task.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ...errors import FactError
    from ...results import JobResult, Progress
    from ..fair_queue import Job

__all__ = [
    "Emit",
    "Event",
    "Finished",
    "JobSource",
    "Progressed",
    "Reconnected",
    "ReleaseFailed",
    "Released",
    "Scanned",
    "WorkerLost",
]


class JobSource(Protocol):
    """Where the dispatcher takes jobs from: the runtime's fair queue."""

    def take_next(self) -> Job | None:
        """The next job in fair order, marked running; None when none is queued or the queue is closed."""
        ...


@dataclass(frozen=True, slots=True)
class Released:
    """The job is in the jobs stream: a worker will take it."""

    job_id: str


@dataclass(frozen=True, slots=True)
class ReleaseFailed:
    """The job's release did not reach Redis (or Redis lost it): it goes back to its fair place."""

    job_id: str


@dataclass(frozen=True, slots=True)
class Reconnected:
    """Redis answers again; ``released`` is its list of jobs on workers (job -> member)."""

    released: dict[str, str]


@dataclass(frozen=True, slots=True)
class Progressed:
    """A worker reported a stage or a step."""

    job_id: str
    progress: Progress
    worker: str


@dataclass(frozen=True, slots=True)
class Finished:
    """A worker published the job's outcome; ``entry_id`` is retired once the runtime has handed it over."""

    job_id: str
    outcome: JobResult | FactError
    worker: str
    entry_id: str
    user_id: str


@dataclass(frozen=True, slots=True)
class WorkerLost:
    """A worker's heartbeat expired; ``job_id`` is what it was running (another worker reclaims it)."""

    name: str
    job_id: str | None


@dataclass(frozen=True, slots=True)
class Scanned:
    """The periodic look at the workers and the broker is done (a moment to expire stale things)."""


Event = Released | ReleaseFailed | Reconnected | Progressed | Finished | WorkerLost | Scanned
Emit = Callable[[Event], None]
