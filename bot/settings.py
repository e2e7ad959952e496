"""Typed bot settings, read from the ``bot:`` section of config.yaml."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fact_runtime import ConfigError

__all__ = ["BotSettings", "load_bot_settings"]

_MiB = 1024 * 1024


class BotSettings(BaseModel):
    """Everything the Discord front end needs besides the token and the runtime."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: SQLite file holding the job store (one file, WAL).
    database: Path = Path("data/jobs.sqlite3")
    #: How long a finished job keeps its selfie/template bytes so rerolls work.
    retention_hours: float = Field(default=24.0, ge=0)
    #: How often stored inputs past their retention are purged.
    purge_interval_s: float = Field(default=600.0, gt=0)
    #: At most one status edit per job this often (Discord etiquette: 3-5 s).
    status_interval_s: float = Field(default=3.0, ge=0.5)
    default_count: int = Field(default=1, ge=1, le=10)
    max_count: int = Field(default=4, ge=1, le=10)
    #: Default per-user cap on unfinished jobs; a guild may lower it.
    max_jobs_per_user: int = Field(default=2, ge=1)
    #: Checked against the attachment's declared metadata before download.
    max_attachment_bytes: int = Field(default=10 * _MiB, gt=0)
    max_attachment_pixels: int = Field(default=40_000_000, gt=0)
    min_attachment_side: int = Field(default=128, gt=0)
    content_types: tuple[str, ...] = ("image/jpeg", "image/png", "image/webp")
    #: Stop using the 15-minute interaction token this many seconds before it expires.
    token_margin_s: float = Field(default=120.0, ge=0, lt=900)
    is_health_enabled: bool = True
    health_host: str = "127.0.0.1"
    health_port: int = Field(default=8080, ge=0, le=65535)

    @model_validator(mode="after")
    def _counts_in_order(self) -> BotSettings:
        if self.default_count > self.max_count:
            raise ValueError(f"default_count ({self.default_count}) is above max_count ({self.max_count})")
        return self

    @property
    def retention_s(self) -> float:
        return self.retention_hours * 3600.0


def _describe(source: Path, error: ValidationError) -> str:
    # Same shape as the runtime's config errors: one "file: bot.field: expected" line per problem.
    return "\n".join(
        f"{source}: {'.'.join(str(part) for part in ('bot', *item['loc']))}: {item['msg']}" for item in error.errors()
    )


def load_bot_settings(path: Path | str, *, overrides: dict | None = None) -> BotSettings:
    """Read and validate the ``bot`` section of a config file; relative paths follow the file.

    Raises
    ------
    ConfigError
        The file is unreadable or a field is invalid (the message names file and field).
    """
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    section = dict(document.get("bot") or {})
    section.update(overrides or {})
    try:
        settings = BotSettings.model_validate(section)
    except ValidationError as exc:
        raise ConfigError(_describe(path, exc)) from exc
    if not settings.database.is_absolute():
        settings = settings.model_copy(update={"database": path.parent / settings.database})
    return settings
