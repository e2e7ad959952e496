"""Where a job was asked for: the member, the place and the interaction token that reaches them."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import discord

__all__ = ["Origin"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Origin:
    """What a job record keeps of the interaction that asked for it.

    A job usually starts from its own interaction; a /group request starts later, on the click of the
    last member to allow (possibly after a restart), from the asker's stored origin.
    """

    user_id: int
    guild_id: int | None
    channel_id: int | None
    application_id: int | None
    token: str
    token_expires_at: float

    @classmethod
    def of(cls, interaction: discord.Interaction) -> Origin:
        return cls(
            user_id=interaction.user.id,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            application_id=interaction.application_id,
            token=interaction.token,
            token_expires_at=interaction.expires_at.timestamp(),
        )
