"""JobHandle: one submitted job as the event loop sees it, with a single-slot mailbox.

The mailbox follows vLLM's ``RequestOutputCollector``: one slot that holds the newest progress
snapshot until the consumer takes it, and whose final value is the job's result or its error.
Every put comes through ``loop.call_soon_threadsafe`` (see ``executor.progress``), so puts and
takes all run on the loop thread, in the order they were posted, and need no lock or counter.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

from ..errors import FactError
from ..request import GroupRequest, IdentityRequest, InpaintRequest, JobRequest, PortraitRequest
from ..results import JobResult, Progress

__all__ = ["JobHandle", "Update"]

log = logging.getLogger(__name__)

#: What ``async for update in handle`` yields: progress snapshots, then the result.
Update = Progress | JobResult


class JobHandle:
    """One submitted job: its latest progress, an awaitable outcome, and ``cancel()``.

    Iterate ``async for update in handle`` to follow it: each ``Progress`` is the newest snapshot
    since the previous one (older ones are dropped: latest wins), the last update is the
    ``JobResult``, and a failed job raises its typed error from the loop. Cancelling the task that
    iterates or awaits does not cancel the job; :meth:`cancel` does.
    """

    __slots__ = ("_cancel", "_final", "_ready", "_slot", "job_id", "progress", "request", "user_id")

    def __init__(
        self,
        job_id: str,
        request: JobRequest,
        *,
        cancel: Callable[[JobHandle], bool],
        progress: Progress | None = None,
    ) -> None:
        self.job_id = job_id
        self.user_id = request.user_id
        self.request = request
        #: The newest snapshot (stage, step i/n, queue position, ETA); reading it takes nothing.
        self.progress = progress or Progress("queued")
        self._cancel = cancel
        # The slot: an untaken Progress, or the final JobResult / FactError, which stays.
        self._slot: Progress | JobResult | FactError | None = None
        self._final = asyncio.Event()
        self._ready = asyncio.Event()

    def __repr__(self) -> str:
        return f"<JobHandle {self.job_id} user={self.user_id} stage={self.progress.stage} outcome={self.outcome}>"

    def __aiter__(self) -> AsyncIterator[Update]:
        return self._updates()

    async def _updates(self) -> AsyncIterator[Update]:
        while True:
            while self._slot is None:
                self._ready.clear()
                await self._ready.wait()
            update = self._slot
            if isinstance(update, FactError):
                raise update
            if isinstance(update, JobResult):
                yield update
                return
            self._slot = None
            yield update

    async def result(self) -> JobResult:
        """Wait for the job to finish and return its images.

        Raises
        ------
        InputError
            The engine refused the input (the leaf says why).
        JobCancelled, JobTimedOut, JobFailed, RuntimeDead, ContentBlocked
            The job was cancelled, ran past its time limit, failed, the worker died, or the safety
            filter withheld every image.
        """
        await self._final.wait()
        outcome = self._slot
        if isinstance(outcome, FactError):
            raise outcome
        assert isinstance(outcome, JobResult)
        return outcome

    async def wait(self, timeout: float | None = None) -> bool:
        """Wait until the job has finished or ``timeout`` seconds passed; True once finished."""
        if not self._final.is_set():
            try:
                await asyncio.wait_for(self._final.wait(), timeout)
            except TimeoutError:
                return False
        return True

    def cancel(self) -> bool:
        """Drop the job if queued, or interrupt it at its next step if running.

        Returns False when the job had already finished. A job whose cancel was accepted always
        ends with ``JobCancelled``, even if its last step completes first.
        """
        if self._final.is_set():
            return False
        return self._cancel(self)

    def done(self) -> bool:
        """True once the outcome has reached the event loop."""
        return self._final.is_set()

    @property
    def outcome(self) -> str | None:
        """``"succeeded"``, the error's ``kind``, or None while unfinished."""
        if not self._final.is_set():
            return None
        return self._slot.kind if isinstance(self._slot, FactError) else "succeeded"

    # The runtime's side.

    def deliver(self, update: Progress | JobResult | FactError) -> None:
        """Put a progress snapshot or the final outcome in the slot (on the loop thread, through ``LoopPoster``)."""
        if self._final.is_set():
            log.debug("job %s: %r arrived after the outcome; dropped", self.job_id, type(update).__name__)
            return
        if isinstance(update, Progress):
            previous = self._slot
            if update.preview is None and isinstance(previous, Progress) and previous.preview is not None:
                # Latest wins, but an untaken preview rides on the newer snapshot: previews are rare.
                update = replace(update, preview=previous.preview)
            self.progress = update
        else:
            self.progress = Progress("done", self.progress.step, self.progress.total_steps, 0, 0.0)
            self._final.set()
        self._slot = update
        self._ready.set()

    def drop_inputs(self) -> None:
        """Strip the photos from the request once the job has retired; they must not outlive it here."""
        # Called under the fair queue's lock; one attribute assignment, so a reader on the loop
        # sees either the whole request or the stripped one.
        request = self.request
        if isinstance(request, IdentityRequest):
            self.request = replace(request, photos=())
        elif isinstance(request, GroupRequest):
            # Each member's best photo and stored face tokens are as private as a selfie.
            faces = tuple(replace(f, photo=b"", face=replace(f.face, tokens=())) for f in request.faces)
            self.request = replace(request, template=None, start=None, faces=faces)
        elif isinstance(request, InpaintRequest):
            self.request = replace(request, selfie=b"", template=None, start=None, references=(), face=None)
        elif isinstance(request, PortraitRequest):
            self.request = replace(request, selfie=b"", pose=None, references=(), face=None)
        else:
            self.request = replace(request, image=b"", selfie=b"", references=(), face=None)
