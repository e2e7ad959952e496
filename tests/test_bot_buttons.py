"""Job buttons: custom_id routing, owner checks, and actions that work after a restart."""

from __future__ import annotations

from pathlib import Path

from bot.views import parse_custom_id
from tests.bot_harness import BOB, BotHarness, attachment
from tests.fakes import FakeEngine


def test_custom_ids_parse_to_action_and_job() -> None:
    assert parse_custom_id("fact:reroll:0123456789abcdef") == ("reroll", "0123456789abcdef")
    assert parse_custom_id("fact:delete:0123abcd") == ("delete", "0123abcd")
    for other in ("fact:explode:0123456789abcdef", "fact:reroll:XYZ", "fact:cancel:0123456789abcdef:extra", "job:1"):
        assert parse_custom_id(other) is None


async def _delivered_job(h: BotHarness, selfie: bytes) -> str:
    await h.portrait(attachment(h.recorder, selfie))
    job_id = h.only_job()
    await h.wait_state(job_id, "delivered")
    return job_id


async def test_the_owner_can_cancel_a_running_job(tmp_path: Path, astronaut_png: bytes) -> None:
    engine = FakeEngine(steps=3, is_gated=True)
    async with BotHarness(tmp_path, engine=engine) as h:
        await h.portrait(attachment(h.recorder, astronaut_png))
        job_id = h.only_job()
        click = await h.click(f"fact:cancel:{job_id}")
        engine.open()  # the job stops at its next step
        await h.wait_state(job_id, "cancelled")
        assert not h.recorder.find("POST", r"^/webhooks/100/tok-\d+$")  # nothing delivered

        [reply] = h.recorder.calls_for(click)
        assert reply.payload["data"]["content"] == "Cancelling that job." and reply.is_ephemeral
        await h.recorder.wait_for(lambda: h.recorder.find("PATCH", "/messages/")[-1].content == "🛑 Cancelled.")


async def test_someone_else_cannot_press_a_job_button(tmp_path: Path, astronaut_png: bytes) -> None:
    engine = FakeEngine(steps=3, is_gated=True)
    async with BotHarness(tmp_path, engine=engine) as h:
        await h.portrait(attachment(h.recorder, astronaut_png))
        job_id = h.only_job()
        for action in ("cancel", "reroll", "delete"):
            click = await h.click(f"fact:{action}:{job_id}", user=BOB)
            [reply] = h.recorder.calls_for(click)
            assert reply.payload["data"]["content"] == "Only the person who started that job can use this button."
            assert reply.is_ephemeral
        assert h.store.get(job_id).state in ("queued", "running")
        assert h.store.inputs(job_id)  # the delete did not happen
        engine.open()


async def test_reroll_works_after_a_restart_with_a_new_seed(tmp_path: Path, astronaut_png: bytes) -> None:
    async with BotHarness(tmp_path) as first:
        job_id = await _delivered_job(first, astronaut_png)
        first_seed = first.engine.requests[0].seed

    async with BotHarness(tmp_path) as second:  # a new process: same database file, nothing in memory
        await second.click(f"fact:reroll:{job_id}")
        await second.click(f"fact:again:{job_id}")
        children = [r for r in second.store.jobs_of(400, states=("queued", "running", "delivered")) if r.parent_id]
        assert len(children) == 2
        for child in children:
            await second.wait_state(child.job_id, "delivered")
        seeds = sorted(request.seed for request in second.engine.requests)
        assert all(request.selfie == astronaut_png for request in second.engine.requests)
        assert first_seed in seeds and len(set(seeds)) == 2  # "again" repeats the seed; reroll draws a new one


async def test_reroll_after_the_retention_window_says_the_selfie_expired(tmp_path: Path, astronaut_png: bytes) -> None:
    async with BotHarness(tmp_path, settings={"retention_hours": 0}) as h:
        job_id = await _delivered_job(h, astronaut_png)
        h.store.purge_expired(h.settings.retention_s)
        click = await h.click(f"fact:reroll:{job_id}")
        [reply] = h.recorder.calls_for(click)
        assert reply.payload["data"]["content"].startswith("The selfie from that job has expired")
        assert len(h.engine.runs) == 1


async def test_delete_removes_the_message_and_the_stored_photo(tmp_path: Path, astronaut_png: bytes) -> None:
    async with BotHarness(tmp_path) as h:
        job_id = await _delivered_job(h, astronaut_png)
        click = await h.click(f"fact:delete:{job_id}")
        calls = h.recorder.calls_for(click)
        assert [(c.method, c.path.rsplit("/", 1)[-1]) for c in calls] == [("POST", "callback"), ("DELETE", "@original")]
        assert h.store.inputs(job_id) == {}


async def test_a_button_of_a_forgotten_job_says_so(tmp_path: Path, astronaut_png: bytes) -> None:
    async with BotHarness(tmp_path) as h:
        job_id = await _delivered_job(h, astronaut_png)
        await h.run_command("forget", [])
        click = await h.click(f"fact:reroll:{job_id}")
        [reply] = h.recorder.calls_for(click)
        assert reply.payload["data"]["content"] == "That job no longer exists."
