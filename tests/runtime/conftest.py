"""Fixtures of the executor tests: a gated fake engine, a fake clock, and runtimes closed after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from fact_runtime import Runtime
from fact_runtime.config import QueueConfig
from tests.fakes import FakeClock, FakeEngine, Start


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine(is_gated=True)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def start(engine: FakeEngine, clock: FakeClock) -> AsyncIterator[Start]:
    runtimes: list[Runtime] = []

    async def start(**queue: object) -> Runtime:
        runtime = Runtime(engine, QueueConfig(**queue), clock=clock)  # type: ignore[arg-type]
        runtimes.append(runtime)
        await runtime.start()
        return runtime

    yield start
    engine.open()
    for runtime in runtimes:
        await runtime.close(cancel_running=True)
