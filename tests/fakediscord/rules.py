"""Discord's checks on message bodies and the error answers it gives, in Discord's wire format."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from .state import MAX_CONTENT, MAX_FILES, UploadedFile

MAX_REQUEST_BYTES = 25 * 1024 * 1024
MAX_EMBEDS = 10
MAX_AUTOCOMPLETE_CHOICES = 25
MAX_CHOICE_NAME = 100
MAX_EMBED_CHARACTERS = 6000
MAX_ROWS = 5
MAX_BUTTONS_PER_ROW = 5
MAX_CUSTOM_ID = 100
MAX_BUTTON_LABEL = 80
MAX_SELECT_OPTIONS = 25
MAX_PLACEHOLDER = 150
#: Component types of select menus (string, user, role, mentionable, channel): each fills its row alone.
SELECT_TYPES = (3, 5, 6, 7, 8)
STRING_SELECT = 3


@dataclass(frozen=True, slots=True)
class Rejection:
    """An error answer: HTTP status, Discord JSON error code, message, and the violation kind it means."""

    status: int
    code: int
    message: str
    violation: str | None = None
    errors: dict[str, Any] | None = None

    def because(self, violation: str, errors: dict[str, Any] | None = None) -> Rejection:
        """The same answer, recording ``violation`` (and the form ``errors`` Discord lists)."""
        return replace(self, violation=violation, errors=errors)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


class Answer(Exception):
    """Raised by a route handler to answer with an error (and maybe record a violation)."""

    def __init__(self, rejection: Rejection, detail: str = "") -> None:
        super().__init__(rejection.message)
        self.rejection = rejection
        self.detail = detail


UNKNOWN_INTERACTION = Rejection(404, 10062, "Unknown interaction")
ALREADY_ACKNOWLEDGED = Rejection(400, 40060, "Interaction has already been acknowledged.", "double_ack")
INVALID_WEBHOOK_TOKEN = Rejection(401, 50027, "Invalid Webhook Token")
UNKNOWN_WEBHOOK = Rejection(404, 10015, "Unknown Webhook")
UNKNOWN_MESSAGE = Rejection(404, 10008, "Unknown Message")
UNKNOWN_CHANNEL = Rejection(404, 10003, "Unknown Channel")
UNKNOWN_USER = Rejection(404, 10013, "Unknown User")
CANNOT_MESSAGE_USER = Rejection(400, 50007, "Cannot send messages to this user")
ENTITY_TOO_LARGE = Rejection(413, 40005, "Request entity too large")
INVALID_FORM_BODY = Rejection(400, 50035, "Invalid Form Body")


def _invalid_form(violation: str, field: str, code: str, message: str) -> Rejection:
    """A 50035 answer naming the offending ``field`` the way Discord's ``errors`` object does."""
    return INVALID_FORM_BODY.because(violation, {field: {"_errors": [{"code": code, "message": message}]}})


def check_message_body(
    body: dict[str, Any], files: tuple[UploadedFile, ...], *, file_size_limit: int
) -> Rejection | None:
    """Discord's limits on one message create or edit; None when the body is acceptable."""
    if len(files) > MAX_FILES:
        return _invalid_form(
            "too_many_files", "attachments", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_FILES} or fewer in length."
        )
    too_big = [upload.filename for upload in files if upload.size > file_size_limit]
    if too_big:
        return ENTITY_TOO_LARGE.because("file_too_large")
    if sum(upload.size for upload in files) > MAX_REQUEST_BYTES:
        return ENTITY_TOO_LARGE.because("request_too_large")
    content = body.get("content")
    if content is not None and len(str(content)) > MAX_CONTENT:
        return _invalid_form(
            "content_too_long", "content", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_CONTENT} or fewer in length."
        )
    embeds = body.get("embeds") or []
    if len(embeds) > MAX_EMBEDS or sum(_embed_characters(e) for e in embeds) > MAX_EMBED_CHARACTERS:
        return _invalid_form(
            "embeds_too_large", "embeds", "BASE_TYPE_MAX_LENGTH", "Embed size exceeds maximum size of 6000"
        )
    return _check_components(body.get("components") or [])


def _embed_characters(embed: dict[str, Any]) -> int:
    texts = [
        embed.get("title"),
        embed.get("description"),
        (embed.get("footer") or {}).get("text"),
        (embed.get("author") or {}).get("name"),
    ]
    texts += [part for f in embed.get("fields") or [] for part in (f.get("name"), f.get("value"))]
    return sum(len(text) for text in texts if text)


def _check_components(rows: list[dict[str, Any]]) -> Rejection | None:
    """Action rows: at most 5 rows of 5 buttons or of one select menu (1-25 options, placeholder at most 150
    characters), custom_id at most 100 characters, label at most 80."""
    problem = None
    if len(rows) > MAX_ROWS:
        problem = f"{len(rows)} action rows"
    for row in rows:
        items = row.get("components") or []
        if row.get("type") == 1 and len(items) > MAX_BUTTONS_PER_ROW:
            problem = f"{len(items)} components in one row"
        selects = [item for item in items if item.get("type") in SELECT_TYPES]
        if selects and len(items) > 1:
            problem = "a select menu shares its action row"
        for select in selects:
            if select.get("type") == STRING_SELECT and not 1 <= len(select.get("options") or []) <= MAX_SELECT_OPTIONS:
                problem = f"select {select.get('custom_id')!r} has {len(select.get('options') or [])} options"
            if len(select.get("placeholder") or "") > MAX_PLACEHOLDER:
                problem = f"select {select.get('custom_id')!r} has a placeholder too long"
        for item in items:
            if len(item.get("custom_id") or "") > MAX_CUSTOM_ID or len(item.get("label") or "") > MAX_BUTTON_LABEL:
                problem = f"component {item.get('custom_id')!r} has a custom_id or label too long"
    if problem is None:
        return None
    return _invalid_form("invalid_components", "components", "BASE_TYPE_MAX_LENGTH", problem)


def check_autocomplete(body: dict[str, Any]) -> Rejection | None:
    choices = (body.get("data") or {}).get("choices") or []
    if len(choices) > MAX_AUTOCOMPLETE_CHOICES:
        return _invalid_form(
            "too_many_choices", "data.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
        )
    if any(not 1 <= len(str(choice.get("name", ""))) <= MAX_CHOICE_NAME for choice in choices):
        return _invalid_form(
            "invalid_choice", "data.choices", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
        )
    return None


def rate_limit_headers(retry_after: float, *, now_s: float) -> dict[str, str]:
    """The headers Discord sends with a 429; discord.py needs `Via` to trust the body's `retry_after`."""
    return {
        "Retry-After": f"{retry_after:.3f}",
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": f"{now_s + retry_after:.3f}",
        "X-RateLimit-Reset-After": f"{retry_after:.3f}",
        "X-RateLimit-Bucket": "fake-bucket",
        "X-RateLimit-Scope": "user",
        "Via": "1.1 google",
    }


def unmatched_embed_attachments(payload: dict[str, Any]) -> list[str]:
    """``attachment://`` references in a message's embeds that name none of its attachments.

    Discord accepts such a message but shows nothing where the image should be: a silent bug.
    """
    names = {item.get("filename") for item in payload.get("attachments") or []}
    unmatched = []
    for embed in payload.get("embeds") or []:
        for part in ("image", "thumbnail"):
            url = str((embed.get(part) or {}).get("url") or "")
            if url.startswith("attachment://") and url.removeprefix("attachment://") not in names:
                unmatched.append(url)
    return unmatched
