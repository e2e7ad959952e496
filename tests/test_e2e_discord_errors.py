"""End to end: the bot meets Discord's error answers (413, 429, 404) and copes."""

from __future__ import annotations

import io
import time
from dataclasses import replace

import numpy as np
from PIL import Image

from fact_runtime import JobResult
from fact_runtime.request import JobRequest
from fact_runtime.results import StepReporter
from tests.fakediscord import ALICE, CHANNEL_ID
from tests.fakediscord.state import TOKEN_LIFETIME_S
from tests.fakes import FakeEngine
from tests.portrait_e2e import WorldFactory, gated_engine

MiB = 1024 * 1024


class NoisyEngine(FakeEngine):
    """FakeEngine whose images are noise PNGs of about 6 MB: they fit 10 MiB but not 5 MiB."""

    def run(self, request: JobRequest, report: StepReporter, *, max_batch: int | None = None) -> JobResult:
        result = super().run(request, report, max_batch=max_batch)
        noise = np.random.default_rng(request.seed).integers(0, 256, (1450, 1450, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(noise).save(buffer, format="PNG", compress_level=1)
        images = tuple(replace(image, png=buffer.getvalue()) for image in result.images)
        return JobResult(images=images, timings=result.timings)


async def test_a_413_on_upload_leads_to_a_smaller_file(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world(engine=NoisyEngine)
    world.fake.fail_next(413, route="followup_send")
    await world.portrait(astronaut_png)
    result = await world.result_message()
    refused, accepted = world.fake.requests_to("followup_send")
    assert (refused.status, accepted.status) == (413, 200)
    (first,), (second,) = refused.files, accepted.files
    assert 5 * MiB < first.size <= 10 * MiB and second.size <= 5 * MiB
    assert Image.open(io.BytesIO(second.data)).format == "JPEG" and result.files[0].data == second.data
    assert [r.state for r in world.store.jobs_of(ALICE.id, states=("delivered", "failed"))] == ["delivered"]


async def test_a_429_on_the_followup_is_waited_out(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world()
    world.fake.fail_next(429, route="followup_send", retry_after=0.3)
    await world.portrait(astronaut_png)
    result = await world.result_message()
    limited, sent = world.fake.requests_to("followup_send")
    assert (limited.status, sent.status) == (429, 200)
    assert sent.at - limited.at >= 0.3  # discord.py honoured retry_after
    assert len(result.files) == 1 and len([m for m in world.fake.messages.values() if m.files]) == 1


async def test_a_429_on_a_channel_message_is_waited_out(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world(engine=gated_engine)
    await world.portrait(astronaut_png)
    await world.fake.wait_for(world.engine.started.is_set)
    world.fake.clock.advance(TOKEN_LIFETIME_S + 1)  # delivery now goes through the bot token
    world.fake.fail_next(429, route="channel_send", retry_after=0.3)
    world.engine.open()
    result = await world.result_message()
    assert [r.status for r in world.fake.requests_to("channel_send")] == [429, 200]
    assert result.token is None and len(result.files) == 1


async def test_a_deleted_status_message_is_not_edited_again(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world(engine=gated_engine)
    interaction = await world.portrait(astronaut_png)
    await world.driver.wait_for_ack(interaction)
    status = world.driver.original(interaction)
    await world.fake.wait_for(world.engine.started.is_set)
    await world.fake.wait_for(lambda: status.edits >= 1)
    status.is_deleted = True  # the user deleted it
    world.engine.release(1)
    await world.fake.wait_for_request(lambda r: r.route == "webhook_edit" and r.status == 404)
    world.engine.open()
    result = await world.result_message()
    await world.fake.wait_for(lambda: not world.bot.tracker.followed_jobs)  # the job's follower has finished
    assert result.files and world.store.jobs_of(ALICE.id) == []
    refused = [r for r in world.fake.requests_to("webhook_edit", "channel_edit") if r.status == 404]
    assert len(refused) == 1, [r.content for r in refused]


async def test_a_token_discord_refuses_early_falls_back_to_the_channel(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    # The bot's clock lags Discord's: it believes the token is still good.
    world = await make_world(engine=gated_engine, bot_clock=time.time)
    world.fake.is_expired_token_a_violation = False  # so using it is no fault of the bot's
    interaction = await world.portrait(astronaut_png)
    await world.fake.wait_for(world.engine.started.is_set)
    world.fake.clock.advance(TOKEN_LIFETIME_S + 1)
    world.engine.open()

    result = await world.result_message()
    assert result.token is None and result.channel_id == CHANNEL_ID and len(result.files) == 1
    assert Image.open(io.BytesIO(result.files[0].data)).size == (8, 8)
    refused = [r for r in world.fake.requests if r.status == 401]
    assert refused and {r.match["token"] for r in refused} == {interaction.token}
