"""Bot process: the dispatcher, which releases jobs to free workers over Redis and reports back in events.

It takes jobs from the runtime's fair queue only when a live worker has room (``JobSource``), so
fairness is decided at release; it sends cancels and forgets to every worker; it keeps the
connection (rescans the workers' heartbeats, reconnects after an outage and reconciles the
``released`` hash) and runs the inbox's readers. Everything it learns goes to the runtime as
events (``events.py``); it never calls the runtime.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from ...config import BrokerConfig
from ...metrics import BrokerStats
from ..fair_queue import Job
from ..supervisor import Supervisor
from .codec import (
    Control,
    ControlOp,
    decode_broker_stats,
    decode_heartbeat,
    decode_released,
    encode_control,
    encode_request,
)
from .connection import BrokerConnection
from .events import Emit, JobSource, Reconnected, Released, ReleaseFailed, Scanned, WorkerLost
from .fleet import Fleet
from .inbox import Inbox
from .inflight import InFlight
from .keys import CANCEL_TTL_S, CAPPED_LENGTH, BrokerKeys
from .sealing import Sealer
from .streams import BROKEN, check_cancelled, ensure_group, entries

__all__ = ["Dispatcher"]

log = logging.getLogger(__name__)


class Dispatcher:
    """The bot's loops over Redis, on the event loop, under the runtime's supervisor."""

    def __init__(
        self,
        url: str,
        config: BrokerConfig,
        *,
        jobs: JobSource,
        fleet: Fleet,
        emit: Emit,
        supervisor: Supervisor,
        sealer: Sealer,
    ) -> None:
        self._keys = BrokerKeys(config.prefix)
        self._config = config
        self._jobs = jobs
        self.fleet = fleet
        self._emit = emit
        self._supervisor = supervisor
        self._sealer = sealer
        self.connection = BrokerConnection(url, config, on_lost=fleet.clear)
        self.in_flight = InFlight()
        self._inbox = Inbox(self.connection, self._keys, self.in_flight, emit, self.wake, sealer=sealer)
        self._outbox: list[Control] = []  # control messages waiting for Redis
        self._stats = BrokerStats()
        self._wake = asyncio.Event()

    @property
    def is_connected(self) -> bool:
        return self.connection.is_connected

    async def start(self) -> None:
        """One connection attempt now (so a restart re-attaches before recovery), then the loops.

        Raises
        ------
        ConfigError
            The URL is not a Redis URL.
        """
        self.connection.open()
        await self._reconnect()
        self._supervisor.loop("broker-keeper", self._keep)
        self._supervisor.loop("dispatch", self._dispatch)
        self._supervisor.loop("outcome-reader", self._inbox.read_outcomes)
        self._supervisor.loop("progress-reader", self._inbox.read_progress)

    async def close(self) -> None:
        """Disconnect (the supervisor has stopped the loops)."""
        await self.connection.close()

    def wake(self) -> None:
        """Look for free workers now (a job was queued, or a worker freed up)."""
        self._wake.set()

    def stats(self) -> BrokerStats:
        return replace(self._stats, is_connected=self.is_connected)

    def is_released(self, job_id: str) -> bool:
        """True for a job on the workers (released by this process or an earlier one) and not retired."""
        return job_id in self.in_flight

    def cancel(self, job_id: str) -> None:
        self._send(Control(ControlOp.CANCEL, job_id=job_id))

    def forget(self, user_id: str) -> None:
        self._send(Control(ControlOp.FORGET, user_id=user_id))

    def retire(self, entry_id: str, job_id: str) -> None:
        """The runtime is done with a job's outcome: the job leaves the workers and Redis forgets it."""
        self.in_flight.remove(job_id)
        self._supervisor.once(f"retire {job_id}", self._inbox.retire(entry_id, job_id))
        self.wake()

    # Connection

    async def _reconnect(self) -> None:
        try:
            await self._sync()
            await self._scan()
        except BROKEN as exc:
            self.connection.lost(exc)

    async def _sync(self) -> None:
        """Reconcile the released jobs with Redis's, then open for business."""
        client, keys = self.connection.client, self._keys
        await ensure_group(client, keys.jobs, keys.workers_group)
        await ensure_group(client, keys.results, keys.bot_group)
        since = self.in_flight.mark()
        released = decode_released(await client.hgetall(keys.released))
        self.in_flight.reset(released, since=since)
        if self._inbox.progress_from is None:  # progress from before this process is stale
            tail = entries(await client.xrevrange(keys.progress, count=1))
            self._inbox.progress_from = tail[0].entry_id if tail else "0-0"
        outbox, self._outbox = self._outbox, []
        for message in outbox:
            await self._deliver_control(message)
        self._emit(Reconnected(released))
        self.connection.up()
        self._wake.set()
        log.info("connected to Redis at %s (%d jobs on workers)", self.connection.shown_url, len(released))

    async def _scan(self) -> None:
        """The live workers' heartbeats and the broker's counters."""
        client, keys = self.connection.client, self._keys
        names = [name async for name in client.scan_iter(match=keys.worker_pattern, count=500)]
        beats = await client.mget(names) if names else []
        fingerprint = self._sealer.fingerprint
        gone = self.fleet.update(
            status for beat in beats if beat and (status := decode_heartbeat(beat, fingerprint=fingerprint))
        )
        for status in gone:
            self._emit(WorkerLost(status.name, status.job_id))
        async with client.pipeline(transaction=False) as pipe:
            pipe.xlen(keys.jobs)
            pipe.xpending(keys.jobs, keys.workers_group)
            pipe.hgetall(keys.stats)
            length, summary, counters = await pipe.execute()
        self._stats = decode_broker_stats(length, summary, counters)
        self._emit(Scanned())
        self._wake.set()

    async def _keep(self) -> None:
        heartbeat_s = self._config.heartbeat_s
        while True:
            check_cancelled()
            await asyncio.sleep(heartbeat_s if self.is_connected else min(1.0, heartbeat_s))
            if self.is_connected:
                try:
                    await self._scan()
                except BROKEN as exc:
                    self.connection.lost(exc)
            else:
                await self._reconnect()

    # Releasing jobs

    async def _dispatch(self) -> None:
        while True:
            check_cancelled()
            await self._wake.wait()
            self._wake.clear()
            while self.is_connected and self._free_slots() > 0 and (job := self._jobs.take_next()) is not None:
                try:
                    await self._release(job)
                except BROKEN as exc:
                    self._emit(ReleaseFailed(job.job_id))
                    self.connection.lost(exc)
                    break
                self._emit(Released(job.job_id))

    def _free_slots(self) -> int:
        return self.fleet.free_slots(self.in_flight.workers())

    async def _release(self, job: Job) -> None:
        if job.job_id in self.in_flight:  # released before this process started; it was queued meanwhile
            return
        async with self.connection.client.pipeline(transaction=True) as pipe:
            fields = encode_request(job.job_id, job.request, sealer=self._sealer)
            pipe.xadd(self._keys.jobs, fields)  # type: ignore[arg-type]
            pipe.hset(self._keys.released, job.job_id, job.user_id)
            await pipe.execute()
        self.in_flight.add(job.job_id, job.user_id)

    # Control messages to every worker

    def _send(self, message: Control) -> None:
        if self.is_connected:
            self._supervisor.once(f"control {message.op}", self._deliver_control(message))
        else:
            self._outbox.append(message)

    async def _deliver_control(self, message: Control) -> None:
        try:
            async with self.connection.client.pipeline(transaction=True) as pipe:
                if message.op is ControlOp.CANCEL:
                    pipe.set(self._keys.cancelled(message.job_id), b"1", ex=CANCEL_TTL_S)
                fields = encode_control(message, sealer=self._sealer)
                pipe.xadd(self._keys.control, fields, maxlen=CAPPED_LENGTH, approximate=True)  # type: ignore[arg-type]
                await pipe.execute()
        except BROKEN as exc:
            self._outbox.append(message)
            self.connection.lost(exc)
