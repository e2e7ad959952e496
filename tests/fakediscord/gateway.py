"""The gateway: HELLO, IDENTIFY → READY + GUILD_CREATE, heartbeats, and numbered dispatches (plain JSON text frames)."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from . import payloads

log = logging.getLogger(__name__)

DISPATCH, HEARTBEAT, IDENTIFY, RESUME, RECONNECT, HELLO, HEARTBEAT_ACK = 0, 1, 2, 6, 7, 10, 11


class GatewaySession:
    """One bot connection; dispatches carry increasing sequence numbers."""

    def __init__(self, ws: web.WebSocketResponse, session_id: str) -> None:
        self.ws = ws
        self.session_id = session_id
        self.sequence = 0
        self.is_identified = False

    async def send(self, payload: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(payload))

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        self.sequence += 1
        await self.send({"op": DISPATCH, "t": event, "s": self.sequence, "d": data})


class Gateway:
    """Accepts websocket connections at `/` and keeps the identified sessions."""

    def __init__(self, ws_url: Callable[[], str]) -> None:
        self._ws_url = ws_url
        self._ids = itertools.count(1)
        self.sessions: list[GatewaySession] = []
        self.identify_count = 0
        self.resume_count = 0
        self.ready = asyncio.Event()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        session = GatewaySession(ws, f"session-{next(self._ids)}")
        await session.send({"op": HELLO, "d": {"heartbeat_interval": 41250}})
        try:
            async for frame in ws:
                if frame.type is WSMsgType.TEXT:
                    await self._receive(session, json.loads(frame.data))
                elif frame.type is WSMsgType.ERROR:
                    break
        finally:
            if session in self.sessions:
                self.sessions.remove(session)
            if not self.sessions:
                self.ready.clear()
        return ws

    async def _receive(self, session: GatewaySession, message: dict[str, Any]) -> None:
        op = message.get("op")
        if op == HEARTBEAT:
            await session.send({"op": HEARTBEAT_ACK})
        elif op == IDENTIFY:
            self.identify_count += 1
            await session.dispatch(
                "READY",
                {
                    "v": 10,
                    "user": payloads.bot_user(),
                    "guilds": [{"id": str(payloads.GUILD_ID), "unavailable": True}],
                    "session_id": session.session_id,
                    "resume_gateway_url": self._ws_url(),
                    "shard": [0, 1],
                    "application": {"id": str(payloads.APP_ID), "flags": 0},
                    "private_channels": [],
                    "relationships": [],
                    "presences": [],
                },
            )
            await session.dispatch("GUILD_CREATE", payloads.guild_create())
            session.is_identified = True
            self.sessions.append(session)
            self.ready.set()
        elif op == RESUME:
            self.resume_count += 1
            session.sequence = int((message.get("d") or {}).get("seq") or 0)
            await session.dispatch("RESUMED", {})
            session.is_identified = True
            self.sessions.append(session)
            self.ready.set()
        else:
            log.debug("fake gateway ignores op %s", op)

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send an event to every identified session; a test needs a connected bot to call this."""
        if not self.sessions:
            raise RuntimeError(f"no bot is connected to the fake gateway to receive {event}")
        for session in list(self.sessions):
            await session.dispatch(event, data)

    async def reconnect(self) -> None:
        """Send op 7 RECONNECT: the client must come back on `resume_gateway_url` and RESUME."""
        for session in list(self.sessions):
            self.sessions.remove(session)  # nothing more is dispatched on a socket being replaced
            await session.send({"op": RECONNECT, "d": None})

    async def close(self) -> None:
        for session in list(self.sessions):
            await session.ws.close(code=1001)
        self.sessions.clear()
