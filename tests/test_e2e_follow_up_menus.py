"""End to end through the fake Discord: past 5 images, one menu per follow-up lists the images."""

from __future__ import annotations

from bot.errors import ImageExpired, NotJobOwner
from bot.respond import STARTING
from fact_runtime import QueueFull, UpscaleRequest, VaryRequest
from fact_runtime.config import QueueConfig
from tests.fakediscord import ADMIN, ALICE, BOB, StoredMessage
from tests.follow_ups_e2e import engine, gated_engine, result_of, rows, says
from tests.portrait_e2e import PortraitWorld, WorldFactory

MENUS = ["Upscale 2x: choose an image", "Vary (subtle): choose an image", "Vary (strong): choose an image"]


def _menu(message: StoredMessage, placeholder: str) -> dict:
    return next(
        c for row in message.payload["components"] for c in row["components"] if c.get("placeholder") == placeholder
    )


async def _choose(world: PortraitWorld, message: StoredMessage, placeholder: str, value: str, **kwargs):
    return await world.driver.choose(_menu(message, placeholder)["custom_id"], value, message=message, **kwargs)


async def test_a_result_of_seven_images_offers_a_menu_per_follow_up_that_works_after_a_restart(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(engine=engine, max_count=10)
    await world.portrait(astronaut_png, count=7, seed=20)
    result = await world.result_message()
    assert rows(result) == [["Reroll", "Same again", "Delete", "Edit"], *[[menu] for menu in MENUS]]
    for placeholder in MENUS:
        assert [option["label"] for option in _menu(result, placeholder)["options"]] == [
            f"Image {n}" for n in range(1, 8)
        ]
    (parent,) = world.store.jobs_of(ALICE.id, states=("delivered",))
    kept = world.store.results(parent.job_id)

    refused = await _choose(world, result, MENUS[0], "6", user=BOB)
    assert (await world.sentence_for(refused)).content == NotJobOwner.user_message

    await world.restart()  # the menus are rebuilt from their custom ids, like the buttons
    upscale = await _choose(world, result, MENUS[0], "6")
    upscaled = await result_of(world, upscale)
    (request,) = world.engine.requests
    assert isinstance(request, UpscaleRequest) and request.image == kept.images[5].png and request.seed == 25
    assert says(upscaled, "Upscaled 2x from image 6 of")
    assert upscaled.payload["message_reference"]["message_id"] == str(result.id)

    strong = await _choose(world, result, MENUS[2], "7")
    varied = await result_of(world, strong)
    request = world.engine.requests[-1]
    assert isinstance(request, VaryRequest) and request.image == kept.images[6].png and request.strength == 0.6
    assert says(varied, "A variation of image 7 of")
    # Its own result, of one image, has the buttons again.
    assert rows(varied)[1:] == [["Upscale 2x"], ["Vary (subtle)"], ["Vary (strong)"]]

    # The choice updated the menu's message, so the client shows the menu afresh: the same image again.
    assert strong.callback_type == 7 and rows(result)[1:] == [[menu] for menu in MENUS]
    again = await _choose(world, result, MENUS[2], "7")
    await result_of(world, again)
    assert [r.image for r in world.engine.requests[-2:]] == [kept.images[6].png] * 2


async def test_ten_images_fit_in_five_rows_and_the_tenth_can_be_chosen(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(engine=engine, max_count=10)
    await world.portrait(astronaut_png, count=10)
    result = await world.result_message()
    assert len(result.files) == 10
    assert rows(result)[1:] == [[menu] for menu in MENUS]
    assert [o["value"] for o in _menu(result, MENUS[1])["options"]] == [str(n) for n in range(1, 11)]

    subtle = await _choose(world, result, MENUS[1], "10")
    await result_of(world, subtle)
    (parent,) = [r for r in world.store.jobs_of(ALICE.id, states=("delivered",)) if r.parent_id is None]
    request = world.engine.requests[-1]
    assert isinstance(request, VaryRequest) and request.image == world.store.results(parent.job_id).images[9].png

    # A choice refused after the menu was reset is still told in one sentence.
    world.store.purge_inputs(parent.job_id)
    expired = await _choose(world, result, MENUS[0], "3")
    assert (await world.sentence_for(expired)).content == ImageExpired.user_message
    assert expired.callback_type == 7 and len(world.engine.requests) == 2


async def test_a_menu_choice_refused_after_its_status_was_posted_leaves_only_the_sentence(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(engine=gated_engine, max_count=10, queue=QueueConfig(max_queued=1, max_per_user=3))
    await world.portrait(astronaut_png, count=6)
    await world.engine_started()
    world.engine.open()
    result = await world.result_message()
    world.engine.is_gated = True
    await world.portrait(astronaut_png, user=BOB)
    await world.engine_started()
    await world.portrait(astronaut_png, user=ADMIN)
    await world.fake.wait_for(lambda: world.runtime.queue_depth == 1)

    refused = await _choose(world, result, MENUS[1], "2")
    assert (await world.sentence_for(refused)).content == QueueFull.user_message
    # The public status posted for the choice is gone with it, not left saying it is starting.
    (status,) = [m for m in world.fake.messages.values() if m.token == refused.token and m.content == STARTING]
    assert status.is_deleted and not status.is_ephemeral
