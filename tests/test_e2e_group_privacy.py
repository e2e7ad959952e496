"""End to end: /group and privacy (/forget of either member, identity deletes), a restart, and the limits."""

from __future__ import annotations

import pytest

from fact_runtime import GroupRequest
from fact_runtime.config import QueueConfig
from tests.fakediscord import ALICE, BOB, GUILD_ID, FakeUser
from tests.portrait_e2e import PortraitWorld, WorldFactory, gated_engine
from tests.test_e2e_group import ask_group, group_world, outcome, question_for

NOTHING = "so the group photo was not made and nothing was kept."


async def _share(world: PortraitWorld, user: FakeUser = BOB) -> None:
    share = await world.driver.send_command("identity share", {"allow": True}, user=user)
    assert (await world.reply_to(share)).startswith("Sharing is on here")


async def _forget(world: PortraitWorld, user: FakeUser) -> str:
    return (await world.sentence_for(await world.driver.send_command("forget", user=user))).content


@pytest.mark.parametrize("who", [BOB, ALICE], ids=["member", "asker"])
async def test_forget_of_either_member_ends_a_waiting_request(
    make_world: WorldFactory, astronaut_png: bytes, grace_hopper_jpeg: bytes, who: FakeUser
) -> None:
    world = await group_world(make_world, astronaut_png, grace_hopper_jpeg)
    command = await ask_group(world, grace_hopper_jpeg)
    question = await question_for(world, command)
    await _forget(world, who)
    await world.fake.wait_for(lambda: world.bot.group_consent.pending == 0)
    await world.fake.wait_for(lambda: question.content == "This group photo request has ended.")
    if who is BOB:  # Alice is told why; after her own /forget she needs no sentence about her request
        assert await outcome(world, command) == f"**Bob** asked the bot to forget them, {NOTHING}"
    assert world.store.jobs_of(ALICE.id) == [] and len(world.engine.runs) == 2  # the two saves only


async def test_forget_of_the_member_cancels_a_queued_group_photo_and_deletes_a_posted_one(
    make_world: WorldFactory, astronaut_png: bytes, grace_hopper_jpeg: bytes
) -> None:
    world = await group_world(make_world, astronaut_png, grace_hopper_jpeg, engine=gated_engine)
    await _share(world)
    world.engine.release(world.engine.steps)  # the first group photo runs through
    posted = await world.result_message(await ask_group(world, grace_hopper_jpeg))
    (done,) = world.store.jobs_of(ALICE.id, states=("delivered",))

    world.engine.started.clear()
    await ask_group(world, grace_hopper_jpeg, seed=8)
    await world.engine_started()
    waiting = next(job for job in world.store.jobs_of(ALICE.id) if job.job_id != done.job_id)
    assert await _forget(world, BOB) == "Done: I deleted your photos, 1 posted result and 1 saved identity."
    # Bob's face leaves Alice's store and her channel: both jobs and the posted photo are gone.
    assert world.store.get(waiting.job_id) is None and world.store.get(done.job_id) is None
    await world.fake.wait_for(lambda: posted.is_deleted)
    assert not world.store.groups.is_shared(BOB.id, GUILD_ID)  # his standing share went with him
    world.engine.open()
    await world.fake.wait_for(lambda: world.runtime.get(waiting.job_id).outcome == "cancelled")
    assert sum(1 for message in world.fake.messages.values() if message.files) == 1  # the deleted one only
    assert world.store.jobs_of(ALICE.id, states=("accepted", "queued", "running", "delivering", "delivered")) == []


async def test_deleting_an_identity_ends_its_share_and_its_queued_group_photos(
    make_world: WorldFactory, astronaut_png: bytes, grace_hopper_jpeg: bytes
) -> None:
    world = await group_world(make_world, astronaut_png, grace_hopper_jpeg, engine=gated_engine)
    await _share(world)
    world.engine.started.clear()
    await ask_group(world, grace_hopper_jpeg)
    await world.engine_started()
    (job,) = world.store.jobs_of(ALICE.id)
    delete = await world.driver.send_command("identity delete", {"name": "me"}, user=BOB)
    assert (await world.reply_to(delete)).startswith("🗑️ Deleted **me**")
    world.engine.open()
    await world.wait_state(job.job_id, "cancelled")
    assert not world.store.groups.is_shared(BOB.id, GUILD_ID)


async def test_a_queued_group_photo_resumes_after_a_restart(
    make_world: WorldFactory, astronaut_png: bytes, grace_hopper_jpeg: bytes
) -> None:
    world = await group_world(make_world, astronaut_png, grace_hopper_jpeg, engine=gated_engine)
    await _share(world)
    world.engine.started.clear()
    await ask_group(world, grace_hopper_jpeg, seed=5)
    await world.engine_started()
    await world.restart()
    world.engine.open()
    job = await world.wait_state((await world.only_job()).job_id, "delivered")
    (request,) = world.engine.requests  # the new process rebuilt it from the stored seats and identities
    assert isinstance(request, GroupRequest) and request.seed == 5 and request.template == grace_hopper_jpeg
    assert [(face.face_index, face.user_id) for face in request.faces] == [(1, str(ALICE.id)), (2, str(BOB.id))]
    assert job.kind == "group" and [seat.identity_name for seat in job.options.seats] == ["me", "me"]


async def test_a_group_photo_counts_to_the_asker_alone(
    make_world: WorldFactory, astronaut_png: bytes, grace_hopper_jpeg: bytes
) -> None:
    world = await group_world(
        make_world, astronaut_png, grace_hopper_jpeg, engine=gated_engine, queue=QueueConfig(max_per_user=1)
    )
    await _share(world)
    asked = await ask_group(world, grace_hopper_jpeg)
    await world.only_job("queued")
    refused = await ask_group(world, grace_hopper_jpeg)
    assert (await world.reply_to(refused)).startswith("You already have 1 unfinished job")
    # Bob's face is in Alice's job, but the job is hers: Bob's own portrait still queues.
    portrait = await world.portrait(astronaut_png, user=BOB)
    await world.only_job(user=BOB)
    world.engine.open()
    for interaction in (asked, portrait):
        await world.result_message(interaction)


async def test_deleting_an_identity_ends_a_request_waiting_to_use_it(
    make_world: WorldFactory, astronaut_png: bytes, grace_hopper_jpeg: bytes
) -> None:
    world = await group_world(make_world, astronaut_png, grace_hopper_jpeg)
    command = await ask_group(world, grace_hopper_jpeg)
    question = await question_for(world, command)
    delete = await world.driver.send_command("identity delete", {"name": "me"}, user=BOB)
    assert (await world.reply_to(delete)).startswith("🗑️ Deleted **me**")
    assert await outcome(world, command) == f"**Bob** no longer has that saved identity, {NOTHING}"
    assert question.content == "This group photo request has ended." and world.bot.group_consent.pending == 0
    assert world.store.jobs_of(ALICE.id) == []
