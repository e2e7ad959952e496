"""End to end through the fake Discord: the follow-up buttons (upscale, subtle and strong variations) under results."""

from __future__ import annotations

import json

from bot.errors import ImageExpired, NotJobOwner
from bot.responsible.rules import PromptBlocked
from fact_runtime import UpscaleRequest, VaryRequest
from tests.fakediscord import ALICE, BOB, StoredMessage
from tests.fakediscord.harness import buttons
from tests.fakes import FakeEngine
from tests.portrait_e2e import PortraitWorld, WorldFactory


def engine() -> FakeEngine:
    # Results as large as the runtime accepts a photo (images.min_side): follow-ups start from them.
    return FakeEngine(size=128)


def gated_engine() -> FakeEngine:
    return FakeEngine(size=128, is_gated=True)


def _rows(message: StoredMessage) -> list[list[str]]:
    """The labels of a message's buttons, row by row, as a member sees them."""
    return [[component["label"] for component in row["components"]] for row in message.payload.get("components") or []]


def _says(message: StoredMessage, text: str) -> bool:
    return text in json.dumps(message.payload.get("embeds") or [])


async def _press(world: PortraitWorld, message: StoredMessage, label: str, **kwargs):
    return await world.driver.click_button(world.button_id(message, label), message=message, **kwargs)


