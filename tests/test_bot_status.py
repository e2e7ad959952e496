"""The status message: one per job, edited with queue position, stage, step i/n and ETA."""

from __future__ import annotations

from pathlib import Path

from bot.texts import done_text, result_text
from bot.tracker import status_text
from fact_runtime import GeneratedImage, Progress
from tests.bot_harness import BotHarness, attachment
from tests.fakes import FakeEngine


def test_status_text_shows_position_steps_and_a_live_eta() -> None:
    queued = Progress("queued", queue_position=2, eta_s=30.4)
    assert status_text(queued, now=1000.0, queue_depth=3) == "⏳ Queued · position 2 of 3 · ready <t:1030:R>"
    running = Progress("denoising", step=12, total_steps=50, eta_s=None)
    assert status_text(running, now=1000.0, queue_depth=0) == "🎨 Painting · step 12/50"


async def test_one_status_message_follows_the_job(tmp_path: Path, astronaut_png: bytes) -> None:
    engine = FakeEngine(steps=3, is_gated=True)
    async with BotHarness(tmp_path, engine=engine) as h:
        await h.portrait(attachment(h.recorder, astronaut_png))
        job_id = h.only_job()

        def edits() -> list[str]:
            return [c.content for c in h.recorder.find("PATCH", r"/messages/\d+$")]

        engine.release(1)
        await h.recorder.wait_for(lambda: any("step 1/3" in text for text in edits()))
        assert h.store.get(job_id).state == "running"
        engine.release(2)
        await h.wait_state(job_id, "delivered")

        status_ids = {c.path.rsplit("/", 1)[-1] for c in h.recorder.find("PATCH", r"/messages/\d+$")}
        assert len(status_ids) == 1  # always the same message
        texts = edits()
        assert texts[0].startswith("⏳ Queued") and texts[-1] == "✅ Done: 1 image delivered."
        assert len(texts) == len(set(texts))  # an unchanged status is never re-sent


async def test_a_deleted_status_message_is_left_alone(tmp_path: Path, astronaut_png: bytes) -> None:
    engine = FakeEngine(steps=3, is_gated=True)
    async with BotHarness(tmp_path, engine=engine) as h:
        await h.portrait(attachment(h.recorder, astronaut_png))
        job_id = h.only_job()
        await h.recorder.wait_for(lambda: h.recorder.find("PATCH", r"/messages/\d+$"))
        h.recorder.fail_next("PATCH", r"/messages/\d+$", 404)  # the user deleted it
        engine.open()
        await h.wait_state(job_id, "delivered")
        await h.recorder.wait_for(lambda: not h.bot.tracker._tasks)

        assert len(h.recorder.find("PATCH", r"/messages/\d+$")) == 1  # only the edit made before the deletion
        assert h.store.get(job_id).status_message_id is None
        assert len(h.recorder.find("POST", r"^/webhooks/100/tok-\d+$")) == 1  # the results still arrive


async def test_a_failed_final_status_edit_does_not_fail_a_delivered_job(tmp_path: Path, astronaut_png: bytes) -> None:
    async with BotHarness(tmp_path) as h:
        await h.portrait(attachment(h.recorder, astronaut_png))
        job_id = h.only_job()
        await h.recorder.wait_for(lambda: h.recorder.find("PATCH", r"/messages/\d+$"))
        h.recorder.fail_next("PATCH", r"/messages/\d+$", 500)
        await h.recorder.wait_for(lambda: not h.bot.tracker._tasks)
        assert h.store.get(job_id).state == "delivered"
        assert not [c for c in h.recorder.calls if c.is_ephemeral]  # no error sentence was sent


def test_result_text_keeps_style_names_as_written_and_lists_notes() -> None:
    images = [GeneratedImage(png=b"", seed=11, identity_distance=0.2), GeneratedImage(png=b"", seed=10)]
    text = result_text("your **{Weird} Style** portrait{s}", images, notes=("One note.",), mention="<@1> ")
    # Not every image was ranked, so no likeness order is claimed; braces in a style name survive.
    assert text == "<@1> Here are your **{Weird} Style** portraits.\nSeeds: 11, 10\nℹ️ One note."
    assert done_text(1, via="followup") == "✅ Done: 1 image delivered."
    assert done_text(3, via="dm") == "✅ Done: 3 images sent to you by DM."
