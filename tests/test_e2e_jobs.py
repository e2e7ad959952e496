"""End to end: cancelling, buttons across a restart, jobs that outlive the bot process or their token."""

from __future__ import annotations

import pytest

from tests.fakediscord import ALICE, BOB, CHANNEL_ID, FakeInteraction, StoredMessage
from tests.fakediscord.harness import buttons
from tests.fakediscord.state import TOKEN_LIFETIME_S
from tests.portrait_e2e import PortraitWorld, WorldFactory, gated_engine, result_card


async def status_of(world: PortraitWorld, interaction: FakeInteraction, needle: str) -> StoredMessage:
    """The job's status message once its text contains `needle`."""
    await world.driver.wait_for_ack(interaction)
    message = world.driver.original(interaction)
    await world.fake.wait_for(lambda: needle in message.content)
    return message


async def test_cancel_while_queued(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world(engine=gated_engine)
    first = await world.portrait(astronaut_png)
    await world.engine_started()
    second = await world.portrait(astronaut_png, style="comic")
    queued = await status_of(world, second, "position 1")
    job_id = next(r.job_id for r in world.store.jobs_of(ALICE.id) if r.options.style_id == "comic")

    cancel = await world.driver.send_command("cancel", {"job": job_id})
    assert (await world.sentence_for(cancel)).content == "Cancelling 1 job."
    await world.fake.wait_for(lambda: queued.content == "🛑 Cancelled.")
    world.engine.open()
    await world.result_message()
    assert [r.style_id for r in world.engine.requests] == ["astronaut"]
    assert world.store.get(job_id).state == "cancelled"
    await world.fake.wait_for(lambda: world.driver.original(first).content.startswith("✅"))
    assert world.store.jobs_of(ALICE.id) == []


async def test_cancel_while_running(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world(engine=gated_engine)
    interaction = await world.portrait(astronaut_png)
    await world.engine_started()
    world.engine.release(1)
    status = await status_of(world, interaction, "step 1/4")
    (cancel_id,) = [b["custom_id"] for b in buttons(status)]

    click = await world.driver.click_button(cancel_id, message=status)
    assert (await world.sentence_for(click)).content == "Cancelling that job."
    world.engine.release(1)  # the engine notices the cancel at its next step
    await world.fake.wait_for(lambda: status.content == "🛑 Cancelled.")
    assert world.store.jobs_of(ALICE.id) == []
    assert not any(m.files for m in world.fake.messages.values())


async def test_reroll_button_works_after_a_restart(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world()
    await world.portrait(astronaut_png, style="cyberpunk")
    result = await world.result_message()
    first_seed = world.engine.requests[0].seed
    await world.restart()

    click = await world.driver.click_button(world.button_id(result, "Reroll"), message=result)
    assert await world.driver.wait_for_ack(click) == 5
    reroll = await world.result_message(click)
    (request,) = world.engine.requests  # the new process's engine
    assert request.style_id == "cyberpunk" and request.selfie == astronaut_png and request.seed != first_seed
    assert result_card(reroll).fields["Seed"] == str(request.seed)


@pytest.mark.parametrize(
    ("downtime_s", "via"),
    [(0.0, "followup"), (TOKEN_LIFETIME_S + 60, "channel")],
    ids=["token-still-valid", "token-died-while-down"],
)
async def test_a_job_accepted_before_a_restart_is_finished_after_it(
    make_world: WorldFactory, astronaut_png: bytes, downtime_s: float, via: str
) -> None:
    world = await make_world(engine=gated_engine)
    interaction = await world.portrait(astronaut_png)
    await world.engine_started()
    world.engine.release(1)
    status = await status_of(world, interaction, "step 1/4")
    before = len(world.fake.requests)

    await world.restart(downtime_s=downtime_s)
    world.engine.open()
    result = await world.result_message()
    assert f"<@{ALICE.id}>" in result.content and result.channel_id == CHANNEL_ID
    await world.fake.wait_for(lambda: status.content.startswith("✅"))
    token_routes = {r.route for r in world.fake.requests[before:] if r.route.startswith(("webhook", "followup"))}
    if via == "followup":  # the stored token still works in the new process
        assert result.token == interaction.token and "followup_send" in token_routes
    else:
        assert result.token is None and token_routes == set()  # a channel message, edits by bot token
    assert len(world.engine.requests) == 1 and world.engine.requests[0].selfie == astronaut_png


async def test_a_job_outliving_its_token_is_delivered_through_the_channel(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(engine=gated_engine)
    interaction = await world.portrait(astronaut_png)
    await world.engine_started()
    status = await status_of(world, interaction, "Finding your face")
    world.fake.clock.advance(TOKEN_LIFETIME_S + 1)
    world.engine.open()

    result = await world.result_message()
    assert result.token is None and result.channel_id == CHANNEL_ID
    await world.fake.wait_for(lambda: status.content.startswith("✅"))
    assert world.fake.requests_to("channel_edit")[-1].status == 200
    assert world.fake.requests_to("followup_send") == []


async def test_a_private_job_outliving_its_token_is_delivered_by_dm(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(engine=gated_engine)
    interaction = await world.portrait(astronaut_png, private=True)
    await world.driver.wait_for_ack(interaction)
    assert world.driver.original(interaction).is_ephemeral
    await world.engine_started()
    world.fake.clock.advance(TOKEN_LIFETIME_S + 1)
    world.engine.open()

    result = await world.result_message()
    assert result.channel_id == world.fake.dm_channels[ALICE.id]
    assert world.fake.requests_to("followup_send") == []


async def test_queue_shows_running_and_waiting_jobs(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world(engine=gated_engine)
    await world.portrait(astronaut_png, user=BOB)
    await world.engine_started()
    await world.portrait(astronaut_png, style="comic")
    await world.fake.wait_for(lambda: world.runtime.queue_depth == 1)

    mine = await world.driver.send_command("queue")
    reply = (await world.sentence_for(mine)).content
    (job,) = world.store.jobs_of(ALICE.id)
    assert f"**Comic Illustration** · position 1 of 1 · `{job.job_id}`" in reply
    assert reply.endswith("1 job waiting in the queue.")
    theirs = await world.driver.send_command("queue", user=BOB)
    assert "· running ·" in (await world.sentence_for(theirs)).content


async def test_forget_cancels_jobs_and_deletes_the_selfies(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world(engine=gated_engine)
    first = await world.portrait(astronaut_png)
    await world.engine_started()
    await world.portrait(astronaut_png, style="comic")
    await world.fake.wait_for(lambda: world.runtime.queue_depth == 1)
    job_ids = [r.job_id for r in world.store.jobs_of(ALICE.id)]

    forget = await world.driver.send_command("forget")
    assert (await world.sentence_for(forget)).content == "Done: I deleted your photos and 2 jobs."
    assert world.engine.forgotten == [str(ALICE.id)]  # the runtime's face cache too
    world.engine.release(1)  # the running job stops at its next step
    status = world.driver.original(first)
    await world.fake.wait_for(lambda: status.content == "🛑 Cancelled.")
    assert [world.store.get(job_id) for job_id in job_ids] == [None, None]
    assert not any(m.files for m in world.fake.messages.values())
