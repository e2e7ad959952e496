"""Worker process: ``WorkerProcess``, one per GPU, which pulls jobs from the Redis consumer group and runs them on its engine.

A local ``Runtime`` owns the engine, so a remote job runs exactly as a local one (step monitor,
out-of-memory retry, typed errors). Around it this module pulls one job at a time (its own entry
first, then a lost worker's, then a new one), streams progress, and publishes the outcome only
while it still owns the entry (an atomic script), so a job is delivered once even when a worker
presumed lost comes back. A kill -9 loses nothing: another worker reclaims the pending entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ...config import BrokerConfig
from ...errors import FactError, IncompatibleMessage, JobCancelled
from ...metrics import WorkerStatus
from ...results import JobResult, Progress
from ..supervisor import Supervisor
from .claims import Claims
from .codec import (
    SCHEMA_VERSION,
    ControlOp,
    decode_control,
    decode_request,
    encode_heartbeat,
    encode_outcome,
    encode_progress,
    job_of,
)
from .keys import CAPPED_LENGTH, BrokerKeys
from .sealing import Sealer
from .streams import BROKEN, StreamEntry, check_cancelled, connect, ensure_group, entries

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from ..handle import JobHandle
    from ..runtime import Runtime

__all__ = ["WorkerOptions", "WorkerProcess"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """Who the worker is and how it talks to Redis."""

    name: str
    url: str
    #: The deployment key every message is sealed with (``Sealer.from_environment``).
    sealer: Sealer
    broker: BrokerConfig = field(default_factory=BrokerConfig)
    device: str = ""
    #: The styles its engine can run, announced in the heartbeat.
    styles: tuple[str, ...] = ()
    #: The message schema it reads (a worker of another version refuses, with a typed error).
    schema: int = SCHEMA_VERSION


class WorkerProcess:
    """Serves jobs from Redis on one local ``Runtime`` (its engine thread) until ``stop()``."""

    def __init__(self, runtime: Runtime, options: WorkerOptions) -> None:
        self._sealer = options.sealer
        self.runtime = runtime
        self.options = options
        self.name = options.name
        self._keys = BrokerKeys(options.broker.prefix)
        self._client: aioredis.Redis | None = None
        self.is_connected = False
        self.is_stopping = False
        #: True once it stopped because its engine was declared dead (stuck past the hang limit).
        self.is_dead = False
        #: The entry being served and its handle in the local runtime.
        self.current: StreamEntry | None = None
        self._handle: JobHandle | None = None
        self._is_lost = False
        self._is_handing_back = False
        self.outcomes: Counter[str] = Counter()
        self._connected_at: float | None = None
        #: A cancel that arrived for the current job before its handle existed.
        self._early_cancel: str | None = None
        self._supervisor = Supervisor(f"worker {self.name}", max_backoff_s=max(1.0, options.broker.heartbeat_s))

    @property
    def unhealthy_tasks(self) -> tuple[str, ...]:
        """Its background loops that failed and wait to be restarted, and the engine's, by name."""
        return self._supervisor.unhealthy + self.runtime.unhealthy_tasks

    @property
    def client(self) -> aioredis.Redis:
        assert self._client is not None, "the worker is not serving"
        return self._client

    async def serve(self) -> None:
        """Warm the engine up, then serve jobs until ``stop()``; the heartbeat is removed on the way out.

        Raises
        ------
        Exception
            Whatever the engine's warm-up raised (e.g. ``ModelMissing``).
        """
        self._client = connect(self.options.url, self.options.broker)
        self._claims = Claims(self._client, self._keys, self.name, self.options.broker)
        try:
            await self.runtime.start()
        except BaseException:
            await self._client.aclose()
            raise
        log.info("worker %s ready on %s (schema %d)", self.name, self.options.device or "?", self.options.schema)
        self._supervisor.loop("control", self._control)
        try:
            await self._pull()
        finally:
            await self._supervisor.close(timeout=self.options.broker.heartbeat_s + 5.0)
            with contextlib.suppress(*BROKEN):  # else the heartbeat expires on its own
                await self.client.delete(self._keys.worker(self.name))
            await self.runtime.close(cancel_running=True)
            await self.client.aclose()
            log.info("worker %s stopped", self.name)

    def stop(self) -> None:
        """Take no more jobs; finish the running one, or hand it back (``broker.on_sigterm``)."""
        if self.is_stopping:
            return
        self.is_stopping = True
        if self._handle is not None and self.options.broker.on_sigterm == "hand_back":
            log.info("worker %s stopping: handing job %s back at its next step", self.name, self._handle.job_id)
            self._is_handing_back = True
            self._handle.cancel()
        else:
            log.info("worker %s stopping after its current job", self.name)

    # Pulling

    async def _pull(self) -> None:
        # Entries handed to this name and not retired come first: after a restart of this process,
        # and after each job (Redis restarting from its append-only file can bring one back).
        has_own = True
        while not self.is_stopping:
            check_cancelled()
            if self.runtime.is_dead:  # its watchdog found the engine stuck: only a new process helps
                log.critical("worker %s: its engine is stuck; exiting so that it is restarted", self.name)
                self.is_dead = True
                return
            try:
                if self._connected_at is None:
                    await ensure_group(self.client, self._keys.jobs, self._keys.workers_group)
                    self._connected_at = time.monotonic()
                    self.is_connected, has_own = True, True
                    log.info("worker %s connected to Redis", self.name)
                claims = self._claims
                entry = await claims.own() if has_own else None
                has_own = has_own and entry is not None
                entry = entry or await claims.reclaim(self._connected_at) or await claims.new()
                if entry is not None:
                    await self._serve(entry)
                    has_own = True
            except BROKEN as exc:
                check_cancelled()
                if self.is_connected:
                    log.warning("worker %s lost Redis (%s); retrying", self.name, exc)
                self.is_connected, self._connected_at = False, None
                await asyncio.sleep(min(1.0, self.options.broker.heartbeat_s))

    # Serving one job

    async def _serve(self, entry: StreamEntry) -> None:
        job_id = job_of(entry.fields)
        if not job_id:  # nobody to tell: dropped, so that no worker reads it again
            await self._claims.drop(entry)
            return
        self.current, self._is_lost, started = entry, False, time.monotonic()
        try:
            outcome = await self._run(entry, job_id)
            if self._is_lost:
                log.warning(
                    "worker %s: job %s was taken over by another worker; its outcome here is dropped", self.name, job_id
                )
            elif self._is_handing_back and isinstance(outcome, JobCancelled):
                await self._claims.hand_back(entry)
            else:
                await self._publish(entry, job_id, outcome, time.monotonic() - started)
        finally:
            self.current, self._handle, self._early_cancel = None, None, None

    async def _run(self, entry: StreamEntry, job_id: str) -> JobResult | FactError:
        try:
            request = decode_request(entry.fields, sealer=self._sealer, schema=self.options.schema)
        except IncompatibleMessage as exc:
            log.error("worker %s refused job %s: %s", self.name, job_id, exc)
            return exc
        if await self.client.exists(self._keys.cancelled(job_id)):
            return JobCancelled(f"job {job_id} was cancelled before it started")
        try:
            self._handle = handle = self.runtime.submit(request, job_id=job_id)
            if self._early_cancel == job_id:
                handle.cancel()
            async for update in handle:
                if isinstance(update, Progress) and update.stage != "queued":
                    await self._progress(job_id, update)
            return await handle.result()
        except FactError as exc:
            return exc

    async def _progress(self, job_id: str, progress: Progress) -> None:
        fields = encode_progress(job_id, progress, worker=self.name, sealer=self._sealer)
        try:
            await self.client.xadd(self._keys.progress, fields, maxlen=CAPPED_LENGTH, approximate=True)  # type: ignore[arg-type]
        except BROKEN:
            log.debug("progress of job %s not sent: Redis is unreachable", job_id)

    async def _publish(self, entry: StreamEntry, job_id: str, outcome: JobResult | FactError, seconds: float) -> None:
        """Publish while this worker still owns the entry; retried until Redis answers."""
        fields = encode_outcome(job_id, outcome, worker=self.name, seconds=seconds, sealer=self._sealer)
        owned = await self._claims.publish(entry, fields)
        kind = "succeeded" if isinstance(outcome, JobResult) else outcome.kind
        if owned:
            self.outcomes[kind] += 1
            log.info("worker %s: job %s %s after %.1f s", self.name, job_id, kind, seconds)
        else:
            log.warning("worker %s: job %s was taken over meanwhile; outcome %s dropped", self.name, job_id, kind)

    # Heartbeat, claim renewal, cancels and forgets

    async def _control(self) -> None:
        keys, last_id = self._keys, None
        while True:
            check_cancelled()
            try:
                if last_id is None:
                    tail = entries(await self.client.xrevrange(keys.control, count=1))
                    last_id = tail[0].entry_id if tail else "0-0"
                await self._beat()
                reply = await self.client.xread(
                    {keys.control: last_id}, count=64, block=max(1, int(self.options.broker.heartbeat_s * 1000))
                )
                check_cancelled()
                for entry in entries(reply):
                    last_id = entry.entry_id
                    self._on_control(entry)
            except BROKEN:
                check_cancelled()
                await asyncio.sleep(min(1.0, self.options.broker.heartbeat_s))

    def _on_control(self, entry: StreamEntry) -> None:
        control = decode_control(entry.fields, sealer=self._sealer)
        if control is None:
            return
        job_id = control.job_id
        if control.op is ControlOp.CANCEL and self.current is not None and self.current_job_id == job_id:
            log.info("worker %s: job %s cancelled", self.name, job_id)
            if self._handle is not None:
                self._handle.cancel()
            else:
                self._early_cancel = job_id
        elif control.op is ControlOp.FORGET:
            self.runtime.forget_user(control.user_id)

    async def _beat(self) -> None:
        keys, entry = self._keys, self.current
        ttl_ms = int(self.options.broker.lost_after_s * 1000)
        heartbeat = encode_heartbeat(self.status(), host=socket.gethostname(), pid=os.getpid())
        await self.client.set(keys.worker(self.name), heartbeat, px=ttl_ms)
        if entry is not None and not self._is_lost:
            owned = await self._claims.renew(entry)
            if not owned and self.current is entry:
                log.warning("worker %s lost its claim on job %s; stopping it", self.name, self.current_job_id)
                self._is_lost = True
                if self._handle is not None:
                    self._handle.cancel()

    @property
    def current_job_id(self) -> str | None:
        """The job it is serving, if any."""
        return None if self.current is None else job_of(self.current.fields)

    def status(self) -> WorkerStatus:
        """What its heartbeat tells the bot: room, device, styles, busy job, counters."""
        return WorkerStatus(
            name=self.name,
            device=self.options.device,
            schema=self.options.schema,
            key_fingerprint=self._sealer.fingerprint,
            capacity=1,
            job_id=self.current_job_id,
            is_ready=not self.is_stopping,
            styles=self.options.styles,
            jobs_by_outcome=dict(self.outcomes),
            step_seconds=self.runtime.metrics().step_seconds,
        )
