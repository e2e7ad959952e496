"""Per-guild rules set by admins with /settings: allowed channels, disabled styles, the per-member limit, speed tiers."""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast, get_args

from fact_runtime import SpeedTier

if TYPE_CHECKING:
    from fact_runtime import RequestLimits

__all__ = ["GuildSettings", "GuildSettingsStore"]

log = logging.getLogger(__name__)

_TIERS: tuple[str, ...] = get_args(SpeedTier)


@dataclass(frozen=True, slots=True)
class GuildSettings:
    """Admin choices for one guild; empty ``allowed_channels`` means every channel."""

    guild_id: int
    allowed_channels: frozenset[int] = field(default_factory=frozenset)
    disabled_styles: frozenset[str] = field(default_factory=frozenset)
    #: Lowers the runtime's ``queue.max_per_user`` in this guild; None keeps it.
    max_jobs_per_user: int | None = None
    #: The speed tiers members may choose here, among the runtime's ``speed.allowed``; empty: all of those.
    allowed_speeds: frozenset[SpeedTier] = field(default_factory=frozenset)
    #: The tier of a job that names none; None (or one no longer allowed): the runtime's ``speed.default``.
    default_speed: SpeedTier | None = None

    def is_channel_allowed(self, channel_id: int | None) -> bool:
        return not self.allowed_channels or channel_id in self.allowed_channels

    def per_member_limit(self, cap: int) -> int:
        """Unfinished jobs a member may have here, given the bot-wide ``cap``."""
        return cap if self.max_jobs_per_user is None else min(cap, self.max_jobs_per_user)

    def speeds(self, limits: RequestLimits) -> tuple[SpeedTier, ...]:
        """The tiers members may choose here, in the runtime's order.

        A guild whose tiers the runtime no longer offers gets the runtime's default alone, the one
        tier sure to be offered, rather than every tier its admins had left out.
        """
        if not self.allowed_speeds:
            return limits.speeds
        return tuple(tier for tier in limits.speeds if tier in self.allowed_speeds) or (limits.default_speed,)

    def speed_default(self, limits: RequestLimits) -> SpeedTier:
        """The tier of a job here that names none: this guild's default if still allowed, else the runtime's, else the first allowed."""
        offered = self.speeds(limits)
        for tier in (self.default_speed, limits.default_speed):
            if tier in offered:
                return tier
        return offered[0]


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
            # A tier name a newer bot wrote and this one does not know is left out, not trusted.
            allowed_speeds=frozenset(cast("SpeedTier", t) for t in json.loads(row["allowed_speeds"]) if t in _TIERS),
            default_speed=row["default_speed"] if row["default_speed"] in _TIERS else None,
        )

    def save(self, settings: GuildSettings) -> None:
        self._db.execute(
            "INSERT INTO guild_settings (guild_id, allowed_channels, disabled_styles, max_jobs_per_user,"
            " allowed_speeds, default_speed) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (guild_id) DO UPDATE SET"
            " allowed_channels = excluded.allowed_channels, disabled_styles = excluded.disabled_styles,"
            " max_jobs_per_user = excluded.max_jobs_per_user, allowed_speeds = excluded.allowed_speeds,"
            " default_speed = excluded.default_speed",
            (
                str(settings.guild_id),
                json.dumps(sorted(str(c) for c in settings.allowed_channels)),
                json.dumps(sorted(settings.disabled_styles)),
                settings.max_jobs_per_user,
                json.dumps(sorted(settings.allowed_speeds)),
                settings.default_speed,
            ),
        )
