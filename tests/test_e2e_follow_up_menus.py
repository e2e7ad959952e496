"""End to end through the fake Discord: past 5 images, one menu per follow-up lists the images."""

from __future__ import annotations

from bot.errors import ImageExpired, NotJobOwner
from fact_runtime import UpscaleRequest, VaryRequest
from tests.fakediscord import ALICE, BOB, StoredMessage
from tests.follow_ups_e2e import engine, result_of, rows, says
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
