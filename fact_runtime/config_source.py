"""Where settings come from: one YAML file, then ``FACT_*`` environment variables, then the command line.

The file is the one given with ``--config``, else the one ``FACT_CONFIG`` names, else
``./config.yaml``. Any key of a section can be overridden from the environment:
``FACT_<SECTION>__<KEY>__<SUBKEY>=value``, case-insensitive, for example
``FACT_RUNTIME__QUEUE__MAX_QUEUED=10`` or ``FACT_BOT__HEALTH_HOST=0.0.0.0``. Lists and mappings
take JSON. Every key a model declares is overridable this way without further code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import yaml
from pydantic import BaseModel, ValidationError, create_model
from pydantic_settings import BaseSettings, InitSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from .errors import ConfigError

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG",
    "ENV_DELIMITER",
    "ENV_PREFIX",
    "env_name",
    "find_config",
    "read_section",
]

M = TypeVar("M", bound=BaseModel)

#: Names the config file when ``--config`` is not given.
CONFIG_ENV = "FACT_CONFIG"
#: Looked for in the working directory when neither ``--config`` nor ``FACT_CONFIG`` is given.
DEFAULT_CONFIG = Path("config.yaml")
ENV_PREFIX = "FACT_"
ENV_DELIMITER = "__"


def env_name(*keys: str) -> str:
    """The environment variable that overrides a dotted key: ``("bot", "health_port")`` -> ``FACT_BOT__HEALTH_PORT``."""
    return ENV_PREFIX + ENV_DELIMITER.join(key.upper() for key in keys)


def find_config(given: Path | None = None, *, is_required: bool = True) -> Path | None:
    """The config file to read: ``given``, else ``$FACT_CONFIG``, else ``./config.yaml``.

    Raises
    ------
    ConfigError
        The file named by ``given`` or ``FACT_CONFIG`` does not exist, or none is found and
        ``is_required``.
    """
    if given is not None:
        if not given.is_file():
            raise ConfigError(f"{given}: no such config file (given with --config)")
        return given
    named = os.environ.get(CONFIG_ENV, "").strip()
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise ConfigError(f"{path}: no such config file (named by {CONFIG_ENV})")
        return path
    if DEFAULT_CONFIG.is_file():
        return DEFAULT_CONFIG
    if is_required:
        raise ConfigError(
            f"no config.yaml in {Path.cwd()}; run from the project folder, or give --config FILE or set {CONFIG_ENV}=FILE"
        )
    return None


def _document(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from exc
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return document


class _Layered(BaseSettings):
    """One section, from the command line over the environment over the file (merged key by key)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter=ENV_DELIMITER, case_sensitive=False, extra="ignore"
    )
    #: The section as the file has it; set on each subclass that ``read_section`` makes.
    file_values: ClassVar[Mapping[str, Any]] = {}

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, InitSettingsSource(settings_cls, dict(cls.file_values))


def _env_paths(section: str) -> dict[tuple[str, ...], str]:
    """Dotted key -> the environment variable that set it, for the variables of one section."""
    head = env_name(section)
    found = {}
    for name in os.environ:
        upper = name.upper()
        if upper == head or upper.startswith(head + ENV_DELIMITER):
            found[tuple(upper[len(ENV_PREFIX) :].lower().split(ENV_DELIMITER))] = name
    return found


def _describe(error: ValidationError, source: Path | None, env: dict[tuple[str, ...], str]) -> str:
    """One line per problem, naming where the bad value came from: the variable, or the file and key."""
    lines = []
    for item in error.errors():
        loc = tuple(str(part) for part in item["loc"])
        where = ".".join(loc) or "(top level)"
        setter = next((name for path, name in env.items() if loc[: len(path)] == path), None)
        if setter is not None:
            lines.append(f"{setter} (environment): {where}: {item['msg']}")
        else:
            lines.append(f"{source if source is not None else 'defaults'}: {where}: {item['msg']}")
    return "\n".join(lines)


def read_section(path: Path | None, section: str, model: type[M], *, overrides: Mapping[str, Any] | None = None) -> M:
    """Validate one top-level section of the config file, with its environment overrides applied.

    Parameters
    ----------
    path:
        The config file, or None to start from the model's defaults.
    overrides:
        Values that win over the file and the environment (command-line options).

    Raises
    ------
    ConfigError
        The file is unreadable or not YAML, or a value is invalid; the message names the file
        and key, or the environment variable, for each problem.
    """
    section_values = _document(path).get(section) or {}
    if not isinstance(section_values, dict):
        raise ConfigError(f"{path}: {section}: expected a mapping")
    layered = create_model(f"{section.title()}Layers", __base__=_Layered, **{section: (model, ...)})  # type: ignore[call-overload]
    layered.file_values = {section: section_values}
    env = _env_paths(section)
    try:
        settings = layered(**({section: dict(overrides)} if overrides else {}))
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path, env)) from exc
    value: M = getattr(settings, section)
    return value
