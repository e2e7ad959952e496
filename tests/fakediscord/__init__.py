"""An in-process fake Discord (REST, gateway, CDN) that enforces Discord's rules, and a harness to drive a bot."""

from __future__ import annotations

from .harness import BotRunner, Driver, patched_discord
from .payloads import ADMIN, ALICE, APP_ID, BOB, CHANNEL_ID, GUILD_ID, FakeUser
from .server import FakeDiscord
from .state import FakeInteraction, RecordedRequest, StoredMessage, UploadedFile, Violation

__all__ = [
    "ADMIN",
    "ALICE",
    "APP_ID",
    "BOB",
    "CHANNEL_ID",
    "GUILD_ID",
    "BotRunner",
    "Driver",
    "FakeDiscord",
    "FakeInteraction",
    "FakeUser",
    "RecordedRequest",
    "StoredMessage",
    "UploadedFile",
    "Violation",
    "patched_discord",
]
