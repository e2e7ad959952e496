"""End to end through the fake Discord: Upscale and Vary under group photos and /inpaint results, members, a restart."""

from __future__ import annotations

import json
from typing import Any

from fact_runtime import GroupRequest, InpaintRequest
from tests.fakediscord import ALICE, BOB, FakeInteraction, StoredMessage
from tests.fakes import FakeEngine
from tests.portrait_e2e import PortraitWorld, WorldFactory, result_card
from tests.test_e2e_group import ask_group, group_world


def _rows(message: StoredMessage) -> list[list[str]]:
    """The labels of a message's buttons, row by row, as a member sees them."""
    return [[component["label"] for component in row["components"]] for row in message.payload.get("components") or []]


def _says(message: StoredMessage, text: str) -> bool:
    return text in json.dumps(message.payload.get("embeds") or [])


async def _press(world: PortraitWorld, message: StoredMessage, label: str, **kwargs: Any) -> FakeInteraction:
    return await world.driver.click_button(world.button_id(message, label), message=message, **kwargs)


async def result_of(world: PortraitWorld, click: FakeInteraction) -> StoredMessage:
    """The result of the job a press started, found by its status message (a message of the press's token)."""

    def probe() -> Any:
        statuses = {message.id for message in world.fake.messages.values() if message.token == click.token}
        return next(
            (r for r in world.store.jobs_of(ALICE.id, states=("delivered",)) if r.status_message_id in statuses), None
        )

    record = await world.fake.wait_for(probe, timeout=120)
    if record.result_message_id is None:  # ephemeral: only its token knows it
        return await world.result_message(click)
    return world.fake.messages[record.result_message_id]


def engine() -> FakeEngine:
    # Results as large as the runtime accepts a photo (images.min_side): follow-ups start from them.
    return FakeEngine(size=128)


def gated_engine() -> FakeEngine:
    return FakeEngine(size=128, steps=4, is_gated=True)


async def _group_photo(world: PortraitWorld, template: bytes, **options):
    """Bob shares his face here, Alice makes a group photo; its result message and job."""
    share = await world.driver.send_command("identity share", {"allow": True}, user=BOB)
    assert (await world.reply_to(share)).startswith("Sharing is on here")
    if world.engine.is_gated:
        world.engine.release(world.engine.steps)
    result = await world.result_message(await ask_group(world, template, **options))
    (job,) = world.store.jobs_of(ALICE.id, states=("delivered",))
    return result, job


async def test_a_group_photo_has_upscale_and_vary_and_each_paints_its_members_again_on_it(
    make_world: WorldFactory, astronaut_png: bytes, grace_hopper_jpeg: bytes
) -> None:
    world = await group_world(make_world, astronaut_png, grace_hopper_jpeg, engine=engine)
    result, parent = await _group_photo(world, grace_hopper_jpeg, recipe="fast")
    # No Edit: a group photo has no prompt to change.
    assert _rows(result) == [["Reroll", "Same again", "Delete"], ["Upscale 2x"], ["Vary (subtle)"], ["Vary (strong)"]]
    group = world.engine.requests[-1]
    kept = world.store.results(parent.job_id)
    assert isinstance(group, GroupRequest) and kept is not None

    upscaled = await result_of(world, await _press(world, result, "Upscale 2x"))
    request = world.engine.requests[-1]
    assert isinstance(request, GroupRequest)
    # The posted image, twice as large, with the same seed, template, recipe and members.
    assert (request.start, request.scale, request.strength) == (kept.images[0].png, 2, None)
    assert (request.seed, request.template, request.recipe) == (kept.images[0].seed, grace_hopper_jpeg, "fast")
    assert request.faces == group.faces
    card = result_card(upscaled)
    assert card.fields["Template"] == "your template photo"
    assert _says(upscaled, "Upscaled 2x from image 1 of")
    assert f"Faces from the left: 1 <@{ALICE.id}> (**me**), 2 <@{BOB.id}> (**me**)." in card.fields["Notes"]
    assert _rows(upscaled)[0] == ["Reroll", "Same again", "Delete"]  # and its own follow-ups, no Edit

    varied = await result_of(world, await _press(world, upscaled, "Vary (strong)"))
    request = world.engine.requests[-1]
    (upscale_job,) = [r for r in world.store.jobs_of(ALICE.id, states=("delivered",)) if r.kind == "upscale"]
    assert isinstance(request, GroupRequest) and request.faces == group.faces
    assert request.start == world.store.results(upscale_job.job_id).images[0].png
    assert (request.scale, request.strength) == (1, 0.6) and request.seed != kept.images[0].seed
    assert _says(varied, "A variation of image 1 of")


