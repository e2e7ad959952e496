"""The Allow / Decline buttons under a /group question; their request's key sits in ``custom_id``.

Only the member a question mentions can answer it: the consent keeper checks the clicker against
the request's seats, so a forged ``custom_id`` or another member's click changes nothing. The
buttons reach the keeper through the client that received the click, typed as ``GroupButtonServices``.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Literal, Protocol, cast, runtime_checkable

import discord
from discord import ui

from ..respond import reply_error

__all__ = ["ConsentAction", "GroupAnswers", "GroupButtonServices", "GroupConsentButton", "question_view"]

log = logging.getLogger(__name__)

ConsentAction = Literal["allow", "decline"]

CUSTOM_ID = re.compile(r"fact:group:(?P<action>allow|decline):(?P<key>[0-9a-f]{8,32})")

_LOOKS: dict[ConsentAction, tuple[str, str, discord.ButtonStyle]] = {
    "allow": ("Allow", "✅", discord.ButtonStyle.success),
    "decline": ("Decline", "✖️", discord.ButtonStyle.secondary),
}


class GroupAnswers(Protocol):
    """What an Allow / Decline button asks of the consent keeper."""

    async def answer(self, interaction: discord.Interaction[Any], key: str, *, is_allowed: bool) -> None: ...


@runtime_checkable
class GroupButtonServices(Protocol):
    """The client a question's button is clicked on: it offers the consent keeper."""

    @property
    def group_consent(self) -> GroupAnswers: ...


class GroupConsentButton(ui.DynamicItem[ui.Button[ui.View]], template=CUSTOM_ID):
    """One member's answer to one /group request."""

    def __init__(self, action: ConsentAction, key: str) -> None:
        label, emoji, style = _LOOKS[action]
        super().__init__(ui.Button(label=label, emoji=emoji, style=style, custom_id=f"fact:group:{action}:{key}"))
        self.action: ConsentAction = action
        self.key = key

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: ui.Item[Any], match: re.Match[str], /
    ) -> GroupConsentButton:
        return cls(cast(ConsentAction, match["action"]), match["key"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            client = interaction.client
            if not isinstance(client, GroupButtonServices):
                raise TypeError(f"{type(client).__name__} offers no consent keeper to the group buttons")
            await client.group_consent.answer(interaction, self.key, is_allowed=self.action == "allow")
        except Exception as exc:  # noqa: BLE001 - every failure becomes the member's one sentence
            await reply_error(interaction, exc)


def question_view(key: str) -> ui.View:
    view = ui.View(timeout=None)
    view.add_item(GroupConsentButton("allow", key))
    view.add_item(GroupConsentButton("decline", key))
    return view
