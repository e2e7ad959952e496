"""Both processes: the wire codec of every message that crosses Redis, with a schema version.

Five kinds cross: jobs, progress and outcomes (stream entries, here), control messages and
heartbeats (``signals``, re-exported here). Every byte string read from Redis is turned into a
value here and nowhere else, defensively: bounded JSON (``untrusted``), strict UTF-8, typed
fields; whatever does not fit is a ``MalformedMessage`` (or ``IncompatibleMessage`` for another
schema) that the reader reports for the entry's job alone.

Values are serialised generically from their dataclasses, driven by the type hints: every
dataclass in ``fact_runtime.request`` can travel, and a field added there travels with no change
here. Bytes (selfies, templates, PNGs, face tokens) are never base64'd: each becomes its own raw
entry field (``blob:N``) and the JSON body holds its index. The body and every blob are sealed
with the deployment key (``sealing``), bound to the stream, the job and the field, so Redis's
files hold ciphertext only.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import get_args

from ... import request, results
from ...errors import FactError, IncompatibleMessage, JobFailed
from ...request import JobRequest
from ...results import JobResult, Progress
from .sealing import Sealer
from .signals import (
    SCHEMA_VERSION,
    Control,
    ControlOp,
    WorkerState,
    decode_broker_stats,
    decode_control,
    decode_heartbeat,
    decode_released,
    encode_control,
    encode_heartbeat,
    header,
    job_of,
)
from .untrusted import Fields, MalformedMessage, load_json
from .values import from_plain, to_plain

__all__ = [
    "SCHEMA_VERSION",
    "Control",
    "ControlOp",
    "Entry",
    "EntryFields",
    "WorkerState",
    "decode",
    "decode_broker_stats",
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
    "job_of",
]

#: One stream entry, as redis-py returns it (bytes keys and values).
Entry = Mapping[bytes, bytes]
#: Entry fields as they are written (bytes names, so an encoded entry reads back as redis-py returns it).
EntryFields = dict[bytes, bytes]

#: Every dataclass that may cross: the request and results modules' values, by class name.
_TYPES: dict[str, type] = {
    name: value
    for module in (request, results)
    for name in module.__all__
    if isinstance(value := getattr(module, name), type) and dataclasses.is_dataclass(value)
}
_REQUESTS = tuple(get_args(JobRequest))
#: Blobs one message may carry (a group photo has a few per person).
_MAX_BLOBS = 256


def _error_kinds() -> dict[str, type[FactError]]:
    kinds: dict[str, type[FactError]] = {}
    pending: list[type[FactError]] = [FactError]
    while pending:
        cls = pending.pop()
        kinds.setdefault(cls.kind, cls)
        pending.extend(cls.__subclasses__())
    return kinds


def _context(stream: str, job_id: str, field: str) -> bytes:
    """What a sealed field is bound to: it opens only in this stream, under this job, as this field."""
    return f"{stream}\x00{job_id}\x00{field}".encode()


def encode(
    value: object, header: Mapping[str, str], *, sealer: Sealer, stream: str, schema: int = SCHEMA_VERSION
) -> EntryFields:
    """A dataclass as entry fields: ``schema``, ``kind``, sealed ``body`` (JSON) and ``blob:N``, and the header."""
    if type(value).__name__ not in _TYPES:
        raise TypeError(f"{type(value).__name__} cannot cross the broker")
    job_id = header.get("job", "")
    blobs: list[bytes] = []
    body = json.dumps(to_plain(value, blobs), separators=(",", ":")).encode()
    fields = {
        b"schema": str(schema).encode(),
        b"kind": type(value).__name__.encode(),
        b"body": sealer.seal(body, context=_context(stream, job_id, "body")),
    }
    for index, blob in enumerate(blobs):
        name = f"blob:{index}"
        fields[name.encode()] = sealer.seal(blob, context=_context(stream, job_id, name))
    fields.update({name.encode(): text.encode() for name, text in header.items()})
    return fields


def decode(entry: Entry, *, sealer: Sealer, stream: str, schema: int = SCHEMA_VERSION) -> object:
    """The dataclass an entry carries.

    Raises
    ------
    IncompatibleMessage
        Another schema version.
    MalformedMessage
        An unknown kind, a field that does not open with this key, is not bounded JSON, or does
        not fit the kind's type hints.
    """
    version = header(entry, "schema")
    if version != str(schema):
        raise IncompatibleMessage(f"message schema {version or '(none)'}, this side reads schema {schema}")
    kind = header(entry, "kind")
    cls = _TYPES.get(kind)
    if cls is None:
        raise MalformedMessage(f"unknown message kind {kind[:40]!r}")
    job_id = job_of(entry)
    blobs: list[bytes] = []
    while (blob := entry.get(f"blob:{len(blobs)}".encode())) is not None and len(blobs) < _MAX_BLOBS:
        blobs.append(sealer.open(bytes(blob), context=_context(stream, job_id, f"blob:{len(blobs)}")))
    sealed = entry.get(b"body")
    if sealed is None:
        raise MalformedMessage(f"a {kind} message has no body")
    plain = load_json(sealer.open(bytes(sealed), context=_context(stream, job_id, "body")))
    try:
        return from_plain(cls, plain, blobs)
    except MalformedMessage:
        raise
    except Exception as exc:  # a dataclass's own checks may raise anything on values it was never meant to see
        raise MalformedMessage(f"a {kind} message does not fit schema {schema}: {exc}") from exc


# Jobs, progress and outcomes: the three kinds of message about one job.

JOBS, PROGRESS, OUTCOMES = "jobs", "progress", "outcomes"


def encode_request(job_id: str, job: JobRequest, *, sealer: Sealer, schema: int = SCHEMA_VERSION) -> EntryFields:
    return encode(job, {"job": job_id}, sealer=sealer, stream=JOBS, schema=schema)


def decode_request(entry: Entry, *, sealer: Sealer, schema: int = SCHEMA_VERSION) -> JobRequest:
    value = decode(entry, sealer=sealer, stream=JOBS, schema=schema)
    if not isinstance(value, _REQUESTS):
        raise MalformedMessage(f"a {type(value).__name__} is not a job request")
    return value


def encode_progress(job_id: str, progress: Progress, *, worker: str, sealer: Sealer) -> EntryFields:
    return encode(progress, {"job": job_id, "worker": worker}, sealer=sealer, stream=PROGRESS)


def decode_progress(entry: Entry, *, sealer: Sealer) -> Progress:
    value = decode(entry, sealer=sealer, stream=PROGRESS)
    if not isinstance(value, Progress):
        raise MalformedMessage(f"a {type(value).__name__} is not progress")
    return value


def encode_outcome(
    job_id: str, outcome: JobResult | FactError, *, worker: str, seconds: float, sealer: Sealer
) -> EntryFields:
    """A result, or a typed error by its ``kind`` with its detail and sentence (sealed: details may quote a prompt)."""
    meta = {"job": job_id, "worker": worker, "seconds": repr(seconds)}
    if isinstance(outcome, JobResult):
        return encode(outcome, meta, sealer=sealer, stream=OUTCOMES)
    body = json.dumps({"detail": str(outcome), "user_message": outcome.user_message}).encode()
    return {
        b"schema": str(SCHEMA_VERSION).encode(),
        b"error": outcome.kind.encode(),
        b"body": sealer.seal(body, context=_context(OUTCOMES, job_id, "body")),
        **{name.encode(): text.encode() for name, text in meta.items()},
    }


def decode_outcome(entry: Entry, *, sealer: Sealer) -> JobResult | FactError:
    """What an outcome entry says; an unreadable one is itself an ``IncompatibleMessage`` for its job."""
    try:
        kind = header(entry, "error")
        if not kind:
            value = decode(entry, sealer=sealer, stream=OUTCOMES)
            if not isinstance(value, JobResult):
                raise MalformedMessage(f"a {type(value).__name__} is not a job result")
            return value
        if header(entry, "schema") != str(SCHEMA_VERSION):
            raise IncompatibleMessage(f"error of message schema {header(entry, 'schema')[:20]}")
        sealed = entry.get(b"body")
        if sealed is None:
            raise MalformedMessage("an error outcome has no body")
        plain = load_json(sealer.open(bytes(sealed), context=_context(OUTCOMES, job_of(entry), "body")))
        fields = Fields(plain, name="error")
        detail = fields.get_str("detail", "", max_chars=4096)
        sentence = fields.get_str("user_message", "", max_chars=2000)
    except IncompatibleMessage as exc:
        return exc
    cls = _error_kinds().get(kind, JobFailed)
    try:
        return cls(detail, user_message=sentence or None)
    except TypeError:  # a leaf with its own constructor; its kind still travels in the detail
        return JobFailed(f"{kind}: {detail}", user_message=sentence or None)
