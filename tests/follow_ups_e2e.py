"""Reading and pressing the follow-up controls through the fake Discord, shared by the follow-up e2e tests."""

from __future__ import annotations

import json
from typing import Any

from tests.fakediscord import ALICE, FakeInteraction, FakeUser, StoredMessage
from tests.fakes import FakeEngine
from tests.portrait_e2e import PortraitWorld

MODAL_SUBMIT = 5
#: A modal's label component, holding one input (the style menu).
LABEL = 18


def engine() -> FakeEngine:
    # Results as large as the runtime accepts a photo (images.min_side): follow-ups start from them.
    return FakeEngine(size=128)


def gated_engine() -> FakeEngine:
    return FakeEngine(size=128, is_gated=True)


def rows(message: StoredMessage) -> list[list[str]]:
    """The labels of a message's controls (a menu by its placeholder), row by row, as a member sees them."""
    return [
        [component.get("label") or component.get("placeholder") or "" for component in row["components"]]
        for row in message.payload.get("components") or []
    ]


def says(message: StoredMessage, text: str) -> bool:
    return text in json.dumps(message.payload.get("embeds") or [])


async def press(world: PortraitWorld, message: StoredMessage, label: str, **kwargs: Any) -> FakeInteraction:
    return await world.driver.click_button(world.button_id(message, label), message=message, **kwargs)


async def result_of(world: PortraitWorld, click: FakeInteraction, *, user: FakeUser = ALICE) -> StoredMessage:
    """The result of the job a press started: found by its status message (a message of the press's token),
    posted wherever it went (a reply in the channel, or the press's own followup when private)."""

    def probe() -> Any:
        statuses = {message.id for message in world.fake.messages.values() if message.token == click.token}
        return next(
            (r for r in world.store.jobs_of(user.id, states=("delivered",)) if r.status_message_id in statuses), None
        )

    record = await world.fake.wait_for(probe)
    if record.result_message_id is None:  # ephemeral: only its token knows it
        return await world.result_message(click)
    return world.fake.messages[record.result_message_id]


async def open_form(world: PortraitWorld, message: StoredMessage, *, user: FakeUser = ALICE) -> dict[str, Any]:
    """Press Edit and return the form Discord was asked to show."""
    click = await press(world, message, "Edit", user=user)
    assert await world.driver.wait_for_ack(click) == 9  # a form, not a message
    (callback,) = [r for r in world.driver.requests_for(click) if r.route == "interaction_callback"]
    return callback.json["data"]


async def submit(
    world: PortraitWorld, form: dict[str, Any], answers: dict[str, str], *, user: FakeUser = ALICE
) -> FakeInteraction:
    """Submit the form with each text field (by its label's first word) set to ``answers``, in action rows; the
    style menu, when the form has one, as ``answers["Style"]`` or else the option it showed chosen."""
    inputs: list[dict[str, Any]] = [
        {"type": 1, "components": [{"type": 4, "custom_id": field["custom_id"], "value": answers[word]}]}
        for row in form["components"]
        if row["type"] == 1
        for field in row["components"]
        if (word := field["label"].split(" ")[0])
    ]
    for label in (row for row in form["components"] if row["type"] == LABEL):
        menu = label["component"]
        shown = [option["value"] for option in menu["options"] if option.get("default")]
        chosen = answers.get(label["label"], shown[0] if shown else None)
        values = [] if chosen is None else [chosen]
        inputs.append({"type": LABEL, "component": {"type": 3, "custom_id": menu["custom_id"], "values": values}})
    data = {"custom_id": form["custom_id"], "components": inputs}
    return await world.fake.send_interaction(MODAL_SUBMIT, data, user)
