"""Both processes: any dataclass of ``fact_runtime.request`` or ``results`` as plain JSON plus raw blobs, and back.

Driven by the type hints, so a dataclass added to those modules (a new job kind, a new
option) travels with no change here. Bytes are never base64'd: each becomes a blob and the JSON
holds its index.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

__all__ = ["from_plain", "to_plain"]


def to_plain(value: object, blobs: list[bytes]) -> Any:
    """``value`` as plain JSON; each bytes value appended to ``blobs`` and replaced by its index."""
    if isinstance(value, bytes):
        blobs.append(value)
        return len(blobs) - 1
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name), blobs) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [to_plain(item, blobs) for item in value]
    if isinstance(value, Mapping):
        return {str(key): to_plain(item, blobs) for key, item in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"a {type(value).__name__} cannot cross the broker")


def from_plain(hint: Any, value: Any, blobs: list[bytes]) -> Any:
    """``value`` (plain JSON) rebuilt as ``hint`` says, or TypeError/ValueError where it does not fit."""
    origin = get_origin(hint)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if not isinstance(value, dict):
            raise TypeError(f"{hint.__name__}: expected an object")
        hints = get_type_hints(hint)
        known = {f.name for f in dataclasses.fields(hint)}
        if unknown := set(value) - known:
            raise ValueError(f"{hint.__name__} has no field {sorted(unknown)}")
        return hint(**{name: from_plain(hints[name], item, blobs) for name, item in value.items()})
    if origin in (Union, types.UnionType):
        if value is None and type(None) in get_args(hint):
            return None
        for option in get_args(hint):
            if option is not type(None):
                try:
                    return from_plain(option, value, blobs)
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
            return tuple(from_plain(args[0], item, blobs) for item in value)
        return tuple(from_plain(arg, item, blobs) for arg, item in zip(args, value, strict=True))
    if origin in (dict, Mapping):
        if not isinstance(value, dict):
            raise TypeError(f"expected an object for {hint}")
        item_hint = get_args(hint)[1] if get_args(hint) else Any
        return {key: from_plain(item_hint, item, blobs) for key, item in value.items()}
    if hint is bytes:
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < len(blobs):
            raise IndexError(f"{value!r} is not the index of a blob")
        return blobs[value]
    if hint is Any:
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (str, int, float, bool) and type(value) is hint:
        return value
    raise TypeError(f"{value!r} is not a {getattr(hint, '__name__', hint)}")