async def test_a_result_of_two_images_has_a_row_per_follow_up_and_each_button_runs_its_job(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(engine=engine)
    await world.portrait(astronaut_png, style="cyberpunk", count=2, seed=7)
    result = await world.result_message()
    assert _rows(result) == [
        ["Reroll", "Same again", "Delete", "Edit"],
        ["Upscale 1", "Upscale 2"],
        ["Subtle 1", "Subtle 2"],
        ["Strong 1", "Strong 2"],
    ]
    parent = world.store.jobs_of(ALICE.id, states=("delivered",))[0]
    kept = world.store.results(parent.job_id)
    assert kept is not None  # the posted images stay for follow-ups

    upscale = await _press(world, result, "Upscale 2")
    upscaled = await world.result_message(upscale)
    request = world.engine.requests[-1]
    assert isinstance(request, UpscaleRequest)
    # The second image, redrawn with its own seed, the job's style and selfie.
    assert request.image == kept.images[1].png and request.seed == 8 and request.scale == 2
    assert request.style_id == "cyberpunk" and request.selfie == astronaut_png
    assert _says(upscaled, "Upscaled 2x from image 2 of")
    # A single image's follow-ups name the action alone.
    assert _rows(upscaled)[1:] == [["Upscale 2x"], ["Vary (subtle)"], ["Vary (strong)"]]

    for label, strength in (("Subtle 1", 0.3), ("Strong 1", 0.6)):
        click = await _press(world, result, label)
        varied = await world.result_message(click)
        request = world.engine.requests[-1]
        assert isinstance(request, VaryRequest)
        assert request.image == kept.images[0].png and request.strength == strength and request.seed != 7
        assert _says(varied, "A variation of image 1 of")

    # An upscale of a variation starts from the variation's own image.
    again = await _press(world, varied, "Upscale 2x")
    await world.result_message(again)
    request = world.engine.requests[-1]
    (child,) = [r for r in world.store.jobs_of(ALICE.id, states=("delivered",)) if r.kind == "vary"][-1:]
    assert isinstance(request, UpscaleRequest) and request.image == world.store.results(child.job_id).images[0].png
    follow_ups = [r for r in world.store.jobs_of(ALICE.id, states=("delivered",)) if r.parent_id]
    assert sorted(r.kind for r in follow_ups) == ["upscale", "upscale", "vary", "vary"]


async def test_only_the_owner_can_press_a_follow_up_and_a_private_jobs_stay_private(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(engine=engine)
    await world.portrait(astronaut_png, private=True)
    result = await world.result_message()
    assert result.is_ephemeral

    refused = await _press(world, result, "Upscale 2x", user=BOB)
    assert (await world.sentence_for(refused)).content == NotJobOwner.user_message
    assert len(world.engine.requests) == 1

    click = await _press(world, result, "Vary (subtle)")
    varied = await world.result_message(click)
    assert varied.is_ephemeral and click.is_ephemeral
    (follow_up,) = [r for r in world.store.jobs_of(ALICE.id, states=("delivered",)) if r.kind == "vary"]
    assert follow_up.is_private


async def test_a_follow_up_is_counted_queued_and_re_queued_after_a_restart(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(engine=gated_engine)
    await world.portrait(astronaut_png)
    await world.engine_started()
    world.engine.open()
    result = await world.result_message()
    world.engine.is_gated = True

    await _press(world, result, "Upscale 2x")
    await world.engine_started()
    # Unfinished, so it counts against the member's limit; a job of its own, pointing at its parent.
    (job,) = await world.fake.wait_for(lambda: world.store.jobs_of(ALICE.id))
    assert job.kind == "upscale" and job.parent_id is not None
    queue = await world.driver.send_command("queue")
    assert "Astronaut upscale of image 1" in (await world.sentence_for(queue)).content

    await world.restart()
    world.engine.open()
    assert isinstance(world.engine.requests[0], UpscaleRequest)  # the new process re-queued it
    await world.wait_state(job.job_id, "delivered")


async def test_an_expired_parent_image_is_told_in_one_sentence(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world(engine=engine)
    await world.portrait(astronaut_png)
    result = await world.result_message()
    await world.fake.wait_for(lambda: world.status_texts()[-1].startswith("✅"))  # the job's last edit is done
    world.fake.clock.advance(world.settings.retention_s + 1)
    assert world.store.purge_expired(world.settings.retention_s) == 1

    click = await _press(world, result, "Upscale 2x")
    assert (await world.sentence_for(click)).content == ImageExpired.user_message
    assert len(world.engine.requests) == 1


async def test_forget_deletes_the_kept_images(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world(engine=engine)
    await world.portrait(astronaut_png)
    result = await world.result_message()
    (parent,) = world.store.jobs_of(ALICE.id, states=("delivered",))
    png = world.store.results(parent.job_id).images[0].png

    forget = await world.driver.send_command("forget")
    await world.sentence_for(forget)
    assert world.store.results(parent.job_id) is None
    assert png not in world.settings.database.read_bytes()  # scrubbed, not merely unlinked
    click = await _press(world, result, "Vary (strong)")
    assert "no longer exists" in (await world.sentence_for(click)).content
    assert buttons(result)  # the message itself is Discord's; its buttons now refuse


MODAL_SUBMIT = 5


async def test_edit_opens_the_filled_form_and_its_submit_runs_the_job_again_changed(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(engine=engine)
    await world.portrait(astronaut_png, style="cyberpunk", prompt="neon rain", seed=5)
    result = await world.result_message()
    assert _rows(result)[0] == ["Reroll", "Same again", "Delete", "Edit"]

    refused = await _press(world, result, "Edit", user=BOB)
    assert (await world.sentence_for(refused)).content == NotJobOwner.user_message

    form = await _open_form(world, result)
    fields = [row["components"][0] for row in form["components"]]
    assert [(field["label"].split(" ")[0], field["value"]) for field in fields] == [
        ("Extra", "neon rain"),
        ("Subject", "person"),
        ("Seed", "5"),
    ]

    submit = await _submit(world, form, {"Extra": "golden hour", "Subject": "Woman", "Seed": "9"})
    await world.result_message(submit)
    request = world.engine.requests[-1]
    assert (request.prompt, request.subject, request.seed) == ("golden hour", "woman", 9)
    assert request.style_id == "cyberpunk" and request.selfie == astronaut_png

    wrong = await _submit(world, await _open_form(world, result), {"Extra": "", "Subject": "", "Seed": "nine"})
    assert (await world.sentence_for(wrong)).content.startswith("The seed must be a whole number")
    assert len(world.engine.requests) == 2


async def test_an_edited_prompt_meets_the_servers_prompt_rules(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world(engine=engine, blocked_words=("forbidden",))
    await world.portrait(astronaut_png)
    result = await world.result_message()
    submit = await _submit(
        world, await _open_form(world, result), {"Extra": "a Forbidden idea", "Subject": "", "Seed": ""}
    )
    assert (await world.sentence_for(submit)).content == PromptBlocked.user_message
    assert len(world.engine.requests) == 1


async def _open_form(world: PortraitWorld, message: StoredMessage) -> dict:
    """Press Edit and return the form Discord was asked to show."""
    click = await _press(world, message, "Edit")
    assert await world.driver.wait_for_ack(click) == 9  # a form, not a message
    (callback,) = [r for r in world.driver.requests_for(click) if r.route == "interaction_callback"]
    return callback.json["data"]


async def _submit(world: PortraitWorld, form: dict, answers: dict[str, str]):
    """Submit the form with each field (by its label's first word) set to ``answers``."""
    rows = [
        {"type": 1, "components": [{"type": 4, "custom_id": field["custom_id"], "value": answers[word]}]}
        for row in form["components"]
        for field in row["components"]
        if (word := field["label"].split(" ")[0])
    ]
    data = {"custom_id": form["custom_id"], "components": rows}
    return await world.fake.send_interaction(MODAL_SUBMIT, data, ALICE)
