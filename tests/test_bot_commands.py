"""/portrait and /inpaint through the real command tree, a real Runtime on a FakeEngine, and recorded HTTP."""

from __future__ import annotations

from pathlib import Path

from fact_runtime import NoFaceFound
from fact_runtime.config import QueueConfig
from tests.bot_harness import BotHarness, attachment, command_data, interaction_payload
from tests.fakes import FakeEngine


async def test_portrait_defers_records_tracks_and_delivers(tmp_path: Path, astronaut_png: bytes) -> None:
    async with BotHarness(tmp_path) as h:
        selfie = attachment(h.recorder, astronaut_png)
        await h.portrait(selfie, extra=[{"name": "count", "type": 4, "value": 2}])
        job_id = h.only_job()
        await h.wait_state(job_id, "delivered")

        calls = h.recorder.calls
        assert calls[0].path.endswith("/callback") and calls[0].payload["type"] == 5  # deferred first
        assert not calls[0].is_ephemeral
        assert h.recorder.downloads == [selfie["url"]]
        status = h.recorder.find("PATCH", r"^/webhooks/100/tok-\d+/messages/\d+$")
        assert status[0].content.startswith("⏳ Queued") and status[0].custom_ids() == [f"fact:cancel:{job_id}"]
        assert status[-1].content.startswith("✅ Done") and status[-1].custom_ids() == []
        [result] = h.recorder.find("POST", r"^/webhooks/100/tok-\d+$")
        assert [name for name, _ in result.files] == [f"portrait-{job_id[:6]}-1.png", f"portrait-{job_id[:6]}-2.png"]
        assert result.custom_ids() == [f"fact:reroll:{job_id}", f"fact:again:{job_id}", f"fact:delete:{job_id}"]
        assert result.content.startswith("<@400> Here are your **Astronaut** portraits")

        [request] = h.engine.requests
        assert request.selfie == astronaut_png and request.count == 2 and request.style_id == "astronaut"
        record = h.store.get(job_id)
        assert record.options["seed"] == request.seed  # the bot picked the seed, so "again" can repeat it
        assert h.store.inputs(job_id) == {"selfie": astronaut_png}  # kept for rerolls until retention ends


async def test_bad_attachments_are_refused_before_download(tmp_path: Path, astronaut_png: bytes) -> None:
    async with BotHarness(tmp_path) as h:
        cases = [
            (attachment(h.recorder, b"GIF89a", filename="me.gif", content_type="image/gif"), "not a supported image"),
            (attachment(h.recorder, astronaut_png, size=50 * 1024 * 1024), "That image is 50.0 MB"),
            (attachment(h.recorder, astronaut_png, width=100, height=90), "only 100x90 pixels"),
            (attachment(h.recorder, astronaut_png, width=20000, height=20000), "20000x20000 pixels"),
        ]
        for selfie, expected in cases:
            await h.portrait(selfie)
            reply = h.recorder.calls[-1]
            assert reply.payload["type"] == 4 and reply.is_ephemeral  # answered at once, only to the user
            assert expected in reply.payload["data"]["content"]
        assert h.recorder.downloads == []
        assert h.store._db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 0


async def test_unknown_style_and_count_over_the_limit_are_one_sentence(tmp_path: Path, astronaut_png: bytes) -> None:
    async with BotHarness(tmp_path, settings={"max_count": 2}) as h:
        selfie = attachment(h.recorder, astronaut_png)
        await h.portrait(selfie, style="nope")
        assert h.recorder.calls[-1].payload["data"]["content"] == "There is no style called 'nope'; pick one from the list."
        await h.portrait(selfie, extra=[{"name": "count", "type": 4, "value": 3}])
        assert h.recorder.calls[-1].payload["data"]["content"] == "You can ask for at most 2 images at a time."
        assert h.engine.runs == []


async def test_a_face_error_from_the_runtime_is_told_privately(tmp_path: Path, astronaut_png: bytes) -> None:
    async with BotHarness(tmp_path) as h:
        h.engine.fail_next(NoFaceFound("0 faces"))
        await h.portrait(attachment(h.recorder, astronaut_png))
        job_id = h.only_job()
        await h.wait_state(job_id, "failed")
        await h.recorder.wait_for(lambda: any(c.is_ephemeral for c in h.recorder.find("POST", r"^/webhooks/")))

        [notice] = [c for c in h.recorder.find("POST", r"^/webhooks/") if c.is_ephemeral]
        assert notice.content == NoFaceFound.user_message
        assert notice.custom_ids() == []  # the same photo would fail again: no retry button
        assert h.store.get(job_id).error_kind == "no_face"
        assert h.recorder.find("PATCH", r"/messages/")[-1].content == "❌ This job did not finish."


async def test_a_full_queue_is_told_ephemerally_and_the_job_marked_refused(tmp_path: Path, astronaut_png: bytes) -> None:
    engine = FakeEngine(steps=2, is_gated=True)
    queue = QueueConfig(max_queued=1, max_per_user=10)
    async with BotHarness(tmp_path, engine=engine, settings={"max_jobs_per_user": 10}, queue=queue) as h:
        await h.portrait(attachment(h.recorder, astronaut_png))
        engine.wait_started()  # one running...
        await h.portrait(attachment(h.recorder, astronaut_png))  # ...one queued
        third = await h.portrait(attachment(h.recorder, astronaut_png))
        engine.open()

        refused = [r for r in h.store._db.execute("SELECT job_id, state, error_kind FROM jobs") if r[1] == "refused"]
        assert [tuple(r)[1:] for r in refused] == [("refused", "queue_full")]
        calls = h.recorder.calls_for(third)
        assert [c.method for c in calls] == ["POST", "DELETE", "POST"]
        assert calls[0].payload == {"type": 5}
        # The public "thinking" message is removed and the reason told privately.
        assert calls[2].is_ephemeral and calls[2].content == "The queue is full right now; please try again in a few minutes."


