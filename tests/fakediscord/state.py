"""What the fake Discord remembers: the clock, recorded requests, rule violations, interactions, messages."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: Discord's epoch for snowflakes (2015-01-01T00:00:00Z), in milliseconds.
DISCORD_EPOCH_MS = 1420070400000
ACK_DEADLINE_S = 3.0
TOKEN_LIFETIME_S = 15 * 60
FILE_SIZE_LIMIT = 10 * 1024 * 1024
MAX_FILES = 10
MAX_CONTENT = 2000
EPHEMERAL = 1 << 6


class DiscordClock:
    """Wall-clock time plus an offset the test moves forward; snowflakes and token expiry use it."""

    def __init__(self) -> None:
        self.offset_s = 0.0

    def now(self) -> float:
        return time.time() + self.offset_s

    def advance(self, seconds: float) -> None:
        self.offset_s += seconds


class SnowflakeFactory:
    """Makes unique snowflakes whose timestamp part is a given time."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def make(self, at_s: float) -> int:
        millis = int(at_s * 1000) - DISCORD_EPOCH_MS
        return (millis << 22) | (next(self._counter) & 0x3FFFFF)


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """One `files[n]` part of a multipart request."""

    field: str
    filename: str
    content_type: str | None
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(slots=True)
class RecordedRequest:
    """One request the bot made, with the answer the fake gave."""

    method: str
    route: str
    path: str
    params: dict[str, str]
    json: Any
    files: tuple[UploadedFile, ...]
    match: dict[str, str]
    at: float
    status: int = 0
    response: Any = None

    @property
    def content(self) -> str | None:
        return self.json.get("content") if isinstance(self.json, dict) else None


@dataclass(frozen=True, slots=True)
class Violation:
    """A Discord rule the bot broke; `kind` is a stable name, `detail` says where."""

    kind: str
    detail: str


@dataclass(slots=True)
class Injected:
    """A canned error answer for the next request that matches."""

    status: int
    code: int
    message: str
    matches: Callable[[RecordedRequest], bool]
    retry_after: float = 0.0


@dataclass(slots=True)
class FakeInteraction:
    """An interaction the fake dispatched, and what the bot has done with it."""

    id: int
    token: str
    type: int
    payload: dict[str, Any]
    dispatched_at: float
    created_at: float
    callback_type: int | None = None
    callback_at: float | None = None
    original_message_id: int | None = None
    is_ephemeral: bool = False
    autocomplete_choices: list[dict[str, Any]] | None = None

    @property
    def is_acknowledged(self) -> bool:
        return self.callback_type is not None


@dataclass(slots=True)
class StoredMessage:
    """A message as the fake holds it; `payload` is what Discord would return."""

    id: int
    channel_id: int
    payload: dict[str, Any]
    files: list[UploadedFile] = field(default_factory=list)
    #: The interaction token that owns it (webhook messages), else None.
    token: str | None = None
    is_deleted: bool = False
    edits: int = 0

    @property
    def content(self) -> str:
        return self.payload.get("content", "")

    @property
    def is_ephemeral(self) -> bool:
        return bool(self.payload.get("flags", 0) & EPHEMERAL)
