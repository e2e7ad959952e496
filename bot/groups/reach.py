"""A waiting /group request's messages, from its stored ids: the asker's status and the members' questions.

Nothing here needs the interaction that asked: after a restart the request is all there is. The
asker's status message is edited through the interaction's webhook (``Webhook.from_state``, as
the courier does for jobs) while its token is valid, and a public one with the bot's own token
after that. How a request ended is told to the asker alone (see ``tell_asker``). Every method logs
and swallows Discord's errors: the request's state lives in the store, and a message that cannot
be edited must not stop it from ending.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
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
        """Say how the request went, to the asker alone.

        A private request's status says it. A public one's status, which the whole channel reads, says
        only that the request ended: the reason may name a member (who declined, who did not answer,
        who asked to be forgotten), so it goes to the asker alone, ephemeral while the token lasts,
        else by DM, and only when neither reaches them in a channel message that mentions just them.
        """
        if request.is_private:
            if not await self.status(request, sentence):
                await self._direct(request, sentence)
            return
        await self._public_status(request, texts.ENDED)
        if await self._ephemeral(request, sentence) or await self._direct(request, sentence):
            return
        await self._in_channel(request, sentence)

    async def _public_status(self, request: PendingGroup, content: str) -> None:
        if await self.status(request, content) or request.channel_id is None:
            return
        try:  # a public status the bot can edit without the token
            channel = self._client.get_partial_messageable(request.channel_id)
            await channel.get_partial_message(request.status_message_id).edit(content=content)
        except discord.HTTPException as exc:
            log.info("could not edit the status of group request %s: %s", request.key, exc)

    async def _ephemeral(self, request: PendingGroup, sentence: str) -> bool:
        webhook = self._webhook(request)
        if webhook is None:
            return False
        try:
            await webhook.send(sentence, ephemeral=True, allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException as exc:
            log.info("could not tell user %s how group request %s ended: %s", request.asker_id, request.key, exc)
            return False
        return True

    async def _direct(self, request: PendingGroup, sentence: str) -> bool:
        try:
            user = self._client.get_user(request.asker_id) or await self._client.fetch_user(request.asker_id)
            await user.send(sentence)
        except discord.HTTPException as exc:
            log.info("could not DM user %s how group request %s ended: %s", request.asker_id, request.key, exc)
            return False
        return True

    async def _in_channel(self, request: PendingGroup, sentence: str) -> None:
        if request.channel_id is None:
            log.warning("nothing reached user %s to say how group request %s ended", request.asker_id, request.key)
            return
        only_asker = discord.AllowedMentions(everyone=False, roles=False, users=[discord.Object(request.asker_id)])
        try:
            channel = self._client.get_partial_messageable(request.channel_id)
            await channel.send(f"<@{request.asker_id}> {sentence}", allowed_mentions=only_asker)
        except discord.HTTPException as exc:
            log.warning("could not tell user %s how group request %s ended: %s", request.asker_id, request.key, exc)

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
