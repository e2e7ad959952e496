"""The fake Discord's message and autocomplete rules, checked directly."""

from __future__ import annotations

import pytest

from tests.fakediscord import ALICE, BOB, CHANNEL_ID, StoredMessage, replies
from tests.fakediscord.rules import Answer, check_autocomplete, check_message_body, unmatched_embed_attachments

MiB = 1024 * 1024


def _menu(options: int) -> dict:
    return {"type": 3, "custom_id": "m", "options": [{"label": str(n), "value": str(n)} for n in range(options)]}


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (
            {"content": "ok", "components": [{"type": 1, "components": [{"type": 2, "custom_id": "x" * 101}]}]},
            "invalid_components",
        ),
        (
            {"components": [{"type": 1, "components": [{"type": 2, "custom_id": str(i)} for i in range(6)]}]},
            "invalid_components",
        ),
        ({"embeds": [{"description": "x" * 6001}]}, "embeds_too_large"),
        ({"components": [{"type": 1, "components": [_menu(1), {"type": 2, "custom_id": "b"}]}]}, "invalid_components"),
        ({"components": [{"type": 1, "components": [_menu(26)]}]}, "invalid_components"),
        ({"components": [{"type": 1, "components": [_menu(0)]}]}, "invalid_components"),
        ({"components": [{"type": 1, "components": [_menu(25)]} for _ in range(5)]}, None),
        ({"content": "fine", "embeds": [{"title": "t"}]}, None),
    ],
)
def test_message_body_rules(body: dict, kind: str | None) -> None:
    rejection = check_message_body(body, (), file_size_limit=10 * MiB)
    assert (rejection.violation if rejection else None) == kind


def test_autocomplete_rules() -> None:
    def choices(names: list[str]) -> dict:
        return {"type": 8, "data": {"choices": [{"name": n, "value": n} for n in names]}}

    assert check_autocomplete(choices(["a"] * 25)) is None
    assert check_autocomplete(choices(["a"] * 26)).violation == "too_many_choices"
    assert check_autocomplete(choices(["x" * 101])).violation == "invalid_choice"


def test_an_embed_image_must_name_one_of_the_messages_attachments() -> None:
    attached = {"attachments": [{"filename": "portrait-1.png"}]}
    shown = {**attached, "embeds": [{"image": {"url": "attachment://portrait-1.png"}}]}
    lost = {**attached, "embeds": [{"image": {"url": "attachment://portrait-1.jpg"}}]}
    assert unmatched_embed_attachments(shown) == []
    assert unmatched_embed_attachments(lost) == ["attachment://portrait-1.jpg"]
    assert unmatched_embed_attachments({"embeds": [{"image": {"url": "https://example.com/a.png"}}]}) == []


def test_a_reply_names_a_message_of_its_channel_or_is_sent_plain_when_told_so() -> None:
    parent = StoredMessage(10, CHANNEL_ID, {"author": {"id": "1"}, "flags": 0, "id": "10"})
    elsewhere = StoredMessage(11, CHANNEL_ID + 1, {"author": {"id": "1"}, "flags": 0, "id": "11"})
    messages = {10: parent, 11: elsewhere}

    def body(message_id: int, **reference: object) -> dict:
        return {"message_reference": {"message_id": str(message_id), **reference}}

    assert replies.referenced(body(10), CHANNEL_ID, messages) is parent
    assert replies.referenced({"content": "plain"}, CHANNEL_ID, messages) is None
    assert replies.referenced(body(11, fail_if_not_exists=False), CHANNEL_ID, messages) is None
    for missing in (11, 12):
        with pytest.raises(Answer) as refused:
            replies.referenced(body(missing), CHANNEL_ID, messages)
        assert refused.value.rejection.violation == "unknown_reply_parent"


def test_a_message_pings_whom_its_allowed_mentions_let_through() -> None:
    parent = StoredMessage(10, CHANNEL_ID, {"author": {"id": "1"}, "flags": 0})
    content = f"<@{ALICE.id}> and <@!{BOB.id}>"

    def pinged(allowed: dict | None, replying_to: StoredMessage | None = None) -> list[str]:
        body = {"content": content, **({"allowed_mentions": allowed} if allowed is not None else {})}
        return [user["id"] for user in replies.mentions(body, replying_to)]

    assert pinged(None) == [str(ALICE.id), str(BOB.id)]
    assert pinged({"parse": [], "users": [str(ALICE.id)], "replied_user": False}, parent) == [str(ALICE.id)]
    assert pinged({"parse": ["users"], "replied_user": True}, parent) == [str(ALICE.id), str(BOB.id), "1"]
    assert pinged({"parse": []}) == []
