"""A waiting /group request's messages, from its stored ids: the asker's status and the members' questions.

Nothing here needs the interaction that asked: after a restart the request is all there is. The
asker's status message is edited through the interaction's webhook (``Webhook.from_state``, as
the courier does for jobs) while its token is valid; after that the asker is told in the channel
(the status edited with the bot's own token) or by DM for a private request. Every method logs and swallows Discord's errors: the request's
state lives in the store, and a message that cannot be edited must not stop it from ending.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import discord

from ..store import PendingGroup
from . import texts

__all__ = ["RequestMessages"]

log = logging.getLogger(__name__)


class RequestMessages:
    """Edits and posts a request's messages.

    Parameters
    ----------
    client:
        The logged-in client whose HTTP session the messages go through.
    clock:
        Wall-clock seconds, to tell when the asker's interaction token is spent.
    token_margin_s:
        Stop using a token this long before Discord's 15 minutes run out.
    """

    def __init__(self, client: discord.Client, *, clock: Callable[[], float], token_margin_s: float) -> None:
        self._client = client
        self._clock = clock
        self._token_margin_s = token_margin_s

    def template(self, request: PendingGroup) -> discord.Attachment | None:
        """The uploaded template again, from what Discord said of it when the request was made."""
        if request.template is None:
            return None
        return discord.Attachment(data=request.template, state=self._client._connection)  # type: ignore[arg-type]

    async def status(self, request: PendingGroup, content: str) -> bool:
        """Edit the asker's status message while the token lasts; False when it could not be edited."""
        webhook = self._webhook(request)
        if webhook is None:
            return False
        try:
            await webhook.edit_message(request.status_message_id, content=content)
        except discord.HTTPException as exc:
            log.info("could not edit the status of group request %s: %s", request.key, exc)
            return False
        return True

    async def tell_asker(self, request: PendingGroup, sentence: str) -> None:
        """Say how the request went: in the status message, else in the channel, else by DM."""
        if await self.status(request, sentence):
            return
        try:
            if not request.is_private and request.channel_id is not None:
                only_asker = discord.AllowedMentions(
                    everyone=False, roles=False, users=[discord.Object(request.asker_id)]
                )
                channel = self._client.get_partial_messageable(request.channel_id)
                # A public status message the bot can still edit without the token; the post tells the asker.
                with suppress(discord.HTTPException):
                    await channel.get_partial_message(request.status_message_id).edit(content=sentence)
                await channel.send(f"<@{request.asker_id}> {sentence}", allowed_mentions=only_asker)
                return
        except discord.HTTPException as exc:
            log.info("could not tell user %s in the channel: %s; sending a DM", request.asker_id, exc)
        try:
            user = self._client.get_user(request.asker_id) or await self._client.fetch_user(request.asker_id)
            await user.send(sentence)
        except discord.HTTPException as exc:
            log.warning("could not tell user %s how their group photo ended: %s", request.asker_id, exc)

    async def close_questions(self, request: PendingGroup, content: str = texts.ENDED) -> None:
        """Replace the buttons of every question still waiting for an answer with ``content``."""
        if request.channel_id is None:
            return
        channel = self._client.get_partial_messageable(request.channel_id)
        for member in request.waiting:
            if member.question_id is None:
                continue
            try:
                await channel.get_partial_message(member.question_id).edit(content=content, view=None)
            except discord.HTTPException as exc:
                log.info("could not close the group question %s: %s", member.question_id, exc)

    def _webhook(self, request: PendingGroup) -> discord.Webhook | None:
        if request.application_id is None or self._clock() >= request.token_expires_at - self._token_margin_s:
            return None
        payload: dict[str, Any] = {"id": request.application_id, "type": 3, "token": request.interaction_token}
        return discord.Webhook.from_state(data=payload, state=self._client._connection)  # type: ignore[arg-type]
