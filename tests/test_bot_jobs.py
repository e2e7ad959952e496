"""/queue, /cancel, /forget, restart recovery, and the health endpoint."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from bot.health import HealthServer
from tests.bot_harness import BotHarness, attachment
from tests.fakes import FakeEngine


async def test_queue_cancel_and_forget(tmp_path: Path, astronaut_png: bytes) -> None:
    engine = FakeEngine(steps=3, is_gated=True)
    async with BotHarness(tmp_path, engine=engine) as h:
        for _ in range(2):
            await h.portrait(attachment(h.recorder, astronaut_png))
        first, second = [r.job_id for r in h.store.jobs_of(400)]
        engine.wait_started()

        queue = h.ephemeral_reply(await h.run_command("queue", []))
        # The style's name (as users know it), where each job stands, and the id /cancel takes.
        assert f"**Astronaut** · running · `{first}`" in queue
        assert f"**Astronaut** · position 1 of 1 · `{second}`" in queue

        assert h.ephemeral_reply(await h.run_command("cancel", [{"name": "job", "type": 3, "value": second}])) == (
            "Cancelling 1 job."
        )
        await h.wait_state(second, "cancelled")

        forget = await h.run_command("forget", [])
        engine.open()
        defer, answer = h.recorder.calls_for(forget)
        assert defer.payload == {"type": 5, "data": {"flags": 64}} and answer.is_ephemeral
        assert answer.content == "Done: I deleted your photos and 2 jobs."
        assert h.store.get(first) is None and h.store.inputs(first) == {}
        assert h.runtime.get(first).outcome in (None, "cancelled")
        assert h.ephemeral_reply(await h.run_command("queue", [])).startswith("You have no unfinished jobs.")


async def test_forget_deletes_posted_results_too(tmp_path: Path, astronaut_png: bytes) -> None:
    async with BotHarness(tmp_path) as h:
        await h.portrait(attachment(h.recorder, astronaut_png))
        job_id = h.only_job()
        await h.wait_state(job_id, "delivered")
        [posted] = h.recorder.find("POST", r"^/webhooks/100/tok-\d+$")
        record = h.store.get(job_id)
        assert record.result_channel_id == 300 and record.result_message_id is not None

        forget = await h.run_command("forget", [])
        [deleted] = h.recorder.find("DELETE", r"^/channels/300/messages/\d+$")
        assert deleted.path == f"/channels/300/messages/{record.result_message_id}"
        answer = h.recorder.calls_for(forget)[-1]
        assert answer.content == "Done: I deleted your photos, 1 job and 1 posted result."
        assert h.store.get(job_id) is None


async def test_unfinished_jobs_are_requeued_after_a_restart(tmp_path: Path, astronaut_png: bytes) -> None:
    engine = FakeEngine(steps=3, is_gated=True)
    async with BotHarness(tmp_path, engine=engine) as first:
        await first.portrait(attachment(first.recorder, astronaut_png))
        job_id = first.only_job()
        engine.wait_started()
        await first.bot.tracker.close()  # the process dies mid-job: nobody records an outcome
        engine.open()
        assert first.store.get(job_id).state in ("queued", "running")

    async with BotHarness(tmp_path) as second:
        await second.wait_state(job_id, "delivered")
        assert second.engine.requests[0].selfie == astronaut_png
        [result] = second.recorder.find("POST", r"^/webhooks/100/tok-\d+$")  # the token is still valid
        assert len(result.files) == 1


async def test_a_job_whose_photo_is_gone_is_reported_after_a_restart(tmp_path: Path, astronaut_png: bytes) -> None:
    engine = FakeEngine(steps=3, is_gated=True)
    async with BotHarness(tmp_path, engine=engine) as first:
        await first.portrait(attachment(first.recorder, astronaut_png))
        job_id = first.only_job()
        await first.bot.tracker.close()
        first.store.purge_inputs(job_id)
        engine.open()

    async with BotHarness(tmp_path) as second:
        assert second.store.get(job_id).state == "failed"
        [notice] = second.recorder.find("POST", r"^/webhooks/100/tok-\d+$")
        assert notice.is_ephemeral
        assert notice.content.startswith("The bot restarted and your job could not be resumed: The selfie")
        assert second.engine.runs == []


async def test_health_endpoint_reports_liveness_readiness_and_metrics(tmp_path: Path, astronaut_png: bytes) -> None:
    async with BotHarness(tmp_path) as h:
        await h.portrait(attachment(h.recorder, astronaut_png))
        await h.wait_state(h.only_job(), "delivered")
        health = HealthServer(h.bot, h.runtime, h.bot.counters, host="127.0.0.1", port=0)
        await health.start()
        base = f"http://127.0.0.1:{health.port}"
        try:
            async with aiohttp.ClientSession() as session:
                async with session.get(f"{base}/healthz") as response:
                    assert response.status == 200
                async with session.get(f"{base}/readyz") as response:
                    assert response.status == 503  # no gateway session yet
                    body = await response.json()
                    assert body == {"gateway": "connecting", "latency_s": None, "runtime_alive": True, "queue_depth": 0}
                h.bot._ready.set()
                async with session.get(f"{base}/readyz") as response:
                    assert response.status == 200
                async with session.get(f"{base}/metrics") as response:
                    text = await response.text()
                    assert response.content_type == "text/plain"
            assert 'fact_jobs_total{outcome="succeeded"} 1' in text
            assert 'fact_bot_jobs_total{kind="portrait"} 1' in text
            assert 'fact_bot_deliveries_total{via="followup"} 1' in text
            assert "fact_bot_gateway_ready 1" in text
        finally:
            await health.close()
