"""End to end: the job buttons (same again after a failure, owner-only, delete) as Discord users press them."""

from __future__ import annotations

from fact_runtime import JobFailed
from tests.fakediscord import ALICE, BOB
from tests.fakediscord.harness import buttons
from tests.fakes import FakeEngine
from tests.portrait_e2e import WorldFactory, result_card


def failing_once() -> FakeEngine:
    engine = FakeEngine(steps=2)
    engine.fail_next(RuntimeError("the GPU caught fire"))
    return engine


async def test_a_failed_job_offers_same_again_which_runs_it_again(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(engine=failing_once)
    interaction = await world.portrait(astronaut_png, seed=42)
    sorry = await world.sentence_for(interaction)
    assert sorry.content == JobFailed.user_message
    assert [b["label"] for b in buttons(sorry)] == ["Try again"]

    again = await world.driver.click_button(world.button_id(sorry, "Try again"), message=sorry)
    result = await world.result_message(again)
    first, second = world.engine.requests
    assert first.seed == second.seed == 42 and second.selfie == astronaut_png
    assert result_card(result).fields["Seed"] == "42"


async def test_only_the_owner_can_press_a_jobs_buttons(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world()
    await world.portrait(astronaut_png, user=ALICE)
    result = await world.result_message()

    click = await world.driver.click_button(world.button_id(result, "Reroll"), message=result, user=BOB)
    reply = await world.sentence_for(click)
    assert reply.content == "Only the person who started that job can use this button."
    assert len(world.engine.requests) == 1 and world.store.jobs_of(BOB.id) == []


async def test_delete_removes_the_images_and_the_selfie(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world()
    interaction = await world.portrait(astronaut_png)
    result = await world.result_message()
    reroll_id = world.button_id(result, "Reroll")
    status = world.driver.original(interaction)
    await world.fake.wait_for(lambda: status.content.startswith("✅"))

    delete = await world.driver.click_button(world.button_id(result, "Delete"), message=result)
    await world.fake.wait_for(lambda: result.is_deleted)
    assert delete.callback_type == 6
    # The status no longer claims images are there (it is edited with the bot token: the job's token is dropped).
    await world.fake.wait_for(lambda: status.content.startswith("🗑️"))
    (job,) = world.store.jobs_of(ALICE.id, states=("delivered",))
    assert world.store.inputs(job.job_id) == {}

    # A reroll from a copy of the old message (e.g. another client still showing it) finds no selfie.
    reroll = await world.driver.click_button(reroll_id, message=result)
    reply = await world.sentence_for(reroll)
    assert reply.content.startswith("The selfie from that job has expired")
    assert len(world.engine.requests) == 1
