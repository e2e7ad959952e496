"""The engine of test worker processes: FakeEngine's images, its steps gated and its runs recorded in Redis.

A worker process started with ``--engine tests.remote_engine:RemoteEngine`` reads its settings
from the environment (``tests.redis_world`` sets them): ``FACT_TEST_REDIS`` (where gates and
records live), ``FACT_TEST_WORKER`` (its name), ``FACT_TEST_STEPS``, ``FACT_TEST_STEP_S`` and
``FACT_TEST_GATED``. Gated, every step of the job with seed S waits for a permit pushed to
``gate:S`` (or for ``gate:open`` to exist); each run is appended to ``runs`` when it starts.
Styles ``no-face`` and ``crash`` fail the job the way a real engine would.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
from collections.abc import Callable

import redis
from PIL import Image

from fact_runtime import (
    FollowUpRequest,
    GeneratedImage,
    JobRequest,
    JobResult,
    NoFaceFound,
    PreviewReporter,
    StepReporter,
)
from tests.fakes import fake_image_colour

#: Keys of the test's own, beside the deployment's.
TEST_PREFIX = "fact-test"


class RemoteEngine:
    """Solid-colour PNGs after ``steps`` reported steps; the test process holds and releases them."""

    def __init__(self) -> None:
        self.steps = int(os.environ.get("FACT_TEST_STEPS", "4"))
        self.step_s = float(os.environ.get("FACT_TEST_STEP_S", "0"))
        self.is_gated = os.environ.get("FACT_TEST_GATED", "1") == "1"
        #: Side of the result PNGs; a follow-up needs results as large as a photo the runtime takes.
        self.size = int(os.environ.get("FACT_TEST_SIZE", "8"))
        self.name = os.environ.get("FACT_TEST_WORKER", "?")
        self._redis = redis.Redis.from_url(os.environ["FACT_TEST_REDIS"], socket_timeout=2)

    def warm_up(self) -> None:
        """Nothing to load."""

    def forget_user(self, user_id: str) -> None:
        self._call(self._redis.rpush, f"{TEST_PREFIX}:forgotten", f"{self.name}:{user_id}")

    def run(self, request: JobRequest, report: StepReporter, *, max_batch: int | None = None) -> JobResult:
        seed = request.seed if request.seed is not None else 1234
        style = getattr(request, "style_id", "")
        record = {
            "worker": self.name,
            "user": request.user_id,
            "seed": seed,
            "style": style,
            "selfie": len(request.selfie),
        }
        self._call(self._redis.rpush, f"{TEST_PREFIX}:runs", json.dumps(record))
        report("preparing")
        if style == "no-face":
            raise NoFaceFound(f"seed {seed}: no face (as asked)")
        for step in range(1, self.steps + 1):
            if self.is_gated:
                self._wait_for_permit(seed)
            if style == "crash":
                raise RuntimeError("the engine crashed (as asked)")
            if self.step_s:
                time.sleep(self.step_s)
            report("denoising", step, self.steps)
            if isinstance(request, FollowUpRequest) and isinstance(report, PreviewReporter):
                report.preview(f"preview {seed}:{step}".encode())  # as the real engine sends them
        report("finishing")
        images = tuple(
            GeneratedImage(png=_png(fake_image_colour(seed, index), self.size), seed=seed + index)
            for index in range(request.count)
        )
        return JobResult(images=images, timings={"denoising": self.steps * self.step_s})

    def _wait_for_permit(self, seed: int) -> None:
        # Redis may be down for a while (the outage tests): the step waits, as a real one would run on.
        while True:
            try:
                if self._redis.exists(f"{TEST_PREFIX}:gate:open") or self._redis.blpop(
                    [f"{TEST_PREFIX}:gate:{seed}"], timeout=0.1
                ):
                    return
            except redis.ConnectionError:
                time.sleep(0.1)

    def _call(self, command: Callable[..., object], *args: object) -> None:
        with contextlib.suppress(redis.ConnectionError):
            command(*args)


def _png(colour: tuple[int, int, int], size: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, format="PNG")
    return buffer.getvalue()
