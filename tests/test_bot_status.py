"""The status message: one per job, edited with queue position, stage, step i/n and ETA."""

from __future__ import annotations

from itertools import pairwise

from bot.texts import done_text, duration, failed_status, result_embed, status_text
from fact_runtime import GeneratedImage, Progress
from tests.fakediscord import ALICE
from tests.fakes import FakeEngine
from tests.portrait_e2e import WorldFactory


def gated_three_steps() -> FakeEngine:
    return FakeEngine(steps=3, is_gated=True)


def test_status_text_shows_position_steps_and_a_live_eta() -> None:
    queued = Progress("queued", queue_position=2, eta_s=30.4)
    assert status_text(queued, now=1000.0, queue_depth=3) == "⏳ Queued · position 2 of 3 · ready <t:1030:R>"
    running = Progress("denoising", step=12, total_steps=50, eta_s=None)
    assert status_text(running, now=1000.0, queue_depth=0) == "🎨 Painting · step 12/50"


async def test_one_status_message_follows_the_job(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world(engine=gated_three_steps)
    interaction = await world.portrait(astronaut_png)
    await world.engine_started()
    job_id = (await world.only_job()).job_id

    world.engine.release(1)
    await world.fake.wait_for(lambda: any("step 1/3" in text for text in world.status_texts()))
    assert world.store.get(job_id).state == "running"
    world.engine.release(2)
    await world.wait_state(job_id, "delivered")
    await world.fake.wait_for(lambda: not world.bot.tracker.followed_jobs)

    edits = [r for r in world.fake.requests_to("webhook_edit", "channel_edit") if r.status == 200]
    assert {r.match["message"] for r in edits} == {str(interaction.original_message_id)}  # always the same message
    texts = world.status_texts()
    assert texts[0].startswith("⏳ Queued") and texts[-1] == "✅ Done: 1 image delivered."
    assert len(texts) == len(set(texts))  # an unchanged status is never re-sent


async def test_status_edits_come_at_most_once_per_interval(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world(engine=lambda: FakeEngine(steps=100, step_delay=0.01), status_interval_s=0.5)
    await world.portrait(astronaut_png)
    await world.only_job("delivered")
    await world.fake.wait_for(lambda: not world.bot.tracker.followed_jobs)
    progress = [r.at for r in world.fake.requests_to("webhook_edit") if not r.content.startswith("✅")]
    # 100 steps of 10 ms report 100 snapshots; the status shows only the latest one every half second.
    assert 2 <= len(progress) <= 10
    assert all(later - earlier >= 0.45 for earlier, later in pairwise(progress))


async def test_a_deleted_status_message_is_left_alone(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world(engine=gated_three_steps)
    interaction = await world.portrait(astronaut_png)
    await world.engine_started()
    job_id = (await world.only_job()).job_id
    await world.fake.wait_for(lambda: world.status_texts())
    world.fake.fail_next(404, route="webhook_edit")  # the user deleted it
    world.engine.open()
    await world.result_message()
    await world.wait_state(job_id, "delivered")
    await world.fake.wait_for(lambda: not world.bot.tracker.followed_jobs)

    edits = world.fake.requests_to("webhook_edit", "channel_edit")
    assert [r.status for r in edits] == [200, 404]  # only the edit made before the deletion, then none
    assert world.store.get(job_id).status_message_id is None
    (posted,) = world.fake.requests_to("followup_send")  # the results still arrive
    assert posted.files and posted.match["token"] == interaction.token


async def test_a_failed_final_status_edit_does_not_fail_a_delivered_job(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world()
    world.fake.fail_next(400, route="webhook_edit", match=lambda r: (r.content or "").startswith("✅"))
    await world.portrait(astronaut_png)
    await world.result_message()
    await world.fake.wait_for(lambda: any(r.status == 400 for r in world.fake.requests_to("webhook_edit")))
    await world.fake.wait_for(lambda: not world.bot.tracker.followed_jobs)
    assert world.store.jobs_of(ALICE.id, states=("delivered",))
    assert not [m for m in world.fake.messages.values() if m.is_ephemeral]  # no error sentence was sent


def test_the_result_card_keeps_style_names_as_written_and_lists_notes() -> None:
    images = [GeneratedImage(png=b"", seed=11, identity_distance=0.2), GeneratedImage(png=b"", seed=10)]
    embed = result_embed(("Style", "{Weird} Style"), images, notes=("One note.",), elapsed_s=125, job_id="abc")
    # Not every image was ranked, so no likeness order is claimed; braces in a style name survive.
    assert (embed.title, embed.description) == ("Here are your 2 portraits", None)
    fields = [(field.name, field.value) for field in embed.fields]
    assert fields == [("Style", "{Weird} Style"), ("Seeds", "11, 10"), ("Time", "2 min 5 s"), ("Notes", "ℹ️ One note.")]
    assert embed.footer.text is not None and embed.footer.text.startswith("Job abc · ")
    assert [duration(s) for s in (0.4, 59, 60, 3600, 3725)] == ["0 s", "59 s", "1 min", "1 h", "1 h 2 min"]


def test_a_failed_status_says_why_in_public_and_nothing_private() -> None:
    assert failed_status("No face was found.", is_private=False) == "❌ Not finished: No face was found."
    assert failed_status("No face was found.", is_private=True) == "❌ Not finished; the reason was sent only to you."
    assert done_text(1, via="followup") == "✅ Done: 1 image delivered."
    assert done_text(3, via="dm") == "✅ Done: 3 images sent to you by DM."
