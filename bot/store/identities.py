"""Saved identities: a member's photos, the best photo's face and its face tokens, private to that member.

Every query is scoped to the owner: an identity id without its owner's user id finds nothing, so
no command or button can reach another member's identity. Deletions are scrubbed (zeroed pages,
emptied write-ahead log): a deleted photo leaves no bytes in the database files.
"""

from __future__ import annotations

import json
import logging
import secrets
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fact_runtime import BaseTokens, FaceAnalysis, SavedFace

from .database import scrub, transaction

__all__ = ["IdentityRecord", "IdentityStore", "StoredIdentity"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IdentityRecord:
    """One saved identity as its owner sees it in lists."""

    identity_id: str
    user_id: int
    name: str
    photo_count: int
    created_at: float
    last_used_at: float


@dataclass(frozen=True, slots=True)
class StoredIdentity:
    """An identity with everything a job needs: its photos in saved order and its saved face."""

    record: IdentityRecord
    photos: tuple[bytes, ...]
    face: SavedFace

    def request_photos(self) -> tuple[bytes, tuple[bytes, ...]]:
        """(selfie, references) in the order the saved tokens cover them: the best photo, then the rest."""
        best = self.face.best_index
        return self.photos[best], tuple(photo for index, photo in enumerate(self.photos) if index != best)


class IdentityStore:
    """The ``identities`` tables of the job store's database.

    Parameters
    ----------
    db:
        The store's connection.
    clock:
        Wall-clock seconds (the job store's), for last use and retention.
    """

    def __init__(self, db: sqlite3.Connection, *, clock: Callable[[], float]) -> None:
        self._db = db
        self._clock = clock

    def save(
        self, user_id: int, name: str, photos: Sequence[bytes], face: SavedFace, *, limit: int | None = None
    ) -> IdentityRecord | None:
        """Store a new identity unless its member already has ``limit`` (None: no limit); None when refused.

        The count and the insert are one transaction, so saves finishing together cannot all slip
        under the limit.

        Raises
        ------
        sqlite3.IntegrityError
            The member already has an identity of that name (names ignore case).
        """
        identity_id = secrets.token_hex(8)
        now = self._clock()
        analysis = face.analysis
        document = {
            "box": list(analysis.box),
            "landmarks68": list(analysis.landmarks68),
            "embedding": list(analysis.embedding),
            "score": analysis.score,
            "distances": list(face.distances),
        }
        with transaction(self._db):
            if limit is not None:
                (count,) = self._db.execute(
                    "SELECT COUNT(*) FROM identities WHERE user_id = ?", (str(user_id),)
                ).fetchone()
                if count >= limit:
                    return None
            self._db.execute(
                "INSERT INTO identities (identity_id, user_id, name, best_index, face, created_at, last_used_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (identity_id, str(user_id), name, face.best_index, json.dumps(document), now, now),
            )
            self._db.executemany(
                "INSERT INTO identity_photos (identity_id, position, data) VALUES (?, ?, ?)",
                [(identity_id, position, data) for position, data in enumerate(photos)],
            )
            self._db.executemany(
                "INSERT INTO identity_tokens (identity_id, base_id, npy) VALUES (?, ?, ?)",
                [(identity_id, tokens.base_id, tokens.npy) for tokens in face.tokens],
            )
        return IdentityRecord(identity_id, user_id, name, len(photos), now, now)

    def of(self, user_id: int) -> list[IdentityRecord]:
        """The member's identities by name."""
        rows = self._db.execute(
            "SELECT i.*, (SELECT COUNT(*) FROM identity_photos p WHERE p.identity_id = i.identity_id) AS photo_count"
            " FROM identities i WHERE user_id = ? ORDER BY name",
            (str(user_id),),
        )
        return [_record(row) for row in rows]

    def find(self, user_id: int, key: str) -> IdentityRecord | None:
        """The member's identity whose id or name (any case) is ``key``; never another member's."""
        key = key.strip()
        return next((r for r in self.of(user_id) if r.identity_id == key or r.name.casefold() == key.casefold()), None)

    def load(self, user_id: int, identity_id: str) -> StoredIdentity | None:
        """The member's identity with its photos and saved face, or None (deleted, or not theirs)."""
        row = self._db.execute(
            "SELECT * FROM identities WHERE identity_id = ? AND user_id = ?", (identity_id, str(user_id))
        ).fetchone()
        if row is None:
            return None
        photos = tuple(
            bytes(data)
            for (data,) in self._db.execute(
                "SELECT data FROM identity_photos WHERE identity_id = ? ORDER BY position", (identity_id,)
            )
        )
        tokens = tuple(
            BaseTokens(base_id, bytes(npy))
            for base_id, npy in self._db.execute(
                "SELECT base_id, npy FROM identity_tokens WHERE identity_id = ? ORDER BY base_id", (identity_id,)
            )
        )
        document = json.loads(row["face"])
        analysis = FaceAnalysis(
            box=tuple(document["box"]),
            landmarks68=tuple(document["landmarks68"]),
            embedding=tuple(document["embedding"]),
            score=document["score"],
        )
        face = SavedFace(analysis, tokens, best_index=row["best_index"], distances=tuple(document["distances"]))
        record = IdentityRecord(
            row["identity_id"], user_id, row["name"], len(photos), row["created_at"], row["last_used_at"]
        )
        return StoredIdentity(record, photos, face)

    def touch(self, identity_id: str) -> None:
        """Mark the identity used now: its retention starts again."""
        self._db.execute("UPDATE identities SET last_used_at = ? WHERE identity_id = ?", (self._clock(), identity_id))

    def rename(self, user_id: int, identity_id: str, name: str) -> bool:
        """Rename the member's identity; False when it is not theirs.

        Raises
        ------
        sqlite3.IntegrityError
            The member already has an identity of that name.
        """
        cursor = self._db.execute(
            "UPDATE identities SET name = ? WHERE identity_id = ? AND user_id = ?", (name, identity_id, str(user_id))
        )
        return cursor.rowcount > 0

    def delete(self, user_id: int, identity_id: str) -> bool:
        """Delete the member's identity with its photos and face data; False when it is not theirs."""
        return self._delete("identity_id = ? AND user_id = ?", (identity_id, str(user_id))) > 0

    def forget(self, user_id: int) -> int:
        """Delete every identity of the member; returns how many."""
        return self._delete("user_id = ?", (str(user_id),))

    def purge_expired(self, retention_s: float) -> int:
        """Delete identities unused for ``retention_s`` seconds; returns how many."""
        purged = self._delete("last_used_at <= ?", (self._clock() - retention_s,))
        if purged:
            log.info("deleted %d saved identities unused for %.0f s", purged, retention_s)
        return purged

    def _delete(self, where: str, parameters: tuple[object, ...]) -> int:
        with transaction(self._db):
            cursor = self._db.execute(f"DELETE FROM identities WHERE {where}", parameters)
        if cursor.rowcount:
            scrub(self._db)
        return cursor.rowcount


def _record(row: sqlite3.Row) -> IdentityRecord:
    return IdentityRecord(
        row["identity_id"], int(row["user_id"]), row["name"], row["photo_count"], row["created_at"], row["last_used_at"]
    )
