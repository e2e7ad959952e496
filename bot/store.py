"""Durable job store on SQLite: every accepted job, its options and inputs, and per-guild settings.

Queries are short and the database is in WAL mode, so the store is used directly on the event
loop; only the runtime creates threads.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

__all__ = ["JobState", "JobRecord", "GuildSettings", "JobStore", "UNFINISHED", "FINISHED"]

log = logging.getLogger(__name__)

JobState = Literal["queued", "running", "delivered", "failed", "cancelled", "refused"]
UNFINISHED: tuple[JobState, ...] = ("queued", "running")
FINISHED: tuple[JobState, ...] = ("delivered", "failed", "cancelled", "refused")

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    guild_id TEXT,
    channel_id TEXT,
    kind TEXT NOT NULL,
    options TEXT NOT NULL,
    state TEXT NOT NULL,
    is_private INTEGER NOT NULL DEFAULT 0,
    parent_id TEXT,
    application_id TEXT,
    interaction_token TEXT,
    token_expires_at REAL,
    status_message_id TEXT,
    result_channel_id TEXT,
    result_message_id TEXT,
    error_kind TEXT,
    created_at REAL NOT NULL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS jobs_by_user ON jobs (user_id, state);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, finished_at);
CREATE TABLE IF NOT EXISTS inputs (
    job_id TEXT NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (job_id, name)
);
CREATE TABLE IF NOT EXISTS guild_settings (
    guild_id TEXT PRIMARY KEY,
    allowed_channels TEXT NOT NULL DEFAULT '[]',
    disabled_styles TEXT NOT NULL DEFAULT '[]',
    max_jobs_per_user INTEGER
);
"""


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One accepted job as stored; ``options`` holds the request fields other than the bytes."""

    job_id: str
    user_id: int
    kind: Literal["portrait", "inpaint"]
    options: Mapping[str, Any]
    state: JobState = "queued"
    guild_id: int | None = None
    channel_id: int | None = None
    is_private: bool = False
    parent_id: str | None = None
    application_id: int | None = None
    interaction_token: str | None = None
    token_expires_at: float | None = None
    status_message_id: int | None = None
    #: Where the results were posted (not set for ephemeral deliveries, which vanish on their own).
    result_channel_id: int | None = None
    result_message_id: int | None = None
    error_kind: str | None = None
    created_at: float = 0.0
    finished_at: float | None = None

    @property
    def is_finished(self) -> bool:
        return self.state in FINISHED


@dataclass(frozen=True, slots=True)
class GuildSettings:
    """Admin choices for one guild; empty ``allowed_channels`` means every channel."""

    guild_id: int
    allowed_channels: frozenset[int] = field(default_factory=frozenset)
    disabled_styles: frozenset[str] = field(default_factory=frozenset)
    max_jobs_per_user: int | None = None

    def is_channel_allowed(self, channel_id: int | None) -> bool:
        return not self.allowed_channels or channel_id in self.allowed_channels


def _snowflake(value: Any) -> int | None:
    return None if value is None else int(value)


def _text(value: int | None) -> str | None:
    # Snowflakes are stored as text: they exceed SQLite's signed 64-bit range in theory.
    return None if value is None else str(value)


class JobStore:
    """Jobs, their inputs and guild settings in one SQLite file.

    Parameters
    ----------
    path:
        The database file (created with its folder), or ``":memory:"``.
    clock:
        Wall-clock seconds; injectable so retention can be tested.
    """

    def __init__(self, path: Path | str, *, clock: Callable[[], float] = time.time) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._clock = clock
        self._db = sqlite3.connect(str(path), isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise RuntimeError(f"{self.path}: schema version {version} is newer than this bot ({SCHEMA_VERSION})")
        if version < SCHEMA_VERSION:
            self._db.executescript("BEGIN;" + _SCHEMA + f"PRAGMA user_version={SCHEMA_VERSION};COMMIT;")
            log.info("job store %s at schema version %d", self.path, SCHEMA_VERSION)

    def close(self) -> None:
        self._db.close()

    # Jobs

    def record(self, job: JobRecord, inputs: Mapping[str, bytes]) -> JobRecord:
        """Store a newly accepted job and its input bytes in one transaction; returns it with ``created_at``."""
        job = replace(job, created_at=self._clock())
        with self._transaction():
            self._db.execute(
                "INSERT INTO jobs (job_id, user_id, guild_id, channel_id, kind, options, state, is_private,"
                " parent_id, application_id, interaction_token, token_expires_at, status_message_id, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job.job_id, str(job.user_id), _text(job.guild_id), _text(job.channel_id), job.kind,
                    json.dumps(dict(job.options)), job.state, int(job.is_private), job.parent_id,
                    _text(job.application_id), job.interaction_token, job.token_expires_at,
                    _text(job.status_message_id), job.created_at,
                ),
            )
            self._db.executemany(
                "INSERT INTO inputs (job_id, name, data) VALUES (?, ?, ?)",
                [(job.job_id, name, data) for name, data in inputs.items()],
            )
        return job

    def get(self, job_id: str) -> JobRecord | None:
        row = self._db.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return None if row is None else _from_row(row)

    def inputs(self, job_id: str) -> dict[str, bytes]:
        """The stored input bytes by name (``selfie``, ``template``, ``pose``); empty once purged."""
        rows = self._db.execute("SELECT name, data FROM inputs WHERE job_id = ?", (job_id,))
        return {row["name"]: bytes(row["data"]) for row in rows}

    def set_state(self, job_id: str, state: JobState, *, error_kind: str | None = None, has_retry: bool = True) -> None:
        """Move a job to ``state``; photos of a job no button can run again are purged at once.

        ``has_retry=False`` marks a failure that would fail the same way again (bad input).
        """
        finished_at = self._clock() if state in FINISHED else None
        is_dead_end = state in ("cancelled", "refused") or (state == "failed" and not has_retry)
        with self._transaction():
            # A finished job no longer needs its interaction token; dropping it limits what a leaked file holds.
            self._db.execute(
                "UPDATE jobs SET state = ?, error_kind = ?, finished_at = ?,"
                " interaction_token = CASE WHEN ? THEN NULL ELSE interaction_token END WHERE job_id = ?",
                (state, error_kind, finished_at, finished_at is not None, job_id),
            )
            if is_dead_end:
                self._db.execute("DELETE FROM inputs WHERE job_id = ?", (job_id,))

    def set_status_message(self, job_id: str, message_id: int | None) -> None:
        self._db.execute("UPDATE jobs SET status_message_id = ? WHERE job_id = ?", (_text(message_id), job_id))

    def set_result_message(self, job_id: str, channel_id: int, message_id: int) -> None:
        self._db.execute(
            "UPDATE jobs SET result_channel_id = ?, result_message_id = ? WHERE job_id = ?",
            (_text(channel_id), _text(message_id), job_id),
        )

    def unfinished(self) -> list[JobRecord]:
        """Jobs accepted but not finished (for recovery after a restart), oldest first."""
        rows = self._db.execute(
            "SELECT * FROM jobs WHERE state IN (?, ?) ORDER BY created_at, rowid", UNFINISHED
        )
        return [_from_row(row) for row in rows]

    def jobs_of(self, user_id: int, *, states: Iterable[JobState] = UNFINISHED) -> list[JobRecord]:
        states = tuple(states)
        marks = ", ".join("?" * len(states))
        rows = self._db.execute(
            f"SELECT * FROM jobs WHERE user_id = ? AND state IN ({marks}) ORDER BY created_at, rowid",
            (str(user_id), *states),
        )
        return [_from_row(row) for row in rows]

    def purge_inputs(self, job_id: str) -> None:
        self._db.execute("DELETE FROM inputs WHERE job_id = ?", (job_id,))

    def purge_expired(self, retention_s: float) -> int:
        """Delete the input bytes of jobs finished more than ``retention_s`` ago; returns how many jobs."""
        cutoff = self._clock() - retention_s
        marks = ", ".join("?" * len(FINISHED))
        with self._transaction():
            cursor = self._db.execute(
                f"DELETE FROM inputs WHERE job_id IN (SELECT job_id FROM jobs WHERE state IN ({marks})"
                " AND finished_at <= ?)",
                (*FINISHED, cutoff),
            )
        purged = cursor.rowcount
        if purged:
            log.info("purged %d stored inputs past the %.0f s retention", purged, retention_s)
        return purged

    def forget(self, user_id: int) -> int:
        """Delete every job of the user, with its inputs; returns how many jobs were deleted."""
        with self._transaction():
            cursor = self._db.execute("DELETE FROM jobs WHERE user_id = ?", (str(user_id),))
        return cursor.rowcount

    # Guild settings

    def guild_settings(self, guild_id: int) -> GuildSettings:
        row = self._db.execute("SELECT * FROM guild_settings WHERE guild_id = ?", (str(guild_id),)).fetchone()
        if row is None:
            return GuildSettings(guild_id=guild_id)
        return GuildSettings(
            guild_id=guild_id,
            allowed_channels=frozenset(int(c) for c in json.loads(row["allowed_channels"])),
            disabled_styles=frozenset(json.loads(row["disabled_styles"])),
            max_jobs_per_user=row["max_jobs_per_user"],
        )

    def save_guild_settings(self, settings: GuildSettings) -> None:
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

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        # In autocommit mode (isolation_level=None) "with connection" does not open a transaction.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")


def _from_row(row: sqlite3.Row) -> JobRecord:
    return JobRecord(
        job_id=row["job_id"],
        user_id=int(row["user_id"]),
        kind=row["kind"],
        options=json.loads(row["options"]),
        state=row["state"],
        guild_id=_snowflake(row["guild_id"]),
        channel_id=_snowflake(row["channel_id"]),
        is_private=bool(row["is_private"]),
        parent_id=row["parent_id"],
        application_id=_snowflake(row["application_id"]),
        interaction_token=row["interaction_token"],
        token_expires_at=row["token_expires_at"],
        status_message_id=_snowflake(row["status_message_id"]),
        result_channel_id=_snowflake(row["result_channel_id"]),
        result_message_id=_snowflake(row["result_message_id"]),
        error_kind=row["error_kind"],
        created_at=row["created_at"],
        finished_at=row["finished_at"],
    )
