"""A job's states and the moves between them; ``JobStore`` refuses any move this table does not list.

``accepted`` (acknowledged, its photos still downloading) -> ``queued`` (inputs stored) ->
``running`` -> ``delivering`` (images stored, being posted) -> ``delivered``; any unfinished job
can fail or be cancelled, and a job not yet running can be refused. A restart puts a queued or
running job back in ``queued``; "Try again" after a failed upload posts a failed job's kept
images again (``failed`` -> ``delivering``). ``delivered``, ``cancelled`` and ``refused`` are final.
"""

from __future__ import annotations

from typing import Literal, cast

__all__ = ["FINISHED", "TRANSITIONS", "UNFINISHED", "IllegalTransition", "JobState", "check_transition"]

JobState = Literal["accepted", "queued", "running", "delivering", "delivered", "failed", "cancelled", "refused"]
UNFINISHED: tuple[JobState, ...] = ("accepted", "queued", "running", "delivering")
FINISHED: tuple[JobState, ...] = ("delivered", "failed", "cancelled", "refused")

#: Where a job in each state may go next.
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    "accepted": frozenset({"queued", "cancelled", "refused", "failed"}),
    # A job can finish between two status edits, so it may reach "delivering" without "running".
    "queued": frozenset({"queued", "running", "delivering", "cancelled", "refused", "failed"}),
    "running": frozenset({"queued", "delivering", "cancelled", "failed"}),
    # Once the images are out of the runtime a job is no longer cancellable: it is posted or fails.
    "delivering": frozenset({"delivered", "failed"}),
    "failed": frozenset({"delivering"}),
    "delivered": frozenset(),
    "cancelled": frozenset(),
    "refused": frozenset(),
}


class IllegalTransition(RuntimeError):
    """A move the state table does not allow: a bug in whoever asked for it, and nothing is written."""

    def __init__(self, job_id: str, current: str, wanted: str) -> None:
        super().__init__(f"job {job_id} cannot go from {current} to {wanted}")
        self.job_id = job_id
        self.current = current
        self.wanted = wanted


def check_transition(job_id: str, current: str, wanted: JobState) -> None:
    """Raises ``IllegalTransition`` unless a job in ``current`` may move to ``wanted``."""
    if wanted not in TRANSITIONS.get(cast(JobState, current), frozenset()):
        raise IllegalTransition(job_id, current, wanted)
