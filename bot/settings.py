"""Typed bot settings, read from the ``bot:`` section of config.yaml.

Limits on what a request may ask for (images per job, unfinished jobs per member, image bytes and
pixels) are the runtime's (``runtime.limits``), configured once under ``runtime:``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from fact_runtime import ConfigError, RequestLimits, load_config_section

__all__ = ["BotSettings", "load_bot_settings"]


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
    #: Images per job when /portrait or /inpaint gives no count; at most ``runtime.generation.max_count``.
    default_count: int = Field(default=1, ge=1, le=10)
    #: Checked against the attachment's declared type before download.
    content_types: tuple[str, ...] = ("image/jpeg", "image/png", "image/webp")
    #: Saved identities per member (/identity save); autocomplete shows at most 25.
    max_identities: int = Field(default=5, ge=1, le=25)
    #: A saved identity unused this long is deleted with its photos; every use starts the count again.
    identity_retention_days: float = Field(default=90.0, gt=0)
    #: Delete a member's saved identities once they leave the last server the bot shares with them.
    #: Needs the Server Members privileged intent (enabled in the Discord developer portal).
    is_identity_purged_on_leave: bool = False
    #: Stop using the 15-minute interaction token this many seconds before it expires.
    token_margin_s: float = Field(default=120.0, ge=0, lt=900)
    is_health_enabled: bool = True
    health_host: str = "127.0.0.1"
    health_port: int = Field(default=8080, ge=0, le=65535)

    @property
    def retention_s(self) -> float:
        return self.retention_hours * 3600.0

    @property
    def identity_retention_s(self) -> float:
        return self.identity_retention_days * 86400.0


def load_bot_settings(
    path: Path | str, *, overrides: dict[str, Any] | None = None, limits: RequestLimits | None = None
) -> BotSettings:
    """Read and validate the ``bot`` section of a config file; relative paths follow the file.

    Parameters
    ----------
    limits:
        The runtime's limits, when it will run: ``default_count`` must be a count it accepts.

    Raises
    ------
    ConfigError
        The file is unreadable or a field is invalid (the message names file and field).
    """
    path = Path(path)
    settings = load_config_section(path, "bot", BotSettings, overrides=overrides)
    if limits is not None and settings.default_count > limits.max_count:
        raise ConfigError(
            f"{path}: bot.default_count: {settings.default_count} is above runtime.generation.max_count "
            f"({limits.max_count})"
        )
    if not settings.database.is_absolute():
        settings = settings.model_copy(update={"database": path.parent / settings.database})
    return settings
