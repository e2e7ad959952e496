"""Both backends, on the event loop: admission through the fair queue, its queries, and the job lifecycle."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..config import QueueConfig
from ..errors import QueueFull, UserLimitReached
from ..limits import RequestLimits, check_request
from ..metrics import MetricsRecorder
from .fair_queue import FairQueue
from .handle import JobHandle
from .lifecycle import JobLifecycle
from .progress import LoopPoster

if TYPE_CHECKING:
    from ..request import JobRequest
    from .fair_queue import Job
    from .progress import QueueBoard

__all__ = ["QueueFront"]


class QueueFront:
    """The fair queue's side of a runtime; ``Runtime`` and ``RedisRuntime`` differ in who runs jobs."""

    _queue: FairQueue
    _lifecycle: JobLifecycle

    def __init__(self, queue: QueueConfig | None, limits: RequestLimits | None) -> None:
        self._config = queue or QueueConfig()
        self.limits = limits or RequestLimits(max_per_user=self._config.max_per_user)
        self._metrics = MetricsRecorder()
        self._poster = LoopPoster()

    def _build_queue(self, board: QueueBoard, clock: Callable[[], float]) -> None:
        """The fair queue and the lifecycle over it; the subclass passes its board (ETAs differ by backend)."""
        self._board = board
        self._queue = FairQueue(self._config, board.publish, clock)
        self._lifecycle = JobLifecycle(
            self._queue, poster=self._poster, board=board, metrics=self._metrics, clock=clock
        )

    def get(self, job_id: str) -> JobHandle | None:
        """The handle of a queued, running or recently finished job."""
        return self._queue.get(job_id)

    def jobs_of(self, user_id: str) -> list[JobHandle]:
        """The user's running and queued jobs, in the order they will run."""
        return self._queue.jobs_of(user_id)

    def queue_position(self, job_id: str) -> int:
        """1-based place in the queue; 0 while running; -1 when unknown or finished."""
        return self._queue.position(job_id)

    @property
    def queue_depth(self) -> int:
        return self._queue.depth()

    def _admit(self, request: JobRequest, job_id: str | None, *, is_running: bool = False) -> tuple[JobHandle, Job]:
        """Check the request, queue it (refusals counted) and give its handle the first queue snapshot.

        Raises
        ------
        InvalidRequest, UserLimitReached, QueueFull, RuntimeDead
            See ``Runtime.submit``.
        """
        self._poster.bind()
        check_request(request, self.limits)
        handle = JobHandle(job_id or uuid.uuid4().hex, request, cancel=self._cancel)
        try:
            job = self._queue.admit(handle, is_running=is_running)
        except (QueueFull, UserLimitReached) as exc:
            self._metrics.record_rejection(exc.kind)
            raise
        # The handle starts with its first queue snapshot; later ones arrive through the loop.
        handle.progress = job.published or handle.progress
        return handle, job

    def _cancel(self, handle: JobHandle) -> bool:
        return self._lifecycle.cancel(handle, stop_running=self._stop_running)

    def _stop_running(self, job: Job) -> None:
        """A cancel was accepted for a running job: tell whoever runs it."""
        raise NotImplementedError
