"""Driving a real discord.py client against the fake: redirects, start/stop, and user actions."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import discord
import yarl
from discord.ext import commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from . import payloads
from .payloads import ALICE, FakeUser
from .server import FakeDiscord
from .state import FakeInteraction, RecordedRequest, StoredMessage

COMMAND, COMPONENT, AUTOCOMPLETE = 2, 3, 4
STRING_SELECT = 3


@contextlib.contextmanager
def patched_discord(fake: FakeDiscord) -> Iterator[None]:
    """Point discord.py's REST base and default gateway at the fake; restore both afterwards."""
    old_base, old_gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    Route.BASE = fake.api_base
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.ws_url)
    try:
        yield
    finally:
        Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = old_base, old_gateway


class BotRunner:
    """Logs a client in, runs `connect()` as a task, waits for ready, and closes it cleanly."""

    def __init__(self, bot: discord.Client) -> None:
        self.bot = bot
        self._task: asyncio.Task[None] | None = None

    async def start(self, *, timeout: float = 15.0) -> None:
        # discord.py waits this long after the last GUILD_CREATE before on_ready; 2 s per start adds up.
        self.bot._connection.guild_ready_timeout = 0.05
        try:
            await self.bot.login("fake-bot-token")
            self._task = asyncio.create_task(self.bot.connect(reconnect=True), name="fake-discord-bot")
            ready = asyncio.create_task(self.bot.wait_until_ready())
            done, _ = await asyncio.wait({ready, self._task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if ready not in done:
                ready.cancel()
                raise TimeoutError(f"the bot was not ready within {timeout}s")
        except BaseException:
            with contextlib.suppress(Exception):
                await self.stop()
            raise

    async def stop(self) -> None:
        await self.bot.close()
        if self._task is not None:
            task, self._task = self._task, None
            await asyncio.wait_for(task, 10)  # re-raises whatever ended the connection


def buttons(message: StoredMessage | dict[str, Any]) -> list[dict[str, Any]]:
    """Every button on a message, in order."""
    payload = message.payload if isinstance(message, StoredMessage) else message
    found = []
    for row in payload.get("components") or []:
        for component in row.get("components") or []:
            if component.get("type") == 2:
                found.append(component)
    return found


def _leaves(options: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for option in options:
        found.extend(_leaves(option["options"]) if "options" in option else [option])
    return found


def _resolve_users(data: dict[str, Any]) -> None:
    """A USER option arrives with the user and, in a guild, the member resolved, as Discord sends it."""
    users = [payloads.find_user(o["value"]) for o in _leaves(data["options"]) if o["type"] == payloads.USER]
    known = [user for user in users if user is not None]
    if known:
        resolved = data.setdefault("resolved", {})
        resolved["users"] = {str(u.id): u.user_payload() for u in known}
        # A member is resolved only for users in the server; anyone else arrives as a bare user.
        members = [user for user in known if user is not payloads.STRANGER]
        resolved["members"] = {str(u.id): {k: v for k, v in u.member_payload().items() if k != "user"} for u in members}


class Driver:
    """Acts as Discord users: slash commands, autocomplete and button clicks, typed by the bot's own schema."""

    def __init__(self, fake: FakeDiscord, bot: commands.Bot) -> None:
        self.fake = fake
        self.bot = bot
        #: What each member's client shows chosen in a menu: (value, the message's edit count then).
        self._chosen: dict[tuple[int, str, int], tuple[str, int]] = {}

    def _schema(self, name: str) -> dict[str, Any]:
        tree = self.bot.tree
        command = tree.get_command(name) or tree.get_command(name, guild=discord.Object(payloads.GUILD_ID))
        if command is None:
            known = sorted(c.name for c in tree.get_commands())
            raise KeyError(f"the bot has no /{name}; it has {known}")
        return command.to_dict(tree)

    def attach(self, data: bytes, filename: str, *, content_type: str | None = None) -> dict[str, Any]:
        """An attachment served by the fake CDN, to pass as an ATTACHMENT option value."""
        return self.fake.add_attachment(data, filename, content_type=content_type)

    async def send_command(
        self, name: str, options: dict[str, Any] | None = None, *, user: FakeUser = ALICE, age_s: float = 0.0
    ) -> FakeInteraction:
        """Run `/name [sub ...]` with typed options; `age_s` backdates the interaction and its token."""
        root, *path = name.split()
        data = payloads.command_data(self._schema(root), path, options or {})
        _resolve_users(data)
        return await self.fake.send_interaction(COMMAND, data, user, age_s=age_s)

    async def send_autocomplete(
        self, name: str, options: dict[str, Any], *, focused: str, user: FakeUser = ALICE, timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        """Type into option `focused` and return the choices the bot offered."""
        root, *path = name.split()
        data = payloads.command_data(self._schema(root), path, options, focused=focused)
        interaction = await self.fake.send_interaction(AUTOCOMPLETE, data, user)
        await self.fake.wait_for(lambda: interaction.autocomplete_choices is not None, timeout=timeout)
        return list(interaction.autocomplete_choices or [])

    async def click_button(
        self,
        custom_id: str,
        *,
        message: StoredMessage,
        user: FakeUser = ALICE,
    ) -> FakeInteraction:
        """Press a button on a message the fake holds (it may predate a bot restart)."""
        data = {"custom_id": custom_id, "component_type": 2}
        return await self.fake.send_interaction(COMPONENT, data, user, message=message.payload)

    async def choose(
        self,
        custom_id: str,
        value: str,
        *,
        message: StoredMessage,
        user: FakeUser = ALICE,
    ) -> FakeInteraction:
        """Choose one option of a string select menu on a message, as a member's client can: only a listed
        one, and not the one the menu still shows as chosen (a client sends nothing for that until the
        message is updated, discord-api-docs #4801)."""
        (menu,) = [
            c
            for row in message.payload.get("components") or []
            for c in row.get("components") or []
            if c.get("custom_id") == custom_id and c.get("type") == STRING_SELECT
        ]
        assert value in [option["value"] for option in menu["options"]], f"{value!r} is not an option of {custom_id}"
        shown = self._chosen.get((message.id, custom_id, user.id))
        assert shown != (value, message.edits), f"a client shows {value!r} chosen and sends nothing for it"
        self._chosen[(message.id, custom_id, user.id)] = (value, message.edits)
        data = {"custom_id": custom_id, "component_type": STRING_SELECT, "values": [value]}
        return await self.fake.send_interaction(COMPONENT, data, user, message=message.payload)

    def requests_for(self, interaction: FakeInteraction) -> list[RecordedRequest]:
        """Callback and webhook requests made with this interaction's id or token."""
        return [
            r
            for r in self.fake.requests
            if r.match.get("token") == interaction.token or r.match.get("interaction") == str(interaction.id)
        ]

    async def wait_for_ack(self, interaction: FakeInteraction, *, timeout: float = 5.0) -> int:
        await self.fake.wait_for(lambda: interaction.is_acknowledged, timeout=timeout)
        assert interaction.callback_type is not None
        return interaction.callback_type

    def original(self, interaction: FakeInteraction) -> StoredMessage | None:
        if interaction.original_message_id is None:
            return None
        return self.fake.messages.get(interaction.original_message_id)
