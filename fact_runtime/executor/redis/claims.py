"""Worker process: its claims on job entries, its own first, then a lost worker's, then new ones.

Publishing, renewing and handing back go through ``scripts``, which act only while the worker
still holds the entry.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from ...config import BrokerConfig
from .codec import job_of
from .keys import BrokerKeys
from .scripts import ClaimScripts
from .streams import BROKEN, StreamEntry, entries

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
        self._scripts = ClaimScripts(client, keys, name)

    async def own(self) -> StreamEntry | None:
        """An entry handed to this name before (the worker restarted mid-job)."""
        keys, client = self._keys, self._client
        reply = await client.xreadgroup(keys.workers_group, self._name, {keys.jobs: "0"}, count=1)
        for entry in entries(reply):
            if entry.fields:
                log.info("worker %s resumes job %s it held before", self._name, job_of(entry.fields))
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
            owner = consumer.decode("utf-8", "replace") if isinstance(consumer, bytes) else str(consumer)
            if owner != self._name and await client.exists(keys.worker(owner)):
                continue
            # XCLAIM with the idle bound is atomic: of two workers reclaiming, only one gets it.
            claimed = await client.xclaim(keys.jobs, keys.workers_group, self._name, lost_ms, [row["message_id"]])
            for entry in entries(claimed):
                if not entry.fields:
                    await client.xack(keys.jobs, keys.workers_group, entry.entry_id)
                    continue
                await client.hincrby(keys.stats, "reclaimed", 1)
                job_id = job_of(entry.fields)
                log.warning("worker %s reclaimed job %s from lost worker %s", self._name, job_id, owner)
                return entry
        return None

    async def new(self) -> StreamEntry | None:
        """A newly released job, waiting at most one heartbeat for it."""
        keys = self._keys
        block = max(1, int(self._config.heartbeat_s * 1000))
        reply = await self._client.xreadgroup(keys.workers_group, self._name, {keys.jobs: ">"}, count=1, block=block)
        found = [entry for entry in entries(reply) if entry.fields]
        return found[0] if found else None

    async def publish(self, entry: StreamEntry, outcome: dict[bytes, bytes]) -> bool:
        """Add the outcome and retire the entry, if this worker still holds it; False if it lost it.

        Retried until Redis answers: the outcome is the one thing a worker must not drop.
        """
        while True:
            try:
                return await self._scripts.publish(entry.entry_id, outcome)
            except BROKEN as exc:
                job_id = job_of(entry.fields)
                log.warning("worker %s: outcome of job %s waits for Redis (%s)", self._name, job_id, exc)
                await asyncio.sleep(min(1.0, self._config.heartbeat_s))

    async def drop(self, entry: StreamEntry) -> None:
        """Acknowledge and delete an entry no outcome can be published for (it names no job)."""
        log.warning("worker %s dropped job entry %s: it names no job", self._name, entry.entry_id)
        keys = self._keys
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.xack(keys.jobs, keys.workers_group, entry.entry_id)
            pipe.xdel(keys.jobs, entry.entry_id)
            await pipe.execute()

    async def renew(self, entry: StreamEntry) -> bool:
        """Reset the entry's idle time (the job is alive), if this worker still holds it."""
        return await self._scripts.touch(entry.entry_id)

    async def hand_back(self, entry: StreamEntry) -> None:
        """Re-add the job for another worker and retire this worker's entry."""
        job_id = job_of(entry.fields)
        try:
            await self._scripts.hand_back(entry.entry_id, entry.fields)
            log.info("worker %s handed job %s back", self._name, job_id)
        except BROKEN as exc:  # still pending under this name: reclaimed once the heartbeat expires
            log.warning("worker %s could not hand job %s back (%s)", self._name, job_id, exc)
