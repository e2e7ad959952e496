"""Typed bot settings: the ``bot:`` section of config.yaml (each key overridable from the environment), and the token.

Limits on what a request may ask for (images per job, unfinished jobs per member, image bytes and
pixels) are the runtime's (``runtime.limits``), configured once under ``runtime:``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fact_runtime import ConfigError, RequestLimits, load_config_section

from .responsible.notice import DEFAULT_NOTICE, load_notice
from .responsible.rules import BadPromptRule, check_pattern, check_word

__all__ = ["DISCORD_API", "TOKEN_ENV", "BotSettings", "load_bot_settings", "load_token"]

#: Discord's REST API, the version discord.py speaks.
DISCORD_API = "https://discord.com/api/v10"
#: The environment variable holding the bot token; it is never read from config.yaml.
TOKEN_ENV = "DISCORD_TOKEN"


class BotSettings(BaseModel):
    """Everything the Discord front end needs besides the token and the runtime."""

    # The string under a field is its description: the README's configuration reference shows it.
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    database: Path = Path("data/jobs.sqlite3")
    """SQLite file holding the job store (one file, WAL)."""
    retention_hours: float = Field(default=24.0, ge=0)
    """How long a finished job keeps its selfie and template so rerolls work; then they are purged."""
    purge_interval_s: float = Field(default=600.0, gt=0)
    """How often inputs past their retention are purged."""
    status_interval_s: float = Field(default=3.0, ge=0.5)
    """At most one status-message edit per job this often (Discord etiquette: 3-5 s)."""
    preview_interval_s: float = Field(default=5.0, ge=0)
    """At most one preview of the image forming on a job's status message this often (and never more
    often than ``status_interval_s``); 0 turns them off (``generation.preview_interval_s`` sets how
    often the runtime makes them)."""
    default_count: int = Field(default=1, ge=1, le=10)
    """Images when a command gives no count; at most ``runtime.generation.max_count``."""
    content_types: tuple[str, ...] = ("image/jpeg", "image/png", "image/webp")
    """Upload types accepted, checked against what Discord declares before downloading."""
    max_identities: int = Field(default=5, ge=1, le=25)
    """Saved identities per member (/identity save); autocomplete shows at most 25."""
    identity_retention_days: float = Field(default=90.0, gt=0)
    """A saved identity unused this long is deleted with its photos; every use starts the count again."""
    is_identity_purged_on_leave: bool = False
    """Delete a member's saved identities once they leave the last server the bot shares with them
    (needs the Server Members privileged intent, enabled in the Developer Portal)."""
    token_margin_s: float = Field(default=120.0, ge=0, lt=900)
    """Stop using a 15-minute interaction token this many seconds before it expires."""
    admin_channel_id: int | None = None
    """A channel where the bot reports failed jobs and engine faults to the admins; none: the log only."""
    is_health_enabled: bool = True
    """Serve ``/healthz``, ``/readyz`` and ``/metrics``."""
    health_host: str = "127.0.0.1"
    """Address of the health endpoint; ``0.0.0.0`` in a container so checks and scrapers reach it."""
    health_port: int = Field(default=8080, ge=0, le=65535)
    """Port of the health endpoint (the image's HEALTHCHECK reads it from here)."""
    api_base_url: str = DISCORD_API
    """Discord's REST API; point it at a REST proxy (e.g. nirn-proxy) when several processes share a token."""
    gateway_url: str | None = None
    """The gateway to connect to; none: Discord's own (set it for a gateway proxy)."""
    is_notice_enabled: bool = True
    """Before a member's first job or saved identity, show the responsible-use notice; they press Accept once."""
    notice_file: Path | None = None
    """The notice's text (Markdown, at most 1800 characters); none: the shipped ``bot/responsible/notice.md``."""
    is_prompt_rules_enabled: bool = True
    """Refuse prompts and subjects that contain a blocked word or pattern (these lists plus each server's own)."""
    blocked_words: tuple[str, ...] = ()
    """Words refused in every server (whole words; case and accents ignored)."""
    blocked_patterns: tuple[str, ...] = ()
    """Regular expressions refused in every server (case and accents ignored; checked at start)."""
    is_nsfw_channel_required: bool = False
    """Without a safety checker: make pictures only in age-restricted channels (``/settings age-restricted`` per server)."""
    is_audit_enabled: bool = True
    """Keep an audit line per job (who, when, kind, style, identity, outcome; never images) for ``/audit``."""
    audit_retention_days: float = Field(default=90.0, gt=0)
    """Audit lines older than this are deleted."""

    @field_validator("blocked_words")
    @classmethod
    def _check_words(cls, words: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_checked(check_word, word) for word in words)

    @field_validator("blocked_patterns")
    @classmethod
    def _check_patterns(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_checked(check_pattern, pattern) for pattern in patterns)

    @property
    def notice_path(self) -> Path:
        return DEFAULT_NOTICE if self.notice_file is None else self.notice_file

    @property
    def audit_retention_s(self) -> float:
        return self.audit_retention_days * 86400.0

    max_task_failures: int = Field(default=10, ge=1)
    """Background task failures (each logged and restarted) within ``task_failure_window_s`` after which the
    bot exits non-zero, for its supervisor to restart it."""
    task_failure_window_s: float = Field(default=300.0, gt=0)
    """The window in which ``max_task_failures`` are counted."""

    @property
    def retention_s(self) -> float:
        return self.retention_hours * 3600.0

    @property
    def identity_retention_s(self) -> float:
        return self.identity_retention_days * 86400.0


def _checked(check: Callable[[str], str], rule: str) -> str:
    try:
        return check(rule)
    except BadPromptRule as exc:
        raise ValueError(f"{rule!r}: {exc.user_message}") from exc


class _Secrets(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    token: SecretStr | None = Field(default=None, validation_alias=TOKEN_ENV)


def load_token() -> SecretStr:
    """The bot token from ``DISCORD_TOKEN``, kept as a secret (never shown in reprs or logs).

    Raises
    ------
    ConfigError
        The variable is not set or blank.
    """
    token = _Secrets().token
    if token is None or not token.get_secret_value().strip():
        raise ConfigError(
            f"{TOKEN_ENV} is not set; export the bot's token (Developer Portal → your app → Bot → Reset Token)"
        )
    return SecretStr(token.get_secret_value().strip())


def load_bot_settings(
    path: Path | str | None, *, overrides: dict[str, Any] | None = None, limits: RequestLimits | None = None
) -> BotSettings:
    """Read and validate the ``bot`` section of a config file with its environment overrides.

    Relative paths follow the file.

    Parameters
    ----------
    limits:
        The runtime's limits, when it will run: ``default_count`` must be a count it accepts.

    Raises
    ------
    ConfigError
        The file is unreadable or a value is invalid (the message names the file and key, or the
        environment variable).
    """
    settings = load_config_section(path, "bot", BotSettings, overrides=overrides)
    where = path if path is not None else "defaults"
    if limits is not None and settings.default_count > limits.max_count:
        raise ConfigError(
            f"{where}: bot.default_count: {settings.default_count} is above runtime.generation.max_count "
            f"({limits.max_count})"
        )
    base = Path(path).parent if path is not None else Path()
    if not settings.database.is_absolute():
        settings = settings.model_copy(update={"database": base / settings.database})
    if settings.notice_file is not None and not settings.notice_file.is_absolute():
        settings = settings.model_copy(update={"notice_file": base / settings.notice_file})
    if settings.is_notice_enabled:
        try:
            load_notice(settings.notice_path)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from exc
    return settings
