"""Builders for the JSON objects Discord sends: users, guilds, messages, interactions."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

APP_ID = 100
GUILD_ID = 200
CHANNEL_ID = 300
BOT_USER_ID = 100
EVERYONE_PERMISSIONS = (
    (1 << 10) | (1 << 11) | (1 << 15) | (1 << 16) | (1 << 31)
)  # view, send, attach, history, use commands
ADMIN_PERMISSIONS = (1 << 3) | EVERYONE_PERMISSIONS | (1 << 5)  # + administrator, manage guild
JOINED_AT = "2026-01-01T00:00:00+00:00"

# Option types (application-commands.mdx "Application Command Option Type").
SUB_COMMAND, SUB_COMMAND_GROUP, STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = range(
    1, 12
)


@dataclass(frozen=True, slots=True)
class FakeUser:
    """A guild member the test acts as."""

    id: int
    name: str
    permissions: int = EVERYONE_PERMISSIONS

    def user_payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.name,
            "discriminator": "0",
            "global_name": self.name.title(),
            "avatar": None,
            "bot": False,
        }

    def member_payload(self) -> dict[str, Any]:
        return {
            "user": self.user_payload(),
            "roles": [],
            "joined_at": JOINED_AT,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "permissions": str(self.permissions),
        }


ALICE = FakeUser(401, "alice")
BOB = FakeUser(402, "bob")
ADMIN = FakeUser(403, "admin", ADMIN_PERMISSIONS)


def find_user(user_id: str | int) -> FakeUser | None:
    return next((user for user in (ALICE, BOB, ADMIN) if str(user.id) == str(user_id)), None)


def bot_user() -> dict[str, Any]:
    return {
        "id": str(BOT_USER_ID),
        "username": "portrait-bot",
        "discriminator": "0",
        "global_name": None,
        "avatar": None,
        "bot": True,
        "verified": True,
        "mfa_enabled": False,
        "flags": 0,
    }


def application() -> dict[str, Any]:
    # interactions_endpoint_url stays null, or discord.py warns that interactions will not arrive.
    return {
        "id": str(APP_ID),
        "name": "portrait-bot",
        "description": "",
        "icon": None,
        "bot_public": True,
        "bot_require_code_grant": False,
        "owner": ADMIN.user_payload(),
        "verify_key": "0" * 64,
        "flags": 0,
        "interactions_endpoint_url": None,
        "team": None,
    }


def text_channel(channel_id: int = CHANNEL_ID, name: str = "portraits", *, is_nsfw: bool = False) -> dict[str, Any]:
    return {
        "id": str(channel_id),
        "type": 0,
        "guild_id": str(GUILD_ID),
        "name": name,
        "position": 0,
        "permission_overwrites": [],
        "nsfw": is_nsfw,
        "parent_id": None,
        "topic": None,
        "last_message_id": None,
        "rate_limit_per_user": 0,
    }


def guild_create(*, premium_tier: int = 0) -> dict[str, Any]:
    everyone = {
        "id": str(GUILD_ID),
        "name": "@everyone",
        "permissions": str(EVERYONE_PERMISSIONS),
        "position": 0,
        "color": 0,
        "hoist": False,
        "managed": False,
        "mentionable": False,
        "flags": 0,
    }
    bot_member = {"user": bot_user(), "roles": [], "joined_at": JOINED_AT, "deaf": False, "mute": False, "flags": 0}
    members = [bot_member] + [user.member_payload() for user in (ALICE, BOB, ADMIN)]
    return {
        "id": str(GUILD_ID),
        "name": "Portrait Lab",
        "icon": None,
        "owner_id": str(ADMIN.id),
        "channels": [text_channel()],
        "roles": [everyone],
        "members": members,
        "member_count": len(members),
        "unavailable": False,
        "premium_tier": premium_tier,
        "features": [],
        "joined_at": JOINED_AT,
        "large": False,
        "emojis": [],
        "stickers": [],
        "threads": [],
        "presences": [],
        "voice_states": [],
        "mfa_level": 0,
        "verification_level": 0,
        "explicit_content_filter": 0,
        "default_message_notifications": 0,
        "system_channel_flags": 0,
        "preferred_locale": "en-US",
        "nsfw_level": 0,
        "premium_subscription_count": 0,
    }


def timestamp(at_s: float) -> str:
    return datetime.datetime.fromtimestamp(at_s, datetime.UTC).isoformat()


def message(
    message_id: int,
    channel_id: int,
    body: dict[str, Any],
    *,
    at_s: float,
    webhook: bool,
    attachments: list[dict[str, Any]],
) -> dict[str, Any]:
    """A full message object as Discord returns it after a create."""
    return {
        "id": str(message_id),
        "channel_id": str(channel_id),
        "type": 20 if webhook else 0,
        "author": bot_user(),
        "content": body.get("content") or "",
        "timestamp": timestamp(at_s),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": attachments,
        "embeds": body.get("embeds") or [],
        "components": body.get("components") or [],
        "pinned": False,
        "flags": int(body.get("flags") or 0),
        "application_id": str(APP_ID),
        **({"webhook_id": str(APP_ID)} if webhook else {}),
    }


def attachment(
    attachment_id: int,
    filename: str,
    size: int,
    url: str,
    *,
    content_type: str | None,
    width: int | None,
    height: int | None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(attachment_id),
        "filename": filename,
        "size": size,
        "url": url,
        "proxy_url": url,
        "content_type": content_type,
    }
    if width is not None:
        data.update(width=width, height=height)
    return data


def build_options(
    schema: list[dict[str, Any]], given: dict[str, Any], *, focused: str | None, attachments: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Typed options for the values a test gave, checked against the bot's own command schema."""
    by_name = {option["name"]: option for option in schema}
    unknown = set(given) - set(by_name)
    if unknown:
        raise KeyError(f"options {sorted(unknown)} are not in the command schema {sorted(by_name)}")
    options = []
    for name, value in given.items():
        kind = by_name[name]["type"]
        if kind == ATTACHMENT:
            attachments[str(value["id"])] = value
            value = str(value["id"])
        option: dict[str, Any] = {"name": name, "type": kind, "value": value}
        if name == focused:
            option.update(focused=True, value=str(value))
        options.append(option)
    return options


