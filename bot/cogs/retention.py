"""Stored photos are kept for rerolls only for ``bot.retention_hours`` after a job ends, and saved identities
for ``bot.identity_retention_days`` after their last use; this purges the rest."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from discord.ext import commands

if TYPE_CHECKING:
    from fact_runtime import Supervisor

    from ..client import PortraitBot
    from ..store import JobStore

log = logging.getLogger(__name__)


class RetentionCog(commands.Cog):
    """Runs each purge every ``interval_s`` while the cog is loaded, starting at once.

    The two purges are separate supervised loops: one that fails (the database refusing a write) is
    logged, reported by ``/readyz`` and restarted without holding the other back.
    """

    def __init__(
        self,
        store: JobStore,
        supervisor: Supervisor,
        *,
        retention_s: float,
        identity_retention_s: float,
        interval_s: float,
    ) -> None:
        self._store = store
        self._supervisor = supervisor
        self._retention_s = retention_s
        self._identity_retention_s = identity_retention_s
        self._interval_s = interval_s
        self._loops: list[asyncio.Task[None]] = []

    async def cog_load(self) -> None:
        self._loops = [
            self._supervisor.loop("purge-inputs", self._purge_inputs),
            self._supervisor.loop("purge-identities", self._purge_identities),
        ]

    async def cog_unload(self) -> None:
        for loop in self._loops:
            loop.cancel()

    async def _purge_inputs(self) -> None:
        while True:
            self._store.purge_expired(self._retention_s)
            await asyncio.sleep(self._interval_s)

    async def _purge_identities(self) -> None:
        while True:
            self._store.identities.purge_expired(self._identity_retention_s)
            await asyncio.sleep(self._interval_s)


async def setup(bot: PortraitBot) -> None:
    settings = bot.settings
    await bot.add_cog(
        RetentionCog(
            bot.store,
            bot.supervisor,
            retention_s=settings.retention_s,
            identity_retention_s=settings.identity_retention_s,
            interval_s=settings.purge_interval_s,
        )
    )
