"""Consent for /group: every other member named allows their own face, or has a standing share; then one job.

A request waiting for answers is a row in the job store (``store.groups.requests``), so a restart
loses none: it holds links and ids, never photo bytes, and nothing is downloaded until the last
member allowed. Each member asked gets a message in the channel that mentions only them, with
Allow / Decline buttons (one Allow per identity when they have several saved); their answer counts
only from them. A decline, the question timing out, a member's /forget or a missing identity ends
the request with one sentence naming who, in the asker's status message. When everyone allowed,
the job is recorded like any other (counted to the member who asked) and queued.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import discord

from ..attachments import download
from ..errors import DownloadFailed, GroupEnded, IdentityNotFound, NotAskedMember, explain
from ..jobs import Origin
from ..respond import defer
from ..store import PendingGroup
from . import texts
from .views import question_view

if TYPE_CHECKING:
    from fact_runtime import JobRuntime

    from ..jobs import JobService
    from ..store import IdentityRecord, JobStore, StoredIdentity
    from .plan import GroupPlan
    from .reach import RequestMessages

__all__ = ["CONSENT_TTL_S", "GroupConsent"]

log = logging.getLogger(__name__)

#: How long the members asked have to answer (well inside the asker's 15-minute interaction token).
CONSENT_TTL_S = 300.0


class GroupConsent:
    """Asks, collects answers, and queues each /group request once everyone allowed.

    Parameters
    ----------
    store:
        Standing shares and waiting requests (``store.groups``) and the seats' identities.
    jobs:
        Records and queues the job.
    runtime:
        Its ``limits`` bound the template's download.
    messages:
        Edits the asker's status and the questions from a stored request.
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
        messages: RequestMessages,
        clock: Callable[[], float],
        ttl_s: float = CONSENT_TTL_S,
    ) -> None:
        self._store = store
        self._requests = store.groups.requests
        self._jobs = jobs
        self._runtime = runtime
        self._messages = messages
        self._clock = clock
        self._ttl_s = ttl_s

    @property
    def pending(self) -> int:
        """Requests still waiting for an answer."""
        return len(self._requests)

    async def request(self, interaction: discord.Interaction, plan: GroupPlan) -> None:
        """Acknowledge a checked /group request, then queue it, or ask the members who have not shared."""
        status_message_id = await defer(interaction, is_private=plan.is_private)
        shares = self._store.groups
        asked = {
            seat.user_id
            for seat in plan.seats
            if seat.user_id != plan.asker_id and not shares.is_shared(seat.user_id, plan.guild_id)
        }
        request = plan.waiting_request(
            interaction,
            key=secrets.token_hex(8),
            status_message_id=status_message_id,
            asked=asked,
            brought=self._shared_identities(plan, asked),
            expires_at=self._clock() + self._ttl_s,
        )
        if not asked:
            await self._queue(request)
            return
        self._requests.add(request)
        channel = interaction.channel
        assert isinstance(channel, discord.abc.Messageable)  # /group runs in a server's text channel
        for seat in plan.seats:
            if seat.user_id not in asked:
                continue
            message = await self._ask(channel, request, seat.user_id, seat.face_index, seat.identity.name)
            if message is None:
                taken = self._requests.take(request.key)
                if taken is not None:
                    await self._end(taken, texts.not_asked_text(seat.name))
                return
            self._requests.asked(request.key, seat.user_id, message.id)
        still = self._requests.get(request.key)
        if still is not None:  # the questions may all be answered already
            await self._messages.status(still, _waiting(still))
        log.info("group request %s of user %s asks %d members", request.key, plan.asker_id, len(asked))

    def _shared_identities(self, plan: GroupPlan, asked: Collection[int]) -> dict[int, IdentityRecord]:
        """The identities named by the standing shares of members not asked (a share naming none brings the newest)."""
        brought = {}
        for seat in plan.seats:
            if seat.user_id == plan.asker_id or seat.user_id in asked:
                continue
            named = self._store.groups.shared_identity(seat.user_id, plan.guild_id)
            record = None if named is None else self._store.identities.find(seat.user_id, named)
            if record is not None and record.identity_id == named:
                brought[seat.user_id] = record
        return brought

    async def answer(
        self, interaction: discord.Interaction[Any], key: str, *, is_allowed: bool, identity_id: str | None = None
    ) -> None:
        """An Allow or Decline click; only a member the request asked can answer it.

        ``identity_id`` is the identity an Allow button brings (None: the one the question named).

        Raises
        ------
        GroupEnded
            The request is unknown (answered or ended) or has expired.
        NotAskedMember
            Someone the request did not ask (or who answered already) clicked.
        IdentityNotFound
            The button names an identity the member no longer has.
        """
        request = self._requests.get(key)
        if request is None:
            raise GroupEnded(f"group request {key} is unknown")
        if request.expires_at <= self._clock():
            await self.expire()
            raise GroupEnded(f"group request {key} expired")
        user_id = interaction.user.id
        member, seat = request.member(user_id), request.seat_of(user_id)
        if member is None or seat is None or not member.is_waiting:
            raise NotAskedMember(f"user {user_id} answered group request {key}")
        if not is_allowed:
            taken = self._requests.take(key)
            if taken is None:
                raise GroupEnded(f"group request {key} ended meanwhile")
            await interaction.response.edit_message(content=texts.declined_text(member.name), view=None)
            await self._end(taken, texts.declined_text(member.name), answered=user_id)
            return
        if identity_id is not None and identity_id != seat.identity_id:
            record = self._store.identities.find(user_id, identity_id)
            if record is None or record.identity_id != identity_id:
                raise IdentityNotFound(f"user {user_id} has no identity {identity_id} for group request {key}")
            seat = replace(seat, identity_id=record.identity_id, identity_name=record.name)
        allowed = self._requests.allow(key, seat)
        if allowed is None:
            raise GroupEnded(f"group request {key} ended meanwhile")
        await interaction.response.edit_message(content=texts.allowed_text(member.name, request.asker_name), view=None)
        if allowed.waiting:
            await self._messages.status(allowed, _waiting(allowed))
            return
        await self._queue(allowed)

    async def expire(self) -> int:
        """End every request whose question has closed, naming who did not answer; how many ended."""
        now = self._clock()
        due = [request.key for request in self._requests.all() if request.expires_at <= now]
        return await self._end_all(due, lambda request, _: texts.timed_out_text([m.name for m in request.waiting]))

    async def forget(self, user_id: int) -> int:
        """End every request the member asked for or takes a face in (they ran /forget); how many ended."""
        ended = [request.key for request in self._requests.all() if request.involves(user_id)]
        return await self._end_all(ended, lambda request, name: texts.forgotten_text(name), user_id=user_id)

    async def identity_deleted(self, user_id: int) -> int:
        """End every request that seats an identity the member has just deleted; how many ended."""
        identities = self._store.identities
        ended = [
            request.key
            for request in self._requests.all()
            if any(
                s.user_id == user_id and identities.find(user_id, s.identity_id) is None for s in request.options.seats
            )
        ]
        return await self._end_all(ended, lambda request, name: texts.deleted_identity_text(name), user_id=user_id)

    async def _end_all(
        self, keys: Sequence[str], sentence: Callable[[PendingGroup, str], str], *, user_id: int | None = None
    ) -> int:
        ended = 0
        for key in keys:
            request = self._requests.take(key)
            if request is None:
                continue  # a click or another sweep ended it meanwhile
            member = None if user_id is None else request.member(user_id)
            await self._end(request, sentence(request, request.asker_name if member is None else member.name))
            ended += 1
        return ended

    async def _ask(
        self, channel: discord.abc.Messageable, request: PendingGroup, user_id: int, face_index: int, newest: str
    ) -> discord.Message | None:
        """Post the question to one member: Allow / Decline, or an Allow per identity when they have several."""
        records = sorted(self._store.identities.of(user_id), key=lambda record: record.created_at, reverse=True)
        choices = [(r.identity_id, f"{r.name} (newest)" if i == 0 else r.name) for i, r in enumerate(records)]
        mention, closes_at = f"<@{user_id}>", request.expires_at
        if len(choices) < 2:
            text = texts.ask_text(mention, request.asker_name, newest, face_index, closes_at=closes_at)
        else:
            text = texts.pick_text(mention, request.asker_name, face_index, closes_at=closes_at)
        # The question pings the member it asks and nobody else, whatever the text holds.
        only_them = discord.AllowedMentions(everyone=False, roles=False, users=[discord.Object(user_id)])
        try:
            return await channel.send(text, view=question_view(request.key, choices), allowed_mentions=only_them)
        except discord.HTTPException as exc:
            log.warning("could not post the group question for user %s: %s", user_id, exc)
            return None

    async def _end(self, request: PendingGroup, sentence: str, *, answered: int | None = None) -> None:
        """Close the request's open questions (but ``answered``'s) and tell the asker why it ended; nothing was kept."""
        if answered is not None:
            members = tuple(replace(m, is_waiting=False) if m.user_id == answered else m for m in request.members)
            request = replace(request, members=members)
        await self._messages.close_questions(request)
        log.info("group request %s of user %s ended: %s", request.key, request.asker_id, sentence)
        await self._messages.tell_asker(request, sentence)

    async def _queue(self, request: PendingGroup) -> None:
        """Everyone allowed: load the seats' identities, record the job, fetch the template, queue it."""
        members: list[StoredIdentity] = []
        for seat in request.options.seats:
            identity = self._store.identities.load(seat.user_id, seat.identity_id)
            if identity is None:
                member = request.member(seat.user_id)
                await self._end(request, texts.deleted_identity_text(member.name if member else request.asker_name))
                return
            members.append(identity)
        origin = Origin(
            user_id=request.asker_id,
            guild_id=request.guild_id,
            channel_id=request.channel_id,
            application_id=request.application_id,
            token=request.interaction_token,
            token_expires_at=request.token_expires_at,
        )
        try:
            record = self._jobs.accept(
                origin,
                kind="group",
                options=request.options,
                is_private=request.is_private,
                status_message_id=request.status_message_id,
            )
        except Exception as exc:  # noqa: BLE001 - the asker gets the one sentence, whoever clicked last
            await self._messages.tell_asker(request, explain(exc))
            return
        inputs: dict[str, bytes] = {}
        try:
            template = self._messages.template(request)
            if template is not None:
                inputs["template"] = await download(template, self._runtime.limits)
        except Exception as exc:  # noqa: BLE001 - as above
            self._jobs.abandon(record, exc)
            # The upload's link expires (Discord signs CDN links for about a day): the asker uploads it again.
            stale = isinstance(exc, DownloadFailed)
            await self._messages.tell_asker(request, texts.template_gone_text() if stale else explain(exc))
            return
        try:
            await self._jobs.start(record, inputs, members=members)
        except Exception as exc:  # noqa: BLE001 - as above
            await self._messages.tell_asker(request, explain(exc))


def _waiting(request: PendingGroup) -> str:
    return texts.waiting_text([member.name for member in request.waiting], closes_at=request.expires_at)
