"""End to end over Redis: the real bot and fake Discord, a real redis-server, worker processes.

/portrait, /queue, /cancel, /forget and restart recovery work as with the local backend; a
worker killed mid-job or Redis going away loses nothing and delivers once.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fact_runtime import RuntimeDead
from tests.fakediscord import ALICE, BOB, CHANNEL_ID
from tests.fakediscord.harness import buttons
from tests.follow_ups_e2e import result_of
from tests.portrait_e2e import PortraitWorld, WorldFactory, result_card
from tests.redis_world import RedisServer, Workers, cancel_reached_redis, eventually, make_redis_runtime
from tests.remote_engine import TEST_PREFIX
from tests.tiny_stack import write_style


async def redis_world(make_world: WorldFactory, server: RedisServer, workers: Workers, *names: str) -> PortraitWorld:
    """The bot over a RedisRuntime, once the named workers (started here) are ready."""
    for name in names:
        workers.start(name)
    world = await make_world(make_runtime=lambda catalog: make_redis_runtime(server, max_queued=5, max_per_user=2))
    await eventually(lambda: _ready(world) == len(names), timeout=60)
    return world


def _ready(world: PortraitWorld) -> int:
    return sum(1 for worker in world.runtime.metrics().workers if worker.is_ready and worker.is_compatible)


def files_delivered(world: PortraitWorld) -> int:
    return sum(1 for message in world.fake.messages.values() if message.files and not message.is_deleted)


async def test_a_portrait_runs_on_a_worker_process_and_is_delivered(
    redis_server: RedisServer, workers: Workers, make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await redis_world(make_world, redis_server, workers, "w0")
    interaction = await world.portrait(astronaut_png, seed=11)
    await eventually(lambda: workers.runs())
    workers.release(11)
    await world.driver.wait_for_ack(interaction)
    status = world.driver.original(interaction)
    await world.fake.wait_for(lambda: "step 1/4" in status.content)  # progress streamed back from the worker
    workers.open()
    result = await world.result_message()
    assert result.content == f"<@{ALICE.id}>" and result_card(result).fields["Seed"] == "11" and len(result.files) == 1
    (run,) = workers.runs()
    assert run == {
        "worker": "w0",
        "user": str(ALICE.id),
        "seed": 11,
        "style": "astronaut",
        "selfie": len(astronaut_png),
    }
    await world.fake.wait_for(lambda: status.content.startswith("✅"))
    assert world.store.get(world.store.jobs_of(ALICE.id, states=("delivered",))[0].job_id).state == "delivered"


async def test_queue_cancel_and_forget_work_unchanged(
    redis_server: RedisServer, workers: Workers, make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await redis_world(make_world, redis_server, workers, "w0")
    bob = await world.portrait(astronaut_png, user=BOB, seed=1)
    await eventually(lambda: workers.runs())
    alice = await world.portrait(astronaut_png, style="comic", seed=2)
    await world.fake.wait_for(lambda: world.runtime.queue_depth == 1)

    mine = await world.driver.send_command("queue")
    (job,) = world.store.jobs_of(ALICE.id)
    assert f"**Comic Illustration** · position 1 of 1 · `{job.job_id}`" in (await world.sentence_for(mine)).content
    theirs = await world.driver.send_command("queue", user=BOB)
    assert "· running ·" in (await world.sentence_for(theirs)).content

    workers.release(1)
    status = world.driver.original(bob)
    await world.fake.wait_for(lambda: "step 1/4" in status.content)
    (cancel_id,) = [b["custom_id"] for b in buttons(status)]
    click = await world.driver.click_button(cancel_id, message=status, user=BOB)
    assert (await world.sentence_for(click)).content == "Cancelling that job."
    handle = world.runtime.get(world.store.jobs_of(BOB.id)[0].job_id)
    assert handle is not None
    await cancel_reached_redis(redis_server, handle)
    workers.release(1)  # the remote engine stops at its next step
    await world.fake.wait_for(lambda: status.content == "🛑 Cancelled.")

    await eventually(lambda: len(workers.runs()) == 2)  # Alice's job now runs on the freed worker
    forget = await world.driver.send_command("forget")
    assert (await world.sentence_for(forget)).content == "Done: I deleted your photos and 1 job."
    forgotten = redis_server.client()
    await eventually(lambda: forgotten.lrange(f"{TEST_PREFIX}:forgotten", 0, -1) == [f"w0:{ALICE.id}".encode()])
    workers.release(2)  # the running job stops at its next step
    await world.fake.wait_for(lambda: world.driver.original(alice).content == "🛑 Cancelled.")
    assert world.store.get(job.job_id) is None and files_delivered(world) == 0


async def test_with_redis_down_new_jobs_are_refused_and_accepted_ones_wait(
    redis_server: RedisServer, workers: Workers, make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await redis_world(make_world, redis_server, workers, "w0")
    accepted = await world.portrait(astronaut_png, seed=1)
    await eventually(lambda: workers.runs())
    redis_server.kill()
    await eventually(lambda: not world.runtime.is_alive)

    refused = await world.portrait(astronaut_png, user=BOB)
    assert await world.reply_to(refused) == RuntimeDead.user_message
    redis_server.start()
    await eventually(lambda: world.runtime.is_alive, timeout=20)
    workers.open()
    result = await world.result_message(accepted, timeout=30)
    assert len(result.files) == 1 and files_delivered(world) == 1
    assert world.store.jobs_of(BOB.id, states=("refused", "queued", "running")) == []  # refused before recording


async def test_a_worker_killed_mid_job_is_replaced_and_the_member_gets_one_reply(
    redis_server: RedisServer, workers: Workers, make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await redis_world(make_world, redis_server, workers, "w0", "w1")
    interaction = await world.portrait(astronaut_png, seed=1)
    await eventually(lambda: workers.runs())
    workers.kill(workers.runs()[0]["worker"])
    await eventually(lambda: len(workers.runs()) == 2, timeout=20)  # reclaimed by the other worker
    workers.open()
    await world.result_message(interaction, timeout=30)
    status = world.driver.original(interaction)
    await world.fake.wait_for(lambda: status.content.startswith("✅"))
    assert files_delivered(world) == 1 and len(world.fake.requests_to("followup_send")) == 1


async def test_the_bot_restarted_while_a_worker_runs_the_job_delivers_it_once(
    redis_server: RedisServer, workers: Workers, make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await redis_world(make_world, redis_server, workers, "w0")
    interaction = await world.portrait(astronaut_png, seed=1)
    await eventually(lambda: workers.runs())
    await world.restart()
    await eventually(lambda: world.runtime.is_alive, timeout=20)
    workers.open()
    result = await world.result_message(interaction, timeout=30)
    assert result.token == interaction.token and result.channel_id == CHANNEL_ID
    assert files_delivered(world) == 1 and len(workers.runs()) == 1  # re-attached, not run again


@pytest.mark.slow
async def test_two_tiny_preset_workers_serve_two_members(
    redis_server: RedisServer, workers: Workers, make_world: WorldFactory, tmp_path: Path, astronaut_png: bytes
) -> None:
    write_style(tmp_path / "styles", "studio")
    for name in ("tiny-0", "tiny-1"):
        workers.start(name, engine=None)
    world = await make_world(make_runtime=lambda catalog: make_redis_runtime(redis_server, max_queued=5))
    await eventually(lambda: _ready(world) == 2, timeout=120)
    await world.portrait(astronaut_png, style="studio", seed=3)
    await world.portrait(astronaut_png, user=BOB, style="studio", seed=4)
    await world.fake.wait_for(lambda: files_delivered(world) == 2, timeout=120)
    for message in world.fake.messages.values():
        for image in message.files:
            picture = np.asarray(Image.open(io.BytesIO(image.data)).convert("RGB"))
            assert picture.shape == (64, 64, 3) and picture.std() > 0  # real (tiny) diffusion output
    await eventually(lambda: [w.jobs_by_outcome for w in world.runtime.metrics().workers] == [{"succeeded": 1}] * 2)


async def test_a_follow_up_button_runs_its_job_on_a_worker(
    redis_server: RedisServer, workers: Workers, make_world: WorldFactory, astronaut_png: bytes
) -> None:
    workers.start("w0", FACT_TEST_SIZE="128", FACT_TEST_GATED="0")  # results a follow-up can start from
    world = await make_world(
        make_runtime=lambda catalog: make_redis_runtime(redis_server, max_queued=5, max_per_user=2)
    )
    await eventually(lambda: _ready(world) == 1, timeout=60)
    await world.portrait(astronaut_png, seed=11)
    result = await world.result_message()

    click = await world.driver.click_button(world.button_id(result, "Vary (subtle)"), message=result)
    varied = await result_of(world, click)  # a reply to its parent in the channel
    assert len(varied.files) == 1 and varied.payload["message_reference"]["message_id"] == str(result.id)
    first, second = workers.runs()
    assert first["seed"] == 11 and second["seed"] != 11 and second["style"] == "astronaut"
    (follow_up,) = [r for r in world.store.jobs_of(ALICE.id, states=("delivered",)) if r.kind == "vary"]
    assert follow_up.options.image_number == 1 and follow_up.options.strength == 0.3
