"""A /group request checked before anything is acknowledged: its seats (face, member, identity) and its options."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import discord

from ..errors import GroupRefused
from ..store import GroupMember, GroupSeat, JobOptions, PendingGroup

if TYPE_CHECKING:
    from fact_runtime import InpaintRecipe, RequestLimits, SpeedTier

    from ..identities import IdentityService
    from ..store import IdentityRecord

__all__ = ["GroupPlan", "Seat", "plan_seats", "shown_name"]

log = logging.getLogger(__name__)

#: What a waiting request keeps of an uploaded template: enough to fetch it later, never its bytes.
_TEMPLATE_FIELDS = ("id", "filename", "size", "url", "proxy_url", "content_type", "width", "height")


@dataclass(frozen=True, slots=True)
class Seat:
    """One template face and the member (and their saved identity) who goes into it."""

    face_index: int
    user_id: int
    #: How the bot names the member to others (their display name in the server).
    name: str
    identity: IdentityRecord


@dataclass(frozen=True, slots=True)
class GroupPlan:
    """Everything a /group request asked for; nothing of it is downloaded or stored until everyone allowed."""

    asker_id: int
    asker_name: str
    guild_id: int
    seats: tuple[Seat, ...]
    template: discord.Attachment | None
    template_id: str | None
    count: int
    seed: int
    recipe: InpaintRecipe | None
    is_private: bool
    #: The tier every face's pass runs at (the asker's choice, else the server's default).
    speed: SpeedTier | None = None

    def waiting_request(
        self,
        interaction: discord.Interaction,
        *,
        key: str,
        status_message_id: int,
        asked: Collection[int],
        brought: Mapping[int, IdentityRecord],
        expires_at: float,
    ) -> PendingGroup:
        """The request as the store keeps it until everyone ``asked`` allowed: links and ids, no photo.

        ``brought`` are identities members bring instead of their seat's (a standing share that names one).
        """
        template = None
        if self.template is not None:
            described: dict[str, Any] = dict(self.template.to_dict())
            template = {name: described[name] for name in _TEMPLATE_FIELDS if name in described}
        return PendingGroup(
            key=key,
            asker_id=self.asker_id,
            asker_name=self.asker_name,
            guild_id=self.guild_id,
            channel_id=interaction.channel_id,
            application_id=interaction.application_id,
            interaction_token=interaction.token,
            token_expires_at=interaction.expires_at.timestamp(),
            status_message_id=status_message_id,
            is_private=self.is_private,
            options=self.options(brought),
            members=tuple(GroupMember(seat.user_id, seat.name, seat.user_id in asked) for seat in self.seats),
            template=template,
            expires_at=expires_at,
        )

    def options(self, brought: Mapping[int, IdentityRecord] | None = None) -> JobOptions:
        """The stored job's options: the seats name identities, whose photos the job never copies."""
        identities = {seat.user_id: seat.identity for seat in self.seats} | dict(brought or {})
        seats = tuple(
            GroupSeat(
                seat.face_index, seat.user_id, identities[seat.user_id].identity_id, identities[seat.user_id].name
            )
            for seat in self.seats
        )
        return JobOptions(
            count=self.count,
            seed=self.seed,
            template_id=self.template_id,
            has_template=self.template is not None,
            recipe=self.recipe,
            seats=seats,
            speed=self.speed,
        )


def plan_seats(
    picked: Mapping[int, discord.User | discord.Member | None],
    *,
    asker: discord.abc.User,
    own_identity: str | None,
    identities: IdentityService,
    limits: RequestLimits,
) -> tuple[Seat, ...]:
    """The seats of a /group request, by face position; each member brings their newest identity.

    The asker may pick one of their own identities with ``own_identity`` instead.

    Raises
    ------
    InvalidRequest
        Fewer than two faces, or more than ``generation.max_group_faces``.
    GroupRefused
        A member who is not in the server, a bot, a member named twice, a member without a saved
        identity, or ``own_identity`` while the asker takes no face; the sentence names who.
    IdentityNotFound
        The asker has no identity ``own_identity``.
    """
    chosen = {index: member for index, member in sorted(picked.items()) if member is not None}
    limits.check_group_faces(list(chosen))
    seats: list[Seat] = []
    for index, member in chosen.items():
        name = shown_name(member)
        if not isinstance(member, discord.Member):
            raise GroupRefused(f"{member.id} is not in the server", user_message=f"**{name}** is not in this server.")
        if member.bot:
            raise GroupRefused(f"{member.id} is a bot", user_message=f"**{name}** is a bot; name people for the faces.")
        if any(seat.user_id == member.id for seat in seats):
            raise GroupRefused(
                f"{member.id} named twice", user_message=f"**{name}** is named for two faces; name each member once."
            )
        if member.id == asker.id and own_identity is not None:
            record = identities.lookup(asker.id, own_identity).record
        else:
            record = _newest(identities, member.id, name)
        seats.append(Seat(index, member.id, name, record))
    if own_identity is not None and not any(seat.user_id == asker.id for seat in seats):
        raise GroupRefused(
            "identity given without a seat",
            user_message="You picked one of your identities but named yourself for no face; add yourself or leave it out.",
        )
    return tuple(seats)


def shown_name(user: discord.abc.User) -> str:
    """A member's display name as the bot writes it to others: no markdown of theirs, no mention."""
    return discord.utils.escape_mentions(discord.utils.escape_markdown(user.display_name))


def _newest(identities: IdentityService, user_id: int, name: str) -> IdentityRecord:
    records = identities.names(user_id)
    if not records:
        raise GroupRefused(
            f"{user_id} has no identity",
            user_message=f"**{name}** has no saved identity; they can save one with /identity save first.",
        )
    return max(records, key=lambda record: record.created_at)
