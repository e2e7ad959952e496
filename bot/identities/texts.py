"""What members read about their saved identities: the consent request, the outcome, the list."""

from __future__ import annotations

from collections.abc import Sequence

from fact_runtime import SavedFace

from ..store import IdentityRecord
from ..texts import plural

__all__ = ["CHECKING", "NOT_SAVED", "consent_text", "deleted_text", "list_text", "saved_text"]

CHECKING = "⏳ Checking your photos…"
NOT_SAVED = "Nothing was saved, and your photos were not downloaded."


def _days(retention_days: float) -> str:
    return plural(round(retention_days), "day") if retention_days >= 1 else f"{retention_days * 24:g} hours"


def consent_text(name: str, photo_count: int, *, retention_days: float) -> str:
    """The question asked before anything is downloaded: what is kept, who can use it, for how long."""
    return "\n".join(
        [
            f"Save your face as **{name}**?",
            f"I will keep your {plural(photo_count, 'photo')} and the face data made from them (where the face is, "
            "a face fingerprint for likeness checks, and FACT face tokens) in this bot's database.",
            "Only you can see or use it; nobody else can, in any server.",
            f"It is deleted {_days(retention_days)} after you last use it, or at once with `/identity delete` or "
            "`/forget`.",
        ]
    )


def saved_text(record: IdentityRecord, face: SavedFace, *, retention_days: float) -> str:
    count = record.photo_count
    if count == 1:
        what = "1 photo"
    else:
        what = f"{count} photos of one person; photo {face.best_index + 1} is the clearest and is used for face fusion"
    return (
        f"✅ Saved **{record.name}** ({what}). Use it with `/portrait identity:` or `/inpaint identity:`. "
        f"It is kept until {_days(retention_days)} after its last use."
    )


def deleted_text(name: str) -> str:
    return f"🗑️ Deleted **{name}** with its photos and face data."


def list_text(records: Sequence[IdentityRecord], *, retention_s: float, limit: int, max_photos: int) -> str:
    if not records:
        photos = "1 photo" if max_photos == 1 else f"1 to {max_photos} photos"
        return f"You have no saved identities; `/identity save` makes one from {photos} of you."
    lines = [f"Your saved identities ({len(records)} of {limit}):"]
    for record in records:
        expires = int(record.last_used_at + retention_s)
        lines.append(
            f"• **{record.name}** · {plural(record.photo_count, 'photo')} · last used <t:{int(record.last_used_at)}:R>"
            f" · deleted <t:{expires}:R> unless used"
        )
    return "\n".join(lines)
