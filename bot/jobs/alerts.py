"""Tell the server's admins about failures a member cannot fix: a post in ``bot.admin_channel_id``."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord

from fact_runtime import ContentBlocked, InputError, JobCancelled

from ..texts import clip_content

if TYPE_CHECKING:
    from ..store import JobRecord

__all__ = ["AdminAlerts", "is_for_admins"]

log = logging.getLogger(__name__)


def is_for_admins(exc: BaseException) -> bool:
    """Whether a job's failure is the server's to fix (a model, the engine, a bug), not the member's input."""
    return not isinstance(exc, InputError | ContentBlocked | JobCancelled)


class AdminAlerts:
    """Posts one line per runtime failure in the admin channel; without a channel, the log is all there is.

    A report names the job, what it was and the error with its details, never the member or their photos.
    """

    def __init__(self, client: discord.Client, channel_id: int | None) -> None:
        self._client = client
        self.channel_id = channel_id

    async def report_failure(self, record: JobRecord, exc: BaseException) -> bool:
        """Post the failure of ``record``; False when no channel is configured or the post failed (logged)."""
        what = record.options.style_id or record.options.template_id or "uploaded template"
        kind = getattr(exc, "kind", type(exc).__name__)
        return await self.post(f"⚠️ Job `{record.job_id}` ({record.kind}, {what}) failed: {kind}: {exc}")

    async def post(self, text: str) -> bool:
        if self.channel_id is None:
            return False
        try:
            channel = self._client.get_partial_messageable(self.channel_id)
            await channel.send(clip_content(text), allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException as exc:
            log.warning("could not post to the admin channel %s: %s", self.channel_id, exc)
            return False
        return True
