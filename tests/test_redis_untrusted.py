"""Bytes read from Redis cannot crash a reader: random and mutated entries of every kind, decoded and served live."""

from __future__ import annotations

import contextlib
import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fact_runtime import FactError, IncompatibleMessage, JobResult, PortraitRequest, Progress, WorkerStatus
from fact_runtime.executor.redis.codec import (
    SCHEMA_VERSION,
    Control,
    ControlOp,
    decode_broker_stats,
    decode_control,
    decode_heartbeat,
    decode_outcome,
    decode_progress,
    decode_released,
    decode_request,
    encode_control,
    encode_heartbeat,
    encode_outcome,
    encode_progress,
    encode_request,
)
from fact_runtime.metrics import BrokerStats
from tests.fakes import portrait
from tests.redis_world import SEALER, RedisServer, Start, Workers, eventually, finished, started

FINGERPRINT = SEALER.fingerprint
FIELD_NAMES = [b"schema", b"kind", b"body", b"job", b"worker", b"error", b"blob:0", b"blob:1", b"op", b"user"]


def good_entries() -> dict[str, dict[bytes, bytes]]:
    """One valid entry of each stream kind, the starting points of the mutations."""
    request = PortraitRequest(user_id="7", selfie=b"\xff\xd8selfie", style_id="film", seed=3)
    return {
        "job": encode_request("job-1", request, sealer=SEALER),
        "progress": encode_progress("job-1", Progress("denoising", 2, 4), worker="w", sealer=SEALER),
        "outcome": encode_outcome("job-1", JobResult(images=()), worker="w", seconds=1.0, sealer=SEALER),
        "control": encode_control(Control(ControlOp.FORGET, user_id="7"), sealer=SEALER),
    }


#: Byte strings that have broken readers before, beside random ones.
NASTY = [
    b"",
    b"\xff\xfe\xfd",
    b"[" * 100_000,
    b'{"a":' * 5_000,
    b"1e400",
    b"-1e400",
    b"NaN",
    b"Infinity",
    b"9" * 5_000,
    b'{"name": "x", "capacity": 1e400}',
    str(SCHEMA_VERSION).encode(),
    b"PortraitRequest",
    b"JobResult",
    b"cancel",
    b"forget",
    b"\x01" + bytes(40),
]

raw_bytes = st.one_of(st.binary(max_size=64), st.sampled_from(NASTY))
raw_entries = st.dictionaries(st.one_of(st.sampled_from(FIELD_NAMES), st.binary(max_size=8)), raw_bytes, max_size=8)


def mutate(entry: dict[bytes, bytes], rng: random.Random) -> dict[bytes, bytes]:
    """A copy with one field dropped, replaced, truncated, bit-flipped, or one added."""
    mutated = dict(entry)
    if not mutated:
        return {rng.choice(FIELD_NAMES): rng.choice(NASTY)}
    name = rng.choice(sorted(mutated))
    match rng.randrange(5):
        case 0:
            del mutated[name]
        case 1:
            mutated[name] = rng.choice(NASTY)
        case 2:
            mutated[name] = mutated[name][: rng.randrange(len(mutated[name]) + 1)]
        case 3 if mutated[name]:
            value = bytearray(mutated[name])
            value[rng.randrange(len(value))] ^= 1 << rng.randrange(8)
            mutated[name] = bytes(value)
        case _:
            mutated[rng.choice(FIELD_NAMES)] = rng.choice(NASTY)
    return mutated


def read_every_way(entry: dict[bytes, bytes]) -> None:
    """Each stream's decoder on one entry: a value, or the typed error its reader reports for the job."""
    with contextlib.suppress(IncompatibleMessage):
        decode_request(entry, sealer=SEALER)
    with contextlib.suppress(IncompatibleMessage):
        assert isinstance(decode_progress(entry, sealer=SEALER), Progress)
    assert isinstance(decode_outcome(entry, sealer=SEALER), JobResult | FactError)
    assert decode_control(entry, sealer=SEALER) is None or isinstance(decode_control(entry, sealer=SEALER), Control)
    assert isinstance(decode_released(entry), dict)
    assert isinstance(decode_broker_stats(b"1", {"pending": 0}, entry), BrokerStats)


@settings(max_examples=150, deadline=None)
@given(raw_entries)
def test_random_entries_decode_to_a_value_or_a_typed_error(entry: dict[bytes, bytes]) -> None:
    read_every_way(entry)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(good_entries())), st.randoms(use_true_random=False), st.integers(1, 4))
def test_mutated_entries_decode_to_a_value_or_a_typed_error(kind: str, rng: random.Random, rounds: int) -> None:
    entry = good_entries()[kind]
    for _ in range(rounds):
        entry = mutate(entry, rng)
    read_every_way(entry)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