async def test_a_member_whose_identity_is_gone_stops_the_follow_up_named_and_forget_deletes_follow_ups(
    make_world: WorldFactory, astronaut_png: bytes, grace_hopper_jpeg: bytes
) -> None:
    world = await group_world(make_world, astronaut_png, grace_hopper_jpeg, engine=engine)
    result, parent = await _group_photo(world, grace_hopper_jpeg)
    subtle = await result_of(world, await _press(world, result, "Vary (subtle)"))
    (child,) = [r for r in world.store.jobs_of(ALICE.id, states=("delivered",)) if r.kind == "vary"]
    runs = len(world.engine.requests)

    delete = await world.driver.send_command("identity delete", {"name": "me"}, user=BOB)
    assert (await world.reply_to(delete)).startswith("🗑️ Deleted **me**")
    click = await _press(world, result, "Upscale 2x")
    assert (await world.sentence_for(click)).content == (
        f"<@{BOB.id}>'s saved identity **me** (face 2) was deleted since that group photo was made, "
        "so it cannot be upscaled or varied."
    )
    assert len(world.engine.requests) == runs and world.store.jobs_of(ALICE.id) == []

    # Bob's /forget takes his face out of Alice's store: the group photo and its variation alike.
    forget = await world.driver.send_command("forget", user=BOB)
    assert (await world.sentence_for(forget)).content == "Done: I deleted your photos and 2 posted results."
    assert world.store.get(parent.job_id) is None and world.store.get(child.job_id) is None
    await world.fake.wait_for(lambda: result.is_deleted and subtle.is_deleted)


async def test_a_queued_group_follow_up_is_re_queued_after_a_restart(
    make_world: WorldFactory, astronaut_png: bytes, grace_hopper_jpeg: bytes
) -> None:
    world = await group_world(make_world, astronaut_png, grace_hopper_jpeg, engine=gated_engine)
    result, parent = await _group_photo(world, grace_hopper_jpeg, seed=5)
    kept = world.store.results(parent.job_id)
    assert kept is not None
    world.engine.started.clear()

    await _press(world, result, "Upscale 2x")
    await world.engine_started()
    (job,) = world.store.jobs_of(ALICE.id)
    assert job.kind == "upscale" and job.parent_id == parent.job_id and job.options.seats == parent.options.seats
    queue = await world.driver.send_command("queue")
    assert "your template photo upscale of image 1" in (await world.sentence_for(queue)).content
    await world.restart()
    world.engine.open()
    await world.wait_state(job.job_id, "delivered")
    (request,) = world.engine.requests  # the new process rebuilt it from the stored seats, template and image
    assert isinstance(request, GroupRequest) and request.start == kept.images[0].png and request.scale == 2
    assert request.seed == 5 and request.template == grace_hopper_jpeg
    assert [(face.face_index, face.user_id) for face in request.faces] == [(1, str(ALICE.id)), (2, str(BOB.id))]


async def test_an_inpaint_result_has_upscale_and_vary_that_paint_its_face_again_with_its_selfie(
    make_world: WorldFactory, astronaut_png: bytes, grace_hopper_jpeg: bytes
) -> None:
    world = await make_world(engine=engine)
    selfie, template = world.driver.attach(astronaut_png, "me.png"), world.driver.attach(grace_hopper_jpeg, "t.jpg")
    await world.driver.send_command("inpaint", {"selfie": selfie, "template": template, "recipe": "fast", "seed": 3})
    result = await world.result_message()
    assert _rows(result) == [["Reroll", "Same again", "Delete"], ["Upscale 2x"], ["Vary (subtle)"], ["Vary (strong)"]]
    (parent,) = world.store.jobs_of(ALICE.id, states=("delivered",))
    kept = world.store.results(parent.job_id)
    assert kept is not None

    upscaled = await result_of(world, await _press(world, result, "Upscale 2x"))
    request = world.engine.requests[-1]
    assert isinstance(request, InpaintRequest)
    assert (request.start, request.scale, request.strength, request.seed) == (kept.images[0].png, 2, None, 3)
    assert (request.selfie, request.template, request.recipe) == (astronaut_png, grace_hopper_jpeg, "fast")
    assert result_card(upscaled).fields["Template"] == "your template photo"
    assert _says(upscaled, "Upscaled 2x from image 1 of")

    await result_of(world, await _press(world, upscaled, "Vary (subtle)"))
    request = world.engine.requests[-1]
    assert isinstance(request, InpaintRequest) and (request.scale, request.strength) == (1, 0.3)
