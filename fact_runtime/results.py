"""Value types that cross the runtime boundary: what a job reports while it runs and returns, and the engine protocol."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from .request import JobRequest, SavedFace, SpeedTier

__all__ = [
    "Engine",
    "GeneratedImage",
    "JobResult",
    "PreviewReporter",
    "Progress",
    "Stage",
    "StepReporter",
]

Stage = Literal["queued", "preparing", "encoding", "denoising", "finishing", "done"]


@dataclass(frozen=True, slots=True)
class Progress:
    """A snapshot of where a job stands; the latest one wins."""

    stage: Stage
    step: int = 0
    total_steps: int = 0
    #: 1-based place in the queue while queued; 0 once running.
    queue_position: int = 0
    eta_s: float | None = None
    #: A small JPEG of the image forming (decoded from the latents, never watermarked), when one is due.
    preview: bytes | None = None


@dataclass(frozen=True, slots=True)
class GeneratedImage:
    png: bytes
    seed: int
    #: dlib identity distance to the selfie (lower is more alike), when ranking ran.
    identity_distance: float | None = None


@dataclass(frozen=True, slots=True)
class JobResult:
    images: tuple[GeneratedImage, ...]
    #: Seconds spent per stage, for metrics and benchmarks.
    timings: Mapping[str, float] = field(default_factory=dict)
    #: Sentences for the user about how the job ran (e.g. which of several faces was used).
    notes: tuple[str, ...] = ()
    #: An identity job's outcome: the face to save (``images`` is then empty).
    face: SavedFace | None = None
    #: The speed tier the images were made at (``None`` for an identity job).
    speed: SpeedTier | None = None


class StepReporter(Protocol):
    """Called by an engine at each stage and denoising step.

    It raises ``JobCancelled`` or ``JobTimedOut`` to stop the job; engines let that propagate.
    """

    def __call__(self, stage: Stage, step: int = 0, total: int = 0) -> None: ...


@runtime_checkable
class PreviewReporter(Protocol):
    """A ``StepReporter`` that also takes previews, small JPEGs of the image forming (the latest replaces any
    earlier): engines send it one at most every ``generation.preview_interval_s``."""

    def __call__(self, stage: Stage, step: int = 0, total: int = 0) -> None: ...

    def preview(self, jpeg: bytes) -> None: ...


class Engine(Protocol):
    """What the executor runs jobs on: the real model stack, or a fake in tests."""

    def warm_up(self) -> None:
        """Load every resident model; called once on the worker thread before the first job."""

    def forget_user(self, user_id: str) -> None:
        """Drop anything cached from this user's photos (face tokens, embeddings); callable from any thread."""

    def run(self, request: JobRequest, report: StepReporter, *, max_batch: int | None = None) -> JobResult:
        """Run one job to completion on the calling thread; ``max_batch`` caps the images per UNet call (set after
        an out-of-memory retry). Raises ``InputError`` subclasses for bad input and ``OutOfMemory`` when the
        device ran out of memory (after freeing what it could)."""
