"""Jobs: the loop's JobHandle (mailbox, result, cancel) and the worker's side (Job record, StepTracker)."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from .errors import FactError, InvalidRequest, JobCancelled, JobTimedOut
from .request import InpaintRequest, JobRequest, JobResult, PortraitRequest, Progress, Stage

if TYPE_CHECKING:
    from .metrics import MetricsRecorder

__all__ = ["JobHandle", "Job", "StepTracker", "check_request"]

log = logging.getLogger(__name__)


class JobHandle:
    """One submitted job, as seen from the event loop.

    Every method is for the event loop thread. The worker never touches a handle: the runtime
    hands it progress and the outcome with ``loop.call_soon_threadsafe``.
    """

    __slots__ = (
        "job_id",
        "user_id",
        "request",
        "_cancel",
        "_progress",
        "_progress_seq",
        "_version",
        "_seen",
        "_changed",
        "_finished",
        "_result",
        "_error",
    )

    def __init__(
        self,
        job_id: str,
        request: JobRequest,
        *,
        cancel: Callable[[JobHandle], bool],
        progress: Progress,
    ) -> None:
        self.job_id = job_id
        self.user_id = request.user_id
        self.request = request
        self._cancel = cancel
        # Single-slot mailbox: only the newest snapshot is kept; ``_version`` counts puts so
        # that ``next_progress`` can tell "newer than what I last returned".
        self._progress = progress
        self._progress_seq = -1
        self._version = 0
        self._seen = 0
        self._changed = asyncio.Event()
        # Outcome kept in plain fields (not a Future) so an unawaited failure logs nothing.
        self._finished = asyncio.Event()
        self._result: JobResult | None = None
        self._error: FactError | None = None

    def __repr__(self) -> str:
        return f"<JobHandle {self.job_id} user={self.user_id} stage={self._progress.stage} outcome={self.outcome}>"

    @property
    def progress(self) -> Progress:
        """The latest snapshot: stage, step i/n, queue position and ETA."""
        return self._progress

    async def next_progress(self) -> Progress:
        """Wait for a snapshot newer than the last one this method returned; latest wins.

        Returns at once (with the final snapshot) once the job is done, so
        ``while not handle.done(): await handle.next_progress()`` always ends.
        """
        while self._version == self._seen and not self._finished.is_set():
            self._changed.clear()
            await self._changed.wait()
        self._seen = self._version
        return self._progress

    async def result(self) -> JobResult:
        """Wait for the job to finish and return its images.

        Cancelling the task that awaits this does NOT cancel the job: the job keeps its place and
        another task (or the bot after reconnecting) can await the same handle again. Call
        :meth:`cancel` to stop the job.

        Raises
        ------
        InputError
            The engine refused the input (the leaf says why).
        JobCancelled, JobTimedOut, JobFailed, RuntimeDead
            The job was cancelled, ran past its time limit, failed, or the worker died.
        """
        await self._finished.wait()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result

    def cancel(self) -> bool:
        """Drop the job if queued, or interrupt it at its next step if running.

        Returns False when the job had already finished. A job whose cancel was accepted always
        ends with ``JobCancelled``, even if its last step completes first.
        """
        if self._finished.is_set():
            return False
        return self._cancel(self)

    def done(self) -> bool:
        """True once the outcome has reached the event loop."""
        return self._finished.is_set()

    @property
    def outcome(self) -> str | None:
        """``"succeeded"``, the error's ``kind``, or None while unfinished."""
        if not self._finished.is_set():
            return None
        return "succeeded" if self._error is None else self._error.kind

    # The runtime's side, always called on the event loop thread (except _drop_inputs).

    def _drop_inputs(self) -> None:
        # Called under the scheduler's lock when the job retires; one attribute assignment, so a
        # reader on the loop sees either the whole request or the stripped one.
        if isinstance(self.request, PortraitRequest):
            self.request = replace(self.request, selfie=b"", pose=None)
        else:
            self.request = replace(self.request, selfie=b"", template=None)

    def _put_progress(self, progress: Progress, seq: int) -> None:
        # Snapshots may arrive out of order (some from the worker, some from the loop):
        # ``seq`` is stamped under the runtime's lock, so an older one never replaces a newer one.
        if self._finished.is_set() or seq <= self._progress_seq:
            return
        self._progress = progress
        self._progress_seq = seq
        self._version += 1
        self._changed.set()

    def _resolve(self, result: JobResult | None, error: FactError | None, final: Progress) -> None:
        if self._finished.is_set():
            log.debug("job %s resolved twice; keeping the first outcome", self.job_id)
            return
        self._result = result
        self._error = error
        self._progress = final
        self._version += 1
        self._finished.set()
        self._changed.set()


