"""/queue, /cancel, /forget, restart recovery, the retention purge and the health endpoint of a running bot."""

from __future__ import annotations

import aiohttp

from bot.health import HealthServer
from bot.store import JobStore
from tests.fakediscord import ALICE, CHANNEL_ID
from tests.portrait_e2e import WorldFactory, gated_engine


async def test_queue_cancel_and_forget(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world(engine=gated_engine)
    for _ in range(2):
        await world.portrait(astronaut_png)
    await world.engine_started()
    await world.fake.wait_for(lambda: len(world.store.jobs_of(ALICE.id)) == 2 and world.runtime.queue_depth == 1)
    # Both commands download at once, so either may reach the queue first: "first" is the one running.
    first, second = sorted((r.job_id for r in world.store.jobs_of(ALICE.id)), key=world.runtime.queue_position)

    queue = await world.reply_to(await world.driver.send_command("queue"))
    # The style's name (as users know it), where each job stands, and the id /cancel takes.
    assert f"**Astronaut** · running · `{first}`" in queue
    assert f"**Astronaut** · position 1 of 1 · `{second}`" in queue

    assert await world.reply_to(await world.driver.send_command("cancel", {"job": second})) == "Cancelling 1 job."
    await world.wait_state(second, "cancelled")

    forget = await world.driver.send_command("forget")
    answer = await world.sentence_for(forget)
    world.engine.open()
    defer, told = world.driver.requests_for(forget)
    assert defer.json == {"type": 5, "data": {"flags": 64}} and told.route == "followup_send"
    assert answer.is_ephemeral and answer.content == "Done: I deleted your photos and 2 jobs."
    assert world.store.get(first) is None and world.store.inputs(first) == {}
    assert world.runtime.get(first).outcome in (None, "cancelled")
    assert (await world.reply_to(await world.driver.send_command("queue"))).startswith("You have no unfinished jobs.")


async def test_forget_deletes_posted_results_too(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world()
    await world.portrait(astronaut_png)
    result = await world.result_message()
    record = await world.only_job("delivered")
    assert (record.result_channel_id, record.result_message_id) == (CHANNEL_ID, result.id)

    forget = await world.driver.send_command("forget")
    answer = await world.sentence_for(forget)
    (deleted,) = world.fake.requests_to("channel_delete")
    assert deleted.path == f"/api/v10/channels/{CHANNEL_ID}/messages/{result.id}" and result.is_deleted
    assert answer.content == "Done: I deleted your photos, 1 job and 1 posted result."
    assert world.store.get(record.job_id) is None


async def test_unfinished_jobs_are_requeued_after_a_restart(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world(engine=gated_engine)
    interaction = await world.portrait(astronaut_png)
    await world.engine_started()
    job_id = (await world.only_job("running")).job_id
    await world.stop()  # the process dies mid-job: nobody records an outcome
    left = JobStore(world.settings.database)
    assert left.get(job_id).state in ("queued", "running")
    left.close()
    await world.start()
    world.engine.open()

    result = await world.result_message()
    await world.wait_state(job_id, "delivered")
    assert world.engine.requests[0].selfie == astronaut_png and len(world.engine.requests) == 1
    (posted,) = world.fake.requests_to("followup_send")  # the stored token is still valid
    assert posted.match["token"] == interaction.token and len(result.files) == 1


async def test_a_job_whose_photo_is_gone_is_reported_after_a_restart(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(engine=gated_engine)
    interaction = await world.portrait(astronaut_png)
    await world.engine_started()
    job_id = (await world.only_job()).job_id
    world.store.purge_inputs(job_id)
    await world.restart()

    record = await world.wait_state(job_id, "failed")
    notice = await world.sentence_for(interaction)
    (posted,) = world.fake.requests_to("followup_send")
    assert posted.json["flags"] & 64 and notice.is_ephemeral
    assert notice.content.startswith("The bot restarted and your job could not be resumed: The selfie")
    assert record.error_kind == "inputs_expired" and world.engine.runs == []


async def test_the_retention_loop_purges_photos_of_finished_jobs(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(retention_hours=0, purge_interval_s=0.05)
    await world.portrait(astronaut_png)
    record = await world.only_job("delivered")
    await world.fake.wait_for(lambda: world.store.inputs(record.job_id) == {}, timeout=5)
    assert world.store.get(record.job_id).state == "delivered"  # the record stays; only the photo goes


async def test_health_endpoint_reports_readiness_and_metrics(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world()
    await world.portrait(astronaut_png)
    await world.only_job("delivered")
    health = HealthServer(
        world.bot, world.runtime, world.bot.counters, host="127.0.0.1", port=0, supervisor=world.bot.supervisor
    )
    await health.start()
    base = f"http://127.0.0.1:{health.port}"
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/healthz") as response:
                assert response.status == 200
            async with session.get(f"{base}/readyz") as response:
                assert response.status == 200
                body = await response.json()
            async with session.get(f"{base}/metrics") as response:
                text = await response.text()
                assert response.content_type == "text/plain"
    finally:
        await health.close()
    assert body["gateway"] == "ready" and body["runtime_alive"] is True and body["queue_depth"] == 0
    assert isinstance(body["latency_s"], float)
    assert 'fact_jobs_total{outcome="succeeded"} 1' in text
    assert 'fact_bot_jobs_total{kind="portrait"} 1' in text
    assert 'fact_bot_deliveries_total{via="followup"} 1' in text
    assert 'fact_bot_commands_total{command="portrait"} 1' in text
    assert "fact_bot_gateway_ready 1" in text
