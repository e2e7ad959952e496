"""Bot process: the readers of what workers send the bot, outcomes (a consumer group, so none is lost) and progress.

They decode and emit events; the runtime decides what each means. An outcome is acknowledged
(and deleted, with the job's release) only when the runtime retires it, once its handle has it;
one read but not acknowledged is read again after a reconnect or a restart, found finished, and
retired, so each job reaches its member once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ...errors import IncompatibleMessage
from .codec import decode_outcome, decode_progress, header, job_of
from .connection import BrokerConnection
from .events import Emit, Finished, Progressed
from .inflight import InFlight
from .keys import BrokerKeys
from .sealing import Sealer
from .streams import BROKEN, StreamEntry, check_cancelled, entries

__all__ = ["Inbox"]

log = logging.getLogger(__name__)


class Inbox:
    """Reads outcomes and progress over the bot's connection."""

    def __init__(
        self,
        connection: BrokerConnection,
        keys: BrokerKeys,
        in_flight: InFlight,
        emit: Emit,
        wake: Callable[[], None],
        *,
        sealer: Sealer,
    ) -> None:
        self._sealer = sealer
        self._connection = connection
        self._wake = wake
        self._keys = keys
        self._in_flight = in_flight
        self._emit = emit
        #: Where the progress reader goes on; set at the first connection (older progress is stale).
        self.progress_from: str | None = None

    async def read_outcomes(self) -> None:
        start = "0"  # first what this group was handed and never acknowledged, then new ones
        keys, connection = self._keys, self._connection
        while True:
            check_cancelled()
            await connection.wait_connected()
            try:
                reply = await connection.client.xreadgroup(
                    keys.bot_group, "bot", {keys.results: start}, count=16, block=connection.block_ms
                )
                check_cancelled()
                found = entries(reply)
                if start != ">" and not found:
                    start = ">"
                for entry in found:
                    start = entry.entry_id if start != ">" else start
                    await self._on_outcome(entry)
            except BROKEN as exc:
                connection.lost(exc)
                start = "0"

    async def _on_outcome(self, entry: StreamEntry) -> None:
        job_id = job_of(entry.fields)
        if not entry.fields or not job_id:  # deleted meanwhile, or names no job
            if entry.fields:
                log.warning("dropped outcome entry %s: it names no job", entry.entry_id)
            await self.retire(entry.entry_id, None)
            return
        self._in_flight.done(job_id)
        user_id = self._in_flight.user_of(job_id)
        worker = header(entry.fields, "worker")
        outcome = decode_outcome(entry.fields, sealer=self._sealer)
        if isinstance(outcome, IncompatibleMessage):
            log.error("job %s: its outcome from %s is unreadable (%s); the job fails", job_id, worker or "?", outcome)
        self._emit(Finished(job_id, outcome, worker, entry.entry_id, user_id))
        self._wake()  # its worker has room again

    async def retire(self, entry_id: str, job_id: str | None) -> None:
        """Done with an outcome: acknowledge and delete it, and the job's release with it."""
        keys, connection = self._keys, self._connection
        try:
            async with connection.client.pipeline(transaction=True) as pipe:
                pipe.xack(keys.results, keys.bot_group, entry_id)
                pipe.xdel(keys.results, entry_id)
                if job_id is not None:
                    pipe.hdel(keys.released, job_id)
                await pipe.execute()
        except BROKEN as exc:  # read again after reconnecting, then found finished and retired
            connection.lost(exc)

    async def read_progress(self) -> None:
        connection = self._connection
        while True:
            check_cancelled()
            await connection.wait_connected()
            try:
                reply = await connection.client.xread(
                    {self._keys.progress: self.progress_from or "$"}, count=256, block=connection.block_ms
                )
            except BROKEN as exc:
                connection.lost(exc)
                continue
            check_cancelled()
            for entry in entries(reply):
                self.progress_from = entry.entry_id
                job_id, worker = job_of(entry.fields), header(entry.fields, "worker")
                if job_id not in self._in_flight:
                    continue
                self._in_flight.ran_on(job_id, worker)
                try:
                    self._emit(Progressed(job_id, decode_progress(entry.fields, sealer=self._sealer), worker))
                except IncompatibleMessage as exc:
                    log.debug("job %s: unreadable progress from %s: %s", job_id, worker, exc)
            self._wake()  # a job's worker may be known now
            if self.progress_from is not None and reply:
                await self._trim_progress(self.progress_from)

    async def _trim_progress(self, read_up_to: str) -> None:
        """Drop the progress this reader has seen (the newest stays, as the next start's mark): nobody reads it again."""
        try:
            await self._connection.client.xtrim(self._keys.progress, minid=read_up_to)
        except BROKEN as exc:
            self._connection.lost(exc)