async def test_private_jobs_stay_ephemeral(tmp_path: Path, astronaut_png: bytes) -> None:
    async with BotHarness(tmp_path) as h:
        await h.portrait(attachment(h.recorder, astronaut_png), extra=[{"name": "private", "type": 5, "value": True}])
        job_id = h.only_job()
        await h.wait_state(job_id, "delivered")
        assert h.recorder.calls[0].payload == {"type": 5, "data": {"flags": 64}}
        [result] = h.recorder.find("POST", r"^/webhooks/")
        assert result.is_ephemeral and not result.content.startswith("<@")


async def test_after_the_token_expires_results_go_to_the_channel_or_by_dm(tmp_path: Path, astronaut_png: bytes) -> None:
    async with BotHarness(tmp_path) as h:
        # Created 14 minutes ago: the 15-minute token is inside the safety margin, so it is not used.
        await h.portrait(attachment(h.recorder, astronaut_png), age_s=14 * 60)
        await h.wait_state(h.only_job(), "delivered")
        assert h.recorder.find("POST", r"^/webhooks/") == []
        [posted] = h.recorder.find("POST", r"^/channels/300/messages$")
        assert posted.content.startswith("<@400>") and len(posted.files) == 1
        assert h.recorder.find("PATCH", r"^/channels/300/messages/\d+$")  # status edited with the bot token

    async with BotHarness(tmp_path / "second") as h:
        await h.portrait(attachment(h.recorder, astronaut_png), extra=[{"name": "private", "type": 5, "value": True}],
                         age_s=14 * 60)
        await h.wait_state(h.only_job(), "delivered")
        assert h.recorder.find("POST", r"^/channels/300/messages$") == []
        assert h.recorder.find("POST", r"^/users/@me/channels$")  # opened a DM
        [dm] = h.recorder.find("POST", r"^/channels/900/messages$")
        assert len(dm.files) == 1


async def test_a_413_is_answered_by_fitting_smaller(tmp_path: Path, astronaut_png: bytes) -> None:
    async with BotHarness(tmp_path) as h:
        h.recorder.fail_next("POST", r"^/webhooks/100/tok-\d+$", 413)
        await h.portrait(attachment(h.recorder, astronaut_png))
        await h.wait_state(h.only_job(), "delivered")
        assert len(h.recorder.find("POST", r"^/webhooks/100/tok-\d+$")) == 1  # the retry, after the refusal


async def test_inpaint_needs_exactly_one_template(tmp_path: Path, astronaut_png: bytes, grace_hopper_jpeg: bytes) -> None:
    async with BotHarness(tmp_path) as h:
        selfie = attachment(h.recorder, astronaut_png)
        await h.run_command("inpaint", [{"name": "selfie", "type": 11, "value": selfie["id"]}], [selfie])
        assert "either a template image or a built-in template" in h.recorder.calls[-1].payload["data"]["content"]

        template = attachment(h.recorder, grace_hopper_jpeg, filename="t.jpg", content_type="image/jpeg")
        await h.run_command("inpaint", [{"name": "selfie", "type": 11, "value": selfie["id"]},
                                        {"name": "template", "type": 11, "value": template["id"]},
                                        {"name": "face", "type": 4, "value": 1}], [selfie, template])
        await h.wait_state(h.only_job(), "delivered")
        [request] = h.engine.requests
        assert request.template == grace_hopper_jpeg and request.face_index == 1 and request.selfie == astronaut_png


async def test_a_refused_followup_falls_back_to_the_channel(tmp_path: Path, astronaut_png: bytes) -> None:
    async with BotHarness(tmp_path) as h:
        h.recorder.fail_next("POST", r"^/webhooks/100/tok-\d+$", 404)
        await h.portrait(attachment(h.recorder, astronaut_png))
        await h.wait_state(h.only_job(), "delivered")
        [posted] = h.recorder.find("POST", r"^/channels/300/messages$")
        assert len(posted.files) == 1 and posted.files[0][1].startswith(b"\x89PNG")


async def test_inpaint_with_a_built_in_template(tmp_path: Path, astronaut_png: bytes, grace_hopper_jpeg: bytes) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "office-party.jpg").write_bytes(grace_hopper_jpeg)
    async with BotHarness(tmp_path, templates_dir=templates) as h:
        typing = h.interaction(interaction_payload(4, command_data(
            "inpaint", [{"name": "template_id", "type": 3, "value": "off", "focused": True}])))
        await h.bot.tree._call(typing)
        assert h.recorder.calls[-1].payload["data"]["choices"] == [{"name": "office-party", "value": "office-party"}]

        selfie = attachment(h.recorder, astronaut_png)
        await h.run_command("inpaint", [{"name": "selfie", "type": 11, "value": selfie["id"]},
                                        {"name": "template_id", "type": 3, "value": "../config"}], [selfie])
        assert h.recorder.calls[-1].payload["data"]["content"].startswith("There is no built-in template")

        await h.run_command("inpaint", [{"name": "selfie", "type": 11, "value": selfie["id"]},
                                        {"name": "template_id", "type": 3, "value": "office-party"},
                                        {"name": "face", "type": 4, "value": 2}], [selfie])
        await h.wait_state(h.only_job(), "delivered")
        [request] = h.engine.requests
        assert (request.template, request.template_id, request.face_index) == (None, "office-party", 2)
