"""The SQLite file behind the job store: connection settings, schema migrations, transactions, scrubbing.

Queries are short and the database is in WAL mode, so the store is used directly on the event
loop; only the runtime creates threads.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["SCHEMA_VERSION", "open_database", "scrub", "snowflake", "snowflake_text", "transaction"]

log = logging.getLogger(__name__)

#: The schema, one step per version: a file at version N has had steps 1..N applied, in order.
_MIGRATIONS = (
    # 1: jobs, their inputs, per-guild settings.
    """
    CREATE TABLE jobs (
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
    CREATE INDEX jobs_by_user ON jobs (user_id, state);
    CREATE INDEX jobs_by_state ON jobs (state, finished_at);
    CREATE TABLE inputs (
        job_id TEXT NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (job_id, name)
    );
    CREATE TABLE guild_settings (
        guild_id TEXT PRIMARY KEY,
        allowed_channels TEXT NOT NULL DEFAULT '[]',
        disabled_styles TEXT NOT NULL DEFAULT '[]',
        max_jobs_per_user INTEGER
    );
    """,
    # 2: saved identities: photos, the best photo's face (JSON) and face tokens per base model.
    """
    CREATE TABLE identities (
        identity_id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        name TEXT NOT NULL COLLATE NOCASE,
        best_index INTEGER NOT NULL,
        face TEXT NOT NULL,
        created_at REAL NOT NULL,
        last_used_at REAL NOT NULL,
        UNIQUE (user_id, name)
    );
    CREATE INDEX identities_by_last_use ON identities (last_used_at);
    CREATE TABLE identity_photos (
        identity_id TEXT NOT NULL REFERENCES identities (identity_id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (identity_id, position)
    );
    CREATE TABLE identity_tokens (
        identity_id TEXT NOT NULL REFERENCES identities (identity_id) ON DELETE CASCADE,
        base_id TEXT NOT NULL,
        npy BLOB NOT NULL,
        PRIMARY KEY (identity_id, base_id)
    );
    """,
)
SCHEMA_VERSION = len(_MIGRATIONS)


def open_database(path: Path | str) -> sqlite3.Connection:
    """Open (creating the folder and schema as needed) the store's SQLite file, or ``":memory:"``.

    Raises
    ------
    RuntimeError
        The file was written by a newer bot (its schema version is higher than ours).
    sqlite3.Error, OSError
        The file cannot be opened.
    """
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), isolation_level=None)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    # Deleted rows (photos, face data) are overwritten with zeros, not merely marked free.
    db.execute("PRAGMA secure_delete=ON")
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        db.close()
        raise RuntimeError(f"{path}: schema version {version} is newer than this bot ({SCHEMA_VERSION})")
    for step in range(version, SCHEMA_VERSION):
        db.executescript(f"BEGIN;{_MIGRATIONS[step]}PRAGMA user_version={step + 1};COMMIT;")
        log.info("job store %s migrated to schema version %d", path, step + 1)
    return db


def scrub(db: sqlite3.Connection) -> None:
    """Fold the write-ahead log into the file and empty it, so no copy of deleted rows stays in the log."""
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One write transaction; rolled back if the block raises."""
    # In autocommit mode (isolation_level=None) "with connection" does not open a transaction.
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def snowflake(value: Any) -> int | None:
    return None if value is None else int(value)


def snowflake_text(value: int | None) -> str | None:
    # Snowflakes are stored as text: they exceed SQLite's signed 64-bit range in theory.
    return None if value is None else str(value)
