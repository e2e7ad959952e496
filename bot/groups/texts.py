"""What /group says: the question to each member, the asker's status while waiting, and every way it ends."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "ENDED",
    "allowed_text",
    "ask_text",
    "declined_text",
    "deleted_identity_text",
    "forgotten_text",
    "names",
    "not_asked_text",
    "pick_text",
    "template_gone_text",
    "timed_out_text",
    "waiting_text",
]

_NOTHING_KEPT = "so the group photo was not made and nothing was kept."

#: What a question still open says once its request has ended some other way.
ENDED = "This group photo request has ended."


def names(people: Sequence[str]) -> str:
    """**Ana**, **Ben** and **Cy**."""
    bold = [f"**{name}**" for name in people]
    return bold[0] if len(bold) == 1 else f"{', '.join(bold[:-1])} and {bold[-1]}"


def ask_text(mention: str, asker: str, identity_name: str, face_index: int, *, closes_at: float) -> str:
    return (
        f"{mention}, **{asker}** would like to put your saved face **{identity_name}** into a group photo"
        f" (face {face_index} from the left). Allow it for this one picture? The question closes <t:{int(closes_at)}:R>."
    )


def pick_text(mention: str, asker: str, face_index: int, *, closes_at: float) -> str:
    return (
        f"{mention}, **{asker}** would like to put one of your saved faces into a group photo"
        f" (face {face_index} from the left). Pick which one to allow for this one picture, or decline."
        f" The question closes <t:{int(closes_at)}:R>."
    )


def waiting_text(waiting: Sequence[str], *, closes_at: float) -> str:
    return f"⏳ Waiting for {names(waiting)} to allow their face in the group photo (until <t:{int(closes_at)}:t>)…"


def allowed_text(member: str, asker: str) -> str:
    return f"✅ **{member}** allowed their face in **{asker}**'s group photo."


def declined_text(member: str) -> str:
    return f"**{member}** declined, {_NOTHING_KEPT}"


def timed_out_text(waiting: Sequence[str]) -> str:
    return f"{names(waiting)} did not answer in time, {_NOTHING_KEPT}"


def forgotten_text(member: str) -> str:
    return f"**{member}** asked the bot to forget them, {_NOTHING_KEPT}"


def deleted_identity_text(member: str) -> str:
    return f"**{member}** no longer has that saved identity, {_NOTHING_KEPT}"


def template_gone_text() -> str:
    return "I could not fetch the template photo any more, so the group photo was not made; upload the template again with /group."


def not_asked_text(member: str) -> str:
    return f"I could not post the question to **{member}** in this channel, {_NOTHING_KEPT}"
