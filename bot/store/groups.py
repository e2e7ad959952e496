"""Group photos in the store: members' standing shares, and the group jobs that show a member's face.

A share is a member's permission, for one server, to be put into /group photos without being
asked. It may name one of their identities; otherwise it brings their newest. It ends when the
member revokes it, runs /forget or deletes an identity.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable

from .database import scrub, transaction
from .group_requests import PendingGroupStore
from .options import JobOptions

__all__ = ["GroupStore"]

log = logging.getLogger(__name__)


class GroupStore:
    """The ``identity_shares`` table of the job store's database, and queries over its group jobs.

    Parameters
    ----------
    db:
        The store's connection.
    clock:
        Wall-clock seconds (the job store's), recorded when a share starts.
    """

    def __init__(self, db: sqlite3.Connection, *, clock: Callable[[], float]) -> None:
        self._db = db
        self._clock = clock
        #: Requests still waiting for members' answers.
        self.requests = PendingGroupStore(db, clock=clock)

    def share(self, user_id: int, guild_id: int, identity_id: str | None = None) -> None:
        """Turn the member's share on in the server, bringing ``identity_id`` (None: their newest)."""
        with transaction(self._db):
            self._db.execute(
                "INSERT INTO identity_shares (user_id, guild_id, created_at, identity_id) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (user_id, guild_id) DO UPDATE SET identity_id = excluded.identity_id",
                (str(user_id), str(guild_id), self._clock(), identity_id),
            )

    def revoke(self, user_id: int, guild_id: int) -> bool:
        """Turn the member's share off in the server; False when it was not on."""
        cursor = self._db.execute(
            "DELETE FROM identity_shares WHERE user_id = ? AND guild_id = ?", (str(user_id), str(guild_id))
        )
        return cursor.rowcount > 0

    def is_shared(self, user_id: int, guild_id: int) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM identity_shares WHERE user_id = ? AND guild_id = ?", (str(user_id), str(guild_id))
        ).fetchone()
        return row is not None

    def shared_identity(self, user_id: int, guild_id: int) -> str | None:
        """The identity the member's share in the server names; None when it names none (or is off)."""
        row = self._db.execute(
            "SELECT identity_id FROM identity_shares WHERE user_id = ? AND guild_id = ?", (str(user_id), str(guild_id))
        ).fetchone()
        return None if row is None else row["identity_id"]

    def forget(self, user_id: int) -> int:
        """Revoke the member's shares in every server; returns how many there were."""
        cursor = self._db.execute("DELETE FROM identity_shares WHERE user_id = ?", (str(user_id),))
        if cursor.rowcount:
            log.info("user %s: %d standing shares revoked", user_id, cursor.rowcount)
        return cursor.rowcount

    def jobs_with(self, user_id: int, *, states: Iterable[str], identity_id: str | None = None) -> list[str]:
        """Ids of group jobs (and upscales and variations of them) in ``states`` that another member asked
        for and that put ``user_id``'s face in.

        Given ``identity_id``, only those that use that identity of theirs.
        """
        states = tuple(states)
        rows = self._db.execute(
            "SELECT job_id, user_id, options FROM jobs WHERE kind IN ('group', 'upscale', 'vary')"
            f" AND state IN ({', '.join('?' * len(states))}) ORDER BY created_at, rowid",
            states,
        )
        return [
            row["job_id"]
            for row in rows
            if row["user_id"] != str(user_id)
            and any(
                seat.user_id == user_id and identity_id in (None, seat.identity_id)
                for seat in JobOptions.from_json(row["options"]).seats
            )
        ]

    def delete_job(self, job_id: str) -> None:
        """Delete one group job with its inputs and kept images (a member whose face it shows ran /forget)."""
        with transaction(self._db):
            cursor = self._db.execute("DELETE FROM jobs WHERE job_id = ?", (job_id,))
        if cursor.rowcount:
            scrub(self._db)
