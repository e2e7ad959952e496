"""Stored photos are kept for rerolls only for ``bot.retention_hours`` after a job ends, saved identities
for ``bot.identity_retention_days`` after their last use, audit lines ``bot.audit_retention_days``; this purges the rest."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from discord.ext import commands

if TYPE_CHECKING:
    from fact_runtime import Supervisor

    from ..client import PortraitBot
    from ..store import JobStore


class RetentionCog(commands.Cog):
    """Runs each purge every ``interval_s`` while the cog is loaded, starting at once.

    Each purge is a supervised loop of its own: one that fails (the database refusing a write) is
    logged, reported by ``/readyz`` and restarted without holding the others back.
    """

    def __init__(
        self,
        store: JobStore,
        supervisor: Supervisor,
        *,
        retention_s: float,
        identity_retention_s: float,
        interval_s: float,
        audit_retention_s: float | None = None,
    ) -> None:
        self._store = store
        self._supervisor = supervisor
        self._retention_s = retention_s
        self._identity_retention_s = identity_retention_s
        self._audit_retention_s = audit_retention_s
        self._interval_s = interval_s
        self._loops: list[asyncio.Task[None]] = []

    async def cog_load(self) -> None:
        self._loops = [
            self._supervisor.loop(name, self._every_interval(purge)) for name, purge in self._purges().items()
        ]

    async def purge(self) -> None:
        """Run every purge once now, as the loops' next round would (tests, and a caller in a hurry)."""
        for purge in self._purges().values():
            purge()

    def _purges(self) -> dict[str, Callable[[], object]]:
        purges: dict[str, Callable[[], object]] = {
            "purge-inputs": lambda: self._store.purge_expired(self._retention_s),
            "purge-identities": lambda: self._store.identities.purge_expired(self._identity_retention_s),
        }
        if self._audit_retention_s is not None:
            audit_retention_s = self._audit_retention_s
            purges["purge-audit"] = lambda: self._store.audit.purge_expired(audit_retention_s)
        return purges

    async def cog_unload(self) -> None:
        for loop in self._loops:
            loop.cancel()

    def _every_interval(self, purge: Callable[[], object]) -> Callable[[], Coroutine[Any, Any, None]]:
        async def repeat() -> None:
            while True:
                purge()
                await asyncio.sleep(self._interval_s)

        return repeat


async def setup(bot: PortraitBot) -> None:
    settings = bot.settings
    await bot.add_cog(
        RetentionCog(
            bot.store,
            bot.supervisor,
            retention_s=settings.retention_s,
            identity_retention_s=settings.identity_retention_s,
            interval_s=settings.purge_interval_s,
            audit_retention_s=settings.audit_retention_s,
        )
    )
