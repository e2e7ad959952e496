"""Both processes: the Redis connection, consumer groups, and stream entries as redis-py returns them."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, ResponseError

from ...config import BrokerConfig

__all__ = ["BROKEN", "StreamEntry", "check_cancelled", "connect", "ensure_group", "entries", "shown_url"]

#: What a lost or refused connection raises.
BROKEN: tuple[type[BaseException], ...] = (RedisError, OSError)

_PASSWORD = re.compile(r"//[^@/]*@")


@dataclass(frozen=True, slots=True)
class StreamEntry:
    """One stream entry: its id and its fields (bytes, as stored; read them through ``codec``)."""

    entry_id: str
    fields: dict[bytes, bytes]


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


def shown_url(url: str) -> str:
    """The URL without its password, for logs."""
    return _PASSWORD.sub("//***@", url)


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
