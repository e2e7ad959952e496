"""Bot process: the fleet, the bot's view of its worker processes: who is alive (by heartbeat), their room and their speed."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from ...metrics import WorkerStatus
from .codec import SCHEMA_VERSION

__all__ = ["Fleet"]

log = logging.getLogger(__name__)


class Fleet:
    """The live workers, replaced wholesale at each scan of their heartbeats."""

    def __init__(self, *, fingerprint: str = "") -> None:
        #: The bot's broker key, by fingerprint: a worker sealing with another key cannot read its jobs.
        self.fingerprint = fingerprint
        self.workers: dict[str, WorkerStatus] = {}
        self._warned: set[str] = set()

    def update(self, statuses: Iterable[WorkerStatus]) -> list[WorkerStatus]:
        """Replace the fleet with the live heartbeats; the workers that went silent since the last update."""
        workers = {status.name: status for status in statuses}
        for name in workers.keys() - self.workers.keys():
            status = workers[name]
            log.info("worker %s is up (%s, schema %d)", name, status.device or "?", status.schema)
        for name in self.workers.keys() - workers.keys():
            log.warning("worker %s is gone (no heartbeat)", name)
        for status in workers.values():
            if not status.is_compatible and status.name not in self._warned:
                self._warned.add(status.name)
                if status.schema != SCHEMA_VERSION:
                    log.error(
                        "worker %s speaks message schema %d, this bot %d: it gets no jobs until it is upgraded",
                        status.name,
                        status.schema,
                        SCHEMA_VERSION,
                    )
                else:
                    log.error(
                        "worker %s seals with broker key %s, this bot with %s: it gets no jobs until both "
                        "have the same FACT_BROKER_KEY (or runtime.broker.key_file)",
                        status.name,
                        status.key_fingerprint or "(none)",
                        self.fingerprint,
                    )
        gone = [self.workers[name] for name in self.workers.keys() - workers.keys()]
        self.workers = workers
        return gone

    def clear(self) -> None:
        """Forget every worker (the broker is unreachable, so none can be reached either)."""
        self.workers = {}

    def is_ready(self, name: str | None) -> bool:
        """True for a live worker of this schema that takes jobs."""
        status = self.workers.get(name or "")
        return status is not None and status.is_ready and status.is_compatible

    @property
    def capacity(self) -> int:
        """Jobs the ready workers can hold at once."""
        return sum(s.capacity for s in self.workers.values() if s.is_ready and s.is_compatible)

    def free_slots(self, assignments: Mapping[str, str | None]) -> int:
        """Room left for new jobs, given each in-flight job's worker (None: not started, or its worker is lost).

        A job on a ready worker takes that worker's room; a job with no live worker will take a
        ready worker's room when it is picked up or reclaimed; a job finishing on a worker that
        is shutting down takes none.
        """
        used = 0
        for worker in assignments.values():
            status = self.workers.get(worker or "")
            if status is None or self.is_ready(worker):
                used += 1
        return self.capacity - used

    def mean_step_s(self) -> float | None:
        """The mean denoising step time measured by the live workers; None before any step."""
        total = sum(s.step_seconds[0] for s in self.workers.values() if s.is_compatible)
        count = sum(s.step_seconds[1] for s in self.workers.values() if s.is_compatible)
        return total / count if count else None
