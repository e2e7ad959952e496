"""pytest fixtures for the fake Discord, registered for every test by ``tests/conftest.py``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .harness import patched_discord
from .server import FakeDiscord


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    """A running fake with discord.py pointed at it; no Discord rule may be broken unless a test takes it."""
    fake = FakeDiscord()
    await fake.start()
    try:
        with patched_discord(fake):
            yield fake
    finally:
        await fake.close()
    assert fake.violations == [], f"Discord rules broken: {fake.violations}"
