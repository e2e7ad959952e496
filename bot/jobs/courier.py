"""Reach a job's owner: a reply to a follow-up's parent, the interaction webhook while valid, the channel, a DM.

The courier posts, edits and deletes messages and says how that went; it never writes the job
store. Whoever owns the job's state (the tracker or the service) records what it reports.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Sequence
from typing import Any

import discord

from fact_runtime import Provenance

from ..store import JobRecord
from ..texts import clip_content
from .files import fit_images
from .routes import Delivery, Route, StatusEdit
from .views import result_custom_id

__all__ = ["Courier", "Delivery", "Route", "StatusEdit"]

log = logging.getLogger(__name__)

#: Messages read per place when looking for a result posted before a restart.
_HISTORY_LIMIT = 50
#: Uploads refused as too large (413) are fitted again at half the size, this many times in all.
_MAX_FITS = 3
_NO_MENTIONS = discord.AllowedMentions.none()


class Courier:
    """Posts to a job's owner on the best route still open.

    Parameters
    ----------
    client:
        The logged-in client whose HTTP session and cache the messages go through.
    clock:
        Wall-clock seconds, to tell when an interaction token is spent.
    token_margin_s:
        Stop using a token this long before Discord's 15 minutes run out.
    provenance:
        Marks (XMP, C2PA) an image re-encoded to fit an upload limit; None posts re-encodes unmarked.
    """

    def __init__(
        self,
        client: discord.Client,
        *,
        clock: Callable[[], float],
        token_margin_s: float,
        provenance: Provenance | None = None,
    ) -> None:
        self._client = client
        self._provenance = provenance
        self._clock = clock
        self._token_margin_s = token_margin_s

    def webhook(self, record: JobRecord) -> discord.Webhook | None:
        """The interaction's followup webhook, or None once the 15-minute token is (nearly) spent."""
        if record.interaction_token is None or record.token_expires_at is None or record.application_id is None:
            return None
        if self._clock() >= record.token_expires_at - self._token_margin_s:
            return None
        payload = {"id": record.application_id, "type": 3, "token": record.interaction_token}
        # Interaction.followup builds the same webhook; from_state lets a recovered job rebuild it.
        return discord.Webhook.from_state(data=payload, state=self._client._connection)  # type: ignore[arg-type]

    def upload_limit(self, record: JobRecord) -> int:
        """Bytes per file the job's destination accepts: the guild's boost limit, 10 MiB in DMs."""
        guild = self._client.get_guild(record.guild_id) if record.guild_id is not None else None
        if guild is not None and not record.is_private:
            return guild.filesize_limit
        return discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES

    async def edit_status(
        self,
        record: JobRecord,
        content: str,
        *,
        view: discord.ui.View | None = None,
        preview: bytes | None = None,
        is_preview_dropped: bool = False,
    ) -> StatusEdit:
        """Edit the job's status message, with ``preview`` (a JPEG) as its one attachment, or none once
        ``is_preview_dropped``; otherwise its attachments stay. Never raises for HTTP errors: the status is cosmetic."""
        if record.status_message_id is None:
            return StatusEdit.UNREACHABLE
        extra: dict[str, Any] = {}
        if preview is not None:
            extra["attachments"] = [discord.File(io.BytesIO(preview), filename="preview.jpg")]
        elif is_preview_dropped:
            extra["attachments"] = []
        try:
            webhook = self.webhook(record)
            if webhook is not None:
                await webhook.edit_message(record.status_message_id, content=content, view=view, **extra)
            elif record.is_private or record.channel_id is None:
                return StatusEdit.UNREACHABLE  # an ephemeral message can only be edited with the token
            else:
                channel = self._client.get_partial_messageable(record.channel_id)
                await channel.get_partial_message(record.status_message_id).edit(content=content, view=view, **extra)
        except (discord.NotFound, discord.Forbidden) as exc:
            log.info("status message of job %s is gone or not editable: %s", record.job_id, exc)
            return StatusEdit.GONE
        except discord.HTTPException as exc:
            # A server error must not fail the job; the next edit tries again.
            log.warning("status edit for job %s failed: %s", record.job_id, exc)
        return StatusEdit.EDITED

    async def send_images(
        self,
        record: JobRecord,
        content: str,
        images: Sequence[bytes],
        *,
        embed: discord.Embed,
        view: discord.ui.View,
        reply_to: discord.MessageReference | None = None,
    ) -> Delivery:
        """Post the job's images with their card, fitted to the destination's upload limit (smaller again after a 413).

        The first image is shown inside the card; the others follow as attachments. With ``reply_to``
        they are posted first as a reply to that message (see ``send``).

        Raises
        ------
        discord.HTTPException
            Every route refused the message.
        FileTooLarge
            An image cannot be made small enough.
        """
        limit = self.upload_limit(record)
        name = f"portrait-{record.job_id[:6]}"
        fits = 1
        while True:
            if self._provenance is None:
                fitted = fit_images(images, limit, name=name)
            else:  # a re-encoded image is marked and signed again, as itself
                fitted = fit_images(images, limit, name=name, mark=self._provenance.mark)
            files = [discord.File(io.BytesIO(item.data), filename=item.filename) for item in fitted]
            if files:
                embed.set_image(url=files[0].uri)  # fitting may change the name (PNG -> JPEG)
            try:
                route, message = await self.send(
                    record, content, files=files, embed=embed, view=view, reply_to=reply_to
                )
                return Delivery(route, message, len(fitted))
            except discord.HTTPException as exc:
                if exc.status != 413 or fits == _MAX_FITS:
                    raise
            log.warning("upload of job %s refused as too large at %d bytes; fitting smaller", record.job_id, limit)
            limit //= 2
            fits += 1

    async def send(
        self,
        record: JobRecord,
        content: str,
        *,
        files: list[discord.File] | None = None,
        embed: discord.Embed | None = None,
        view: discord.ui.View | None = None,
        is_private: bool | None = None,
        reply_to: discord.MessageReference | None = None,
    ) -> tuple[Route, discord.Message | None]:
        """Post a new message to the job's owner; returns the route taken and the message.

        A public message with ``reply_to`` goes first into that message's channel as a reply to it
        (the interaction webhook cannot reply); where the bot may not post there, the usual routes follow.

        Raises
        ------
        discord.HTTPException
            The last route tried refused the message.
        """
        is_private = record.is_private if is_private is None else is_private
        files = files or []
        content = clip_content(content)
        # The owner alone: a reply would also ping its parent's author (the bot itself) unless told not to.
        owner = discord.AllowedMentions(users=[discord.Object(record.user_id)], replied_user=False)
        mentions = _NO_MENTIONS if is_private else owner
        # discord.py's send methods take MISSING, not None, for "no view" and "no embed".
        buttons = view if view is not None else discord.utils.MISSING
        card = embed if embed is not None else discord.utils.MISSING
        if reply_to is not None and not is_private and reply_to.channel_id is not None:
            channel = self._client.get_partial_messageable(reply_to.channel_id)
            try:
                return "channel", await channel.send(
                    content or None,
                    files=files,
                    embed=card,
                    view=buttons,
                    allowed_mentions=mentions,
                    reference=reply_to,
                )
            except (discord.Forbidden, discord.NotFound) as exc:
                log.info("cannot reply for job %s (%s); posting as usual", record.job_id, exc.status)
                _rewind(files)
        webhook = self.webhook(record)
        if webhook is not None:
            try:
                sent = await webhook.send(
                    content or discord.utils.MISSING,
                    files=files,
                    embed=card,
                    view=buttons,
                    allowed_mentions=mentions,
                    ephemeral=is_private,
                    wait=True,
                )
                return "followup", None if is_private else sent
            except discord.HTTPException as exc:
                if exc.status not in (401, 403, 404):
                    raise
                # The token was refused early (e.g. the interaction was removed): use the bot's own routes.
                log.info("followup for job %s refused (%s); falling back", record.job_id, exc.status)
                _rewind(files)
        if not is_private and record.channel_id is not None:
            try:
                channel = self._client.get_partial_messageable(record.channel_id)
                return "channel", await channel.send(
                    content or None, files=files, embed=card, view=buttons, allowed_mentions=mentions
                )
            except discord.Forbidden:
                log.info("cannot post in channel %s; sending job %s by DM", record.channel_id, record.job_id)
                _rewind(files)  # the refused upload read them to the end
        user = self._client.get_user(record.user_id) or await self._client.fetch_user(record.user_id)
        # A mention of the reader in their own DMs is noise.
        dm_content = content.removeprefix(f"<@{record.user_id}>").lstrip() or None
        return "dm", await user.send(dm_content, files=files, embed=card, view=buttons, allowed_mentions=mentions)

    async def notify(self, record: JobRecord, sentence: str, *, view: discord.ui.View | None = None) -> bool:
        """Tell the owner alone (ephemeral followup or DM); False, logged, when nothing reached them."""
        try:
            await self.send(record, sentence, view=view, is_private=True)
        except discord.HTTPException as exc:
            log.warning("could not tell user %s about job %s: %s", record.user_id, record.job_id, exc)
            return False
        return True

    async def find_posted(self, record: JobRecord) -> Delivery | None:
        """The job's result message if Discord has it (a restart cut the post short), else None.

        Reads the recent messages of the job's channel and of the owner's DMs, looking for ours with
        the job's result buttons. An ephemeral followup cannot be listed, and a channel where the bot
        lacks Read Message History lists nothing: both read as not posted.
        """
        wanted = result_custom_id(record.job_id)
        routes: list[Route] = ["dm"] if record.is_private or record.channel_id is None else ["channel", "dm"]
        for route in routes:
            try:
                async for message in (await self._place(record, route)).history(limit=_HISTORY_LIMIT):
                    is_ours = self._client.user is not None and message.author.id == self._client.user.id
                    if is_ours and wanted in _custom_ids(message):
                        found: Route = "followup" if route == "channel" and message.webhook_id else route
                        return Delivery(found, message, len(message.attachments))
            except discord.HTTPException as exc:
                log.info("cannot read the %s messages for job %s: %s", route, record.job_id, exc)
        return None

    async def _place(self, record: JobRecord, route: Route) -> discord.abc.Messageable:
        if route == "channel" and record.channel_id is not None:
            return self._client.get_partial_messageable(record.channel_id)
        user = self._client.get_user(record.user_id) or await self._client.fetch_user(record.user_id)
        return user.dm_channel or await user.create_dm()

    async def delete_result(self, record: JobRecord) -> bool:
        """Delete the job's posted results; False when there are none (any more) or they cannot be deleted."""
        if record.result_channel_id is None or record.result_message_id is None:
            return False
        channel = self._client.get_partial_messageable(record.result_channel_id)
        try:
            await channel.get_partial_message(record.result_message_id).delete()
        except discord.NotFound:
            return False  # already deleted with its Delete button
        except discord.HTTPException as exc:
            log.warning("could not delete the results of job %s: %s", record.job_id, exc)
            return False
        return True


def _custom_ids(message: discord.Message) -> set[str]:
    ids = set()
    for row in message.components:
        for item in getattr(row, "children", [row]):
            custom_id = getattr(item, "custom_id", None)
            if custom_id:
                ids.add(custom_id)
    return ids


def _rewind(files: list[discord.File]) -> None:
    for file in files:
        file.reset()
