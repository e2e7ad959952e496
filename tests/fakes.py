"""FakeEngine: a deterministic stand-in for the model stack whose timing the test controls."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from fact_runtime import (
    BaseTokens,
    Engine,
    FaceAnalysis,
    GeneratedImage,
    IdentityRequest,
    JobHandle,
    JobRequest,
    JobResult,
    PortraitRequest,
    Progress,
    Runtime,
    SavedFace,
    StepReporter,
)
from fact_runtime.tokens import TOKENS_PER_FACE, encode_tokens

#: Starts a runtime over the test's engine and clock with the given queue settings.
Start = Callable[..., Awaitable[Runtime]]


def portrait(user: str, *, count: int = 1, seed: int | None = None) -> PortraitRequest:
    """A portrait request the fake engine accepts (its selfie is never decoded)."""
    return PortraitRequest(user_id=user, selfie=b"selfie", style_id="film", count=count, seed=seed)


__all__ = ["FakeClock", "FakeEngine", "FakeRun", "fake_image_colour", "fake_saved_face", "wait_running"]


def fake_image_colour(seed: int, index: int) -> tuple[int, int, int]:
    """The solid colour of image ``index`` of a job with ``seed``."""
    value = (seed * 7919 + index * 104729) % (256**3)
    return (value >> 16, (value >> 8) & 0xFF, value & 0xFF)


def fake_saved_face(num_photos: int, *, best_index: int = 0) -> SavedFace:
    """A well-formed saved face for ``num_photos`` photos (zero tokens of width 8), as the fake engine returns."""
    points = tuple(float(10 + (i % 40)) for i in range(136))
    tokens = np.zeros((TOKENS_PER_FACE * num_photos, 8), dtype=np.float32)
    return SavedFace(
        analysis=FaceAnalysis(box=(10.0, 10.0, 60.0, 60.0), landmarks68=points, embedding=(0.0,) * 128),
        tokens=(BaseTokens("fake", encode_tokens(tokens, tokens)),),
        best_index=best_index,
        distances=(0.0,) * num_photos,
    )


def _png(colour: tuple[int, int, int], size: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass(frozen=True, slots=True)
class FakeRun:
    """One call of ``FakeEngine.run``: what it was asked to do."""

    request: JobRequest
    max_batch: int | None


class FakeEngine(Engine):
    """Makes solid-colour PNGs, reporting ``steps`` denoising steps per job.

    Timing is the test's: ``step_delay`` sleeps in every step, and with ``is_gated=True`` every
    step waits for ``release()`` (one permit per step), so a test can hold a job mid-run;
    ``open()`` ends the gating. ``fail_next()`` makes the next run raise; ``runs`` records every
    request and ``max_batch``. In async tests wait for a job with ``wait_running(handle)``:
    ``wait_started()`` blocks the calling thread.

    Parameters
    ----------
    steps:
        Denoising steps reported per job.
    step_delay:
        Seconds slept in each step (default none).
    is_gated:
        Each step waits for a permit from ``release()``.
    warm_up_error:
        Raised by ``warm_up()``.
    size:
        Side of the generated PNGs in pixels.
    """

    def __init__(
        self,
        *,
        steps: int = 4,
        step_delay: float = 0.0,
        is_gated: bool = False,
        warm_up_error: BaseException | None = None,
        size: int = 8,
    ) -> None:
        self.steps = steps
        self.step_delay = step_delay
        self.is_gated = is_gated
        self.size = size
        self.warm_up_error = warm_up_error
        #: The photo an identity job calls the best (0-based).
        self.best_photo = 0
        self.is_warm = False
        self.forgotten: list[str] = []
        self.runs: list[FakeRun] = []
        self.started = threading.Event()
        #: Set when a job waits for a step permit: everything it reported before is stamped by then.
        self.waiting_for_permit = threading.Event()
        self._permits = threading.Semaphore(0)
        self._failures: list[BaseException] = []
        self._lock = threading.Lock()

    # Test controls

    def fail_next(self, error: BaseException, *, times: int = 1) -> None:
        """Make the next ``times`` runs raise ``error`` in their first step (after its gate, if gated)."""
        with self._lock:
            self._failures.extend([error] * times)

    def release(self, steps: int = 1) -> None:
        """Let ``steps`` more gated steps proceed."""
        for _ in range(steps):
            self._permits.release()

    def open(self) -> None:
        """Stop gating: every waiting and future step proceeds."""
        self.is_gated = False
        self.release(self.steps)

    def wait_started(self, timeout: float = 5.0) -> None:
        """Block the calling thread until a job has started, then re-arm for the next one."""
        if not self.started.wait(timeout):
            raise TimeoutError("no job started")
        self.started.clear()

    @property
    def requests(self) -> list[JobRequest]:
        return [run.request for run in self.runs]

    # Engine protocol

    def warm_up(self) -> None:
        if self.warm_up_error is not None:
            raise self.warm_up_error
        self.is_warm = True

    def forget_user(self, user_id: str) -> None:
        self.forgotten.append(user_id)

    def run(self, request: JobRequest, report: StepReporter, *, max_batch: int | None = None) -> JobResult:
        with self._lock:
            self.runs.append(FakeRun(request, max_batch))
            failure = self._failures.pop(0) if self._failures else None
        self.started.set()
        report("preparing")
        for step in range(1, self.steps + 1):
            if self.is_gated:
                self.waiting_for_permit.set()
            if self.is_gated and not self._permits.acquire(timeout=10):
                raise TimeoutError("FakeEngine step was never released")
            if failure is not None:
                raise failure
            if self.step_delay:
                time.sleep(self.step_delay)
            report("denoising", step, self.steps)
        report("finishing")
        if isinstance(request, IdentityRequest):
            return JobResult(images=(), face=fake_saved_face(len(request.photos), best_index=self.best_photo))
        seed = request.seed if request.seed is not None else 1234
        images = tuple(
            GeneratedImage(png=_png(fake_image_colour(seed, index), self.size), seed=seed + index)
            for index in range(request.count)
        )
        speed = getattr(request, "speed", None)  # the real engine names the tier it ran at
        return JobResult(images=images, timings={"denoising": self.steps * self.step_delay}, speed=speed)


class FakeClock:
    """A monotonic clock that moves only when the test calls ``advance``."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def wait_running(handle: JobHandle, *, timeout: float = 5.0) -> Progress:
    """Wait (on the event loop) until a job has left the queue; returns its first progress after that."""
    async with asyncio.timeout(timeout):
        if handle.progress.stage != "queued":
            return handle.progress
        async for update in handle:
            if not isinstance(update, Progress) or update.stage != "queued":
                break
    return handle.progress
