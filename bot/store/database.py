"""The SQLite file behind the job store: files and their modes, connection settings, migrations, transactions.

Queries are short and the database is in WAL mode, so the store is used directly on the event
loop; only the runtime creates threads. The file holds selfies, so it is private to the bot's
user (folder 0700 when the bot creates it, files 0600), deleted rows are overwritten
(``secure_delete``) and ``scrub`` folds the WAL into the file and empties it after a delete.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .audit import create_audit_log

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "open_database", "scrub", "snowflake", "snowflake_text", "transaction"]

log = logging.getLogger(__name__)

_FILE_MODE = 0o600
_FOLDER_MODE = 0o700


def _create_tables(db: sqlite3.Connection) -> None:
    """Version 1: jobs, their input bytes, guild settings."""
    db.execute(
        """CREATE TABLE IF NOT EXISTS jobs (
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
        )"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS jobs_by_user ON jobs (user_id, state)")
    db.execute("CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, finished_at)")
    db.execute(
        """CREATE TABLE IF NOT EXISTS inputs (
            job_id TEXT NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            data BLOB NOT NULL,
            PRIMARY KEY (job_id, name)
        )"""
    )
    db.execute(
        """CREATE TABLE IF NOT EXISTS guild_settings (
            guild_id TEXT PRIMARY KEY,
            allowed_channels TEXT NOT NULL DEFAULT '[]',
            disabled_styles TEXT NOT NULL DEFAULT '[]',
            max_jobs_per_user INTEGER
        )"""
    )


def _add_results(db: sqlite3.Connection) -> None:
    """Version 2: a finished job's encoded images, kept until they are posted (or the retention window ends)."""
    db.execute(
        """CREATE TABLE IF NOT EXISTS results (
            job_id TEXT NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            png BLOB NOT NULL,
            seed INTEGER NOT NULL,
            identity_distance REAL,
            PRIMARY KEY (job_id, position)
        )"""
    )
    db.execute("ALTER TABLE jobs ADD COLUMN result_notes TEXT")


