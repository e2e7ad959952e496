"""BrokerLink: the bot's connection to Redis. Releases jobs to free workers; sends cancels and forgets.

Every loop here survives Redis going away: the link is then marked down (the runtime refuses new
jobs), accepted jobs wait in the fair queue, and on reconnection the ``released`` hash is
reconciled with the runtime (a release Redis lost goes back to its fair place; a job released
by an earlier process is re-attached) before anything else is released.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Coroutine
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

from redis.exceptions import RedisError

from ..config import BrokerConfig
from ..errors import ConfigError
from ..metrics import BrokerStats
from .broker import CANCEL_TTL_S, CAPPED_LENGTH, BrokerKeys, check_cancelled, connect, ensure_group, entries
from .fair_queue import Job
from .fleet import parse_heartbeat
from .inbox import Inbox
from .messages import encode_request

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from .remote import RedisRuntime

__all__ = ["BrokerLink"]

log = logging.getLogger(__name__)

_PASSWORD = re.compile(r"//[^@/]*@")


class BrokerLink:
    """The connection to Redis and the bot's loops over it, on the event loop."""

    #: What a lost or refused connection raises.
    BROKEN: ClassVar[tuple[type[BaseException], ...]] = (RedisError, OSError)

    def __init__(self, url: str, config: BrokerConfig, runtime: RedisRuntime) -> None:
        self._url = url
        self._shown_url = _PASSWORD.sub("//***@", url)
        self._config = config
        self._keys = BrokerKeys(config.prefix)
        self._runtime = runtime
        self._client: aioredis.Redis | None = None
        self.is_connected = False
        self.is_closing = False
        self._is_outage_told = False
        self.inbox = Inbox(self, runtime, self._keys)
        self._outbox: list[dict[str, str]] = []  # control messages waiting for Redis
        self._stats = BrokerStats()
        self._wake = asyncio.Event()
        self._connected = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        #: A blocking read waits this long at most, so the loops notice changes.
        self.block_ms = max(1, int(config.heartbeat_s * 1000))

    @property
    def client(self) -> aioredis.Redis:
        assert self._client is not None, "the link is not started"
        return self._client

    async def start(self) -> None:
        """One connection attempt now (so a restart re-attaches before recovery), then the loops."""
        try:
            self._client = connect(self._url, self._config)
        except ValueError as exc:
            raise ConfigError(f"runtime.redis_url: {exc}") from exc
        await self._reconnect()
        for loop in (self._keep(), self._dispatch(), self.inbox.read_outcomes(), self.inbox.read_progress()):
            self.spawn(loop)

    async def close(self) -> None:
        """Stop every loop (within a bounded time, whatever redis-py does with a cancelled read) and disconnect."""
        self.is_closing = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=self.block_ms / 1000 + 5.0)
            for task in stuck:
                log.warning("broker task %s did not stop; left behind", task.get_name())
        if self._client is not None:
            await self._client.aclose()

    def wake(self) -> None:
        """Look for free workers now (a job was queued, or a worker freed up)."""
        self._wake.set()

    def stats(self) -> BrokerStats:
        return replace(self._stats, is_connected=self.is_connected)

    async def wait_connected(self) -> None:
        await self._connected.wait()

    def cancel(self, job_id: str) -> None:
        self._send({"op": "cancel", "job": job_id})

    def forget(self, user_id: str) -> None:
        self._send({"op": "forget", "user": user_id})
        self.inbox.forget(user_id)

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run in the background until done or closed."""
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # Connection

    async def _reconnect(self) -> None:
        try:
            await self._sync()
            await self._scan()
        except self.BROKEN as exc:
            self.lost(exc)

    def lost(self, exc: BaseException) -> None:
        """Redis stopped answering: refuse new jobs until the next reconnection."""
        check_cancelled()
        if not self._is_outage_told:
            self._is_outage_told = True
            log.warning(
                "Redis at %s is unreachable (%s): new jobs are refused, accepted ones wait", self._shown_url, exc
            )
        self.is_connected = False
        self._connected.clear()
        self._runtime.fleet.clear()

    async def _sync(self) -> None:
        """Reconcile the runtime's released jobs with Redis's, then open for business."""
        client, keys = self.client, self._keys
        await ensure_group(client, keys.jobs, keys.workers_group)
        await ensure_group(client, keys.results, keys.bot_group)
        released = {_text(k): _text(v) for k, v in (await client.hgetall(keys.released)).items()}
        self.inbox.reconcile(released)
        if self.inbox.progress_from is None:  # progress from before this process is stale
            tail = entries(await client.xrevrange(keys.progress, count=1))
            self.inbox.progress_from = tail[0].entry_id if tail else "0-0"
        outbox, self._outbox = self._outbox, []
        for message in outbox:
            await self._deliver_control(message)
        self.is_connected = True
        self._is_outage_told = False
        self._connected.set()
        self._wake.set()
        log.info("connected to Redis at %s (%d jobs on workers)", self._shown_url, len(released))

    async def _scan(self) -> None:
        """The live workers' heartbeats and the broker's counters."""
        client, keys = self.client, self._keys
        names = [name async for name in client.scan_iter(match=keys.worker_pattern, count=500)]
        beats = await client.mget(names) if names else []
        self._runtime.fleet.update(status for beat in beats if beat and (status := parse_heartbeat(beat)))
        async with client.pipeline(transaction=False) as pipe:
            pipe.xlen(keys.jobs)
            pipe.xpending(keys.jobs, keys.workers_group)
            pipe.hgetall(keys.stats)
            length, summary, counters = await pipe.execute()
        self._stats = BrokerStats(
            True,
            int(length),
            int(summary["pending"]),
            int(counters.get(b"reclaimed", 0)),
            int(counters.get(b"handed_back", 0)),
        )
        await self.inbox.expire()
        self._wake.set()

    async def _keep(self) -> None:
        while not self.is_closing:
            check_cancelled()
            await asyncio.sleep(self._config.heartbeat_s if self.is_connected else min(1.0, self._config.heartbeat_s))
            if self.is_connected:
                try:
                    await self._scan()
                except self.BROKEN as exc:
                    self.lost(exc)
            else:
                await self._reconnect()

    # Releasing jobs

    async def _dispatch(self) -> None:
        runtime = self._runtime
        while not self.is_closing:
            check_cancelled()
            await self._wake.wait()
            self._wake.clear()
            while self.is_connected and runtime.free_slots() > 0 and (job := runtime.take()) is not None:
                try:
                    await self._release(job)
                except self.BROKEN as exc:
                    runtime.unrelease(job)
                    self.lost(exc)
                    break
                runtime.released(job)

    async def _release(self, job: Job) -> None:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.xadd(self._keys.jobs, encode_request(job.job_id, job.request))  # type: ignore[arg-type]
            pipe.hset(self._keys.released, job.job_id, job.user_id)
            await pipe.execute()
        self.inbox.owners[job.job_id] = job.user_id

    # Reading outcomes and progress

    # Control messages to every worker

    def _send(self, message: dict[str, str]) -> None:
        if self.is_connected:
            self.spawn(self._deliver_control(message))
        else:
            self._outbox.append(message)

    async def _deliver_control(self, message: dict[str, str]) -> None:
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                if message["op"] == "cancel":
                    pipe.set(self._keys.cancelled(message["job"]), b"1", ex=CANCEL_TTL_S)
                pipe.xadd(self._keys.control, message, maxlen=CAPPED_LENGTH, approximate=True)  # type: ignore[arg-type]
                await pipe.execute()
        except self.BROKEN as exc:
            self._outbox.append(message)
            self.lost(exc)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
