"""The job store: one SQLite file (WAL) holding accepted jobs, their inputs, per-guild settings and saved identities."""

from __future__ import annotations

from .audit import AuditEntry, AuditLog
from .guilds import GuildSettings, GuildSettingsStore
from .identities import IdentityRecord, IdentityStore, StoredIdentity
from .jobs import FINISHED, UNFINISHED, JobKind, JobRecord, JobState, JobStore
from .responsible import GuildPromptRules, NoticeAcceptances, PromptRuleStore

__all__ = [
    "FINISHED",
    "UNFINISHED",
    "AuditEntry",
    "AuditLog",
    "GuildPromptRules",
    "GuildSettings",
    "GuildSettingsStore",
    "IdentityRecord",
    "IdentityStore",
    "JobKind",
    "JobRecord",
    "JobState",
    "JobStore",
    "NoticeAcceptances",
    "PromptRuleStore",
    "StoredIdentity",
]
