"""Real discord.py objects for bot tests: interactions from payload dicts, HTTP answered and recorded in-process.

Every REST call the bot makes (interaction callbacks, webhook followups and edits, channel
messages, DMs, CDN downloads) lands in ``Recorder``, which answers with the payloads Discord
would. Nothing leaves the process; the command tree, namespaces, checks and views are the real ones.
"""

from __future__ import annotations

import asyncio
import datetime
import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import discord
from discord.webhook import async_ as webhook_async

from bot.client import PortraitBot
from bot.settings import BotSettings
from bot.store import JobStore
from fact_runtime import Runtime, StyleCatalog
from fact_runtime.config import QueueConfig
from tests.fakes import FakeEngine

APP_ID = 100
GUILD_ID = 200
CHANNEL_ID = 300
BOT_USER = {"id": "150", "username": "portraits", "discriminator": "0", "avatar": None, "bot": True}
ALICE = {"id": "400", "username": "alice", "discriminator": "0", "global_name": "Alice", "avatar": None}
BOB = {"id": "401", "username": "bob", "discriminator": "0", "global_name": "Bob", "avatar": None}
ALL_PERMISSIONS = str(discord.Permissions.all().value)
MEMBER_PERMISSIONS = str(discord.Permissions(send_messages=True, attach_files=True, view_channel=True).value)

STYLE_YAML = """id: {id}
name: {name}
description: A test style.
base_model: majicmix
prompt: "a portrait of {{subject}}, {id}"
"""

_ids = itertools.count(1000)


def snowflake(*, age_s: float = 0.0) -> int:
    """A fresh snowflake created ``age_s`` seconds ago (interaction tokens expire from this time)."""
    created = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=age_s)
    return discord.utils.time_snowflake(created) + next(_ids) % 4096


def message_payload(message_id: int, channel_id: int, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    payload = payload or {}
    return {
        "id": str(message_id), "channel_id": str(channel_id), "author": BOT_USER,
        "content": payload.get("content") or "", "timestamp": "2026-01-01T00:00:00+00:00",
        "edited_timestamp": None, "tts": False, "mention_everyone": False, "mentions": [], "mention_roles": [],
        "attachments": [], "embeds": [], "pinned": False, "type": 0, "flags": payload.get("flags", 0),
        "components": payload.get("components") or [],
    }


@dataclass
class Call:
    method: str
    path: str
    payload: dict[str, Any]
    files: list[tuple[str, bytes]] = field(default_factory=list)

    @property
    def content(self) -> str:
        return self.payload.get("content") or ""

    @property
    def is_ephemeral(self) -> bool:
        flags = self.payload.get("flags") or self.payload.get("data", {}).get("flags") or 0
        return bool(flags & 64)

    def custom_ids(self) -> list[str]:
        return [c["custom_id"] for row in self.payload.get("components") or [] for c in row["components"]]


class Recorder(webhook_async.AsyncWebhookAdapter):
    """Answers the bot's HTTP calls like Discord and records them."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[Call] = []
        self.cdn: dict[str, bytes] = {}
        self.downloads: list[str] = []
        self._failures: list[tuple[str, re.Pattern[str], int]] = []

    def fail_next(self, method: str, path: str, status: int) -> None:
        """Answer the next ``method`` call whose path matches ``path`` with HTTP ``status``."""
        self._failures.append((method, re.compile(path), status))

    def find(self, method: str, path: str) -> list[Call]:
        pattern = re.compile(path)
        return [c for c in self.calls if c.method == method and pattern.search(c.path)]

    def calls_for(self, interaction: discord.Interaction) -> list[Call]:
        """The calls made with this interaction's token: its callback, followups and edits, in order."""
        return [c for c in self.calls if interaction.token in c.path]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.01)

    def _answer(self, method: str, path: str, payload: dict[str, Any], files: list[tuple[str, bytes]]) -> Any:
        for index, (f_method, pattern, status) in enumerate(self._failures):
            if f_method == method and pattern.search(path):
                del self._failures[index]
                response = SimpleNamespace(status=status, reason="fake")
                error = discord.NotFound if status == 404 else discord.Forbidden if status == 403 else discord.HTTPException
                raise error(response, {"code": 40005 if status == 413 else 0, "message": "fake failure"})
        self.calls.append(Call(method, path, payload, files))
        if path.endswith("/callback"):
            kind = payload.get("type")
            flags = (payload.get("data") or {}).get("flags", 0)
            interaction_id = path.split("/")[2]
            return {"interaction": {"id": interaction_id, "type": 2, "response_message_id": str(snowflake()),
                                    "response_message_loading": kind == 5, "response_message_ephemeral": bool(flags & 64)}}
        if method == "DELETE":
            return None
        if path == "/users/@me/channels":
            return {"id": "900", "type": 1, "recipients": [ALICE]}
        if path.startswith("/users/"):
            return ALICE if path.endswith(ALICE["id"]) else BOB
        channel = re.search(r"/channels/(\d+)/", path)
        message_id = path.rsplit("/", 1)[-1] if method == "PATCH" else str(snowflake())
        return message_payload(int(message_id) if message_id.isdigit() else snowflake(),
                               int(channel.group(1)) if channel else CHANNEL_ID, payload)

    # The webhook side: interaction callbacks, followups, webhook message edits.
    async def request(self, route: Any, session: Any, *, payload: dict | None = None, multipart: list | None = None,
                      files: Any = None, **_: Any) -> Any:
        if multipart:
            payload = json.loads(next(part["value"] for part in multipart if part["name"] == "payload_json"))
        recorded = [(f.filename, f.fp.read()) for f in files or []]
        return self._answer(route.method, _path(route), payload or {}, recorded)

    # The bot-token side: channel messages and DMs.
    async def http_request(self, route: Any, *, files: Any = None, form: Any = None, **kwargs: Any) -> Any:
        payload = kwargs.get("json") or {}
        if form:
            payload = json.loads(next(part["value"] for part in form if part["name"] == "payload_json"))
        recorded = [(f.filename, f.fp.read()) for f in files or []]
        return self._answer(route.method, _path(route), payload, recorded)

    async def get_from_cdn(self, url: str) -> bytes:
        self.downloads.append(url)
        return self.cdn[url]


