"""FakeDiscord: one aiohttp app on a loopback port serving REST, the gateway and the CDN."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import mimetypes
import secrets
from collections.abc import Callable
from typing import Any

from aiohttp import web

from . import payloads
from .gateway import Gateway
from .rest import RestApi
from .state import (
    ACK_DEADLINE_S,
    FILE_SIZE_LIMIT,
    DiscordClock,
    FakeInteraction,
    Injected,
    RecordedRequest,
    SnowflakeFactory,
    StoredMessage,
    Violation,
)

log = logging.getLogger(__name__)

Predicate = Callable[[RecordedRequest], bool]


def _image_size(data: bytes) -> tuple[int | None, int | None]:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Exception:  # noqa: BLE001 - Discord leaves width/height out for anything it cannot decode
        return None, None


class FakeDiscord:
    """An in-process Discord that records every request and enforces the rules the real one enforces."""

    def __init__(self) -> None:
        self.clock = DiscordClock()
        self.ack_deadline_s = ACK_DEADLINE_S
        self.file_size_limit = FILE_SIZE_LIMIT
        self.is_expired_token_a_violation = True
        self.requests: list[RecordedRequest] = []
        self.violations: list[Violation] = []
        self.interactions: dict[int, FakeInteraction] = {}
        self.messages: dict[int, StoredMessage] = {}
        self.channels: set[int] = {payloads.CHANNEL_ID}
        #: Whether the channel interactions come from is marked age-restricted (NSFW).
        self.is_channel_nsfw = False
        self.dm_channels: dict[int, int] = {}
        self.cdn: dict[str, tuple[bytes, str | None]] = {}
        self.synced_commands: dict[str, list[dict[str, Any]]] = {}
        self._snowflakes = SnowflakeFactory()
        self._injected: list[Injected] = []
        #: While set, CDN downloads wait for it (``stall_downloads``); answered once it is set.
        self.cdn_gate: asyncio.Event | None = None
        #: Routes whose answers wait (after the request was served and recorded) until their event is set.
        self.held: dict[str, asyncio.Event] = {}
        self._changed = asyncio.Event()
        self.gateway = Gateway(lambda: self.ws_url)
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifetime ---------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/", self.gateway.handle)
        RestApi(self).install(app)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        self.release_downloads()
        for gate in self.held.values():
            gate.set()
        await self.gateway.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.url}/api/v10"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    # -- recording and rules ----------------------------------------------------------------------

    def snowflake(self, at_s: float | None = None) -> int:
        return self._snowflakes.make(self.clock.now() if at_s is None else at_s)

    def record(self, request: RecordedRequest) -> None:
        self.requests.append(request)
        log.debug("fake discord: %s %s -> %s", request.method, request.route, request.status)
        self._changed.set()

    def violate(self, kind: str, detail: str) -> None:
        log.warning("Discord rule broken: %s (%s)", kind, detail)
        self.violations.append(Violation(kind, detail))

    def take_violations(self, kind: str) -> list[Violation]:
        """Remove and return the violations of one kind a test expected."""
        taken = [v for v in self.violations if v.kind == kind]
        self.violations = [v for v in self.violations if v.kind != kind]
        return taken

    def fail_next(
        self,
        status: int,
        *,
        route: str | None = None,
        match: Predicate | None = None,
        retry_after: float = 0.2,
        code: int | None = None,
        message: str | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` requests on `route` (and matching `match`) with an error instead of serving them.

        Parameters
        ----------
        status: 413 (40005 entity too large), 404 (10008 unknown message) or 429 (rate limited), or any other.
        retry_after: seconds a 429 asks the client to wait.
        """
        defaults = {
            413: (40005, "Request entity too large"),
            404: (10008, "Unknown Message"),
            429: (0, "You are being rate limited."),
        }
        default_code, default_message = defaults.get(status, (0, "Injected failure"))

        def matches(request: RecordedRequest) -> bool:
            return (route is None or request.route == route) and (match is None or match(request))

        injected = Injected(
            status, default_code if code is None else code, message or default_message, matches, retry_after
        )
        self._injected.extend([injected] * times)

    def stall_downloads(self) -> None:
        """CDN downloads from now on hang (after being recorded) until `release_downloads`."""
        self.cdn_gate = asyncio.Event()

    def release_downloads(self) -> None:
        if self.cdn_gate is not None:
            self.cdn_gate.set()
            self.cdn_gate = None

    def hold_answers(self, route: str) -> asyncio.Event:
        """Serve and record requests on `route` as usual but keep their answers back until the event is set.

        The bot's view of a Discord that did the work but whose answer never arrived (a crash or a cut connection).
        """
        gate = self.held[route] = asyncio.Event()
        return gate

    def take_injected(self, request: RecordedRequest) -> Injected | None:
        for index, injected in enumerate(self._injected):
            if injected.matches(request):
                return self._injected.pop(index)
        return None

    # -- content the tests provide ----------------------------------------------------------------

    def add_attachment(self, data: bytes, filename: str, *, content_type: str | None = None) -> dict[str, Any]:
        """Serve `data` on the CDN and return the attachment object a message or option carries."""
        attachment_id = self.snowflake()
        content_type = content_type or mimetypes.guess_type(filename)[0]
        width, height = _image_size(data) if (content_type or "").startswith("image/") else (None, None)
        self.cdn[str(attachment_id)] = (data, content_type)
        url = f"{self.url}/attachments/{attachment_id}/{filename}"
        return payloads.attachment(
            attachment_id, filename, len(data), url, content_type=content_type, width=width, height=height
        )

    def dm_channel_for(self, user_id: int) -> int:
        if user_id not in self.dm_channels:
            self.dm_channels[user_id] = self.snowflake()
            self.channels.add(self.dm_channels[user_id])
        return self.dm_channels[user_id]

    # -- interactions -----------------------------------------------------------------------------

    def interaction_by_token(self, token: str) -> FakeInteraction | None:
        return next((i for i in self.interactions.values() if i.token == token), None)

    async def set_channel_nsfw(self, is_nsfw: bool) -> None:
        """Mark the test channel age-restricted (or not), telling the bot as Discord does (CHANNEL_UPDATE)."""
        self.is_channel_nsfw = is_nsfw
        await self.gateway.dispatch("CHANNEL_UPDATE", payloads.text_channel(is_nsfw=is_nsfw))

    async def send_interaction(
        self,
        kind: int,
        data: dict[str, Any],
        user: payloads.FakeUser,
        *,
        message: dict[str, Any] | None = None,
        age_s: float = 0.0,
    ) -> FakeInteraction:
        """Dispatch INTERACTION_CREATE; `age_s` makes the interaction (and its token) that much older."""
        created_at = self.clock.now() - age_s
        interaction_id = self.snowflake(created_at)
        token = f"tok-{interaction_id}-{secrets.token_hex(8)}"
        payload = payloads.interaction(
            interaction_id, token, kind, data, user, message_payload=message, is_nsfw=self.is_channel_nsfw
        )
        interaction = FakeInteraction(
            interaction_id, token, kind, payload, dispatched_at=self.clock.now(), created_at=created_at
        )
        self.interactions[interaction_id] = interaction
        await self.gateway.dispatch("INTERACTION_CREATE", payload)
        return interaction

    # -- waiting ----------------------------------------------------------------------------------

    async def wait_for_request(self, predicate: Predicate, *, timeout: float = 10.0) -> RecordedRequest:
        """The first recorded request (past or future) that matches; TimeoutError names what was seen."""
        return await self.wait_for(lambda: next((r for r in self.requests if predicate(r)), None), timeout=timeout)

    async def wait_for(self, probe: Callable[[], Any], *, timeout: float = 10.0) -> Any:
        """Wait until `probe()` returns something truthy, re-checking after every request."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self._changed.clear()
            found = probe()
            if found:
                return found
            remaining = deadline - loop.time()
            if remaining <= 0:
                seen = [f"{r.method} {r.route} {r.status}" for r in self.requests[-15:]]
                raise TimeoutError(f"nothing matched within {timeout}s; last requests: {seen}")
            # Re-check at least every 0.2 s, for probes that look at state other than requests.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.2))

    def requests_to(self, *routes: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.route in routes]
