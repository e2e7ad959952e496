"""The Redis layout shared by the bot and its worker processes: key names, groups, atomic scripts.

``{prefix}:jobs``      stream of released jobs; consumer group ``workers``, one consumer per worker
``{prefix}:results``   stream of outcomes; consumer group ``bot``; acknowledged once handed over
``{prefix}:progress``  stream of progress snapshots (capped: old ones are worthless)
``{prefix}:control``   stream every worker reads: cancels and forgets (capped)
``{prefix}:released``  hash job id -> owner: jobs the bot released and has no outcome for yet
``{prefix}:cancelled:{job}``  marker a worker checks before it starts a job (expires after a day)
``{prefix}:worker:{name}``    a worker's heartbeat (JSON), expiring when it goes silent
``{prefix}:stats``     hash of broker counters (``reclaimed``, ``handed_back``)
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ResponseError

from ..config import BrokerConfig

__all__ = [
    "CANCEL_TTL_S",
    "CAPPED_LENGTH",
    "HAND_BACK",
    "PUBLISH",
    "TOUCH",
    "BrokerKeys",
    "StreamEntry",
    "check_cancelled",
    "connect",
    "ensure_group",
    "entries",
    "script_args",
]

log = logging.getLogger(__name__)

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


@dataclass(frozen=True, slots=True)
class StreamEntry:
    """One stream entry: its id and its fields (bytes, as stored)."""

    entry_id: str
    fields: dict[bytes, bytes]

    def text(self, name: str) -> str:
        raw = self.fields.get(name.encode())
        return "" if raw is None else raw.decode("utf-8", "replace")


def connect(url: str, config: BrokerConfig) -> aioredis.Redis:
    """An asyncio client that fails fast: no silent retries, so an outage is seen (and said) at once.

    Raises
    ------
    ValueError
        The URL is not a Redis URL.
    """
    # A blocking read waits up to one heartbeat; the socket allows that and a margin.
    timeout = max(5.0, 2 * config.heartbeat_s)
    return aioredis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )


async def ensure_group(client: aioredis.Redis, stream: str, group: str) -> None:
    """Create the consumer group (and its stream) unless it exists: after a Redis restart without data too."""
    try:
        await client.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def check_cancelled() -> None:
    """Raise the cancellation of a task whose blocking read redis-py ended without raising it.

    Cancelled mid-read, redis-py may disconnect and return, or raise a connection error, instead
    of letting ``CancelledError`` through; a loop around such reads calls this after each one.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def entries(response: Any) -> list[StreamEntry]:
    """The entries of an XREAD/XREADGROUP/XCLAIM reply; deleted ones (no fields) come back empty."""
    if not response:
        return []
    if isinstance(response, dict):  # RESP3: {stream: [[id, fields], ...]}
        rows = [row for stream_rows in response.values() for row in stream_rows]
    elif (
        response
        and isinstance(response[0], list | tuple)
        and len(response[0]) == 2
        and isinstance(response[0][1], list)
    ):  # RESP2 XREAD: [[stream, [[id, fields], ...]], ...]
        rows = [row for _, stream_rows in response for row in stream_rows]
    else:  # XCLAIM / XRANGE: [[id, fields], ...]
        rows = list(response)
    found = []
    for entry_id, fields in rows:
        key = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
        found.append(StreamEntry(key, dict(fields or {})))
    return found


# Scripts: each checks, under Redis's single thread, that the calling worker still owns the job's
# entry, so a worker that was presumed lost can never publish twice or take a job back.
_OWNS = """
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #pending == 0 or pending[1][2] ~= ARGV[2] then return 0 end
"""

#: KEYS: jobs, results. ARGV: group, consumer, entry id, then the outcome's field/value pairs.
#: Publishes the outcome, acknowledges and deletes the job entry.
PUBLISH = (
    _OWNS
    + """
redis.call('XADD', KEYS[2], '*', unpack(ARGV, 4))
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
redis.call('XDEL', KEYS[1], ARGV[3])
return 1
"""
)

#: KEYS: jobs. ARGV: group, consumer, entry id. Resets the entry's idle time (the job is alive).
TOUCH = (
    _OWNS
    + """
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
return 1
"""
)

#: KEYS: jobs, stats. ARGV: group, consumer, entry id, then the job's field/value pairs.
#: Re-adds the job for another worker, then acknowledges and deletes this worker's entry.
HAND_BACK = (
    _OWNS
    + """
redis.call('XADD', KEYS[1], '*', unpack(ARGV, 4))
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
redis.call('XDEL', KEYS[1], ARGV[3])
redis.call('HINCRBY', KEYS[2], 'handed_back', 1)
return 1
"""
)


def script_args(group: str, consumer: str, entry_id: str, fields: dict[bytes, bytes] | None = None) -> list[Any]:
    args: list[Any] = [group, consumer, entry_id]
    for name, value in (fields or {}).items():
        args += [name, value]
    return args
