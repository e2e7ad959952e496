"""/group requests waiting for members' answers, kept in the job store so that a restart loses none.

A row holds what finishing or ending the request needs and none of anyone's photos: the uploaded
template is kept as Discord described it (its link, name, size and type; its bytes are fetched
only once everyone allowed), the seats name identities, and the asker's interaction token edits
their status message. A row is deleted when the request is queued or ends.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from .database import snowflake, snowflake_text, transaction
from .options import GroupSeat, JobOptions

__all__ = ["GroupMember", "PendingGroup", "PendingGroupStore"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GroupMember:
    """A member seated in a waiting request, as the bot names them, and where their question stands."""

    user_id: int
    name: str
    #: Asked and not answered yet (the asker and members with a standing share are never waiting).
    is_waiting: bool = False
    #: The question's message in the channel, once posted.
    question_id: int | None = None


@dataclass(frozen=True, slots=True)
class PendingGroup:
    """One /group request waiting for answers: the job it becomes, and how to reach its asker."""

    key: str
    asker_id: int
    asker_name: str
    guild_id: int
    channel_id: int | None
    application_id: int | None
    interaction_token: str
    token_expires_at: float
    status_message_id: int
    is_private: bool
    #: The job's options; their seats change as members pick which identity they bring.
    options: JobOptions
    members: tuple[GroupMember, ...]
    #: The uploaded template as Discord described it (``discord.Attachment.to_dict``); None for a built-in one.
    template: Mapping[str, Any] | None
    #: When the questions close.
    expires_at: float

    @property
    def waiting(self) -> tuple[GroupMember, ...]:
        return tuple(member for member in self.members if member.is_waiting)

    def member(self, user_id: int) -> GroupMember | None:
        return next((member for member in self.members if member.user_id == user_id), None)

    def seat_of(self, user_id: int) -> GroupSeat | None:
        return next((seat for seat in self.options.seats if seat.user_id == user_id), None)

    def involves(self, user_id: int) -> bool:
        return user_id == self.asker_id or self.member(user_id) is not None


class PendingGroupStore:
    """The ``group_requests`` table of the job store's database.

    Every change is one statement or one transaction with no await inside, so two clicks arriving
    together cannot both take the last answer: exactly one caller gets a request to queue or end.
    """

    def __init__(self, db: sqlite3.Connection, *, clock: Callable[[], float]) -> None:
        self._db = db
        self._clock = clock

    def add(self, request: PendingGroup) -> None:
        self._db.execute(
            "INSERT INTO group_requests (request_key, asker_id, asker_name, guild_id, channel_id, application_id,"
            " interaction_token, token_expires_at, status_message_id, is_private, options, members, template,"
            " expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                request.key,
                str(request.asker_id),
                request.asker_name,
                str(request.guild_id),
                snowflake_text(request.channel_id),
                snowflake_text(request.application_id),
                request.interaction_token,
                request.token_expires_at,
                str(request.status_message_id),
                int(request.is_private),
                request.options.to_json(),
                _members_json(request.members),
                None if request.template is None else json.dumps(dict(request.template), sort_keys=True),
                request.expires_at,
                self._clock(),
            ),
        )

    def get(self, key: str) -> PendingGroup | None:
        row = self._db.execute("SELECT * FROM group_requests WHERE request_key = ?", (key,)).fetchone()
        return None if row is None else self._decode(row)

    def all(self) -> list[PendingGroup]:
        rows = self._db.execute("SELECT * FROM group_requests ORDER BY created_at, rowid").fetchall()
        return [request for request in map(self._decode, rows) if request is not None]

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM group_requests").fetchone()[0])

    def asked(self, key: str, user_id: int, question_id: int) -> None:
        """Record the message that asks ``user_id``."""
        with transaction(self._db):
            request = self.get(key)
            if request is not None:
                members = tuple(
                    replace(m, question_id=question_id) if m.user_id == user_id else m for m in request.members
                )
                self._write(key, request.options, members)

    def allow(self, key: str, seat: GroupSeat) -> PendingGroup | None:
        """The seat's member allowed, bringing ``seat``'s identity: the request as it stands now, or None
        when they were not waiting (any more). Once nobody is waiting the row is deleted: the caller queues it.
        """
        with transaction(self._db):
            request = self.get(key)
            member = None if request is None else request.member(seat.user_id)
            if request is None or member is None or not member.is_waiting:
                return None
            seats = tuple(seat if s.user_id == seat.user_id else s for s in request.options.seats)
            members = tuple(replace(m, is_waiting=False) if m is member else m for m in request.members)
            request = replace(request, options=replace(request.options, seats=seats), members=members)
            if request.waiting:
                self._write(key, request.options, members)
            else:
                self._db.execute("DELETE FROM group_requests WHERE request_key = ?", (key,))
        return request

    def take(self, key: str) -> PendingGroup | None:
        """Delete the request and return it (None: someone else took it first); whoever gets it ends it."""
        with transaction(self._db):
            request = self.get(key)
            self._db.execute("DELETE FROM group_requests WHERE request_key = ?", (key,))
        return request

    def _write(self, key: str, options: JobOptions, members: tuple[GroupMember, ...]) -> None:
        self._db.execute(
            "UPDATE group_requests SET options = ?, members = ? WHERE request_key = ?",
            (options.to_json(), _members_json(members), key),
        )

    def _decode(self, row: sqlite3.Row) -> PendingGroup | None:
        try:
            members = tuple(
                GroupMember(int(m["user_id"]), str(m["name"]), bool(m["is_waiting"]), snowflake(m["question_id"]))
                for m in json.loads(row["members"])
            )
            template = None if row["template"] is None else json.loads(row["template"])
            if template is not None and not isinstance(template, dict):
                raise ValueError(f"template must be an object, not {type(template).__name__}")
            return PendingGroup(
                key=row["request_key"],
                asker_id=int(row["asker_id"]),
                asker_name=row["asker_name"],
                guild_id=int(row["guild_id"]),
                channel_id=snowflake(row["channel_id"]),
                application_id=snowflake(row["application_id"]),
                interaction_token=row["interaction_token"],
                token_expires_at=float(row["token_expires_at"]),
                status_message_id=int(row["status_message_id"]),
                is_private=bool(row["is_private"]),
                options=JobOptions.from_json(row["options"]),
                members=members,
                template=template,
                expires_at=float(row["expires_at"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            # Nobody can answer a request that cannot be read: drop it rather than fail every sweep.
            log.warning("dropping unreadable group request %s: %s", row["request_key"], exc)
            self._db.execute("DELETE FROM group_requests WHERE request_key = ?", (row["request_key"],))
            return None


def _members_json(members: tuple[GroupMember, ...]) -> str:
    return json.dumps(
        [
            {
                "user_id": str(m.user_id),
                "name": m.name,
                "is_waiting": m.is_waiting,
                "question_id": snowflake_text(m.question_id),
            }
            for m in members
        ]
    )