def command_data(
    command: dict[str, Any],
    path: list[str],
    given: dict[str, Any],
    *,
    focused: str | None = None,
) -> dict[str, Any]:
    """`data` of an application-command interaction, nesting subcommands as Discord does."""
    attachments: dict[str, dict[str, Any]] = {}
    schema = command.get("options", [])
    chain: list[dict[str, Any]] = []
    for part in path:
        sub = next((o for o in schema if o["name"] == part and o["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP)), None)
        if sub is None:
            raise KeyError(f"/{command['name']} has no subcommand {part!r}")
        chain.append(sub)
        schema = sub.get("options", [])
    options = build_options(schema, given, focused=focused, attachments=attachments)
    for sub in reversed(chain):
        options = [{"name": sub["name"], "type": sub["type"], "options": options}]
    data: dict[str, Any] = {
        "id": str(command.get("id", APP_ID + 1)),
        "name": command["name"],
        "type": 1,
        "options": options,
    }
    if attachments:
        data["resolved"] = {"attachments": attachments}
    return data


def interaction(
    interaction_id: int,
    token: str,
    kind: int,
    data: dict[str, Any],
    user: FakeUser,
    *,
    channel_id: int = CHANNEL_ID,
    message_payload: dict[str, Any] | None = None,
    is_nsfw: bool = False,
) -> dict[str, Any]:
    """An INTERACTION_CREATE payload in a guild text channel (marked age-restricted when `is_nsfw`)."""
    payload: dict[str, Any] = {
        "id": str(interaction_id),
        "application_id": str(APP_ID),
        "type": kind,
        "token": token,
        "version": 1,
        "guild_id": str(GUILD_ID),
        "channel_id": str(channel_id),
        "channel": text_channel(channel_id, is_nsfw=is_nsfw),
        "member": user.member_payload(),
        "app_permissions": str(ADMIN_PERMISSIONS),
        "locale": "en-US",
        "guild_locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {"0": str(GUILD_ID)},
        "context": 0,
        "attachment_size_limit": 10 * 1024 * 1024,
        "data": data,
    }
    if message_payload is not None:
        payload["message"] = message_payload
    return payload
