"""Worker process: the atomic Lua scripts a worker runs on its claims, registered once per connection.

Each script first checks, under Redis's single thread, that the calling worker still owns the
job's entry (it is pending under its consumer name), so a worker that was presumed lost can never
publish twice or take a job back. KEYS and ARGV are named at the top of each script.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .keys import BrokerKeys

if TYPE_CHECKING:
    import redis.asyncio as aioredis
    from redis.commands.core import AsyncScript

__all__ = ["ClaimScripts"]

_OWNS = """
local jobs = KEYS[1]
local group, consumer, entry_id = ARGV[1], ARGV[2], ARGV[3]
local pending = redis.call('XPENDING', jobs, group, entry_id, entry_id, 1)
if #pending == 0 or pending[1][2] ~= consumer then return 0 end
"""

#: KEYS: jobs, results. ARGV: group, consumer, entry id, then the outcome's field/value pairs.
#: Publishes the outcome, acknowledges and deletes the job entry.
_PUBLISH = (
    _OWNS
    + """
local results = KEYS[2]
redis.call('XADD', results, '*', unpack(ARGV, 4))
redis.call('XACK', jobs, group, entry_id)
redis.call('XDEL', jobs, entry_id)
return 1
"""
)

#: KEYS: jobs. ARGV: group, consumer, entry id. Resets the entry's idle time (the job is alive).
_TOUCH = (
    _OWNS
    + """
redis.call('XCLAIM', jobs, group, consumer, 0, entry_id, 'JUSTID')
return 1
"""
)

#: KEYS: jobs, stats. ARGV: group, consumer, entry id, then the job's field/value pairs.
#: Re-adds the job for another worker, then acknowledges and deletes this worker's entry.
_HAND_BACK = (
    _OWNS
    + """
local stats = KEYS[2]
redis.call('XADD', jobs, '*', unpack(ARGV, 4))
redis.call('XACK', jobs, group, entry_id)
redis.call('XDEL', jobs, entry_id)
redis.call('HINCRBY', stats, 'handed_back', 1)
return 1
"""
)


class ClaimScripts:
    """The three scripts on one client (``register_script``: sent by hash, loaded once on a miss)."""

    def __init__(self, client: aioredis.Redis, keys: BrokerKeys, consumer: str) -> None:
        self._keys = keys
        self._consumer = consumer
        self._publish: AsyncScript = client.register_script(_PUBLISH)
        self._touch: AsyncScript = client.register_script(_TOUCH)
        self._hand_back: AsyncScript = client.register_script(_HAND_BACK)

    async def publish(self, entry_id: str, outcome: dict[bytes, bytes]) -> bool:
        """Add the outcome and retire the job entry, if this worker still owns it."""
        keys = self._keys
        return bool(await self._publish(keys=[keys.jobs, keys.results], args=self._args(entry_id, outcome)))

    async def touch(self, entry_id: str) -> bool:
        """Reset the entry's idle time, if this worker still owns it."""
        return bool(await self._touch(keys=[self._keys.jobs], args=self._args(entry_id)))

    async def hand_back(self, entry_id: str, job: dict[bytes, bytes]) -> bool:
        """Re-add the job for another worker and retire this worker's entry, if it still owns it."""
        keys = self._keys
        return bool(await self._hand_back(keys=[keys.jobs, keys.stats], args=self._args(entry_id, job)))

    def _args(self, entry_id: str, fields: dict[bytes, bytes] | None = None) -> list[Any]:
        args: list[Any] = [self._keys.workers_group, self._consumer, entry_id]
        for name, value in (fields or {}).items():
            args += [name, value]
        return args