heartbeat_keys = st.sampled_from(
    ["name", "schema", "key", "device", "capacity", "state", "job", "styles", "jobs_by_outcome", "step_seconds"]
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(heartbeat_keys, json_values, max_size=10), st.sampled_from(NASTY), st.booleans())
def test_any_heartbeat_is_a_status_or_dropped(fields: dict[str, object], nasty: bytes, splice: bool) -> None:
    raw = json.dumps(fields, allow_nan=True).encode()
    if splice:  # a literal json.dumps cannot write (1e400, deep nesting) in place of one value
        raw = raw.replace(b"null", nasty, 1) if b"null" in raw else nasty
    status = decode_heartbeat(raw, fingerprint=FINGERPRINT)
    assert status is None or isinstance(status, WorkerStatus)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"name": "w", "capacity": 1e400}',  # OverflowError in int() once killed the bot's rescanning loop
        b'{"name": "w", "step_seconds": [1e400, 1]}',
        b'{"name": "w", "jobs_by_outcome": {"ok": 1e400}}',
        b'{"name": "w", "schema": NaN}',
        b'{"name": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
        b'{"name": "\xff"}',
        b'["w"]',
        b'{"name": "w", "state": "sleeping"}',  # an unknown state
    ],
)
def test_heartbeats_that_once_crashed_the_bot_are_dropped(raw: bytes) -> None:
    assert decode_heartbeat(raw, fingerprint=FINGERPRINT) is None


def test_a_heartbeat_of_another_key_or_schema_is_read_but_not_compatible() -> None:
    status = WorkerStatus(name="w", schema=SCHEMA_VERSION, key_fingerprint="0badc0de")
    decoded = decode_heartbeat(encode_heartbeat(status, host="h", pid=1), fingerprint=FINGERPRINT)
    assert decoded is not None and decoded.name == "w" and not decoded.is_compatible


def test_broker_counters_that_are_not_counts_read_as_zero() -> None:
    stats = decode_broker_stats(b"3", {"pending": 2}, {b"reclaimed": b"1e400", b"handed_back": b"\xff"})
    assert stats == BrokerStats(True, 3, 2, 0, 0)
    assert decode_broker_stats(4, {"pending": 1}, {b"reclaimed": b"5"}) == BrokerStats(True, 4, 1, 5, 0)


# Against a running bot-side runtime and a running worker process.


def _job_garbage(job_id: str, rng: random.Random) -> dict[bytes, bytes]:
    """A mutated job entry that still names its job, so that job alone fails."""
    entry = good_entries()["job"]
    for _ in range(rng.randint(1, 3)):
        entry = mutate(entry, rng)
    return {**entry, b"job": job_id.encode()}


async def test_garbage_in_every_stream_and_key_fails_only_its_own_jobs(
    start_redis_runtime: Start, workers: Workers, redis_server: RedisServer
) -> None:
    rng = random.Random(18)
    runtime = await started(start_redis_runtime, workers, ["w0"])
    client = redis_server.client()

    # A real job, held at its first step, gets an unreadable outcome from nowhere: it fails once, typed.
    victim = runtime.submit(portrait("A", seed=1))
    await eventually(lambda: workers.runs())
    client.xadd("fact:results", {b"job": victim.job_id.encode(), b"body": b"[" * 10_000, b"schema": b"1"})
    with pytest.raises(IncompatibleMessage):
        await finished(victim)
    await eventually(lambda: client.xlen("fact:results") == 0)  # acknowledged and deleted: read once

    # Garbage everywhere the bot and the workers read.
    bad_jobs = [f"bad-{index}" for index in range(8)]
    for job_id in bad_jobs:
        client.xadd("fact:jobs", _job_garbage(job_id, rng))
    client.xadd("fact:jobs", {b"body": b"[" * 10_000})  # names no job
    client.xadd("fact:jobs", {b"job": b"\xff\xfe", b"body": b"{}"})  # names none readable
    for _ in range(8):
        client.xadd("fact:progress", mutate(good_entries()["progress"], rng))
        client.xadd("fact:progress", {**mutate(good_entries()["progress"], rng), b"job": victim.job_id.encode()})
        client.xadd("fact:control", mutate(good_entries()["control"], rng))
        client.xadd("fact:results", mutate(good_entries()["outcome"], rng))
    client.xadd("fact:results", {b"body": b"1e400"})  # names no job
    client.set("fact:worker:evil-overflow", b'{"name": "evil", "capacity": 1e400}', px=60_000)
    client.set("fact:worker:evil-deep", b"[" * 100_000, px=60_000)
    client.set("fact:worker:evil-utf8", b'{"name": "\xff"}', px=60_000)
    client.hset("fact:stats", mapping={b"reclaimed": b"1e400", b"handed_back": b"NaN"})

    # Every job entry is retired once: each named job got exactly one typed failure, none is left pending.
    def outcomes_of_bad_jobs() -> dict[str, list[bytes]]:
        found: dict[str, list[bytes]] = {}
        for _, fields in client.xrange("fact:results"):
            if fields.get(b"job", b"").decode("utf-8", "replace") in bad_jobs:
                found.setdefault(fields[b"job"].decode(), []).append(fields.get(b"error", b""))
        return found

    workers.open()
    await eventually(lambda: len(outcomes_of_bad_jobs()) == len(bad_jobs), timeout=30)
    await eventually(lambda: client.xlen("fact:jobs") == 0 and client.xpending("fact:jobs", "workers")["pending"] == 0)
    for job_id, errors in outcomes_of_bad_jobs().items():
        assert len(errors) == 1, job_id
        assert errors[0] in (b"malformed_message", b"seal_broken", b"incompatible_message", b"invalid_request"), job_id

    # Both sides still serve: a good job succeeds, no loop died, the worker logged no traceback.
    good = runtime.submit(portrait("B", seed=2))
    assert len((await finished(good, timeout=30)).images) == 1
    assert runtime.unhealthy_tasks == () and runtime.is_alive
    assert set(runtime.fleet.workers) == {"w0"}  # the malformed heartbeats were dropped
    assert runtime.metrics().broker.reclaimed == 0
    assert "Traceback" not in workers.log("w0")