def _path(route: Any) -> str:
    return route.url.removeprefix(route.BASE)


def attachment(recorder: Recorder, data: bytes, *, filename: str = "me.png", content_type: str = "image/png",
               width: int = 512, height: int = 512, size: int | None = None) -> dict[str, Any]:
    attachment_id = str(snowflake())
    url = f"https://cdn.test/attachments/{attachment_id}/{filename}"
    recorder.cdn[url] = data
    return {"id": attachment_id, "filename": filename, "size": len(data) if size is None else size, "url": url,
            "proxy_url": url, "content_type": content_type, "width": width, "height": height}


def interaction_payload(kind: int, data: dict[str, Any], *, user: dict = ALICE, permissions: str = ALL_PERMISSIONS,
                        age_s: float = 0.0, message: dict | None = None) -> dict[str, Any]:
    interaction_id = snowflake(age_s=age_s)
    payload = {
        "id": str(interaction_id), "application_id": str(APP_ID), "type": kind, "token": f"tok-{interaction_id}",
        "version": 1, "guild_id": str(GUILD_ID), "channel_id": str(CHANNEL_ID),
        "channel": {"id": str(CHANNEL_ID), "type": 0, "guild_id": str(GUILD_ID), "name": "portraits", "position": 0,
                    "permission_overwrites": [], "nsfw": False},
        "member": {"user": user, "roles": [], "permissions": permissions, "joined_at": "2026-01-01T00:00:00+00:00",
                   "deaf": False, "mute": False, "flags": 0},
        "app_permissions": ALL_PERMISSIONS, "locale": "en-US", "guild_locale": "en-US", "entitlements": [],
        "authorizing_integration_owners": {"0": str(GUILD_ID)}, "context": 0, "attachment_size_limit": 10485760,
        "data": data,
    }
    if message is not None:
        payload["message"] = message
    return payload


def command_data(name: str, options: list[dict[str, Any]], attachments: list[dict[str, Any]] = ()) -> dict:
    data: dict[str, Any] = {"id": "5001", "name": name, "type": 1, "options": options}
    if attachments:
        data["resolved"] = {"attachments": {a["id"]: a for a in attachments}}
    return data


