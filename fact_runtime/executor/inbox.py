"""Inbox: what the workers send the bot. Outcomes (a consumer group, so none is lost) and progress.

An outcome is acknowledged (and deleted, with the job's release) only once its handle has it; one
read but not acknowledged is read again after a reconnect or a restart, found finished, and
dropped, so each job reaches its member once. An outcome for a job no handle follows yet (the
bot restarted meanwhile) waits here until the job store resubmits that job.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from ..errors import FactError, IncompatibleMessage
from ..request import JobResult
from .broker import BrokerKeys, StreamEntry, check_cancelled, entries
from .messages import decode_outcome, decode_progress

if TYPE_CHECKING:
    from .link import BrokerLink
    from .remote import RedisRuntime

__all__ = ["Inbox"]

log = logging.getLogger(__name__)

#: An outcome whose job no process resubmits within this long is dropped (its job was forgotten).
UNCLAIMED_S = 600.0


class Inbox:
    """Reads outcomes and progress for one runtime over its link's connection."""

    def __init__(self, link: BrokerLink, runtime: RedisRuntime, keys: BrokerKeys) -> None:
        self._link = link
        self._runtime = runtime
        self._keys = keys
        #: Jobs released by an earlier process and not resubmitted yet -> their worker, when known.
        self.detached: dict[str, str | None] = {}
        self.owners: dict[str, str] = {}  # released job -> its user
        #: Outcomes of jobs nobody follows yet: job -> (entry id, outcome, worker, when read).
        self._unclaimed: dict[str, tuple[str, JobResult | FactError, str, float]] = {}
        self.progress_from: str | None = None

    def is_released(self, job_id: str) -> bool:
        """True for a job an earlier process released: it runs, or has finished, on a worker."""
        return job_id in self.detached or job_id in self._unclaimed

    def attach(self, job_id: str) -> str | None:
        """The resubmitted job is followed again; an outcome already waiting is handed over next."""
        worker = self.detached.pop(job_id, None)
        if job_id in self._unclaimed:
            asyncio.get_running_loop().call_soon(self._deliver_unclaimed, job_id)
        return worker

    def forget(self, user_id: str) -> None:
        """Drop the waiting outcomes (images) of a user's jobs."""
        for job_id in [job_id for job_id in self._unclaimed if self.owners.get(job_id) == user_id]:
            entry_id = self._unclaimed.pop(job_id)[0]
            self._link.spawn(self.ack(entry_id, job_id))

    def reconcile(self, released: dict[str, str]) -> None:
        """After (re)connecting: ``released`` is Redis's list of jobs on workers (job -> user)."""
        runtime = self._runtime
        for job_id in runtime.running_ids():
            job = runtime.running_job(job_id)
            if job_id not in released and job is not None:
                log.warning("job %s: Redis lost its release (restarted without it); it is queued again", job_id)
                runtime.unrelease(job)
        for job_id in released:
            if (job := runtime.queued_job(job_id)) is not None:
                runtime.attach_queued(job, self.detached.get(job_id))
        self.detached = {
            job_id: self.detached.get(job_id) for job_id in released if runtime.running_job(job_id) is None
        }
        self.owners = dict(released)

    async def expire(self) -> None:
        now = time.monotonic()
        for job_id in [job_id for job_id, item in self._unclaimed.items() if now - item[3] > UNCLAIMED_S]:
            log.warning("dropped the outcome of job %s: no process resubmitted it", job_id)
            await self.ack(self._unclaimed.pop(job_id)[0], job_id)

    async def read_outcomes(self) -> None:
        start = "0"  # first what this group was handed and never acknowledged, then new ones
        keys, link = self._keys, self._link
        while not link.is_closing:
            check_cancelled()
            await link.wait_connected()
            try:
                reply = await link.client.xreadgroup(
                    keys.bot_group, "bot", {keys.results: start}, count=16, block=link.block_ms
                )
                check_cancelled()
                found = entries(reply)
                if start != ">" and not found:
                    start = ">"
                for entry in found:
                    start = entry.entry_id if start != ">" else start
                    await self._on_outcome(entry)
            except link.BROKEN as exc:
                link.lost(exc)
                start = "0"

    async def _on_outcome(self, entry: StreamEntry) -> None:
        job_id, worker, runtime = entry.text("job"), entry.text("worker"), self._runtime
        if not entry.fields or not job_id:
            await self.ack(entry.entry_id, None)
            return
        outcome = decode_outcome(entry.fields)
        if (job := runtime.queued_job(job_id)) is not None:
            runtime.attach_queued(job, worker)
        if (job := runtime.running_job(job_id)) is not None:
            runtime.settle(job, outcome, worker)
            await self.ack(entry.entry_id, job_id)
        elif (handle := runtime.get(job_id)) is not None and handle.done():
            log.info("job %s: a second outcome (from %s) dropped; it was delivered once", job_id, worker or "?")
            await self.ack(entry.entry_id, job_id)
        else:
            self.detached.pop(job_id, None)
            self._unclaimed[job_id] = (entry.entry_id, outcome, worker, time.monotonic())
        self._link.wake()

    def _deliver_unclaimed(self, job_id: str) -> None:
        job = self._runtime.running_job(job_id)
        item = self._unclaimed.pop(job_id, None)
        if job is not None and item is not None:
            entry_id, outcome, worker, _ = item
            self._runtime.settle(job, outcome, worker)
            self._link.spawn(self.ack(entry_id, job_id))
            self._link.wake()

    async def ack(self, entry_id: str, job_id: str | None) -> None:
        """Done with an outcome: acknowledge and delete it, and the job's release with it."""
        keys, link = self._keys, self._link
        try:
            async with link.client.pipeline(transaction=True) as pipe:
                pipe.xack(keys.results, keys.bot_group, entry_id)
                pipe.xdel(keys.results, entry_id)
                if job_id is not None:
                    pipe.hdel(keys.released, job_id)
                await pipe.execute()
        except link.BROKEN as exc:  # read again after reconnecting, then found finished and dropped
            link.lost(exc)
        if job_id is not None:
            self.owners.pop(job_id, None)

    async def read_progress(self) -> None:
        runtime, link = self._runtime, self._link
        while not link.is_closing:
            check_cancelled()
            await link.wait_connected()
            try:
                reply = await link.client.xread(
                    {self._keys.progress: self.progress_from or "$"}, count=256, block=link.block_ms
                )
            except link.BROKEN as exc:
                link.lost(exc)
                continue
            check_cancelled()
            for entry in entries(reply):
                self.progress_from = entry.entry_id
                job_id, worker = entry.text("job"), entry.text("worker")
                if job_id in self.detached:
                    self.detached[job_id] = worker or None
                if (job := runtime.running_job(job_id)) is None:
                    continue
                try:
                    runtime.on_progress(job, decode_progress(entry.fields), worker)
                except IncompatibleMessage as exc:
                    log.debug("job %s: unreadable progress from %s: %s", job_id, worker, exc)
            link.wake()
