"""Every accepted job, its options and its input bytes, in the job store's SQLite file."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from .database import open_database, scrub, snowflake, snowflake_text, transaction
from .guilds import GuildSettingsStore
from .identities import IdentityStore

__all__ = ["FINISHED", "UNFINISHED", "JobKind", "JobRecord", "JobState", "JobStore"]

log = logging.getLogger(__name__)

JobKind = Literal["portrait", "inpaint"]
JobState = Literal["queued", "running", "delivered", "failed", "cancelled", "refused"]
UNFINISHED: tuple[JobState, ...] = ("queued", "running")
FINISHED: tuple[JobState, ...] = ("delivered", "failed", "cancelled", "refused")


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One accepted job as stored; ``options`` holds the request fields other than the bytes."""

    job_id: str
    user_id: int
    kind: JobKind
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


class JobStore:
    """Jobs and their inputs in one SQLite file, with guild settings (``guilds``) and saved identities (``identities``).

    Parameters
    ----------
    path:
        The database file (created with its folder), or ``":memory:"``.
    clock:
        Wall-clock seconds; injectable so retention can be tested.
    """

    def __init__(self, path: Path | str, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        self._db = open_database(path)
        self.guilds = GuildSettingsStore(self._db)
        self.identities = IdentityStore(self._db, clock=clock)

    def close(self) -> None:
        self._db.close()

    def record(self, job: JobRecord, inputs: Mapping[str, bytes]) -> JobRecord:
        """Store a newly accepted job and its input bytes in one transaction; returns it with ``created_at``."""
        job = replace(job, created_at=self._clock())
        with transaction(self._db):
            self._db.execute(
                "INSERT INTO jobs (job_id, user_id, guild_id, channel_id, kind, options, state, is_private,"
                " parent_id, application_id, interaction_token, token_expires_at, status_message_id, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job.job_id,
                    str(job.user_id),
                    snowflake_text(job.guild_id),
                    snowflake_text(job.channel_id),
                    job.kind,
                    json.dumps(dict(job.options)),
                    job.state,
                    int(job.is_private),
                    job.parent_id,
                    snowflake_text(job.application_id),
                    job.interaction_token,
                    job.token_expires_at,
                    snowflake_text(job.status_message_id),
                    job.created_at,
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
        with transaction(self._db):
            # A finished job no longer needs its interaction token; dropping it limits what a leaked file holds.
            self._db.execute(
                "UPDATE jobs SET state = ?, error_kind = ?, finished_at = ?,"
                " interaction_token = CASE WHEN ? THEN NULL ELSE interaction_token END WHERE job_id = ?",
                (state, error_kind, finished_at, finished_at is not None, job_id),
            )
            if is_dead_end:
                self._db.execute("DELETE FROM inputs WHERE job_id = ?", (job_id,))

    def set_status_message(self, job_id: str, message_id: int | None) -> None:
        self._db.execute("UPDATE jobs SET status_message_id = ? WHERE job_id = ?", (snowflake_text(message_id), job_id))

    def set_result_message(self, job_id: str, channel_id: int, message_id: int) -> None:
        self._db.execute(
            "UPDATE jobs SET result_channel_id = ?, result_message_id = ? WHERE job_id = ?",
            (snowflake_text(channel_id), snowflake_text(message_id), job_id),
        )

    def unfinished(self) -> list[JobRecord]:
        """Jobs accepted but not finished (for recovery after a restart), oldest first."""
        rows = self._db.execute("SELECT * FROM jobs WHERE state IN (?, ?) ORDER BY created_at, rowid", UNFINISHED)
        return [_from_row(row) for row in rows]

    def jobs_of(self, user_id: int, *, states: Iterable[JobState] = UNFINISHED) -> list[JobRecord]:
        wanted = tuple(states)
        marks = ", ".join("?" * len(wanted))
        rows = self._db.execute(
            f"SELECT * FROM jobs WHERE user_id = ? AND state IN ({marks}) ORDER BY created_at, rowid",
            (str(user_id), *wanted),
        )
        return [_from_row(row) for row in rows]

    def purge_inputs(self, job_id: str) -> None:
        self._db.execute("DELETE FROM inputs WHERE job_id = ?", (job_id,))
        scrub(self._db)

    def purge_expired(self, retention_s: float) -> int:
        """Delete the input bytes of jobs finished more than ``retention_s`` ago; returns how many jobs."""
        cutoff = self._clock() - retention_s
        marks = ", ".join("?" * len(FINISHED))
        with transaction(self._db):
            cursor = self._db.execute(
                f"DELETE FROM inputs WHERE job_id IN (SELECT job_id FROM jobs WHERE state IN ({marks})"
                " AND finished_at <= ?)",
                (*FINISHED, cutoff),
            )
        purged = cursor.rowcount
        if purged:
            scrub(self._db)
            log.info("purged %d stored inputs past the %.0f s retention", purged, retention_s)
        return purged

    def forget(self, user_id: int) -> int:
        """Delete every job of the user, with its inputs; returns how many jobs were deleted."""
        with transaction(self._db):
            cursor = self._db.execute("DELETE FROM jobs WHERE user_id = ?", (str(user_id),))
        scrub(self._db)
        return cursor.rowcount


def _from_row(row: sqlite3.Row) -> JobRecord:
    return JobRecord(
        job_id=row["job_id"],
        user_id=int(row["user_id"]),
        kind=row["kind"],
        options=json.loads(row["options"]),
        state=row["state"],
        guild_id=snowflake(row["guild_id"]),
        channel_id=snowflake(row["channel_id"]),
        is_private=bool(row["is_private"]),
        parent_id=row["parent_id"],
        application_id=snowflake(row["application_id"]),
        interaction_token=row["interaction_token"],
        token_expires_at=row["token_expires_at"],
        status_message_id=snowflake(row["status_message_id"]),
        result_channel_id=snowflake(row["result_channel_id"]),
        result_message_id=snowflake(row["result_message_id"]),
        error_kind=row["error_kind"],
        created_at=row["created_at"],
        finished_at=row["finished_at"],
    )
