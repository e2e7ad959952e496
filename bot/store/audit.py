"""The audit log: one line per job a member ran in a server, for admins (/audit); never photos or images.

Lines are written by SQLite triggers on the ``jobs`` table, so every path that records a job
(commands, buttons, recovery, commands added later) is logged without remembering to. The
triggers are temporary (per connection) and created only while auditing is on. A line outlives
its job: /forget deletes the job but only blanks the member (and, where their saved identity was
used, its owner) in the line, so the fact that a job ran stays; lines older than the retention
are purged.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["AuditEntry", "AuditLog", "create_audit_log"]

log = logging.getLogger(__name__)


def create_audit_log(db: sqlite3.Connection) -> None:
    """The table (part of the schema migration that adds it)."""
    db.execute(
        """CREATE TABLE IF NOT EXISTS audit_log (
            job_id TEXT PRIMARY KEY,
            guild_id TEXT,
            user_id TEXT,
            kind TEXT NOT NULL,
            style_id TEXT,
            template TEXT,
            has_identity INTEGER NOT NULL DEFAULT 0,
            identity_owner_id TEXT,
            outcome TEXT NOT NULL,
            error_kind TEXT,
            created_at REAL NOT NULL
        )"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS audit_by_guild ON audit_log (guild_id, created_at)")


# ``user_id`` NULL is the anonymous marker /forget leaves. The identity's owner is whose consent
# the job used: the member's own saved identity, or one another member shared with them.
_RECORD_TRIGGER = """CREATE TEMP TRIGGER IF NOT EXISTS audit_job_recorded AFTER INSERT ON jobs BEGIN
    INSERT OR IGNORE INTO audit_log (job_id, guild_id, user_id, kind, style_id, template, has_identity,
        identity_owner_id, outcome, error_kind, created_at)
    VALUES (NEW.job_id, NEW.guild_id, NEW.user_id, NEW.kind, json_extract(NEW.options, '$.style_id'),
        COALESCE(json_extract(NEW.options, '$.template_id'),
                 CASE WHEN json_extract(NEW.options, '$.has_template') THEN 'uploaded' END),
        json_extract(NEW.options, '$.identity_id') IS NOT NULL,
        (SELECT user_id FROM identities WHERE identity_id = json_extract(NEW.options, '$.identity_id')),
        NEW.state, NEW.error_kind, NEW.created_at);
END"""
_STATE_TRIGGER = """CREATE TEMP TRIGGER IF NOT EXISTS audit_job_state AFTER UPDATE OF state ON jobs BEGIN
    UPDATE audit_log SET outcome = NEW.state, error_kind = NEW.error_kind WHERE job_id = NEW.job_id;
END"""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One job as the audit keeps it; ``user_id`` None means its member ran /forget."""

    job_id: str
    guild_id: int | None
    user_id: int | None
    kind: str
    style_id: str | None
    template: str | None
    has_identity: bool
    #: Whose saved identity (and consent) the job used; None when none was, or its owner ran /forget.
    identity_owner_id: int | None
    outcome: str
    error_kind: str | None
    created_at: float


class AuditLog:
    """The ``audit_log`` table of the job store's database."""

    def __init__(self, db: sqlite3.Connection, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    def start_recording(self) -> None:
        """Log every job recorded from now on through this connection (``bot.is_audit_enabled``)."""
        self._db.execute(_RECORD_TRIGGER)
        self._db.execute(_STATE_TRIGGER)

    def note_refusal(self, job_id: str, *, guild_id: int, user_id: int, kind: str, error_kind: str) -> None:
        """A command refused before any job was recorded (a blocked prompt, a channel rule): still worth a line."""
        self._db.execute(
            "INSERT OR IGNORE INTO audit_log (job_id, guild_id, user_id, kind, outcome, error_kind, created_at)"
            " VALUES (?, ?, ?, ?, 'refused', ?, ?)",
            (job_id, str(guild_id), str(user_id), kind, error_kind, self._clock()),
        )

    def entries(self, guild_id: int, *, user_id: int | None = None, limit: int = 20) -> list[AuditEntry]:
        """The guild's most recent lines, newest first; only ``user_id``'s when given."""
        query = "SELECT * FROM audit_log WHERE guild_id = ?"
        values: list[object] = [str(guild_id)]
        if user_id is not None:
            query += " AND user_id = ?"
            values.append(str(user_id))
        rows = self._db.execute(query + " ORDER BY created_at DESC LIMIT ?", (*values, limit)).fetchall()
        return [_from_row(row) for row in rows]

    def anonymise(self, user_id: int) -> int:
        """Blank the member in every line (as runner and as identity owner); the lines stay. Returns lines changed."""
        member = str(user_id)
        ran = self._db.execute("UPDATE audit_log SET user_id = NULL WHERE user_id = ?", (member,)).rowcount
        owned = self._db.execute(
            "UPDATE audit_log SET identity_owner_id = NULL WHERE identity_owner_id = ?", (member,)
        ).rowcount
        return ran + owned

    def purge_expired(self, retention_s: float) -> int:
        """Delete lines older than ``retention_s``; returns how many."""
        cutoff = self._clock() - retention_s
        deleted = self._db.execute("DELETE FROM audit_log WHERE created_at < ?", (cutoff,)).rowcount
        if deleted:
            log.info("purged %d audit lines older than %.0f days", deleted, retention_s / 86400)
        return deleted


def _snowflake(value: str | None) -> int | None:
    return None if value is None else int(value)


def _from_row(row: sqlite3.Row) -> AuditEntry:
    return AuditEntry(
        job_id=row["job_id"],
        guild_id=_snowflake(row["guild_id"]),
        user_id=_snowflake(row["user_id"]),
        kind=row["kind"],
        style_id=row["style_id"],
        template=row["template"],
        has_identity=bool(row["has_identity"]),
        identity_owner_id=_snowflake(row["identity_owner_id"]),
        outcome=row["outcome"],
        error_kind=row["error_kind"],
        created_at=row["created_at"],
    )
