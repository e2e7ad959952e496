"""A worker's claims on job entries: its own first, then a lost worker's, then new ones; and the
atomic scripts that publish, renew or hand back a claim only while the worker still holds it."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from ..config import BrokerConfig
from .broker import HAND_BACK, PUBLISH, TOUCH, BrokerKeys, StreamEntry, entries, script_args

if TYPE_CHECKING:
    import redis.asyncio as aioredis

__all__ = ["Claims"]

log = logging.getLogger(__name__)


class Claims:
    """The Redis side of one worker's jobs, under its consumer name."""

    def __init__(self, client: aioredis.Redis, keys: BrokerKeys, name: str, config: BrokerConfig) -> None:
        self._client = client
        self._keys = keys
        self._name = name
        self._config = config

    async def own(self) -> StreamEntry | None:
        """An entry handed to this name before (the worker restarted mid-job)."""
        keys, client = self._keys, self._client
        reply = await client.xreadgroup(keys.workers_group, self._name, {keys.jobs: "0"}, count=1)
        for entry in entries(reply):
            if entry.fields:
                log.info("worker %s resumes job %s it held before", self._name, entry.text("job"))
                return entry
            await client.xack(keys.jobs, keys.workers_group, entry.entry_id)  # deleted meanwhile
        return None

    async def reclaim(self, connected_at: float) -> StreamEntry | None:
        """A job whose worker is gone: idle past ``lost_after_s`` and its owner without a heartbeat."""
        lost_s = self._config.lost_after_s
        # A freshly (re)connected worker waits one loss period, so live owners can renew their claims first.
        if time.monotonic() - connected_at < lost_s:
            return None
        keys, client, lost_ms = self._keys, self._client, int(lost_s * 1000)
        for row in await client.xpending_range(keys.jobs, keys.workers_group, "-", "+", 16, idle=lost_ms):
            consumer = row["consumer"]
            owner = consumer.decode() if isinstance(consumer, bytes) else str(consumer)
            if owner != self._name and await client.exists(keys.worker(owner)):
                continue
            # XCLAIM with the idle bound is atomic: of two workers reclaiming, only one gets it.
            claimed = await client.xclaim(keys.jobs, keys.workers_group, self._name, lost_ms, [row["message_id"]])
            for entry in entries(claimed):
                if not entry.fields:
                    await client.xack(keys.jobs, keys.workers_group, entry.entry_id)
                    continue
                await client.hincrby(keys.stats, "reclaimed", 1)
                log.warning("worker %s reclaimed job %s from lost worker %s", self._name, entry.text("job"), owner)
                return entry
        return None

    async def new(self) -> StreamEntry | None:
        """A newly released job, waiting at most one heartbeat for it."""
        keys = self._keys
        block = max(1, int(self._config.heartbeat_s * 1000))
        reply = await self._client.xreadgroup(keys.workers_group, self._name, {keys.jobs: ">"}, count=1, block=block)
        found = [entry for entry in entries(reply) if entry.fields]
        return found[0] if found else None

    async def publish(self, entry: StreamEntry, fields: dict[bytes, bytes]) -> bool:
        """Add the outcome and retire the entry, if this worker still holds it; False if it lost it."""
        keys = self._keys
        args = script_args(keys.workers_group, self._name, entry.entry_id, fields)
        return bool(await self._client.eval(PUBLISH, 2, keys.jobs, keys.results, *args))

    async def renew(self, entry: StreamEntry) -> bool:
        """Reset the entry's idle time (the job is alive), if this worker still holds it."""
        keys = self._keys
        args = script_args(keys.workers_group, self._name, entry.entry_id)
        return bool(await self._client.eval(TOUCH, 1, keys.jobs, *args))

    async def hand_back(self, entry: StreamEntry) -> bool:
        """Re-add the job for another worker and retire this worker's entry."""
        keys = self._keys
        args = script_args(keys.workers_group, self._name, entry.entry_id, entry.fields)
        return bool(await self._client.eval(HAND_BACK, 2, keys.jobs, keys.stats, *args))
