"""Bot process: the one place that knows which jobs are on the workers, and which worker runs each.

It mirrors Redis's ``released`` hash: jobs released by this process and by an earlier one (a job
a restarted bot has not resubmitted yet still holds a worker), until their outcome is retired.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Flight", "InFlight"]


@dataclass(slots=True)
class Flight:
    """One released job: its member, the worker running it (once known), whether its outcome arrived."""

    user_id: str
    worker: str | None = None
    is_done: bool = False
    #: When it was added (``InFlight.mark``), so a reconnection keeps releases that raced it.
    added: int = 0


class InFlight:
    """Released jobs by id; changed only on the event loop."""

    def __init__(self) -> None:
        self._flights: dict[str, Flight] = {}
        self._counter = itertools.count(1)
        self._last = 0

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._flights

    def __len__(self) -> int:
        return len(self._flights)

    def mark(self) -> int:
        """A point in time: ``reset`` keeps what was added after it."""
        return self._last

    def add(self, job_id: str, user_id: str) -> None:
        self._last = next(self._counter)
        self._flights[job_id] = Flight(user_id, added=self._last)

    def remove(self, job_id: str) -> None:
        self._flights.pop(job_id, None)

    def reset(self, released: Mapping[str, str], *, since: int) -> None:
        """Redis's list after a (re)connection, plus releases made since ``since``; known workers are kept."""
        kept = {job_id: flight for job_id, flight in self._flights.items() if flight.added > since}
        for job_id, user_id in released.items():
            known = self._flights.get(job_id)
            kept.setdefault(job_id, known if known is not None else Flight(user_id))
        self._flights = kept

    def ran_on(self, job_id: str, worker: str) -> None:
        """A worker reported progress for the job."""
        if (flight := self._flights.get(job_id)) is not None:
            flight.worker = worker or None

    def done(self, job_id: str) -> None:
        """Its outcome arrived: it holds no worker any more, though not retired yet."""
        if (flight := self._flights.get(job_id)) is not None:
            flight.is_done = True

    def user_of(self, job_id: str) -> str:
        flight = self._flights.get(job_id)
        return "" if flight is None else flight.user_id

    def workers(self) -> dict[str, str | None]:
        """Each job still holding a worker -> that worker (None: not started, or its worker is lost)."""
        return {job_id: flight.worker for job_id, flight in self._flights.items() if not flight.is_done}
