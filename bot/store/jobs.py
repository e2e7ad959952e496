"""Every accepted job, its options, its input bytes and its kept images, in the job store's SQLite file.

A job's state moves only as ``states.TRANSITIONS`` allows (``set_state`` checks it in the write's
transaction). Every delete of photos or images is scrubbed from the file.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from fact_runtime import JobResult

from .audit import AuditLog
from .database import open_database, scrub, snowflake, snowflake_text, transaction
from .groups import GroupStore
from .guilds import GuildSettingsStore
from .identities import IdentityStore
from .options import JobOptions
from .responsible import NoticeAcceptances, PromptRuleStore
from .results import delete_bytes, load_result, save_result
from .states import FINISHED, UNFINISHED, JobState, check_transition

__all__ = ["JobKind", "JobRecord", "JobStore"]

log = logging.getLogger(__name__)

JobKind = Literal["portrait", "inpaint", "group", "upscale", "vary"]  # the last two: follow-ups of a parent's image


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One accepted job as stored; ``options`` holds the request fields other than the bytes."""

    job_id: str
    user_id: int
    kind: JobKind
    options: JobOptions = field(default_factory=JobOptions)
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
    """Jobs and their inputs in one SQLite file, with guild settings, saved identities and group photos' shares.

    ``path`` is the database file (created with its folder) or ``":memory:"``; ``clock`` gives the
    wall-clock seconds, injectable so retention can be tested.
    """

    def __init__(self, path: Path | str, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        self._db = open_database(path)
        self.guilds = GuildSettingsStore(self._db)
        self.identities = IdentityStore(self._db, clock=clock)
        self.groups = GroupStore(self._db, clock=clock)
        self.audit = AuditLog(self._db, clock=clock)
        self.acceptances = NoticeAcceptances(self._db, clock=clock)
        self.prompt_rules = PromptRuleStore(self._db)

    def close(self) -> None:
        self._db.close()

    def record(self, job: JobRecord, inputs: Mapping[str, bytes]) -> JobRecord:
        """Store a newly accepted job and its input bytes in one transaction; returns it with ``created_at``."""
        job = replace(job, created_at=self._clock())
        with transaction(self._db):
            self._insert(job)
            self._insert_inputs(job.job_id, inputs)
        return job

    def admit(self, job: JobRecord, *, limit: int) -> JobRecord | None:
        """Record a just acknowledged job (state ``accepted``, no inputs yet) unless its owner is at ``limit``.

        The count of the owner's unfinished jobs and the insert are one transaction, so simultaneous
        commands cannot all slip under the limit. Returns the stored job, or None when refused.
        """
        job = replace(job, state="accepted", created_at=self._clock())
        marks = ", ".join("?" * len(UNFINISHED))
        with transaction(self._db):
            (count,) = self._db.execute(
                f"SELECT COUNT(*) FROM jobs WHERE user_id = ? AND state IN ({marks})", (str(job.user_id), *UNFINISHED)
            ).fetchone()
            if count >= limit:
                return None
            self._insert(job)
        return job

    def attach_inputs(self, job_id: str, inputs: Mapping[str, bytes]) -> JobRecord | None:
        """Store an accepted job's downloaded inputs and make it ``queued``, in one transaction.

        Returns None (storing nothing) when the job was cancelled or forgotten during the download.
        """
        with transaction(self._db):
            cursor = self._db.execute(
                "UPDATE jobs SET state = 'queued' WHERE job_id = ? AND state = 'accepted'", (job_id,)
            )
            if cursor.rowcount == 0:
                return None
            self._insert_inputs(job_id, inputs)
        return self.get(job_id)

    def _insert(self, job: JobRecord) -> None:
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
                job.options.to_json(),
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

    def _insert_inputs(self, job_id: str, inputs: Mapping[str, bytes]) -> None:
        self._db.executemany(
            "INSERT INTO inputs (job_id, name, data) VALUES (?, ?, ?)",
            [(job_id, name, data) for name, data in inputs.items()],
        )

    def get(self, job_id: str) -> JobRecord | None:
        row = self._db.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return None if row is None else _from_row(row)

    def inputs(self, job_id: str) -> dict[str, bytes]:
        """The stored input bytes by name (``selfie``, ``template``, ``pose``); empty once purged."""
        rows = self._db.execute("SELECT name, data FROM inputs WHERE job_id = ?", (job_id,))
        return {row["name"]: bytes(row["data"]) for row in rows}

    def results(self, job_id: str) -> JobResult | None:
        """The job's images until retention, Delete or /forget: to post again, or for follow-ups to start from."""
        return load_result(self._db, job_id)

    def begin_delivery(self, job_id: str, result: JobResult) -> None:
        """Keep the job's images and mark it ``delivering``, before anything is posted; one transaction.

        A restart that finds a job in this state knows the images may already be posted, and keeps them.
        """
        with transaction(self._db):
            if self._current_state(job_id, "delivering") is None:
                return
            save_result(self._db, job_id, result)
            self._db.execute("UPDATE jobs SET state = 'delivering' WHERE job_id = ?", (job_id,))

    def set_state(self, job_id: str, state: JobState, *, error_kind: str | None = None, has_retry: bool = True) -> None:
        """Move a job to ``state``; photos of a job no button can run again are purged at once.

        ``has_retry=False`` marks a failure that would fail the same way again (bad input). Posted
        images are not kept; images of a failed job are, so "Try again" can post them again. A job
        that is no longer stored (its owner ran /forget) is left alone.

        Raises
        ------
        IllegalTransition
            ``states.TRANSITIONS`` has no move from the job's state to ``state``; nothing is written.
        """
        finished_at = self._clock() if state in FINISHED else None
        is_dead_end = state in ("cancelled", "refused") or (state == "failed" and not has_retry)
        with transaction(self._db):
            if self._current_state(job_id, state) is None:
                return
            # A finished job no longer needs its interaction token; dropping it limits what a leaked file holds.
            self._db.execute(
                "UPDATE jobs SET state = ?, error_kind = ?, finished_at = ?,"
                " interaction_token = CASE WHEN ? THEN NULL ELSE interaction_token END WHERE job_id = ?",
                (state, error_kind, finished_at, finished_at is not None, job_id),
            )
            # Posted images stay until the retention purge, like the photos: follow-ups start from them.
            deleted = delete_bytes(self._db, job_id) if is_dead_end else 0
        if deleted:
            scrub(self._db)

    def _current_state(self, job_id: str, wanted: JobState) -> str | None:
        """The job's state (None when it is not stored), checked against the move to ``wanted``; in a transaction."""
        row = self._db.execute("SELECT state FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        if row is None:
            log.debug("job %s is no longer stored; not moved to %s", job_id, wanted)
            return None
        check_transition(job_id, row["state"], wanted)
        return str(row["state"])

    def set_status_message(self, job_id: str, message_id: int | None) -> None:
        self._db.execute("UPDATE jobs SET status_message_id = ? WHERE job_id = ?", (snowflake_text(message_id), job_id))

    def set_result_message(self, job_id: str, channel_id: int, message_id: int) -> None:
        self._db.execute(
            "UPDATE jobs SET result_channel_id = ?, result_message_id = ? WHERE job_id = ?",
            (snowflake_text(channel_id), snowflake_text(message_id), job_id),
        )

    def unfinished(self) -> list[JobRecord]:
        """Jobs accepted but not finished (for recovery after a restart), oldest first."""
        return self._select(UNFINISHED)

    def jobs_of(self, user_id: int, *, states: Iterable[JobState] = UNFINISHED) -> list[JobRecord]:
        return self._select(tuple(states), user_id=user_id)

    def purge_inputs(self, job_id: str) -> None:
        """Delete the job's photos and any images it still keeps (its owner pressed Delete)."""
        with transaction(self._db):
            deleted = delete_bytes(self._db, job_id)
        if deleted:
            scrub(self._db)

    def purge_expired(self, retention_s: float) -> int:
        """Delete the photos and kept images of jobs finished more than ``retention_s`` ago; how many jobs."""
        cutoff = self._clock() - retention_s
        marks = ", ".join("?" * len(FINISHED))
        with transaction(self._db):
            expired = [
                row["job_id"]
                for row in self._db.execute(
                    f"SELECT job_id FROM jobs WHERE state IN ({marks}) AND finished_at <= ? AND (job_id IN"
                    " (SELECT job_id FROM inputs) OR job_id IN (SELECT job_id FROM results))",
                    (*FINISHED, cutoff),
                )
            ]
            for job_id in expired:
                delete_bytes(self._db, job_id)
        if expired:
            scrub(self._db)
            log.info("purged the photos of %d jobs past the %.0f s retention", len(expired), retention_s)
        return len(expired)

    def forget(self, user_id: int) -> int:
        """Delete every job of the user, with its inputs and images; returns how many jobs were deleted."""
        with transaction(self._db):
            cursor = self._db.execute("DELETE FROM jobs WHERE user_id = ?", (str(user_id),))
        if cursor.rowcount:
            scrub(self._db)
        return cursor.rowcount

    def _select(self, states: tuple[JobState, ...], *, user_id: int | None = None) -> list[JobRecord]:
        marks = ", ".join("?" * len(states))
        params: tuple[str, ...]
        if user_id is None:
            where, params = f"state IN ({marks})", states
        else:
            where, params = f"user_id = ? AND state IN ({marks})", (str(user_id), *states)
        rows = self._db.execute(f"SELECT * FROM jobs WHERE {where} ORDER BY created_at, rowid", params)
        return [_from_row(row) for row in rows]


def _from_row(row: sqlite3.Row) -> JobRecord:
    return JobRecord(
        job_id=row["job_id"],
        user_id=int(row["user_id"]),
        kind=row["kind"],
        options=JobOptions.from_json(row["options"]),
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
