"""The configuration reference, generated from the settings models: every key, its default and its variable.

The README's table is this module's output, so a key added to a model shows up there (and a
test fails until the README is regenerated with ``python -m bot.config_reference --write README.md``).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from .config import ModelRef
from .config_source import env_name

__all__ = ["ConfigKey", "config_keys", "config_reference"]


@dataclass(frozen=True, slots=True)
class ConfigKey:
    """One documented key: ``runtime.queue.max_queued``, its default, its variable, what it means."""

    key: str
    default: str
    env: str
    description: str


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation allows (``X``, ``X | None``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [model for arg in typing.get_args(annotation) for model in _models_in(arg)]
    return []


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return "(section)"
    return _shown(value)


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple | list):
        return ", ".join(_shown(item) for item in value) or "(empty)"
    return str(value)


def _walk(prefix: tuple[str, ...], model: type[BaseModel]) -> Iterator[ConfigKey]:
    for name, field in model.model_fields.items():
        path = (*prefix, name)
        description = " ".join((field.description or "").split())
        if typing.get_origin(field.annotation) is dict:
            _, value_type = typing.get_args(field.annotation)
            (inner,) = _models_in(value_type) or (None,)
            if inner is not None:
                yield ConfigKey(".".join(path), _default(field), env_name(*path), description)
                yield from _walk((*path, "<name>"), inner)
                continue
        nested = _models_in(field.annotation)
        if nested == [ModelRef]:
            yield ConfigKey(".".join(path), _default(field), env_name(*path) + "__<FIELD>", description)
        elif nested:
            yield from _walk(path, nested[0])
        else:
            yield ConfigKey(".".join(path), _default(field), env_name(*path), description)


def config_keys(sections: Mapping[str, type[BaseModel]]) -> list[ConfigKey]:
    """Every leaf key of each section's model, in declaration order."""
    return [key for section, model in sections.items() for key in _walk((section,), model)]


def config_reference(sections: Mapping[str, type[BaseModel]]) -> str:
    """A Markdown table of every key: default, environment variable and meaning."""
    lines = ["| Key | Default | Environment variable | Meaning |", "|---|---|---|---|"]
    for key in config_keys(sections):
        cells = (f"`{key.key}`", f"`{key.default}`", f"`{key.env}`", key.description)
        lines.append("| " + " | ".join(cell.replace("|", "\\|").replace("``", "`") for cell in cells) + " |")
    return "\n".join(lines) + "\n"
