"""Both processes: the Redis key names of one deployment, and how long capped streams and markers live.

``{prefix}:jobs``      stream of released jobs; consumer group ``workers``, one consumer per worker
``{prefix}:results``   stream of outcomes; consumer group ``bot``; acknowledged once handed over
``{prefix}:progress``  stream of progress snapshots (capped, and trimmed as the bot reads them)
``{prefix}:control``   stream every worker reads: cancels and forgets (capped)
``{prefix}:released``  hash job id -> owner: jobs the bot released and has no outcome for yet
``{prefix}:cancelled:{job}``  marker a worker checks before it starts a job (expires after a day)
``{prefix}:worker:{name}``    a worker's heartbeat (JSON), expiring when it goes silent
``{prefix}:stats``     hash of broker counters (``reclaimed``, ``handed_back``)
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CANCEL_TTL_S", "CAPPED_LENGTH", "BrokerKeys"]

#: Progress and control entries kept (approximately); readers only care about the newest.
CAPPED_LENGTH = 10_000
#: A cancel marker outlives any job.
CANCEL_TTL_S = 86_400


@dataclass(frozen=True, slots=True)
class BrokerKeys:
    """Every name under one deployment's prefix."""

    prefix: str

    @property
    def jobs(self) -> str:
        return f"{self.prefix}:jobs"

    @property
    def results(self) -> str:
        return f"{self.prefix}:results"

    @property
    def progress(self) -> str:
        return f"{self.prefix}:progress"

    @property
    def control(self) -> str:
        return f"{self.prefix}:control"

    @property
    def released(self) -> str:
        return f"{self.prefix}:released"

    @property
    def stats(self) -> str:
        return f"{self.prefix}:stats"

    def cancelled(self, job_id: str) -> str:
        return f"{self.prefix}:cancelled:{job_id}"

    def worker(self, name: str) -> str:
        return f"{self.prefix}:worker:{name}"

    @property
    def worker_pattern(self) -> str:
        return f"{self.prefix}:worker:*"

    workers_group: str = "workers"
    bot_group: str = "bot"