@dataclass(eq=False, slots=True)
class Job:
    """The runtime's record of one job: its place in the fair order and its live step count."""

    handle: JobHandle
    #: Fairness round (see scheduler.py); the queue runs in (round, arrival) order.
    round: int
    arrival: int
    #: Set from the loop, read by the worker's StepTracker.
    cancel_requested: threading.Event = field(default_factory=threading.Event)
    started_at: float = 0.0
    step: int = 0
    total: int = 0
    published_position: int = 0
    #: ``total`` when the queue's ETAs were last refreshed for this running job.
    refreshed_total: int = 0

    def key(self) -> tuple[int, int]:
        return (self.round, self.arrival)

    @property
    def job_id(self) -> str:
        return self.handle.job_id

    @property
    def user_id(self) -> str:
        return self.handle.user_id

    @property
    def request(self) -> JobRequest:
        return self.handle.request


class StepTracker:
    """The StepReporter an engine calls: stops cancelled or overdue jobs, times stages and steps."""

    def __init__(
        self,
        job: Job,
        clock: Callable[[], float],
        timeout_s: float,
        metrics: MetricsRecorder,
        on_progress: Callable[[Job, Progress], None],
    ) -> None:
        self._job = job
        self._clock = clock
        self._timeout_s = timeout_s
        self._metrics = metrics
        self._on_progress = on_progress
        self._stage: Stage | None = None
        self._stage_started = 0.0
        self._last_step_at: float | None = None
        #: The error this tracker raised to stop the job, if it did.
        self.stopped: JobCancelled | JobTimedOut | None = None

    def __call__(self, stage: Stage, step: int = 0, total: int = 0) -> None:
        job = self._job
        now = self._clock()
        if job.cancel_requested.is_set():
            self.stopped = JobCancelled(f"job {job.job_id} cancelled")
        # Checked only here: a step in progress cannot be interrupted, so the limit is enforced
        # at the next report.
        elif now - job.started_at > self._timeout_s:
            self.stopped = JobTimedOut(f"job {job.job_id} ran past its {self._timeout_s:g} s limit")
        if self.stopped is not None:
            raise self.stopped
        if stage != self._stage:
            self._end_stage(now)
            self._stage, self._stage_started, self._last_step_at = stage, now, None
        if stage == "denoising":
            # A step's duration is the gap between two consecutive step reports.
            if self._last_step_at is not None and step > job.step:
                self._metrics.record_step(now - self._last_step_at)
            self._last_step_at = now
        if total:
            job.step, job.total = step, total
        # Stages without steps keep showing the last step count (e.g. "finishing 50/50").
        self._on_progress(job, Progress(stage, job.step, job.total))

    def close(self) -> None:
        """Record the time of the stage the job ended in."""
        self._end_stage(self._clock())
        self._stage = None

    def _end_stage(self, now: float) -> None:
        if self._stage is not None:
            self._metrics.record_stage(self._stage, now - self._stage_started)


def check_request(request: JobRequest, *, max_count: int) -> None:
    """Refuse a request that can never run, before it takes a place in the queue."""
    if not isinstance(request, PortraitRequest | InpaintRequest):
        raise TypeError(f"expected a PortraitRequest or InpaintRequest, got {type(request).__name__}")
    if not 1 <= request.count <= max_count:
        raise InvalidRequest(
            f"count {request.count} is outside 1..{max_count}",
            user_message=f"You can ask for 1 to {max_count} images.",
        )
    if not request.selfie:
        raise InvalidRequest("the selfie is empty", user_message="Please attach a selfie.")
    if request.seed is not None and request.seed < 0:
        raise InvalidRequest(f"seed {request.seed} is negative", user_message="The seed must be 0 or more.")
    if isinstance(request, InpaintRequest):
        if (request.template is None) == (request.template_id is None):
            raise InvalidRequest("give exactly one of template and template_id", user_message="Pick one template.")
        if request.face_index < 1:
            raise InvalidRequest(f"face_index {request.face_index} < 1", user_message="Face numbers start at 1.")
