"""The Allow / Decline buttons under a /group question; their request's key sits in ``custom_id``.

Only the member a question mentions can answer it: the consent keeper checks the clicker against
the request's seats, so a forged ``custom_id`` or another member's click changes nothing. The
buttons reach the keeper through the client that received the click, typed as ``GroupButtonServices``.
A member with several saved identities gets one Allow button per identity, its id in ``custom_id``
too; the keeper looks it up among the clicker's own identities.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any, Literal, Protocol, cast, runtime_checkable

import discord
from discord import ui

from ..respond import reply_error

__all__ = ["MAX_CHOICES", "ConsentAction", "GroupAnswers", "GroupButtonServices", "GroupConsentButton", "question_view"]

log = logging.getLogger(__name__)

ConsentAction = Literal["allow", "decline"]

# An Allow button names the identity it brings when the member has several to pick from.
CUSTOM_ID = re.compile(
    r"fact:group:(?P<action>allow|decline):(?P<key>[0-9a-f]{8,32})(?::(?P<identity>[0-9a-f]{8,32}))?"
)
#: Allow buttons a question offers at most (Discord allows 25 components, one of them Decline).
MAX_CHOICES = 24

_LOOKS: dict[ConsentAction, tuple[str, str, discord.ButtonStyle]] = {
    "allow": ("Allow", "✅", discord.ButtonStyle.success),
    "decline": ("Decline", "✖️", discord.ButtonStyle.secondary),
}


class GroupAnswers(Protocol):
    """What an Allow / Decline button asks of the consent keeper."""

    async def answer(
        self, interaction: discord.Interaction[Any], key: str, *, is_allowed: bool, identity_id: str | None = None
    ) -> None: ...


@runtime_checkable
class GroupButtonServices(Protocol):
    """The client a question's button is clicked on: it offers the consent keeper."""

    @property
    def group_consent(self) -> GroupAnswers: ...


class GroupConsentButton(ui.DynamicItem[ui.Button[ui.View]], template=CUSTOM_ID):
    """One member's answer to one /group request."""

    def __init__(
        self, action: ConsentAction, key: str, *, identity_id: str | None = None, identity_name: str | None = None
    ) -> None:
        label, emoji, style = _LOOKS[action]
        if identity_name is not None:
            label = f"{label}: {identity_name}"[:80]
        custom_id = f"fact:group:{action}:{key}" + ("" if identity_id is None else f":{identity_id}")
        super().__init__(ui.Button(label=label, emoji=emoji, style=style, custom_id=custom_id))
        self.action: ConsentAction = action
        self.key = key
        self.identity_id = identity_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: ui.Item[Any], match: re.Match[str], /
    ) -> GroupConsentButton:
        return cls(cast(ConsentAction, match["action"]), match["key"], identity_id=match["identity"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            client = interaction.client
            if not isinstance(client, GroupButtonServices):
                raise TypeError(f"{type(client).__name__} offers no consent keeper to the group buttons")
            await client.group_consent.answer(
                interaction, self.key, is_allowed=self.action == "allow", identity_id=self.identity_id
            )
        except Exception as exc:  # noqa: BLE001 - every failure becomes the member's one sentence
            await reply_error(interaction, exc)


def question_view(key: str, choices: Sequence[tuple[str, str]] = ()) -> ui.View:
    """Allow / Decline, or given two or more ``choices`` (identity id, name; newest first), one Allow per identity."""
    view = ui.View(timeout=None)
    if len(choices) < 2:
        view.add_item(GroupConsentButton("allow", key))
    for identity_id, name in choices[:MAX_CHOICES] if len(choices) >= 2 else ():
        view.add_item(GroupConsentButton("allow", key, identity_id=identity_id, identity_name=name))
    view.add_item(GroupConsentButton("decline", key))
    return view
