"""Where results and failures go: the followup while the token lives, else the channel or a DM; errors privately."""

from __future__ import annotations

from fact_runtime import ContentBlocked, NoFaceFound
from tests.fakediscord import ALICE, CHANNEL_ID
from tests.fakediscord.harness import buttons
from tests.portrait_e2e import PortraitWorld, WorldFactory

#: Inside the bot's 2-minute margin of the 15-minute token: the bot no longer uses it.
NEARLY_EXPIRED_S = 14 * 60
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def ephemeral_followups(world: PortraitWorld) -> list[dict]:
    return [r.json for r in world.fake.requests_to("followup_send") if (r.json or {}).get("flags", 0) & 64]


async def test_private_jobs_stay_ephemeral(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world()
    interaction = await world.portrait(astronaut_png, private=True)
    result = await world.result_message()
    await world.only_job("delivered")
    assert world.driver.requests_for(interaction)[0].json == {"type": 5, "data": {"flags": 64}}
    (posted,) = world.fake.requests_to("followup_send")
    assert posted.json["flags"] & 64 and "<@" not in (posted.content or "")
    assert result.is_ephemeral


async def test_after_the_token_expires_results_go_to_the_channel(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world()
    await world.portrait(astronaut_png, age_s=NEARLY_EXPIRED_S)
    await world.result_message()
    await world.only_job("delivered")
    assert world.fake.requests_to("followup_send", "webhook_edit") == []
    (posted,) = world.fake.requests_to("channel_send")
    assert posted.path == f"/api/v10/channels/{CHANNEL_ID}/messages"
    assert posted.content.startswith(f"<@{ALICE.id}>") and len(posted.files) == 1
    edits = world.fake.requests_to("channel_edit")  # the status, edited with the bot token
    assert edits and edits[-1].status == 200 and edits[-1].content.startswith("✅ Done")


async def test_after_the_token_expires_private_results_go_by_dm(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world()
    await world.portrait(astronaut_png, private=True, age_s=NEARLY_EXPIRED_S)
    result = await world.result_message()
    await world.only_job("delivered")
    assert world.fake.requests_to("followup_send") == []
    assert [r.path for r in world.fake.requests_to("channel_send")] == [
        f"/api/v10/channels/{world.fake.dm_channels[ALICE.id]}/messages"
    ]  # nothing in the guild channel
    assert world.fake.requests_to("dm_open")
    assert result.channel_id == world.fake.dm_channels[ALICE.id] and len(result.files) == 1


async def test_a_refused_followup_falls_back_to_the_channel(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world()
    world.fake.fail_next(404, route="followup_send", code=10015, message="Unknown Webhook")
    await world.portrait(astronaut_png)
    await world.only_job("delivered")
    assert [r.status for r in world.fake.requests_to("followup_send")] == [404]
    (posted,) = world.fake.requests_to("channel_send")
    # The files the refused followup read are sent again from their start.
    assert len(posted.files) == 1 and posted.files[0].data.startswith(PNG_MAGIC)


async def test_a_face_error_from_the_runtime_is_told_privately(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world()
    world.engine.fail_next(NoFaceFound("0 faces"))
    interaction = await world.portrait(astronaut_png)
    record = await world.only_job("failed")
    notice = await world.sentence_for(interaction)
    status = world.driver.original(interaction)
    await world.fake.wait_for(lambda: status.content == f"❌ Not finished: {NoFaceFound.user_message}")

    (posted,) = ephemeral_followups(world)
    assert posted["content"] == NoFaceFound.user_message == notice.content and notice.id != status.id
    assert buttons(notice) == []  # the same photo would fail again: no retry button
    assert record.error_kind == "no_face" and world.store.inputs(record.job_id) == {}


async def test_a_blocked_job_reaches_the_user_as_one_sentence(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world()
    world.engine.fail_next(ContentBlocked("the safety checker flagged all 2 images"))
    interaction = await world.portrait(astronaut_png)
    record = await world.only_job("failed")
    notice = await world.sentence_for(interaction)

    assert notice.content == "The images were withheld by the safety filter; try another style or prompt."
    (posted,) = world.fake.requests_to("followup_send")  # the sentence, and no images
    assert posted.json["flags"] & 64 and not posted.files
    # The same seed would be blocked again: no retry button, the photo is not kept, the outcome is its own.
    assert buttons(notice) == []
    assert record.error_kind == "content_blocked" and world.store.inputs(record.job_id) == {}
