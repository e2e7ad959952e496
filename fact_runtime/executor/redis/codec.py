"""Both processes: the wire codec of every message that crosses Redis, with a schema version.

Five kinds cross: jobs, progress and outcomes (stream entries), control messages (a stream every
worker reads: ``ControlOp``) and heartbeats (a JSON value per worker: ``WorkerState``). Every
byte string read from Redis is turned into a value here and nowhere else.

Values are serialised generically from their dataclasses, driven by the type hints: every
dataclass in ``fact_runtime.request`` can travel, and a field added there travels with no change
here. Bytes (selfies, templates, PNGs, face tokens) are never base64'd: each becomes its own raw
entry field (``blob:N``) and the JSON body holds its index. A message that does not match this
schema (another version, an unknown kind, a field this side does not know) raises
``IncompatibleMessage``, which the reader reports for that job alone.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import get_args

from ... import request
from ...errors import FactError, IncompatibleMessage, JobFailed
from ...metrics import WorkerStatus
from ...request import JobRequest, JobResult, Progress
from .values import from_plain, to_plain

__all__ = [
    "SCHEMA_VERSION",
    "Control",
    "ControlOp",
    "Entry",
    "Fields",
    "WorkerState",
    "decode",
    "decode_control",
    "decode_heartbeat",
    "decode_outcome",
    "decode_progress",
    "decode_released",
    "decode_request",
    "encode",
    "encode_control",
    "encode_heartbeat",
    "encode_outcome",
    "encode_progress",
    "encode_request",
    "header",
]

log = logging.getLogger(__name__)

#: Bumped whenever a message's meaning changes in a way the other side cannot read.
SCHEMA_VERSION = 1

#: One stream entry, as redis-py returns it (bytes keys and values).
Entry = Mapping[bytes, bytes]

#: Every dataclass that may cross: the request module's values, by class name.
_TYPES: dict[str, type] = {
    name: value
    for name in request.__all__
    if isinstance(value := getattr(request, name), type) and dataclasses.is_dataclass(value)
}
_REQUESTS = tuple(get_args(JobRequest))


def _error_kinds() -> dict[str, type[FactError]]:
    kinds: dict[str, type[FactError]] = {}
    pending: list[type[FactError]] = [FactError]
    while pending:
        cls = pending.pop()
        kinds.setdefault(cls.kind, cls)
        pending.extend(cls.__subclasses__())
    return kinds


#: Entry fields as they are written (bytes names, so an encoded entry reads back as redis-py returns it).
Fields = dict[bytes, bytes]


def encode(value: object, header: Mapping[str, str], *, schema: int = SCHEMA_VERSION) -> Fields:
    """A dataclass as entry fields: ``schema``, ``kind`` (its class), ``body`` (JSON), ``blob:N``, and the header."""
    if type(value).__name__ not in _TYPES:
        raise TypeError(f"{type(value).__name__} cannot cross the broker")
    blobs: list[bytes] = []
    body = json.dumps(to_plain(value, blobs), separators=(",", ":"))
    fields = {b"schema": str(schema).encode(), b"kind": type(value).__name__.encode(), b"body": body.encode()}
    fields.update({f"blob:{index}".encode(): blob for index, blob in enumerate(blobs)})
    fields.update({name.encode(): text.encode() for name, text in header.items()})
    return fields


def decode(entry: Entry, *, schema: int = SCHEMA_VERSION) -> object:
    """The dataclass an entry carries.

    Raises
    ------
    IncompatibleMessage
        Another schema version, an unknown kind, or fields that do not fit the kind's type hints.
    """
    version = _text(entry, "schema")
    if version != str(schema):
        raise IncompatibleMessage(f"message schema {version or '(none)'}, this side reads schema {schema}")
    kind = _text(entry, "kind")
    cls = _TYPES.get(kind)
    if cls is None:
        raise IncompatibleMessage(f"unknown message kind {kind!r}")
    blobs: list[bytes] = []
    while (blob := entry.get(f"blob:{len(blobs)}".encode())) is not None:
        blobs.append(bytes(blob))
    try:
        return from_plain(cls, json.loads(entry.get(b"body", b"")), blobs)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise IncompatibleMessage(f"a {kind} message does not fit schema {schema}: {exc}") from exc


def header(entry: Entry, name: str) -> str:
    """A plain text field of an entry ("" when absent)."""
    return _text(entry, name)


# Jobs, progress and outcomes: the three kinds of message.


def encode_request(job_id: str, job: JobRequest, *, schema: int = SCHEMA_VERSION) -> Fields:
    return encode(job, {"job": job_id}, schema=schema)


def decode_request(entry: Entry, *, schema: int = SCHEMA_VERSION) -> JobRequest:
    value = decode(entry, schema=schema)
    if not isinstance(value, _REQUESTS):
        raise IncompatibleMessage(f"a {type(value).__name__} is not a job request")
    return value


def encode_progress(job_id: str, progress: Progress, *, worker: str) -> Fields:
    return encode(progress, {"job": job_id, "worker": worker})


def decode_progress(entry: Entry) -> Progress:
    value = decode(entry)
    if not isinstance(value, Progress):
        raise IncompatibleMessage(f"a {type(value).__name__} is not progress")
    return value


def encode_outcome(job_id: str, outcome: JobResult | FactError, *, worker: str, seconds: float) -> Fields:
    """A result, or a typed error by its ``kind`` with its detail and sentence."""
    meta = {"job": job_id, "worker": worker, "seconds": repr(seconds)}
    if isinstance(outcome, JobResult):
        return encode(outcome, meta)
    error = {"error": outcome.kind, "detail": str(outcome), "user_message": outcome.user_message}
    return {b"schema": str(SCHEMA_VERSION).encode(), **{k.encode(): v.encode() for k, v in {**meta, **error}.items()}}


def decode_outcome(entry: Entry) -> JobResult | FactError:
    """What an outcome entry says; an unreadable one is itself an ``IncompatibleMessage`` for its job."""
    try:
        kind = _text(entry, "error")
        if not kind:
            value = decode(entry)
            if not isinstance(value, JobResult):
                raise IncompatibleMessage(f"a {type(value).__name__} is not a job result")
            return value
        if _text(entry, "schema") != str(SCHEMA_VERSION):
            raise IncompatibleMessage(f"error of message schema {_text(entry, 'schema')}")
    except IncompatibleMessage as exc:
        return exc
    cls = _error_kinds().get(kind, JobFailed)
    detail, sentence = _text(entry, "detail"), _text(entry, "user_message")
    try:
        return cls(detail, user_message=sentence or None)
    except TypeError:  # a leaf with its own constructor; its kind still travels in the detail
        return JobFailed(f"{kind}: {detail}", user_message=sentence or None)


def decode_released(raw: Mapping[bytes | str, bytes | str]) -> dict[str, str]:
    """The ``released`` hash: job id -> member."""
    return {_str(job_id): _str(user) for job_id, user in raw.items()}


def _str(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


# Control messages and heartbeats.


class ControlOp(StrEnum):
    """What a control message asks of every worker."""

    #: Stop this job (whichever worker runs it).
    CANCEL = "cancel"
    #: Drop this member's cached faces.
    FORGET = "forget"


class WorkerState(StrEnum):
    """A worker as its heartbeat announces it."""

    #: Takes jobs.
    READY = "ready"
    #: Got SIGTERM: finishes or hands back its job, takes no new one.
    DRAINING = "draining"


@dataclass(frozen=True, slots=True)
class Control:
    """One control message: a cancel names a job, a forget a member."""

    op: ControlOp
    job_id: str = ""
    user_id: str = ""


def encode_control(control: Control) -> Fields:
    return {b"op": control.op.value.encode(), b"job": control.job_id.encode(), b"user": control.user_id.encode()}


def decode_control(entry: Entry) -> Control | None:
    """The control message an entry carries; None (logged) for an op this side does not know."""
    try:
        op = ControlOp(_text(entry, "op"))
    except ValueError:
        log.warning("ignored a control message with an unknown op %r", _text(entry, "op")[:40])
        return None
    return Control(op, _text(entry, "job"), _text(entry, "user"))


def encode_heartbeat(status: WorkerStatus, *, host: str, pid: int) -> bytes:
    """What the bot learns of a worker: room, device, styles, busy job, counters."""
    state = WorkerState.READY if status.is_ready else WorkerState.DRAINING
    body = {
        "name": status.name,
        "schema": status.schema,
        "device": status.device,
        "capacity": status.capacity,
        "state": state.value,
        "job": status.job_id,
        "styles": list(status.styles),
        "jobs_by_outcome": dict(status.jobs_by_outcome),
        "step_seconds": list(status.step_seconds),
        "host": host,
        "pid": pid,
    }
    return json.dumps(body).encode()


def decode_heartbeat(raw: bytes | str, *, schema: int = SCHEMA_VERSION) -> WorkerStatus | None:
    """A worker's heartbeat as a status; None (logged) when it is not one."""
    try:
        data = json.loads(raw)
        step_sum, step_count = data.get("step_seconds", (0.0, 0))
        return WorkerStatus(
            name=str(data["name"]),
            device=str(data.get("device", "")),
            schema=int(data.get("schema", 0)),
            capacity=max(0, int(data.get("capacity", 1))),
            job_id=data.get("job") or None,
            is_ready=data.get("state", WorkerState.READY.value) == WorkerState.READY.value,
            is_compatible=int(data.get("schema", 0)) == schema,
            styles=tuple(str(style) for style in data.get("styles", ())),
            jobs_by_outcome={str(k): int(v) for k, v in dict(data.get("jobs_by_outcome", {})).items()},
            step_seconds=(float(step_sum), int(step_count)),
        )
    except (ValueError, TypeError, KeyError, AttributeError):
        log.warning("ignored a malformed worker heartbeat: %r", raw[:200])
        return None


# The generic codec.


def _text(entry: Entry, name: str) -> str:
    raw = entry.get(name.encode())
    return "" if raw is None else bytes(raw).decode("utf-8", "replace")
