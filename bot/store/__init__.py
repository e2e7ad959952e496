"""The job store: one SQLite file (WAL) holding accepted jobs, their inputs, per-guild settings and saved identities."""

from __future__ import annotations

from .guilds import GuildSettings, GuildSettingsStore
from .identities import IdentityRecord, IdentityStore, StoredIdentity
from .jobs import FINISHED, UNFINISHED, JobKind, JobRecord, JobState, JobStore
from .shares import ShareStore

__all__ = [
    "FINISHED",
    "UNFINISHED",
    "GuildSettings",
    "GuildSettingsStore",
    "IdentityRecord",
    "IdentityStore",
    "JobKind",
    "JobRecord",
    "JobState",
    "JobStore",
    "ShareStore",
    "StoredIdentity",
]
