"""The fake Discord's message and autocomplete rules, checked directly."""

from __future__ import annotations

import pytest

from tests.fakediscord.rules import check_autocomplete, check_message_body, unmatched_embed_attachments

MiB = 1024 * 1024


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
