"""Attachment checks: declared metadata before download, byte count after."""

from __future__ import annotations

import logging

import aiohttp
import discord

from fact_runtime import ImageTooLarge, ImageTooSmall, ImageUnreadable, UnsupportedImage

from .errors import DownloadFailed
from .settings import BotSettings

__all__ = ["check_attachment", "download"]

log = logging.getLogger(__name__)

_MB = 1024 * 1024


def check_attachment(attachment: discord.Attachment, settings: BotSettings) -> None:
    """Refuse an attachment from what Discord declares about it, before any byte is fetched.

    Raises
    ------
    UnsupportedImage
        Not one of the accepted image types.
    ImageUnreadable
        An image type Discord could not decode (it reports no dimensions).
    ImageTooLarge
        Over the byte or pixel cap.
    ImageTooSmall
        Shorter side under the minimum.
    """
    content_type = (attachment.content_type or "").split(";")[0].strip().lower()
    if content_type not in settings.content_types:
        raise UnsupportedImage(f"{attachment.filename}: content type {content_type or 'unknown'}")
    if attachment.size > settings.max_attachment_bytes:
        raise ImageTooLarge(
            f"{attachment.filename}: {attachment.size} bytes",
            user_message=(
                f"That image is {attachment.size / _MB:.1f} MB; please send one under "
                f"{settings.max_attachment_bytes / _MB:.0f} MB."
            ),
        )
    width, height = attachment.width, attachment.height
    if width is None or height is None:
        # The type says image but Discord could not decode it: a damaged file, not a wrong format.
        raise ImageUnreadable(f"{attachment.filename}: Discord reports no dimensions")
    if width * height > settings.max_attachment_pixels:
        raise ImageTooLarge(
            f"{attachment.filename}: {width}x{height}",
            user_message=f"That image is {width}x{height} pixels; please send a smaller one.",
        )
    if min(width, height) < settings.min_attachment_side:
        raise ImageTooSmall(
            f"{attachment.filename}: {width}x{height}",
            user_message=(
                f"That image is only {width}x{height} pixels; please send one at least "
                f"{settings.min_attachment_side} pixels on each side."
            ),
        )


async def download(attachment: discord.Attachment, settings: BotSettings) -> bytes:
    """Fetch a checked attachment.

    Raises
    ------
    DownloadFailed
        Discord's CDN did not deliver it.
    ImageTooLarge
        More bytes arrived than were declared allowed.
    """
    try:
        data = await attachment.read()
    except (discord.HTTPException, aiohttp.ClientError) as exc:
        raise DownloadFailed(f"{attachment.filename}: {exc}") from exc
    if len(data) > settings.max_attachment_bytes:
        raise ImageTooLarge(f"{attachment.filename}: {len(data)} bytes after download")
    return data
