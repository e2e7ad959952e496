"""REST under /api/v10 and the attachment CDN: parse, record, inject failures, enforce rules, answer."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import payloads, rules
from .messages import MessageBoard
from .rules import Answer, Rejection
from .state import RecordedRequest, UploadedFile

if TYPE_CHECKING:
    from .server import FakeDiscord


def json_response(body: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # discord.py only decodes bodies whose Content-Type is exactly "application/json" (no charset).
    return web.Response(
        status=status, body=json.dumps(body).encode(), headers={**(headers or {}), "Content-Type": "application/json"}
    )


Handler = Callable[[RecordedRequest], Awaitable[Any]]
API = "/api/v10"


async def _parse(request: web.Request) -> tuple[Any, tuple[UploadedFile, ...]]:
    if request.content_type.startswith("multipart/"):
        body: Any = None
        files = []
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if part.filename is None and part.name == "payload_json":
                body = json.loads(await part.text())
            elif part.filename is not None:
                data = bytes(await part.read(decode=False))
                files.append(UploadedFile(part.name or "", part.filename, part.headers.get("Content-Type"), data))
        return body, tuple(files)
    raw = await request.read()
    return (json.loads(raw) if raw else None), ()


class RestApi:
    """Every route of the fake; each request is recorded with the answer it got."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.board = MessageBoard(fake)

    def install(self, app: web.Application) -> None:
        routes: list[tuple[str, str, str, Handler]] = [
            ("GET", "/users/@me", "get_me", self._me),
            ("GET", "/oauth2/applications/@me", "app_info", self._app_info),
            ("GET", "/gateway", "gateway", self._gateway),
            ("GET", "/gateway/bot", "gateway_bot", self._gateway),
            ("PUT", "/applications/{app}/commands", "sync_global", self._sync),
            ("PUT", "/applications/{app}/guilds/{guild}/commands", "sync_guild", self._sync),
            ("GET", "/applications/{app}/commands", "get_global_commands", self._commands),
            ("GET", "/applications/{app}/guilds/{guild}/commands", "get_guild_commands", self._commands),
            ("POST", "/interactions/{interaction}/{token}/callback", "interaction_callback", self.board.callback),
            ("GET", "/webhooks/{app}/{token}/messages/{message}", "webhook_get", self.board.webhook_get),
            ("PATCH", "/webhooks/{app}/{token}/messages/{message}", "webhook_edit", self.board.webhook_edit),
            ("DELETE", "/webhooks/{app}/{token}/messages/{message}", "webhook_delete", self.board.webhook_delete),
            ("POST", "/webhooks/{app}/{token}", "followup_send", self.board.followup_send),
            ("POST", "/channels/{channel}/messages", "channel_send", self.board.channel_send),
            ("GET", "/channels/{channel}/messages", "channel_history", self.board.channel_history),
            ("GET", "/channels/{channel}/messages/{message}", "channel_get", self.board.channel_get),
            ("PATCH", "/channels/{channel}/messages/{message}", "channel_edit", self.board.channel_edit),
            ("DELETE", "/channels/{channel}/messages/{message}", "channel_delete", self.board.channel_delete),
            ("POST", "/users/@me/channels", "dm_open", self.board.dm_open),
            ("GET", "/users/{user}", "get_user", self._user),
        ]
        for method, path, name, handler in routes:
            app.router.add_route(method, API + path, self._endpoint(name, handler))
        app.router.add_route("*", API + "/{tail:.*}", self._endpoint("unimplemented", self._unimplemented))
        app.router.add_get("/attachments/{attachment}/{filename}", self._cdn)

    def _endpoint(self, name: str, handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def endpoint(request: web.Request) -> web.StreamResponse:
            body, files = await _parse(request)
            record = RecordedRequest(
                method=request.method,
                route=name,
                path=request.path,
                params=dict(request.query),
                json=body,
                files=files,
                match=dict(request.match_info),
                at=self.fake.clock.now(),
            )
            response = self._answer_injected(record)
            if response is None:
                try:
                    result = await handler(record)
                except Answer as answer:
                    response = self._reject(record, answer.rejection, answer.detail)
                else:
                    record.status, record.response = (204, None) if result is None else (200, result)
                    response = web.Response(status=204) if result is None else json_response(result)
            self.fake.record(record)
            gate = self.fake.held.get(name)
            if gate is not None:
                await gate.wait()
            return response

        return endpoint

    def _reject(self, record: RecordedRequest, rejection: Rejection, detail: str) -> web.Response:
        if rejection.violation is not None:
            self.fake.violate(rejection.violation, f"{record.method} {record.path}: {detail or rejection.message}")
        record.status, record.response = rejection.status, rejection.body()
        return json_response(rejection.body(), status=rejection.status)

    def _answer_injected(self, record: RecordedRequest) -> web.Response | None:
        injected = self.fake.take_injected(record)
        if injected is None:
            return None
        if injected.status == 429:
            body = {"message": "You are being rate limited.", "retry_after": injected.retry_after, "global": False}
            headers = rules.rate_limit_headers(injected.retry_after, now_s=time.time())
        else:
            body, headers = {"message": injected.message, "code": injected.code}, {}
        record.status, record.response = injected.status, body
        return json_response(body, status=injected.status, headers=headers)

    async def _me(self, record: RecordedRequest) -> Any:
        return payloads.bot_user()

    async def _user(self, record: RecordedRequest) -> Any:
        user = payloads.find_user(record.match["user"])
        if user is None:
            raise Answer(rules.UNKNOWN_USER, record.match["user"])
        return user.user_payload()

    async def _app_info(self, record: RecordedRequest) -> Any:
        return payloads.application()

    async def _gateway(self, record: RecordedRequest) -> Any:
        return {
            "url": self.fake.ws_url,
            "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1},
        }

    async def _sync(self, record: RecordedRequest) -> Any:
        scope = record.match.get("guild", "global")
        synced = [
            {
                **command,
                "id": str(self.fake.snowflake()),
                "application_id": str(payloads.APP_ID),
                "version": "1",
                **({"guild_id": scope} if scope != "global" else {}),
            }
            for command in record.json or []
        ]
        self.fake.synced_commands[scope] = synced
        return synced

    async def _commands(self, record: RecordedRequest) -> Any:
        return self.fake.synced_commands.get(record.match.get("guild", "global"), [])

    async def _unimplemented(self, record: RecordedRequest) -> Any:
        raise Answer(Rejection(404, 0, "404: Not Found", "unimplemented_route"), "the fake has no such route")

    async def _cdn(self, request: web.Request) -> web.StreamResponse:
        stored = self.fake.cdn.get(request.match_info["attachment"])
        record = RecordedRequest(
            "GET",
            "cdn",
            request.path,
            {},
            None,
            (),
            dict(request.match_info),
            self.fake.clock.now(),
            status=200 if stored else 404,
        )
        self.fake.record(record)
        if stored is None:
            return web.Response(status=404, text="Not Found")
        if self.fake.cdn_gate is not None:
            await self.fake.cdn_gate.wait()
        data, content_type = stored
        return web.Response(body=data, content_type=content_type or "application/octet-stream")
