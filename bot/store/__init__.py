"""The job store: one SQLite file (WAL) holding accepted jobs, their inputs, and per-guild settings."""

from __future__ import annotations

from .guilds import GuildSettings, GuildSettingsStore
from .jobs import FINISHED, UNFINISHED, JobKind, JobRecord, JobState, JobStore

__all__ = [
    "FINISHED",
    "UNFINISHED",
    "GuildSettings",
    "GuildSettingsStore",
    "JobKind",
    "JobRecord",
    "JobState",
    "JobStore",
]
