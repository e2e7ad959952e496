"""Both processes: the codec of what is not a job's own message: headers, control messages, heartbeats, counters.

Part of the wire codec (``codec`` re-exports all of it): every read here is bounded and typed,
and a value that does not fit is dropped with one log line, never raised into a reader's loop.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ...metrics import BrokerStats, WorkerStatus
from .sealing import Sealer
from .untrusted import Fields, MalformedMessage, load_json, text

__all__ = [
    "SCHEMA_VERSION",
    "Control",
    "ControlOp",
    "WorkerState",
    "decode_broker_stats",
    "decode_control",
    "decode_heartbeat",
    "decode_released",
    "encode_control",
    "encode_heartbeat",
    "header",
    "job_of",
]

log = logging.getLogger(__name__)

#: Bumped whenever a message's meaning changes in a way the other side cannot read.
SCHEMA_VERSION = 1
#: Longest job id, worker name or member id read from Redis.
_MAX_ID_CHARS = 200


def header(entry: Mapping[bytes, bytes], name: str) -> str:
    """A plain text field of an entry: "" when absent, not UTF-8 or longer than an id may be."""
    raw = entry.get(name.encode())
    if raw is None:
        return ""
    try:
        return text(raw, name=name, max_chars=_MAX_ID_CHARS)
    except MalformedMessage:
        return ""


def job_of(entry: Mapping[bytes, bytes]) -> str:
    """The job an entry names; "" when it names none readable (such an entry is dropped, with a log line)."""
    return header(entry, "job")


# Control messages.


class ControlOp(StrEnum):
    """What a control message asks of every worker."""

    #: Stop this job (whichever worker runs it).
    CANCEL = "cancel"
    #: Drop this member's cached faces.
    FORGET = "forget"


@dataclass(frozen=True, slots=True)
class Control:
    """One control message: a cancel names a job, a forget a member."""

    op: ControlOp
    job_id: str = ""
    user_id: str = ""


_FORGET_CONTEXT = b"control\x00forget\x00user"


def encode_control(control: Control, *, sealer: Sealer) -> dict[bytes, bytes]:
    """The op and job in clear (a cancel says nothing of a member); a forget's member id sealed."""
    fields = {b"op": control.op.value.encode(), b"job": control.job_id.encode()}
    if control.user_id:
        fields[b"user"] = sealer.seal(control.user_id.encode(), context=_FORGET_CONTEXT)
    return fields


def decode_control(entry: Mapping[bytes, bytes], *, sealer: Sealer) -> Control | None:
    """The control message an entry carries; None (logged) for one this side cannot read."""
    try:
        op = ControlOp(header(entry, "op"))
    except ValueError:
        log.warning("ignored a control message with an unknown op %r", header(entry, "op")[:40])
        return None
    try:
        sealed = entry.get(b"user")
        user = "" if sealed is None else text(sealer.open(bytes(sealed), context=_FORGET_CONTEXT), name="user")
    except MalformedMessage as exc:
        log.warning("ignored a %s control message: %s", op.value, exc)
        return None
    if (op is ControlOp.CANCEL and not job_of(entry)) or (op is ControlOp.FORGET and not user):
        log.warning("ignored a %s control message that names nobody", op.value)
        return None
    return Control(op, job_of(entry), user)


# Heartbeats.


class WorkerState(StrEnum):
    """A worker as its heartbeat announces it."""

    #: Takes jobs.
    READY = "ready"
    #: Got SIGTERM: finishes or hands back its job, takes no new one.
    DRAINING = "draining"


def encode_heartbeat(status: WorkerStatus, *, host: str, pid: int) -> bytes:
    """What the bot learns of a worker: room, device, styles, busy job, counters, its key's fingerprint."""
    state = WorkerState.READY if status.is_ready else WorkerState.DRAINING
    body = {
        "name": status.name,
        "schema": status.schema,
        "key": status.key_fingerprint,
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


def decode_heartbeat(raw: object, *, fingerprint: str, schema: int = SCHEMA_VERSION) -> WorkerStatus | None:
    """A worker's heartbeat as a status (compatible: same schema, same key); None (logged) when it is not one."""
    try:
        data = Fields(load_json(raw, name="heartbeat", max_bytes=64 * 1024), name="heartbeat")
        version = data.get_int("schema", 0)
        key = data.get_str("key", "", max_chars=64)
        state = data.get_str("state", WorkerState.READY.value, max_chars=32)
        if state not in tuple(WorkerState):
            raise MalformedMessage(f"heartbeat.state {state!r} is not one of {[s.value for s in WorkerState]}")
        job = data.get_str("job", "", max_chars=_MAX_ID_CHARS) if data.has("job") else ""
        return WorkerStatus(
            name=data.get_str("name", max_chars=_MAX_ID_CHARS),
            device=data.get_str("device", "", max_chars=64),
            schema=version,
            key_fingerprint=key,
            capacity=data.get_int("capacity", 1, high=1024),
            job_id=job or None,
            is_ready=state == WorkerState.READY.value,
            is_compatible=version == schema and key == fingerprint,
            styles=data.get_strs("styles"),
            jobs_by_outcome=data.get_counts("jobs_by_outcome"),
            step_seconds=_step_seconds(data.raw("step_seconds")),
        )
    except MalformedMessage as exc:
        log.warning("ignored a malformed worker heartbeat: %s", exc)
        return None


def _step_seconds(value: Any) -> tuple[float, int]:
    if value is None:
        return (0.0, 0)
    if not isinstance(value, list) or len(value) != 2:
        raise MalformedMessage("heartbeat.step_seconds should be [seconds, count]")
    pair = Fields({"seconds": value[0], "count": value[1]}, name="heartbeat.step_seconds")
    return (pair.get_float("seconds", high=1e12), pair.get_int("count", high=2**62))


# The bot's bookkeeping in Redis.


def decode_released(raw: Mapping[Any, Any]) -> dict[str, str]:
    """The ``released`` hash: job id -> member; a pair that is not two short texts is dropped (logged)."""
    released = {}
    for job_id, user in raw.items():
        try:
            released[text(job_id, name="job", max_chars=_MAX_ID_CHARS)] = text(
                user, name="user", max_chars=_MAX_ID_CHARS
            )
        except MalformedMessage as exc:
            log.warning("ignored an unreadable entry of the released jobs: %s", exc)
    return released


def decode_broker_stats(length: object, summary: object, counters: Mapping[Any, Any]) -> BrokerStats:
    """XLEN of the jobs, XPENDING's summary of them, and the ``stats`` hash, as the bot shows them."""

    def count(value: object, name: str) -> int:
        try:
            if isinstance(value, bytes | str):
                value = int(text(value, name=name, max_chars=20))
            if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63:
                return value
        except (MalformedMessage, ValueError):
            pass
        log.warning("ignored an unreadable broker counter %s", name)
        return 0

    pending = summary.get("pending", 0) if isinstance(summary, Mapping) else 0
    return BrokerStats(
        True,
        count(length, "stream_length"),
        count(pending, "pending"),
        count(counters.get(b"reclaimed", 0), "reclaimed"),
        count(counters.get(b"handed_back", 0), "handed_back"),
    )
