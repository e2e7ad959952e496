"""End to end through the fake Discord: a public follow-up's result is a reply to its parent, wherever that can be."""

from __future__ import annotations

from bot.errors import DeliveryInterrupted
from bot.store import JobRecord
from tests.fakediscord import ALICE, CHANNEL_ID
from tests.fakediscord.state import RecordedRequest
from tests.follow_ups_e2e import engine, gated_engine, press, result_of, says
from tests.portrait_e2e import PortraitWorld, WorldFactory


def _varied_job(world: PortraitWorld) -> JobRecord:
    (job,) = [r for r in world.store.jobs_of(ALICE.id, states=("delivered",)) if r.kind == "vary"]
    return job


def _is_reply(request: RecordedRequest) -> bool:
    return request.route == "channel_send" and "message_reference" in (request.json or {})


async def test_where_the_bot_may_not_post_the_follow_up_arrives_as_before(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(engine=engine)
    await world.portrait(astronaut_png, count=2)
    result = await world.result_message()
    world.fake.fail_next(403, route="channel_send", match=_is_reply, code=50013, message="Missing Permissions")

    click = await press(world, result, "Subtle 2")
    varied = await result_of(world, click)
    assert varied.token == click.token and "message_reference" not in varied.payload  # the interaction's followup
    assert [len(file.data) for file in varied.files] == [
        len(world.store.results(_varied_job(world).job_id).images[0].png)
    ]
    assert says(varied, "A variation of image 2 of")  # the note still names the image and links its message
    assert says(varied, f"/{CHANNEL_ID}/{result.id})")
    assert [r.status for r in world.fake.requests if _is_reply(r)] == [403]


async def test_a_parent_deleted_meanwhile_leaves_a_plain_message_in_the_channel(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(engine=gated_engine)
    await world.portrait(astronaut_png)
    world.engine.open()
    result = await world.result_message()
    world.engine.is_gated = True

    click = await press(world, result, "Upscale 2x")
    await world.engine_started()
    world.fake.messages[result.id].is_deleted = True  # its owner deleted the parent while the upscale ran
    world.engine.open()
    upscaled = await result_of(world, click)
    assert upscaled.channel_id == CHANNEL_ID and upscaled.token is None
    assert "message_reference" not in upscaled.payload and upscaled.payload["type"] == 0
    assert [user["id"] for user in upscaled.payload["mentions"]] == [str(ALICE.id)]


async def test_a_restart_between_replying_and_recording_finds_the_reply(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(engine=engine)
    await world.portrait(astronaut_png)
    result = await world.result_message()
    gate = world.fake.hold_answers("channel_send")  # Discord posts the reply; its answer never arrives

    click = await press(world, result, "Vary (strong)")
    await world.fake.wait_for_request(_is_reply)
    (job,) = await world.fake.wait_for(lambda: world.store.jobs_of(ALICE.id, states=("delivering",)))
    await world.stop()
    gate.set()
    del world.fake.held["channel_send"]
    await world.start()

    delivered = await world.wait_state(job.job_id, "delivered")
    (reply,) = [m for m in world.fake.messages.values() if m.payload.get("message_reference")]  # not posted twice
    assert (delivered.result_channel_id, delivered.result_message_id) == (CHANNEL_ID, reply.id)
    assert not [m for m in world.fake.messages.values() if m.content == DeliveryInterrupted.user_message]
    assert click.original_message_id is not None
    assert world.fake.messages[click.original_message_id].content == "✅ Done: 1 image delivered."
