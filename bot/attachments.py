"""Attachment checks: declared metadata before download, byte count after."""

from __future__ import annotations

import logging
from collections.abc import Collection

import aiohttp
import discord

from fact_runtime import ImageTooLarge, ImageTooSmall, ImageUnreadable, RequestLimits, UnsupportedImage

from .errors import DownloadFailed

__all__ = ["check_attachment", "download"]

log = logging.getLogger(__name__)


def check_attachment(attachment: discord.Attachment, limits: RequestLimits, *, content_types: Collection[str]) -> None:
    """Refuse an attachment from what Discord declares about it, before any byte is fetched.

    Raises
    ------
    UnsupportedImage
        Not one of the accepted image types.
    ImageUnreadable
        An image type Discord could not decode (it reports no dimensions).
    ImageTooLarge
        Over the runtime's byte or pixel cap.
    ImageTooSmall
        Shorter side under the runtime's minimum.
    """
    caps, name = limits.images, attachment.filename
    content_type = (attachment.content_type or "").split(";")[0].strip().lower()
    if content_type not in content_types:
        raise UnsupportedImage(f"{name}: content type {content_type or 'unknown'}")
    if attachment.size > caps.max_bytes:
        raise ImageTooLarge.by_bytes(attachment.size, caps.max_bytes, name=name)
    width, height = attachment.width, attachment.height
    if width is None or height is None:
        # The type says image but Discord could not decode it: a damaged file, not a wrong format.
        raise ImageUnreadable(f"{name}: Discord reports no dimensions")
    if width * height > caps.max_pixels:
        raise ImageTooLarge.by_pixels(caps.max_pixels, (width, height), name=name)
    if min(width, height) < caps.min_side:
        raise ImageTooSmall.below(width, height, caps.min_side, name=name)


async def download(attachment: discord.Attachment, limits: RequestLimits) -> bytes:
    """Fetch a checked attachment.

    Raises
    ------
    DownloadFailed
        Discord's CDN did not deliver it.
    ImageTooLarge
        More bytes arrived than the cap allows.
    """
    try:
        data = await attachment.read()
    except (discord.HTTPException, aiohttp.ClientError) as exc:
        raise DownloadFailed(f"{attachment.filename}: {exc}") from exc
    cap = limits.images.max_bytes
    if len(data) > cap:
        raise ImageTooLarge.by_bytes(len(data), cap, name=attachment.filename)
    return data
