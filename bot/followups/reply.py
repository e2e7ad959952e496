"""Where a follow-up's result goes: a reply to its parent's result message, when that can be done."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord

from .request import FOLLOW_UP_KINDS

if TYPE_CHECKING:
    from ..store import JobRecord, JobStore

__all__ = ["reply_reference"]


def reply_reference(record: JobRecord, store: JobStore) -> discord.MessageReference | None:
    """The parent result message a public upscale or variation replies to, or None to post as any result.

    Only a public follow-up in the channel its parent was posted in can reply: an ephemeral message
    can neither reply nor be replied to, and a reply lives in its parent's channel (a parent sent by
    DM, say, is not where the follow-up's status is). A parent deleted since is no reason to fail:
    the reply then goes out as a plain message (``fail_if_not_exists=False``).
    """
    if record.is_private or record.kind not in FOLLOW_UP_KINDS or record.parent_id is None:
        return None
    parent = store.get(record.parent_id)
    if parent is None or parent.result_message_id is None or parent.result_channel_id is None:
        return None
    if parent.result_channel_id != record.channel_id:
        return None
    return discord.MessageReference(
        message_id=parent.result_message_id,
        channel_id=parent.result_channel_id,
        guild_id=parent.guild_id,
        fail_if_not_exists=False,
    )
