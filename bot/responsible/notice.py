"""The responsible-use notice: its text (one file an admin can edit) and its Accept button."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import discord
from discord import ui

from fact_runtime import ConfigError

from ..respond import reply_error

__all__ = [
    "ACCEPTED",
    "DEFAULT_NOTICE",
    "MAX_NOTICE_LENGTH",
    "NoticeAcceptor",
    "NoticeButton",
    "NoticeServices",
    "load_notice",
    "notice_view",
]

log = logging.getLogger(__name__)

#: The shipped wording; ``bot.notice_file`` points at an admin's own.
DEFAULT_NOTICE = Path(__file__).with_name("notice.md")
#: Discord allows 2000 characters per message; the rest is headroom for the bot's own line.
MAX_NOTICE_LENGTH = 1800
ACCEPTED = "✅ Thank you. Run your command again and it will go ahead."

CUSTOM_ID = re.compile(r"fact:notice:accept")


def load_notice(path: Path) -> str:
    """The notice's text, checked when the bot starts.

    Raises
    ------
    ConfigError
        The file cannot be read as UTF-8, is empty, or is longer than ``MAX_NOTICE_LENGTH``.
    """
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"bot.notice_file: {path} cannot be read ({exc}); point it at a UTF-8 text file") from exc
    if not text:
        raise ConfigError(f"bot.notice_file: {path} is empty; write the notice members accept before their first job")
    if len(text) > MAX_NOTICE_LENGTH:
        raise ConfigError(
            f"bot.notice_file: {path} has {len(text)} characters; shorten it to {MAX_NOTICE_LENGTH} (one Discord message)"
        )
    return text


class NoticeAcceptor(Protocol):
    """What the Accept button asks of the responsible-use checks."""

    def accept_notice(self, user_id: int) -> None: ...


@runtime_checkable
class NoticeServices(Protocol):
    """The client the Accept button is clicked on (like the job and identity buttons, reached through it)."""

    @property
    def responsible(self) -> NoticeAcceptor: ...


class NoticeButton(ui.DynamicItem[ui.Button[ui.View]], template=CUSTOM_ID):
    """Accept: records that the member who pressed it accepted the notice (the button names no one)."""

    def __init__(self) -> None:
        super().__init__(
            ui.Button(label="Accept", emoji="✅", style=discord.ButtonStyle.success, custom_id=CUSTOM_ID.pattern)
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: ui.Item[Any], match: re.Match[str], /
    ) -> NoticeButton:
        return cls()

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            client = interaction.client
            if not isinstance(client, NoticeServices):
                raise TypeError(f"{type(client).__name__} offers no notice to accept")
            client.responsible.accept_notice(interaction.user.id)
            await interaction.response.edit_message(content=ACCEPTED, view=None)
        except Exception as exc:  # noqa: BLE001 - every failure becomes the user's one sentence
            await reply_error(interaction, exc)


def notice_view() -> ui.View:
    view = ui.View(timeout=None)
    view.add_item(NoticeButton())
    return view
