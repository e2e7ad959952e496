"""Which speed tier a job runs at: the runtime's ``speed.allowed``, narrowed by a server's /settings."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from discord import app_commands

from ..errors import SpeedNotAllowed
from ..texts import SPEED_LABELS

if TYPE_CHECKING:
    from fact_runtime import RequestLimits, SpeedTier

    from ..store import GuildSettings

__all__ = ["choose_speed", "offered_speeds", "speed_choices"]

log = logging.getLogger(__name__)


def offered_speeds(guild: GuildSettings | None, limits: RequestLimits) -> tuple[SpeedTier, ...]:
    """The tiers a member may choose in ``guild`` (None: a direct message, where the runtime's all are)."""
    return limits.speeds if guild is None else guild.speeds(limits)


def choose_speed(requested: str | None, guild: GuildSettings | None, limits: RequestLimits) -> SpeedTier:
    """The tier a job runs at: ``requested`` (a tier's name, in any case) if offered, else the server's default.

    Raises
    ------
    SpeedNotAllowed
        ``requested`` is not a tier this server offers; the sentence lists those it does.
    """
    if requested is None:
        return limits.default_speed if guild is None else guild.speed_default(limits)
    offered = offered_speeds(guild, limits)
    wanted = requested.strip().lower()
    for tier in offered:
        if tier == wanted:
            return tier
    raise SpeedNotAllowed.offering(requested, offered)


def speed_choices(current: str, guild: GuildSettings | None, limits: RequestLimits) -> list[app_commands.Choice[str]]:
    """The autocomplete of a ``speed`` option: the tiers offered here, the server's default marked."""
    default = choose_speed(None, guild, limits)
    needle = current.strip().lower()
    choices = []
    for tier in offered_speeds(guild, limits):
        label = SPEED_LABELS.get(tier, tier) + (" (this server's default)" if tier == default else "")
        if needle in label.lower():
            choices.append(app_commands.Choice(name=label[:100], value=tier))
    return choices
