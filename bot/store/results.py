"""A finished job's encoded images in the job store, kept while they are not posted (rows of ``results``)."""

from __future__ import annotations

import json
import logging
import sqlite3

from fact_runtime import GeneratedImage, JobResult

__all__ = ["delete_bytes", "load_result", "save_result"]

log = logging.getLogger(__name__)


def save_result(db: sqlite3.Connection, job_id: str, result: JobResult) -> None:
    """Replace the job's stored images with ``result``'s (inside the caller's transaction)."""
    db.execute("DELETE FROM results WHERE job_id = ?", (job_id,))
    db.executemany(
        "INSERT INTO results (job_id, position, png, seed, identity_distance) VALUES (?, ?, ?, ?, ?)",
        [
            (job_id, position, image.png, image.seed, image.identity_distance)
            for position, image in enumerate(result.images)
        ],
    )
    db.execute("UPDATE jobs SET result_notes = ? WHERE job_id = ?", (json.dumps(list(result.notes)), job_id))


def load_result(db: sqlite3.Connection, job_id: str) -> JobResult | None:
    """The job's stored images as a ``JobResult``; None when none are kept."""
    rows = db.execute(
        "SELECT png, seed, identity_distance FROM results WHERE job_id = ? ORDER BY position", (job_id,)
    ).fetchall()
    if not rows:
        return None
    notes = db.execute("SELECT result_notes FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
    images = tuple(GeneratedImage(bytes(row["png"]), row["seed"], row["identity_distance"]) for row in rows)
    return JobResult(images=images, notes=tuple(json.loads(notes["result_notes"] or "[]")) if notes else ())


def delete_bytes(db: sqlite3.Connection, job_id: str, *, has_inputs: bool = True) -> int:
    """Delete the job's stored images (and its photos unless ``has_inputs`` is False); rows deleted."""
    deleted = db.execute("DELETE FROM results WHERE job_id = ?", (job_id,)).rowcount
    if has_inputs:
        deleted += db.execute("DELETE FROM inputs WHERE job_id = ?", (job_id,)).rowcount
    return deleted
