"""What crosses Redis: jobs, progress and outcomes as flat stream entries, with a schema version.

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
import types
from collections.abc import Mapping
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from .. import request
from ..errors import FactError, IncompatibleMessage, JobFailed
from ..request import JobRequest, JobResult, Progress

__all__ = [
    "SCHEMA_VERSION",
    "Entry",
    "Fields",
    "decode",
    "decode_outcome",
    "decode_progress",
    "decode_request",
    "encode",
    "encode_outcome",
    "encode_progress",
    "encode_request",
    "header",
]

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
    body = json.dumps(_plain(value, blobs), separators=(",", ":"))
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
        return _build(cls, json.loads(entry.get(b"body", b"")), blobs)
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


# The generic codec.


def _text(entry: Entry, name: str) -> str:
    raw = entry.get(name.encode())
    return "" if raw is None else bytes(raw).decode("utf-8", "replace")


def _plain(value: object, blobs: list[bytes]) -> Any:
    if isinstance(value, bytes):
        blobs.append(value)
        return len(blobs) - 1
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name), blobs) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(item, blobs) for item in value]
    if isinstance(value, Mapping):
        return {str(key): _plain(item, blobs) for key, item in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"a {type(value).__name__} cannot cross the broker")


def _build(hint: Any, value: Any, blobs: list[bytes]) -> Any:
    """``value`` (plain JSON) rebuilt as ``hint`` says, or TypeError/ValueError where it does not fit."""
    origin = get_origin(hint)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if not isinstance(value, dict):
            raise TypeError(f"{hint.__name__}: expected an object")
        hints = get_type_hints(hint)
        known = {f.name for f in dataclasses.fields(hint)}
        if unknown := set(value) - known:
            raise ValueError(f"{hint.__name__} has no field {sorted(unknown)}")
        return hint(**{name: _build(hints[name], item, blobs) for name, item in value.items()})
    if origin in (Union, types.UnionType):
        if value is None and type(None) in get_args(hint):
            return None
        for option in get_args(hint):
            if option is not type(None):
                try:
                    return _build(option, value, blobs)
                except (TypeError, ValueError):
                    continue
        raise TypeError(f"{value!r} fits none of {hint}")
    if origin is Literal:
        if value not in get_args(hint):
            raise ValueError(f"{value!r} is not one of {get_args(hint)}")
        return value
    if origin is tuple:
        args = get_args(hint)
        if not isinstance(value, list):
            raise TypeError(f"expected a list for {hint}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_build(args[0], item, blobs) for item in value)
        return tuple(_build(arg, item, blobs) for arg, item in zip(args, value, strict=True))
    if origin in (dict, Mapping):
        if not isinstance(value, dict):
            raise TypeError(f"expected an object for {hint}")
        item_hint = get_args(hint)[1] if get_args(hint) else Any
        return {key: _build(item_hint, item, blobs) for key, item in value.items()}
    if hint is bytes:
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError("expected a blob index")
        return blobs[value]
    if hint is Any:
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (str, int, float, bool) and type(value) is hint:
        return value
    raise TypeError(f"{value!r} is not a {getattr(hint, '__name__', hint)}")
