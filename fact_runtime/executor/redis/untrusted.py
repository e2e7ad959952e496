"""Reading bytes another process wrote (Redis entries, heartbeats): bounded, typed, never crashing the reader.

Python's ``json`` recurses once per nesting level (a deep body raises ``RecursionError``), turns
``1e400`` into ``inf`` (which ``int()`` then refuses with ``OverflowError``) and accepts ``NaN``.
``load_json`` refuses all of that up front, and ``Fields`` reads one typed value at a time, so
every problem with a message surfaces as one ``MalformedMessage`` naming what is wrong.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from typing import Any, TypeVar

from ...errors import IncompatibleMessage

__all__ = ["MAX_DEPTH", "MAX_JSON_BYTES", "Fields", "MalformedMessage", "load_json", "text"]

log = logging.getLogger(__name__)

#: Deepest nesting a message body may have; ours nest four levels at most.
MAX_DEPTH = 32
#: Largest JSON body read; images travel as separate raw fields, never inside the body.
MAX_JSON_BYTES = 1 << 20
#: Digits of an integer literal; a step count or a seed never needs more.
_MAX_INT_DIGITS = 40

_E = TypeVar("_E")


class MalformedMessage(IncompatibleMessage):
    """An entry that cannot be read as any message of this schema: its job (if named) fails alone."""

    kind = "malformed_message"
    user_message = "This job reached the portrait workers damaged; please try again."


def text(raw: object, *, name: str, max_chars: int = 1024) -> str:
    """Strict UTF-8 text of one raw field, bounded in length.

    Raises
    ------
    MalformedMessage
        Not bytes or str, not UTF-8, or longer than ``max_chars``.
    """
    if isinstance(raw, bytes | bytearray | memoryview):
        try:
            value = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedMessage(f"field {name!r} is not UTF-8") from exc
    elif isinstance(raw, str):
        value = raw
    else:
        raise MalformedMessage(f"field {name!r} is a {type(raw).__name__}, not text")
    if len(value) > max_chars:
        raise MalformedMessage(f"field {name!r} is longer than {max_chars} characters")
    return value


def load_json(raw: object, *, name: str = "body", max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """Parse a JSON document someone else wrote, refusing what would crash or mislead a reader.

    Raises
    ------
    MalformedMessage
        Too large, not UTF-8, nested deeper than ``max_depth``, a non-finite or over-long number,
        or not JSON at all.
    """
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise MalformedMessage(f"{name} is a {type(raw).__name__}, not JSON text")
    data = bytes(raw)
    if len(data) > max_bytes:
        raise MalformedMessage(f"{name} is {len(data)} bytes, more than {max_bytes}")
    try:
        document = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedMessage(f"{name} is not UTF-8") from exc
    if _depth(document) > max_depth:
        raise MalformedMessage(f"{name} nests deeper than {max_depth} levels")
    try:
        return json.loads(document, parse_constant=_refuse_constant, parse_float=_finite, parse_int=_bounded_int)
    except MalformedMessage:
        raise
    except (ValueError, RecursionError) as exc:
        raise MalformedMessage(f"{name} is not JSON: {exc}") from exc


class Fields:
    """Typed, bounded reads of one decoded JSON object; each failure is a ``MalformedMessage``."""

    __slots__ = ("_name", "_values")

    def __init__(self, values: object, *, name: str) -> None:
        if not isinstance(values, Mapping):
            raise MalformedMessage(f"{name} is a {type(values).__name__}, not an object")
        self._values: Mapping[str, Any] = values
        self._name = name

    def has(self, key: str) -> bool:
        return self._values.get(key) is not None

    def get_str(self, key: str, default: str | None = None, *, max_chars: int = 1024) -> str:
        value = self._get(key, default)
        if not isinstance(value, str):
            raise self._wrong(key, "text", value)
        if len(value) > max_chars:
            raise MalformedMessage(f"{self._name}.{key} is longer than {max_chars} characters")
        return value

    def get_int(self, key: str, default: int | None = None, *, low: int = 0, high: int = 2**31) -> int:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._wrong(key, "an integer", value)
        if not low <= value <= high:
            raise MalformedMessage(f"{self._name}.{key} = {value} is outside {low}..{high}")
        return value

    def get_float(self, key: str, default: float | None = None, *, low: float = 0.0, high: float = 1e9) -> float:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._wrong(key, "a number", value)
        number = float(value)
        if not (math.isfinite(number) and low <= number <= high):
            raise MalformedMessage(f"{self._name}.{key} = {value!r} is outside {low:g}..{high:g}")
        return number

    def get_bool(self, key: str, default: bool | None = None) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise self._wrong(key, "true or false", value)
        return value

    def get_strs(self, key: str, *, max_items: int = 1024, max_chars: int = 256) -> tuple[str, ...]:
        value = self._get(key, [])
        if not isinstance(value, list) or len(value) > max_items:
            raise self._wrong(key, f"a list of at most {max_items} texts", value)
        if not all(isinstance(item, str) and len(item) <= max_chars for item in value):
            raise MalformedMessage(f"{self._name}.{key} holds something other than short texts")
        return tuple(value)

    def get_counts(self, key: str, *, max_items: int = 256) -> dict[str, int]:
        """A ``{name: non-negative count}`` object, as counters travel."""
        value = self._get(key, {})
        if not isinstance(value, Mapping) or len(value) > max_items:
            raise self._wrong(key, f"an object of at most {max_items} counts", value)
        return {name: Fields(value, name=f"{self._name}.{key}").get_int(name, high=2**62) for name in value}

    def raw(self, key: str) -> Any:
        """The value as parsed (None when absent), for a shape the typed reads do not cover."""
        return self._values.get(key)

    def get_object(self, key: str) -> Fields:
        return Fields(self._get(key, {}), name=f"{self._name}.{key}")

    def _get(self, key: str, default: object) -> Any:
        value = self._values.get(key, default)
        if value is None:
            raise MalformedMessage(f"{self._name} has no {key!r}")
        return value

    def _wrong(self, key: str, expected: str, value: object) -> MalformedMessage:
        shown = type(value).__name__
        return MalformedMessage(f"{self._name}.{key} should be {expected}, not a {shown}")


def _depth(document: str) -> int:
    """The deepest bracket nesting outside strings, found without recursion."""
    depth = deepest = 0
    in_string = escaped = False
    for char in document:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _refuse_constant(name: str) -> float:
    raise MalformedMessage(f"the JSON constant {name} is not a number a message may carry")


def _finite(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise MalformedMessage(f"the number {literal[:40]} is out of range")
    return value


def _bounded_int(literal: str) -> int:
    if len(literal.lstrip("-")) > _MAX_INT_DIGITS:
        raise MalformedMessage(f"an integer of {len(literal)} digits is out of range")
    return int(literal)
