"""Consent for /group: every other member named allows their own face, or has a standing share; then one job.

A request waits in memory only: nothing is downloaded or stored until the last member allowed.
Each member asked gets a message in the channel that mentions only them, with Allow / Decline
buttons; their answer counts only from them. A decline, the question timing out, a member's
/forget or a missing identity ends the request with one sentence naming who. When everyone
allowed, the job is recorded like any other (counted to the member who asked) and queued.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import discord

from ..attachments import download
from ..errors import GroupEnded, NotAskedMember
from ..respond import defer, reply_error, tell
from . import texts
from .views import question_view

if TYPE_CHECKING:
    from fact_runtime import JobRuntime

    from ..jobs import JobService
    from ..store import JobStore, StoredIdentity
    from .plan import GroupPlan, Seat

__all__ = ["CONSENT_TTL_S", "GroupConsent"]

log = logging.getLogger(__name__)

#: How long the members asked have to answer (well inside the asker's 15-minute interaction token).
CONSENT_TTL_S = 300.0


@dataclass(eq=False)
class _Request:
    """One /group request waiting for answers; ``waiting`` shrinks as members allow."""

    key: str
    interaction: discord.Interaction
    plan: GroupPlan
    status_message_id: int
    expires_at: float
    waiting: dict[int, Seat] = field(default_factory=dict)
    questions: dict[int, discord.Message] = field(default_factory=dict)


class GroupConsent:
    """Asks, collects answers, and queues each /group request once everyone allowed.

    Parameters
    ----------
    store:
        Standing shares (``store.shares``) and the seats' identities.
    jobs:
        Records and queues the job.
    runtime:
        Its ``limits`` bound the template's download.
    clock:
        Wall-clock seconds, for the questions' expiry.
    ttl_s:
        How long a question stays open.
    """

    def __init__(
        self,
        *,
        store: JobStore,
        jobs: JobService,
        runtime: JobRuntime,
        clock: Callable[[], float],
        ttl_s: float = CONSENT_TTL_S,
    ) -> None:
        self._store = store
        self._jobs = jobs
        self._runtime = runtime
        self._clock = clock
        self._ttl_s = ttl_s
        self._requests: dict[str, _Request] = {}

    @property
    def pending(self) -> int:
        """Requests still waiting for an answer."""
        return len(self._requests)

    async def request(self, interaction: discord.Interaction, plan: GroupPlan) -> None:
        """Acknowledge a checked /group request, then queue it, or ask the members who have not shared."""
        status_message_id = await defer(interaction, is_private=plan.is_private)
        request = _Request(secrets.token_hex(8), interaction, plan, status_message_id, self._clock() + self._ttl_s)
        shares = self._store.groups
        request.waiting = {
            seat.user_id: seat
            for seat in plan.seats
            if seat.user_id != plan.asker_id and not shares.is_shared(seat.user_id, plan.guild_id)
        }
        if not request.waiting:
            await self._queue(request)
            return
        self._requests[request.key] = request
        channel = interaction.channel
        assert isinstance(channel, discord.abc.Messageable)  # /group runs in a server's text channel
        for seat in list(request.waiting.values()):
            text = texts.ask_text(
                f"<@{seat.user_id}>", plan.asker_name, seat.identity.name, seat.face_index, closes_at=request.expires_at
            )
            # The question pings the member it asks and nobody else, whatever the text holds.
            only_them = discord.AllowedMentions(everyone=False, roles=False, users=[discord.Object(seat.user_id)])
            try:
                message = await channel.send(text, view=question_view(request.key), allowed_mentions=only_them)
            except discord.HTTPException as exc:
                log.warning("could not post the group question for user %s: %s", seat.user_id, exc)
                await self._end(request, texts.not_asked_text(seat.name))
                return
            request.questions[seat.user_id] = message
        waiting = [seat.name for seat in request.waiting.values()]
        await interaction.edit_original_response(content=texts.waiting_text(waiting, closes_at=request.expires_at))
        log.info("group request %s of user %s asks %d members", request.key, plan.asker_id, len(request.waiting))

    async def answer(self, interaction: discord.Interaction[Any], key: str, *, is_allowed: bool) -> None:
        """An Allow or Decline click; only a member the request asked can answer it.

        Raises
        ------
        GroupEnded
            The request is unknown (answered, ended, or from before a restart) or has expired.
        NotAskedMember
            Someone the request did not ask clicked.
        """
        request = self._requests.get(key)
        if request is None:
            raise GroupEnded(f"group request {key} is unknown")
        if request.expires_at <= self._clock():
            await self.expire()
            raise GroupEnded(f"group request {key} expired")
        seat = request.waiting.get(interaction.user.id)
        if seat is None:
            raise NotAskedMember(f"user {interaction.user.id} answered group request {key}")
        if not is_allowed:
            del request.waiting[seat.user_id]
            await interaction.response.edit_message(content=texts.declined_text(seat.name), view=None)
            await self._end(request, texts.declined_text(seat.name))
            return
        del request.waiting[seat.user_id]
        await interaction.response.edit_message(
            content=texts.allowed_text(seat.name, request.plan.asker_name), view=None
        )
        if request.waiting:
            waiting = [other.name for other in request.waiting.values()]
            await _edit_status(request, texts.waiting_text(waiting, closes_at=request.expires_at))
            return
        del self._requests[key]
        await self._queue(request)

    async def expire(self) -> int:
        """End every request whose question has closed, naming who did not answer; how many ended."""
        now = self._clock()
        expired = [request for request in self._requests.values() if request.expires_at <= now]
        for request in expired:
            await self._end(request, texts.timed_out_text([seat.name for seat in request.waiting.values()]))
        return len(expired)

    async def forget(self, user_id: int) -> int:
        """End every request the member asked for or takes a face in (they ran /forget); how many ended."""
        ended = [
            request
            for request in self._requests.values()
            if request.plan.asker_id == user_id or any(seat.user_id == user_id for seat in request.plan.seats)
        ]
        for request in ended:
            name = next((s.name for s in request.plan.seats if s.user_id == user_id), request.plan.asker_name)
            await self._end(request, texts.forgotten_text(name))
        return len(ended)

    async def identity_deleted(self, user_id: int) -> int:
        """End every request that seats an identity the member has just deleted; how many ended."""
        ended = 0
        for request in list(self._requests.values()):
            for seat in request.plan.seats:
                if seat.user_id == user_id and self._store.identities.find(user_id, seat.identity.identity_id) is None:
                    await self._end(request, texts.deleted_identity_text(seat.name))
                    ended += 1
                    break
        return ended

    async def _end(self, request: _Request, sentence: str) -> None:
        """Close the request's open questions and tell the asker why it ended; nothing was stored."""
        self._requests.pop(request.key, None)
        for user_id, message in request.questions.items():
            if user_id in request.waiting:
                with suppress(discord.HTTPException):
                    await message.edit(content=texts.ENDED, view=None)
        log.info("group request %s of user %s ended: %s", request.key, request.plan.asker_id, sentence)
        try:
            await tell(request.interaction, sentence)
        except discord.HTTPException as exc:
            log.warning("could not tell user %s their group photo ended: %s", request.plan.asker_id, exc)

    async def _queue(self, request: _Request) -> None:
        """Everyone allowed: load the seats' identities, record the job, fetch the template, queue it."""
        plan, interaction = request.plan, request.interaction
        members: list[StoredIdentity] = []
        for seat in plan.seats:
            identity = self._store.identities.load(seat.user_id, seat.identity.identity_id)
            if identity is None:
                await self._end(request, texts.deleted_identity_text(seat.name))
                return
            members.append(identity)
        try:
            record = self._jobs.accept(
                interaction,
                kind="group",
                options=plan.options(),
                is_private=plan.is_private,
                status_message_id=request.status_message_id,
            )
            inputs: dict[str, bytes] = {}
            if plan.template is not None:
                try:
                    inputs["template"] = await download(plan.template, self._runtime.limits)
                except Exception as exc:
                    self._jobs.abandon(record, exc)
                    raise
            await self._jobs.start(record, inputs, members=members)
        except Exception as exc:  # noqa: BLE001 - the asker gets the one sentence, whoever clicked last
            await reply_error(interaction, exc)


async def _edit_status(request: _Request, content: str) -> None:
    with suppress(discord.HTTPException):
        await request.interaction.edit_original_response(content=content)
