"""Small helpers for answering an interaction: defer, and tell one ephemeral sentence."""

from __future__ import annotations

import logging
from contextlib import suppress

import discord

from .errors import explain

__all__ = ["defer", "reply_error", "tell"]

log = logging.getLogger(__name__)


#: A status message's first words when it is a followup (its interaction was answered otherwise).
STARTING = "⏳ Starting…"


async def defer(interaction: discord.Interaction, *, is_private: bool) -> int:
    """Acknowledge with a "thinking" message and return its id (a job's status message).

    An interaction answered already (a menu that updated its own message) gets a followup as its status.
    """
    if interaction.response.is_done():
        status = await interaction.followup.send(STARTING, ephemeral=is_private, wait=True)
        if not is_private:
            interaction.extras["public_status_id"] = status.id
        return status.id
    response = await interaction.response.defer(thinking=True, ephemeral=is_private)
    # discord.py does not remember whether the defer was public; ``tell`` needs to know.
    interaction.extras["is_public_defer"] = not is_private
    message_id = response.message_id if response is not None else None
    if message_id is None:
        message_id = (await interaction.original_response()).id
    return message_id


async def tell(interaction: discord.Interaction, sentence: str) -> None:
    """Say ``sentence`` to the user only, whatever state the interaction is in."""
    if not interaction.response.is_done():
        await interaction.response.send_message(sentence, ephemeral=True)
        return
    if interaction.extras.pop("is_public_defer", False):
        # A public "thinking" message would show the sentence to everyone: replace it.
        with suppress(discord.HTTPException):
            await interaction.delete_original_response()
    status_id = interaction.extras.pop("public_status_id", None)
    if status_id is not None:  # likewise a public status sent as a followup
        with suppress(discord.HTTPException):
            await interaction.followup.delete_message(status_id)
    await interaction.followup.send(sentence, ephemeral=True)


async def reply_error(interaction: discord.Interaction, error: BaseException) -> None:
    """Tell the user the sentence for ``error``; never raises (it runs inside error handlers)."""
    sentence = explain(error)
    try:
        await tell(interaction, sentence)
    except discord.HTTPException as exc:
        log.warning("could not tell user %s about %r: %s", interaction.user.id, error, exc)