class BotHarness:
    """A PortraitBot with a real Runtime on a FakeEngine, a real store and catalogue, and recorded HTTP."""

    def __init__(self, tmp_path: Path, *, engine: FakeEngine | None = None, settings: dict | None = None,
                 store: JobStore | None = None, templates_dir: Path | None = None,
                 queue: QueueConfig | None = None) -> None:
        styles = tmp_path / "styles"
        styles.mkdir(parents=True, exist_ok=True)
        for style_id, name in (("astronaut", "Astronaut"), ("oil-painting", "Oil painting")):
            (styles / f"{style_id}.yaml").write_text(STYLE_YAML.format(id=style_id, name=name))
        self.catalog = StyleCatalog(styles)
        self.catalog.reload()
        self.engine = engine or FakeEngine(steps=3, size=16)
        self.runtime = Runtime(self.engine, queue or QueueConfig(max_queued=5, max_per_user=3))
        self.store = store or JobStore(tmp_path / "jobs.sqlite3")
        options = {"status_interval_s": 0.5, "database": tmp_path / "jobs.sqlite3", **(settings or {})}
        self.settings = BotSettings(**options)
        self.bot = PortraitBot(runtime=self.runtime, catalog=self.catalog, store=self.store, settings=self.settings,
                               templates_dir=templates_dir)
        self.recorder = Recorder()
        self._token: Any = None

    async def __aenter__(self) -> BotHarness:
        self._token = webhook_async.async_context.set(self.recorder)
        self.bot.http.request = self.recorder.http_request  # type: ignore[method-assign]
        self.bot.http.get_from_cdn = self.recorder.get_from_cdn  # type: ignore[method-assign]
        self.bot._connection.user = discord.ClientUser(state=self.bot._connection, data=BOT_USER)
        await self.runtime.start()
        await self.bot.__aenter__()
        await self.bot.setup_hook()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.bot.close()
        await self.runtime.close(cancel_running=True)
        self.store.close()
        webhook_async.async_context.reset(self._token)

    def interaction(self, payload: dict[str, Any]) -> discord.Interaction:
        return discord.Interaction(data=payload, state=self.bot._connection)  # type: ignore[arg-type]

    async def run_command(self, name: str, options: list[dict], attachments: list[dict] = (), **kwargs: Any
                          ) -> discord.Interaction:
        interaction = self.interaction(interaction_payload(2, command_data(name, options, attachments), **kwargs))
        await self.bot.tree._call(interaction)
        return interaction

    async def portrait(self, selfie: dict[str, Any], style: str = "astronaut", *, extra: list[dict] = (),
                       more: list[dict] = (), **kwargs: Any) -> discord.Interaction:
        """Run /portrait with ``selfie`` (from ``attachment()``); ``extra`` options, ``more`` attachments."""
        options = [{"name": "selfie", "type": 11, "value": selfie["id"]}, {"name": "style", "type": 3, "value": style},
                   *extra]
        return await self.run_command("portrait", options, [selfie, *more], **kwargs)

    async def wait_state(self, job_id: str, state: str, timeout: float = 5.0) -> None:
        """Wait until the store shows ``state`` for the job (the tracker writes it)."""
        async with asyncio.timeout(timeout):
            while (record := self.store.get(job_id)) is None or record.state != state:
                await asyncio.sleep(0.01)

    def ephemeral_reply(self, interaction: discord.Interaction) -> str:
        """The text of the one ephemeral answer the bot gave to ``interaction``."""
        [call] = self.recorder.calls_for(interaction)
        assert call.is_ephemeral
        return call.payload["data"]["content"]

    def only_job(self) -> str:
        rows = self.store._db.execute("SELECT job_id FROM jobs").fetchall()
        assert len(rows) == 1, rows
        return rows[0][0]

    async def click(self, custom_id: str, *, message: dict[str, Any] | None = None, **kwargs: Any
                    ) -> discord.Interaction:
        """Press one of the bot's job buttons on ``message`` (by default a message carrying just that button)."""
        if message is None:
            button = {"type": 2, "style": 1, "label": "x", "custom_id": custom_id}
            message = message_payload(snowflake(), CHANNEL_ID, {"components": [{"type": 1, "components": [button]}]})
        from bot.views import CUSTOM_ID, JobButton

        payload = interaction_payload(3, {"custom_id": custom_id, "component_type": 2}, message=message, **kwargs)
        interaction = self.interaction(payload)
        match = CUSTOM_ID.fullmatch(custom_id)
        assert match is not None
        await self.bot._connection._view_store.schedule_dynamic_item_call(2, JobButton, interaction, custom_id, match)
        return interaction