def _add_identities(db: sqlite3.Connection) -> None:
    """Version 3: saved identities: photos, the best photo's face (JSON) and face tokens per base model."""
    db.execute(
        """CREATE TABLE IF NOT EXISTS identities (
            identity_id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL,
            name TEXT NOT NULL COLLATE NOCASE,
            best_index INTEGER NOT NULL,
            face TEXT NOT NULL,
            created_at REAL NOT NULL,
            last_used_at REAL NOT NULL,
            UNIQUE (user_id, name)
        )"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS identities_by_last_use ON identities (last_used_at)")
    db.execute(
        """CREATE TABLE IF NOT EXISTS identity_photos (
            identity_id TEXT NOT NULL REFERENCES identities (identity_id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            data BLOB NOT NULL,
            PRIMARY KEY (identity_id, position)
        )"""
    )
    db.execute(
        """CREATE TABLE IF NOT EXISTS identity_tokens (
            identity_id TEXT NOT NULL REFERENCES identities (identity_id) ON DELETE CASCADE,
            base_id TEXT NOT NULL,
            npy BLOB NOT NULL,
            PRIMARY KEY (identity_id, base_id)
        )"""
    )


def _add_responsible_use(db: sqlite3.Connection) -> None:
    """Version 4: notice acceptances, per-guild prompt rules, and the audit log (see ``audit.py``)."""
    db.execute("CREATE TABLE IF NOT EXISTS notice_acceptances (user_id TEXT PRIMARY KEY, accepted_at REAL NOT NULL)")
    db.execute(
        """CREATE TABLE IF NOT EXISTS guild_prompt_rules (
            guild_id TEXT PRIMARY KEY,
            blocked_words TEXT NOT NULL DEFAULT '[]',
            blocked_patterns TEXT NOT NULL DEFAULT '[]',
            is_nsfw_channel_required INTEGER
        )"""
    )
    create_audit_log(db)


def _add_identity_shares(db: sqlite3.Connection) -> None:
    """Version 5: members' standing permission, per server, to be put into /group photos without being asked."""
    db.execute(
        """CREATE TABLE IF NOT EXISTS identity_shares (
            user_id TEXT NOT NULL,
            guild_id TEXT NOT NULL,
            created_at REAL NOT NULL,
            PRIMARY KEY (user_id, guild_id)
        )"""
    )


def _add_speed_settings(db: sqlite3.Connection) -> None:
    """Version 6: a server's speed tiers (/settings speed): those members may choose ('[]': all offered) and its default."""
    db.execute("ALTER TABLE guild_settings ADD COLUMN allowed_speeds TEXT NOT NULL DEFAULT '[]'")
    db.execute("ALTER TABLE guild_settings ADD COLUMN default_speed TEXT")


def _add_group_requests(db: sqlite3.Connection) -> None:
    """Version 7: /group requests waiting for members' answers (links and ids only, never photo bytes), and
    the identity a standing share brings (NULL: the member's newest)."""
    db.execute("ALTER TABLE identity_shares ADD COLUMN identity_id TEXT")
    db.execute(
        """CREATE TABLE IF NOT EXISTS group_requests (
            request_key TEXT PRIMARY KEY,
            asker_id TEXT NOT NULL,
            asker_name TEXT NOT NULL,
            guild_id TEXT NOT NULL,
            channel_id TEXT,
            application_id TEXT,
            interaction_token TEXT NOT NULL,
            token_expires_at REAL NOT NULL,
            status_message_id TEXT NOT NULL,
            is_private INTEGER NOT NULL,
            options TEXT NOT NULL,
            members TEXT NOT NULL,
            template TEXT,
            expires_at REAL NOT NULL,
            created_at REAL NOT NULL
        )"""
    )


#: One function per schema version, in order: ``MIGRATIONS[n]`` brings a file from version n to n + 1.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _create_tables,
    _add_results,
    _add_identities,
    _add_responsible_use,
    _add_identity_shares,
    _add_speed_settings,
    _add_group_requests,
)
SCHEMA_VERSION = len(MIGRATIONS)


def open_database(path: Path | str) -> sqlite3.Connection:
    """Open (creating the folder, the file and the schema as needed) the store's SQLite file, or ``":memory:"``.

    Raises
    ------
    RuntimeError
        The file was written by a newer bot (its schema version is higher than ours).
    sqlite3.Error, OSError
        The file cannot be opened.
    """
    is_file = str(path) != ":memory:"
    if is_file:
        _create_private(Path(path))
    db = sqlite3.connect(str(path), isolation_level=None)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    # Deleted rows (selfies, results) are overwritten with zeros, not merely unlinked.
    db.execute("PRAGMA secure_delete=ON")
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        db.close()
        raise RuntimeError(f"{path}: schema version {version} is newer than this bot ({SCHEMA_VERSION})")
    for number in range(version, SCHEMA_VERSION):
        with transaction(db):
            MIGRATIONS[number](db)
            db.execute(f"PRAGMA user_version={number + 1}")
        log.info("job store %s migrated to schema version %d", path, number + 1)
    if is_file:
        for suffix in ("-wal", "-shm"):  # SQLite gives them the main file's mode; older files may predate that
            _restrict(Path(f"{path}{suffix}"))
    return db


def scrub(db: sqlite3.Connection) -> None:
    """After a delete: copy the WAL (which still holds the deleted bytes) into the file and truncate it."""
    busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    if busy:
        log.warning("job store checkpoint was blocked by a reader; deleted rows stay in the WAL until the next one")


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


def _create_private(path: Path) -> None:
    """The folder (0700 when created here) and the file (0600, also when it already existed)."""
    folder = path.parent
    if not folder.exists():
        folder.mkdir(mode=_FOLDER_MODE, parents=True)
    elif stat.S_IMODE(folder.stat().st_mode) & 0o077:
        # Not changed here: the folder may be shared with other files. The files themselves are 0600.
        log.warning("the job store's folder %s is readable by other users; consider chmod 700", folder)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, _FILE_MODE))
    _restrict(path)


def _restrict(path: Path) -> None:
    if path.exists() and stat.S_IMODE(path.stat().st_mode) != _FILE_MODE:
        path.chmod(_FILE_MODE)
