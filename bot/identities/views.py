"""The identity buttons: consent to save (or not), and delete a saved identity; their key sits in ``custom_id``.

A button only names what it acts on. The service decides whether the member who clicked may:
a consent belongs to the member who asked, and an identity is looked up among the clicker's own,
so a forged ``custom_id`` reaches nothing of anyone else's. Like the job buttons, these reach the
services through the client that received the click, typed as ``IdentityButtonServices``.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Literal, Protocol, cast, runtime_checkable

import discord
from discord import ui

from ..respond import reply_error

__all__ = [
    "ConsentAnswers",
    "IdentityAction",
    "IdentityButton",
    "IdentityButtonServices",
    "IdentityDeletes",
    "consent_view",
    "identity_services",
    "saved_view",
]

log = logging.getLogger(__name__)

IdentityAction = Literal["save", "keep", "delete"]

CUSTOM_ID = re.compile(r"fact:identity:(?P<action>save|keep|delete):(?P<key>[0-9a-f]{8,32})")

_LOOKS: dict[IdentityAction, tuple[str, str, discord.ButtonStyle]] = {
    "save": ("Save my face", "✅", discord.ButtonStyle.success),
    "keep": ("Don't save", "✖️", discord.ButtonStyle.secondary),
    "delete": ("Delete", "🗑️", discord.ButtonStyle.danger),
}


class ConsentAnswers(Protocol):
    """What a consent button asks of the identity saver."""

    async def answer(self, interaction: discord.Interaction[Any], pending_id: str, *, is_accepted: bool) -> None: ...


class IdentityDeletes(Protocol):
    """What a delete button asks of the identity service."""

    async def delete_by_button(self, interaction: discord.Interaction[Any], identity_id: str) -> None: ...


@runtime_checkable
class IdentityButtonServices(Protocol):
    """The client an identity button is clicked on: it offers the saver and the identity service."""

    @property
    def identities(self) -> IdentityDeletes: ...

    @property
    def identity_saver(self) -> ConsentAnswers: ...


def identity_services(interaction: discord.Interaction[Any]) -> IdentityButtonServices:
    """The services of the client that received the click.

    Raises
    ------
    TypeError
        The client offers no identity services (a button of ours reached another client).
    """
    client = interaction.client
    if not isinstance(client, IdentityButtonServices):
        raise TypeError(f"{type(client).__name__} offers no identity services to the identity buttons")
    return client


class IdentityButton(ui.DynamicItem[ui.Button[ui.View]], template=CUSTOM_ID):
    """``save``/``keep`` answer a consent request (key: its id); ``delete`` removes an identity (key: its id)."""

    def __init__(self, action: IdentityAction, key: str) -> None:
        label, emoji, style = _LOOKS[action]
        super().__init__(ui.Button(label=label, emoji=emoji, style=style, custom_id=f"fact:identity:{action}:{key}"))
        self.action: IdentityAction = action
        self.key = key

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: ui.Item[Any], match: re.Match[str], /
    ) -> IdentityButton:
        return cls(cast(IdentityAction, match["action"]), match["key"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            client = identity_services(interaction)
            if self.action == "delete":
                await client.identities.delete_by_button(interaction, self.key)
            else:
                await client.identity_saver.answer(interaction, self.key, is_accepted=self.action == "save")
        except Exception as exc:  # noqa: BLE001 - every failure becomes the user's one sentence
            await reply_error(interaction, exc)


def consent_view(pending_id: str) -> ui.View:
    view = ui.View(timeout=None)
    view.add_item(IdentityButton("save", pending_id))
    view.add_item(IdentityButton("keep", pending_id))
    return view


def saved_view(identity_id: str) -> ui.View:
    view = ui.View(timeout=None)
    view.add_item(IdentityButton("delete", identity_id))
    return view
