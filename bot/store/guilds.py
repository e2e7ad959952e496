"""Per-guild rules set by admins with /settings: allowed channels, disabled styles, the per-member limit."""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass, field

__all__ = ["GuildSettings", "GuildSettingsStore"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GuildSettings:
    """Admin choices for one guild; empty ``allowed_channels`` means every channel."""

    guild_id: int
    allowed_channels: frozenset[int] = field(default_factory=frozenset)
    disabled_styles: frozenset[str] = field(default_factory=frozenset)
    #: Lowers the runtime's ``queue.max_per_user`` in this guild; None keeps it.
    max_jobs_per_user: int | None = None

    def is_channel_allowed(self, channel_id: int | None) -> bool:
        return not self.allowed_channels or channel_id in self.allowed_channels

    def per_member_limit(self, cap: int) -> int:
        """Unfinished jobs a member may have here, given the bot-wide ``cap``."""
        return cap if self.max_jobs_per_user is None else min(cap, self.max_jobs_per_user)


class GuildSettingsStore:
    """The ``guild_settings`` table of the job store's database."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def get(self, guild_id: int) -> GuildSettings:
        """The guild's settings; the defaults when an admin never changed any."""
        row = self._db.execute("SELECT * FROM guild_settings WHERE guild_id = ?", (str(guild_id),)).fetchone()
        if row is None:
            return GuildSettings(guild_id=guild_id)
        return GuildSettings(
            guild_id=guild_id,
            allowed_channels=frozenset(int(c) for c in json.loads(row["allowed_channels"])),
            disabled_styles=frozenset(json.loads(row["disabled_styles"])),
            max_jobs_per_user=row["max_jobs_per_user"],
        )

    def save(self, settings: GuildSettings) -> None:
        self._db.execute(
            "INSERT INTO guild_settings (guild_id, allowed_channels, disabled_styles, max_jobs_per_user)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (guild_id) DO UPDATE SET allowed_channels = excluded.allowed_channels,"
            " disabled_styles = excluded.disabled_styles, max_jobs_per_user = excluded.max_jobs_per_user",
            (
                str(settings.guild_id),
                json.dumps(sorted(str(c) for c in settings.allowed_channels)),
                json.dumps(sorted(settings.disabled_styles)),
                settings.max_jobs_per_user,
            ),
        )
