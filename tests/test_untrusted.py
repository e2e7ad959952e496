"""Reading what another process wrote: every malformed input is one MalformedMessage, never a crash."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fact_runtime.errors import IncompatibleMessage
from fact_runtime.executor.redis.untrusted import MAX_DEPTH, Fields, MalformedMessage, load_json, text


def test_reads_an_ordinary_body() -> None:
    body = json.dumps({"name": "gpu-0", "capacity": 1, "step_seconds": [1.5, 3], "styles": ["a"]}).encode()
    fields = Fields(load_json(body), name="heartbeat")
    assert fields.get_str("name") == "gpu-0"
    assert fields.get_int("capacity", high=64) == 1
    assert fields.get_strs("styles") == ("a",)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nests deeper"),
        (b'{"a":' * 5000 + b"1" + b"}" * 5000, "nests deeper"),
        (b'{"capacity": 1e400}', "out of range"),
        (b'{"capacity": -1e400}', "out of range"),
        (b'{"capacity": NaN}', "NaN"),
        (b'{"capacity": Infinity}', "Infinity"),
        (b'{"capacity": ' + b"9" * 5000 + b"}", "out of range"),
        (b'{"name": "\xff\xfe"}', "not UTF-8"),
        (b'{"name": ', "not JSON"),
        (b"", "not JSON"),
    ],
)
def test_refuses_what_would_crash_or_mislead_a_reader(raw: bytes, why: str) -> None:
    with pytest.raises(MalformedMessage, match=why):
        load_json(raw)


def test_brackets_inside_strings_are_not_nesting() -> None:
    deep_text = "[" * (MAX_DEPTH * 4)
    assert load_json(json.dumps({"prompt": deep_text}).encode()) == {"prompt": deep_text}


def test_refuses_a_body_past_the_size_cap() -> None:
    with pytest.raises(MalformedMessage, match="more than 64"):
        load_json(b'"' + b"x" * 100 + b'"', max_bytes=64)


@pytest.mark.parametrize(
    ("body", "read"),
    [
        ({"capacity": "1"}, lambda f: f.get_int("capacity")),
        ({"capacity": True}, lambda f: f.get_int("capacity")),
        ({"capacity": 10**12}, lambda f: f.get_int("capacity", high=64)),
        ({"capacity": -1}, lambda f: f.get_int("capacity")),
        ({"seconds": [1]}, lambda f: f.get_float("seconds")),
        ({"seconds": -0.5}, lambda f: f.get_float("seconds")),
        ({}, lambda f: f.get_str("name")),
        ({"name": None}, lambda f: f.get_str("name")),
        ({"name": 3}, lambda f: f.get_str("name")),
        ({"name": "x" * 5000}, lambda f: f.get_str("name")),
        ({"styles": "abc"}, lambda f: f.get_strs("styles")),
        ({"styles": [1, 2]}, lambda f: f.get_strs("styles")),
        ({"jobs_by_outcome": {"ok": -3}}, lambda f: f.get_counts("jobs_by_outcome")),
        ({"jobs_by_outcome": []}, lambda f: f.get_counts("jobs_by_outcome")),
        ({"busy": "yes"}, lambda f: f.get_bool("busy")),
    ],
)
def test_typed_reads_refuse_wrong_types_and_ranges(body: dict[str, object], read: object) -> None:
    fields = Fields(body, name="heartbeat")
    with pytest.raises(MalformedMessage):
        read(fields)  # type: ignore[operator]


def test_an_object_is_required() -> None:
    with pytest.raises(MalformedMessage, match="not an object"):
        Fields([1, 2], name="heartbeat")


def test_text_fields_are_strict_utf8_and_bounded() -> None:
    assert text(b"job-1", name="job") == "job-1"
    with pytest.raises(MalformedMessage, match="not UTF-8"):
        text(b"\xc3\x28", name="job")
    with pytest.raises(MalformedMessage, match="longer"):
        text(b"j" * 2000, name="job")
    with pytest.raises(MalformedMessage, match="not text"):
        text(17, name="job")


def test_malformed_is_an_incompatible_message() -> None:
    # Readers that already fail a job on IncompatibleMessage fail it on these too.
    assert issubclass(MalformedMessage, IncompatibleMessage)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_random_bytes_parse_or_raise_malformed(raw: bytes) -> None:
    with contextlib.suppress(MalformedMessage):
        load_json(raw)


@settings(max_examples=300, deadline=None)
@given(_json_values, st.integers(min_value=0, max_value=200), st.binary(max_size=4))
def test_mutated_documents_parse_or_raise_malformed(value: object, cut: int, noise: bytes) -> None:
    encoded = json.dumps(value).encode()
    mutated = encoded[:cut] + noise + encoded[cut:]
    try:
        parsed = load_json(mutated)
    except MalformedMessage:
        return
    # Whatever parsed reads back through the typed accessors without any other exception.
    if isinstance(parsed, dict):
        fields = Fields(parsed, name="body")
        for key in list(parsed)[:4]:
            for read in (fields.get_str, fields.get_int, fields.get_float, fields.get_bool, fields.get_strs):
                with contextlib.suppress(MalformedMessage):
                    read(key)
