"""Job buttons: custom_id routing, owner checks, and actions that work after a restart."""

from __future__ import annotations

from bot.jobs import parse_custom_id
from tests.fakediscord import ALICE, BOB, FakeInteraction, StoredMessage
from tests.fakediscord.harness import buttons
from tests.portrait_e2e import PortraitWorld, WorldFactory, gated_engine

NOT_YOURS = "Only the person who started that job can use this button."


def test_custom_ids_parse_to_action_and_job() -> None:
    assert parse_custom_id("fact:reroll:0123456789abcdef") == ("reroll", "0123456789abcdef")
    assert parse_custom_id("fact:delete:0123abcd") == ("delete", "0123abcd")
    for other in ("fact:explode:0123456789abcdef", "fact:reroll:XYZ", "fact:cancel:0123456789abcdef:extra", "job:1"):
        assert parse_custom_id(other) is None


async def _delivered(world: PortraitWorld, selfie: bytes) -> tuple[str, StoredMessage]:
    """A delivered job's id and its result message (with the Reroll, Same again and Delete buttons)."""
    await world.portrait(selfie)
    result = await world.result_message()
    job_id = (await world.only_job("delivered")).job_id
    return job_id, result


async def _status(world: PortraitWorld, interaction: FakeInteraction, needle: str) -> StoredMessage:
    await world.driver.wait_for_ack(interaction)
    status = world.driver.original(interaction)
    await world.fake.wait_for(lambda: needle in status.content)
    return status


async def test_the_owner_can_cancel_a_running_job(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world(engine=gated_engine)
    interaction = await world.portrait(astronaut_png)
    await world.engine_started()
    status = await _status(world, interaction, "Finding your face")
    job_id = (await world.only_job()).job_id
    assert [b["custom_id"] for b in buttons(status)] == [f"fact:cancel:{job_id}"]

    click = await world.driver.click_button(f"fact:cancel:{job_id}", message=status)
    assert await world.reply_to(click) == "Cancelling that job."
    world.engine.open()  # the job stops at its next step
    await world.wait_state(job_id, "cancelled")
    await world.fake.wait_for(lambda: world.status_texts()[-1] == "🛑 Cancelled.")
    assert world.fake.requests_to("followup_send") == []  # nothing delivered
    assert buttons(status) == []


async def test_someone_else_cannot_press_a_job_button(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world(engine=gated_engine)
    interaction = await world.portrait(astronaut_png)
    await world.engine_started()
    status = await _status(world, interaction, "Finding your face")
    job_id = (await world.only_job()).job_id
    cancel = await world.driver.click_button(f"fact:cancel:{job_id}", message=status, user=BOB)
    assert await world.reply_to(cancel) == NOT_YOURS
    assert world.store.get(job_id).state in ("queued", "running")

    world.engine.open()
    result = await world.result_message()
    for label in ("Reroll", "Same again", "Delete"):
        click = await world.driver.click_button(world.button_id(result, label), message=result, user=BOB)
        assert await world.reply_to(click) == NOT_YOURS
    assert world.store.inputs(job_id) == {"selfie": astronaut_png}  # the delete did not happen
    assert not result.is_deleted and len(world.engine.runs) == 1 and world.store.jobs_of(BOB.id) == []


async def test_reroll_and_again_work_after_a_restart(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world()
    job_id, result = await _delivered(world, astronaut_png)
    first_seed = world.engine.requests[0].seed
    await world.restart()  # a new process: same database file, nothing in memory

    reroll = await world.driver.click_button(world.button_id(result, "Reroll"), message=result)
    again = await world.driver.click_button(world.button_id(result, "Same again"), message=result)
    for click in (reroll, again):
        assert await world.driver.wait_for_ack(click) == 5
        await world.result_message(click)
    children = [r for r in world.store.jobs_of(ALICE.id, states=("delivered",)) if r.parent_id == job_id]
    assert len(children) == 2
    seeds = sorted(request.seed for request in world.engine.requests)  # the new process's engine
    assert all(request.selfie == astronaut_png for request in world.engine.requests)
    assert first_seed in seeds and len(set(seeds)) == 2  # "again" repeats the seed; reroll draws a new one


async def test_reroll_after_the_retention_window_says_the_selfie_expired(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(retention_hours=0)
    _, result = await _delivered(world, astronaut_png)
    world.store.purge_expired(world.settings.retention_s)
    click = await world.driver.click_button(world.button_id(result, "Reroll"), message=result)
    assert (await world.reply_to(click)).startswith("The selfie from that job has expired")
    assert len(world.engine.runs) == 1


async def test_delete_removes_the_message_and_the_stored_photo(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world()
    job_id, result = await _delivered(world, astronaut_png)
    click = await world.driver.click_button(world.button_id(result, "Delete"), message=result)
    await world.fake.wait_for(lambda: result.is_deleted)
    calls = world.driver.requests_for(click)
    assert [(r.route, r.path.rsplit("/", 1)[-1]) for r in calls] == [
        ("interaction_callback", "callback"),
        ("webhook_delete", "@original"),
    ]
    assert calls[0].json == {"type": 6}  # acknowledged without a message of its own
    assert world.store.inputs(job_id) == {}


async def test_a_button_of_a_forgotten_job_says_so(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world()
    _, result = await _delivered(world, astronaut_png)
    forget = await world.driver.send_command("forget")
    await world.sentence_for(forget)
    # A copy of the old message (e.g. another client still showing it) keeps its buttons.
    click = await world.driver.click_button(world.button_id(result, "Reroll"), message=result)
    assert await world.reply_to(click) == "That job no longer exists."
