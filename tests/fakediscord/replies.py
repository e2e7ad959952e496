"""Replies and mentions on created messages, as Discord resolves them.

A reply names its parent in ``message_reference``; Discord answers with the new message as type
19 (REPLY) carrying that reference and the parent itself in ``referenced_message``. A parent that
does not exist in the channel is refused unless ``fail_if_not_exists`` is false, in which case the
message is posted as a plain one. ``mentions`` lists the users actually pinged: those named in the
content that ``allowed_mentions`` lets through (all of them without it), and the parent's author
when ``allowed_mentions.replied_user`` says so (always without ``allowed_mentions``).
"""

from __future__ import annotations

import re
from typing import Any

from . import payloads
from .rules import INVALID_FORM_BODY, Answer
from .state import StoredMessage

REPLY = 19
_USER_MENTION = re.compile(r"<@!?(\d+)>")


def referenced(body: dict[str, Any], channel_id: int, messages: dict[int, StoredMessage]) -> StoredMessage | None:
    """The message a create replies to, or None for a plain message.

    Raises
    ------
    Answer
        The parent is not a message of this channel and the reply asked to fail then (the default).
    """
    reference = body.get("message_reference")
    if not isinstance(reference, dict):
        return None
    parent = messages.get(int(reference.get("message_id") or 0))
    if parent is None or parent.is_deleted or parent.is_ephemeral or parent.channel_id != channel_id:
        if reference.get("fail_if_not_exists", True):
            errors = {
                "message_reference": {
                    "_errors": [{"code": "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "message": "Unknown message"}]
                }
            }
            raise Answer(INVALID_FORM_BODY.because("unknown_reply_parent", errors), f"reply to {reference}")
        return None
    return parent


def mark_reply(payload: dict[str, Any], parent: StoredMessage) -> None:
    """Make a created message's payload a reply to ``parent``."""
    payload["type"] = REPLY
    payload["message_reference"] = {
        "type": 0,
        "message_id": str(parent.id),
        "channel_id": str(parent.channel_id),
        "guild_id": str(payloads.GUILD_ID),
    }
    payload["referenced_message"] = {key: value for key, value in parent.payload.items() if key != "referenced_message"}


def mentions(body: dict[str, Any], parent: StoredMessage | None) -> list[dict[str, Any]]:
    """The users a created message pings."""
    allowed = body.get("allowed_mentions")
    named = _USER_MENTION.findall(str(body.get("content") or ""))
    if isinstance(allowed, dict):
        listed = {str(user_id) for user_id in allowed.get("users") or []}
        pinged = [user_id for user_id in named if "users" in (allowed.get("parse") or []) or user_id in listed]
        pings_parent = bool(allowed.get("replied_user", False))
    else:
        pinged, pings_parent = named, True
    users = [user.user_payload() for user_id in dict.fromkeys(pinged) if (user := payloads.find_user(user_id))]
    if parent is not None and pings_parent and parent.payload["author"]["id"] not in {u["id"] for u in users}:
        users.append(parent.payload["author"])
    return users
