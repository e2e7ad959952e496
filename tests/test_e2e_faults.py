"""End to end under faults: simultaneous commands, uploads that fail for good, a restart mid-post, a wedged GPU."""

from __future__ import annotations

import asyncio
import io

from PIL import Image

from bot.errors import DeliveryInterrupted, UploadFailed
from bot.store import GuildSettings
from bot.texts import RESTARTING
from fact_runtime import JobTimedOut
from fact_runtime.config import QueueConfig
from tests.fakediscord import ALICE, BOB, CHANNEL_ID, GUILD_ID, FakeInteraction
from tests.fakediscord.harness import buttons
from tests.fakediscord.state import TOKEN_LIFETIME_S
from tests.fakes import FakeEngine, fake_image_colour
from tests.portrait_e2e import PortraitWorld, WorldFactory, gated_engine, result_card

LIMIT_SENTENCE = "You already have 1 unfinished job, the most allowed; wait for one to finish or /cancel one."


def told(world: PortraitWorld, interaction: FakeInteraction, sentence: str) -> bool:
    return any(
        m.token == interaction.token and m.is_ephemeral and m.content == sentence and not m.is_deleted
        for m in world.fake.messages.values()
    )


async def test_simultaneous_commands_cannot_slip_past_the_member_limit(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(engine=gated_engine)
    world.store.guilds.save(GuildSettings(guild_id=GUILD_ID, max_jobs_per_user=1))
    commands = await asyncio.gather(*(world.portrait(astronaut_png) for _ in range(3)))

    await world.fake.wait_for(lambda: sum(told(world, i, LIMIT_SENTENCE) for i in commands) == 2)
    await world.engine_started()
    (job,) = world.store.jobs_of(ALICE.id)  # one accepted, counted and inserted in one transaction
    assert job.state in ("queued", "running") and len(world.engine.runs) == 1
    world.engine.open()
    await world.wait_state(job.job_id, "delivered")


async def test_a_failed_upload_keeps_the_images_and_try_again_posts_them_without_rerunning(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(engine=gated_engine)
    await world.portrait(astronaut_png, seed=42)
    await world.engine_started()
    job = await world.only_job()
    world.fake.clock.advance(TOKEN_LIFETIME_S + 1)  # the result has to go through the channel
    world.fake.fail_next(503, route="channel_send", match=lambda r: r.match["channel"] == str(CHANNEL_ID), times=3)
    world.engine.open()

    notice = await world.fake.wait_for(
        lambda: next((m for m in world.fake.messages.values() if m.content == UploadFailed.user_message), None)
    )
    assert notice.channel_id == world.fake.dm_channels[ALICE.id]  # told privately, the token being spent
    assert world.store.get(job.job_id).state == "failed" and world.store.results(job.job_id) is not None
    assert not any(m.files for m in world.fake.messages.values())

    again = await world.driver.click_button(world.button_id(notice, "Try again"), message=notice)
    result = await world.result_message(again)
    assert len(world.engine.runs) == 1  # the images were posted again, not made again
    assert result_card(result).fields["Seed"] == "42" and len(result.files) == 1
    assert Image.open(io.BytesIO(result.files[0].data)).convert("RGB").getpixel((0, 0)) == fake_image_colour(42, 0)
    assert world.store.get(job.job_id).state == "delivered"


async def test_a_restart_between_posting_and_recording_finds_the_post_and_counts_it_delivered(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world()
    gate = world.fake.hold_answers("followup_send")  # Discord posts the images; its answer never arrives
    interaction = await world.portrait(astronaut_png, seed=7)
    await world.fake.wait_for_request(lambda r: r.route == "followup_send" and bool(r.files))
    job = await world.only_job("delivering")
    await world.stop()  # the process dies before it can record "delivered"
    gate.set()
    del world.fake.held["followup_send"]
    await world.start()

    delivered = await world.wait_state(job.job_id, "delivered")
    (posted,) = [m for m in world.fake.messages.values() if m.files]  # found, not posted a second time
    assert (delivered.result_channel_id, delivered.result_message_id) == (CHANNEL_ID, posted.id)
    assert not told(world, interaction, DeliveryInterrupted.user_message)
    assert world.status_texts()[-1] == "✅ Done: 1 image delivered."
    assert world.fake.requests_to("channel_history")


async def test_a_restart_mid_post_that_never_reached_discord_tells_the_member_and_keeps_the_images(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world()
    gate = world.fake.hold_answers("followup_send")
    world.fake.fail_next(503, route="followup_send")  # the upload never became a message
    interaction = await world.portrait(astronaut_png, seed=7)
    await world.fake.wait_for_request(lambda r: r.route == "followup_send" and bool(r.files))
    job = await world.only_job("delivering")
    await world.stop()
    gate.set()
    del world.fake.held["followup_send"]
    await world.start()

    assert await world.fake.wait_for(lambda: told(world, interaction, DeliveryInterrupted.user_message))
    assert not any(m.files for m in world.fake.messages.values())  # the channel and the DMs were read first
    looked_in = {r.match["channel"] for r in world.fake.requests_to("channel_history")}
    assert looked_in == {str(CHANNEL_ID), str(world.fake.dm_channels[ALICE.id])}
    assert world.store.get(job.job_id).state == "failed" and world.store.results(job.job_id) is not None
    sorry = next(m for m in world.fake.messages.values() if m.content == DeliveryInterrupted.user_message)
    assert [b["label"] for b in buttons(sorry)] == ["Try again"]

    again = await world.driver.click_button(world.button_id(sorry, "Try again"), message=sorry)
    result = await world.result_message(again)  # the owner asked: the kept images, no GPU time
    assert len(result.files) == 1 and world.engine.runs == []


async def test_a_wedged_gpu_closes_the_bot_and_the_restart_runs_the_jobs_behind_it(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    engines = iter([FakeEngine(is_gated=True), FakeEngine()])  # the first process's step never returns
    queue = QueueConfig(max_queued=5, max_per_user=2, step_timeout_s=0.5, hang_timeout_s=2.0, close_timeout_s=0.2)
    world = await make_world(engine=lambda: next(engines), queue=queue)
    hung = await world.portrait(astronaut_png)
    await world.engine_started()
    waiting = await world.portrait(astronaut_png, user=BOB)
    await world.fake.wait_for(lambda: world.runtime.queue_depth == 1)

    await world.fake.wait_for(lambda: told(world, hung, JobTimedOut.user_message))  # at once, while stuck
    await world.fake.wait_for(world.bot.is_closed, timeout=10)  # then the runtime died and the bot closed
    assert world.runtime.is_dead
    (bobs,) = world.store.jobs_of(BOB.id)  # still unfinished: the next process runs it
    assert bobs.state == "queued" and RESTARTING in world.status_texts()
    assert world.store.jobs_of(ALICE.id, states=("failed",))  # the stuck job is not re-run (it could wedge again)

    await world.restart()
    result = await world.result_message(waiting)
    assert f"<@{BOB.id}>" in result.content
    assert [request.user_id for request in world.engine.requests] == [str(BOB.id)]


async def test_a_download_that_fails_ends_the_recorded_job_with_its_sentence(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world()
    selfie = world.driver.attach(astronaut_png, "me.png")
    del world.fake.cdn[selfie["id"]]  # Discord's CDN lost the file
    interaction = await world.driver.send_command("portrait", {"selfie": selfie, "style": "astronaut"})
    sorry = await world.sentence_for(interaction)
    assert sorry.content == "That attachment could not be downloaded; please try again."
    (job,) = world.store.jobs_of(ALICE.id, states=("refused",))  # recorded before the download, ended after it
    assert job.error_kind == "download_failed" and world.store.jobs_of(ALICE.id) == []
