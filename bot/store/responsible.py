"""Responsible-use state in the job store: who accepted the notice, and each guild's prompt rules."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["GuildPromptRules", "NoticeAcceptances", "PromptRuleStore"]


class NoticeAcceptances:
    """The ``notice_acceptances`` table: members who pressed Accept under the responsible-use notice."""

    def __init__(self, db: sqlite3.Connection, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    def has_accepted(self, user_id: int) -> bool:
        row = self._db.execute("SELECT 1 FROM notice_acceptances WHERE user_id = ?", (str(user_id),)).fetchone()
        return row is not None

    def accept(self, user_id: int) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO notice_acceptances (user_id, accepted_at) VALUES (?, ?)",
            (str(user_id), self._clock()),
        )

    def forget(self, user_id: int) -> bool:
        """Drop the member's acceptance (/forget): their next job command shows the notice again."""
        return self._db.execute("DELETE FROM notice_acceptances WHERE user_id = ?", (str(user_id),)).rowcount > 0


@dataclass(frozen=True, slots=True)
class GuildPromptRules:
    """An admin's prompt rules for one guild, on top of the config's defaults."""

    guild_id: int
    blocked_words: tuple[str, ...] = ()
    blocked_patterns: tuple[str, ...] = ()
    #: Refuse jobs outside age-restricted channels when no safety checker runs; None: the config's choice.
    is_nsfw_channel_required: bool | None = None


class PromptRuleStore:
    """The ``guild_prompt_rules`` table."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def get(self, guild_id: int) -> GuildPromptRules:
        row = self._db.execute("SELECT * FROM guild_prompt_rules WHERE guild_id = ?", (str(guild_id),)).fetchone()
        if row is None:
            return GuildPromptRules(guild_id=guild_id)
        required = row["is_nsfw_channel_required"]
        return GuildPromptRules(
            guild_id=guild_id,
            blocked_words=tuple(json.loads(row["blocked_words"])),
            blocked_patterns=tuple(json.loads(row["blocked_patterns"])),
            is_nsfw_channel_required=None if required is None else bool(required),
        )

    def save(self, rules: GuildPromptRules) -> None:
        required = rules.is_nsfw_channel_required
        self._db.execute(
            "INSERT INTO guild_prompt_rules (guild_id, blocked_words, blocked_patterns, is_nsfw_channel_required)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (guild_id) DO UPDATE SET blocked_words = excluded.blocked_words,"
            " blocked_patterns = excluded.blocked_patterns,"
            " is_nsfw_channel_required = excluded.is_nsfw_channel_required",
            (
                str(rules.guild_id),
                json.dumps(list(rules.blocked_words)),
                json.dumps(list(rules.blocked_patterns)),
                None if required is None else int(required),
            ),
        )
