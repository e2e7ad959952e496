"""The job store: one SQLite file (WAL) holding accepted jobs, their inputs, per-guild settings and saved identities."""

from __future__ import annotations

from .audit import AuditEntry, AuditLog
from .group_requests import GroupMember, PendingGroup, PendingGroupStore
from .groups import GroupStore
from .guilds import GuildSettings, GuildSettingsStore
from .identities import IdentityRecord, IdentityStore, StoredIdentity
from .jobs import JobKind, JobRecord, JobStore
from .options import GroupSeat, JobOptions
from .responsible import GuildPromptRules, NoticeAcceptances, PromptRuleStore
from .states import FINISHED, TRANSITIONS, UNFINISHED, IllegalTransition, JobState

__all__ = [
    "FINISHED",
    "TRANSITIONS",
    "UNFINISHED",
    "AuditEntry",
    "AuditLog",
    "GroupMember",
    "GroupSeat",
    "GroupStore",
    "GuildPromptRules",
    "GuildSettings",
    "GuildSettingsStore",
    "IdentityRecord",
    "IdentityStore",
    "IllegalTransition",
    "JobKind",
    "JobOptions",
    "JobRecord",
    "JobState",
    "JobStore",
    "NoticeAcceptances",
    "PendingGroup",
    "PendingGroupStore",
    "PromptRuleStore",
    "StoredIdentity",
]
