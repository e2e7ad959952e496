"""Stored photos are kept for rerolls only for ``bot.retention_hours`` after a job ends, saved identities
for ``bot.identity_retention_days`` after their last use, audit lines ``bot.audit_retention_days``; this purges the rest."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from discord.ext import commands, tasks

if TYPE_CHECKING:
    from ..client import PortraitBot
    from ..store import JobStore

log = logging.getLogger(__name__)


class RetentionCog(commands.Cog):
    """Runs the purge every ``interval_s`` while the cog is loaded, starting at once."""

    def __init__(
        self,
        store: JobStore,
        *,
        retention_s: float,
        identity_retention_s: float,
        interval_s: float,
        audit_retention_s: float | None = None,
    ) -> None:
        self._store = store
        self._retention_s = retention_s
        self._identity_retention_s = identity_retention_s
        self._audit_retention_s = audit_retention_s
        self._interval_s = interval_s

    async def cog_load(self) -> None:
        self.purge.change_interval(seconds=self._interval_s)
        self.purge.start()

    async def cog_unload(self) -> None:
        self.purge.cancel()

    @tasks.loop(minutes=10)  # replaced by the configured interval in cog_load
    async def purge(self) -> None:
        try:
            self._store.purge_expired(self._retention_s)
        except Exception:
            log.exception("purging expired inputs failed")
        try:
            self._store.identities.purge_expired(self._identity_retention_s)
        except Exception:
            log.exception("purging expired identities failed")
        if self._audit_retention_s is not None:
            try:
                self._store.audit.purge_expired(self._audit_retention_s)
            except Exception:
                log.exception("purging expired audit lines failed")


async def setup(bot: PortraitBot) -> None:
    settings = bot.settings
    await bot.add_cog(
        RetentionCog(
            bot.store,
            retention_s=settings.retention_s,
            identity_retention_s=settings.identity_retention_s,
            interval_s=settings.purge_interval_s,
            audit_retention_s=settings.audit_retention_s,
        )
    )
