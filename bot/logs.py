"""Logging for ``python -m bot``: one stderr handler whose filter redacts secrets at every level.

With ``-v`` discord.py logs whole gateway events, and those carry interaction tokens (each a
webhook credential for 15 minutes) and the CDN addresses of members' selfies. The filter removes
them, the bot token and webhook URLs from every record's message and traceback before it is written.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator

__all__ = ["REDACTED", "RedactingFilter", "setup_logging"]

REDACTED = "[redacted]"

# Webhook and interaction URLs carry interaction tokens in their path.
_URL_TOKENS = re.compile(r"(/(?:webhooks|interactions)/\d+/)[A-Za-z0-9_.\-]+")
# A token as a value in a logged payload: {'token': '...'} or "token": "..." (interaction_token too).
_TOKEN_VALUES = re.compile(r"""(['"]\w*token['"]\s*:\s*['"])[^'"]*""", re.IGNORECASE)
# Attachment addresses (cdn.discordapp.com, media.discordapp.net or any host): they open the file itself.
_ATTACHMENT_URLS = re.compile(r"""https?://[^\s'"<>]*?/(?:ephemeral-)?attachments/[^\s'"<>]*""")


class RedactingFilter(logging.Filter):
    """Replaces the bot token, interaction tokens, webhook and attachment URLs in every record."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._secrets = [secret for secret in secrets if secret]

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        text = _ATTACHMENT_URLS.sub("[attachment url]", text)
        text = _TOKEN_VALUES.sub(rf"\1{REDACTED}", text)
        return _URL_TOKENS.sub(rf"\1{REDACTED}", text)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


@contextlib.contextmanager
def setup_logging(*, token: str | None, level: int = logging.INFO) -> Iterator[None]:
    """Log to stderr with secrets redacted, for the life of the block."""
    root = logging.getLogger()
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter([token] if token else []))
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(level)
    # discord.http logs request bodies at DEBUG; INFO is enough in production.
    logging.getLogger("discord.http").setLevel(max(level, logging.INFO))
    try:
        yield
    finally:
        handler.flush()
        root.removeHandler(handler)
        root.setLevel(previous_level)
