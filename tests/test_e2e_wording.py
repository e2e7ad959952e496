"""End to end: what users read (result message, notes, replies) and where private things go."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

from fact_runtime import JobResult, NoFaceFound
from fact_runtime.config import QueueConfig
from fact_runtime.request import JobRequest
from fact_runtime.results import StepReporter
from tests.fakediscord import ADMIN, ALICE, BOB, CHANNEL_ID, GUILD_ID, FakeInteraction, StoredMessage, payloads
from tests.fakediscord.harness import buttons
from tests.fakediscord.state import TOKEN_LIFETIME_S
from tests.fakes import FakeEngine
from tests.portrait_e2e import PortraitWorld, WorldFactory, result_card

SEVERAL_FACES = "Your photo shows several faces; I used the largest one."
NO_LORA = "This style's LoRA is missing here, so the portrait uses the base model's look."


class RankingEngine(FakeEngine):
    """FakeEngine that ranks its images by likeness (best last seed first) and adds notes, as the real one may."""

    def run(self, request: JobRequest, report: StepReporter, *, max_batch: int | None = None) -> JobResult:
        result = super().run(request, report, max_batch=max_batch)
        ranked = tuple(
            replace(image, identity_distance=0.1 * rank) for rank, image in enumerate(reversed(result.images))
        )
        return JobResult(images=ranked, timings=result.timings, notes=(SEVERAL_FACES, NO_LORA))


def gated() -> FakeEngine:
    return FakeEngine(steps=4, is_gated=True)


async def wait_running(world: PortraitWorld) -> None:
    await world.fake.wait_for(world.engine.started.is_set, timeout=5)
    world.engine.started.clear()


async def result_for(world: PortraitWorld, interaction: FakeInteraction) -> StoredMessage:
    """The message carrying the files posted for one interaction."""
    return await world.fake.wait_for(
        lambda: next((m for m in world.fake.messages.values() if m.files and m.token == interaction.token), None)
    )


def channel_posts(world: PortraitWorld) -> list[StoredMessage]:
    """Everything visible in the guild channel: non-ephemeral messages there."""
    return [
        m
        for m in world.fake.messages.values()
        if m.channel_id == CHANNEL_ID and not m.is_ephemeral and not m.is_deleted
    ]


async def test_the_result_lists_seeds_in_image_order_and_shows_the_runtimes_notes(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(engine=RankingEngine)
    await world.portrait(astronaut_png, style="comic", count=3, seed=100)
    result = await world.result_message()
    card = result_card(result)
    assert card.title == "Here are your 3 portraits" and card.description == "Closest likeness first."
    assert card.fields["Style"] == "Comic Illustration"
    # Image i of the message was made with the i-th seed listed: that seed remakes it alone.
    assert card.fields["Seeds"] == "102, 101, 100"
    assert result.files[0].filename == card.image_url.removeprefix("attachment://")
    assert card.fields["Notes"].splitlines() == [f"ℹ️ {SEVERAL_FACES}", f"ℹ️ {NO_LORA}"]
    assert card.fields["Speed"] == "Original"  # the job's tier: this engine's result names none
    assert list(card.fields) == ["Style", "Speed", "Seeds", "Time", "Notes"]
    assert card.footer.startswith(f"Job {world.store.jobs_of(ALICE.id, states=('delivered',))[0].job_id} ")


async def test_a_single_unranked_image_says_seed_and_nothing_about_likeness(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world()
    await world.portrait(astronaut_png, seed=5)
    result = await world.result_message()
    assert result.content == f"<@{ALICE.id}>"  # the embed pings nobody; the mention does
    card = result_card(result)
    assert (card.title, card.description) == ("Here is your portrait", None)
    assert card.fields["Seed"] == "5" and "Seeds" not in card.fields and "Notes" not in card.fields


async def test_inpaint_results_name_the_template(
    make_world: WorldFactory, astronaut_png: bytes, grace_hopper_jpeg: bytes, tmp_path: Path
) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "wedding.jpg").write_bytes(grace_hopper_jpeg)
    world = await make_world(templates_dir=templates)
    built_in = await world.driver.send_command(
        "inpaint", {"selfie": world.driver.attach(astronaut_png, "me.png"), "template_id": "wedding"}
    )
    assert result_card(await result_for(world, built_in)).fields["Template"] == "wedding"

    uploaded = await world.driver.send_command(
        "inpaint",
        {
            "selfie": world.driver.attach(astronaut_png, "me.png"),
            "template": world.driver.attach(grace_hopper_jpeg, "t.jpg"),
        },
    )
    assert result_card(await result_for(world, uploaded)).fields["Template"] == "your template photo"


async def test_a_job_finishing_after_forget_posts_nothing(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world(engine=gated)
    interaction = await world.portrait(astronaut_png)
    await wait_running(world)
    world.store.forget(ALICE.id)  # /forget's store step lands while the engine is past its last cancel check
    world.engine.open()
    status = world.driver.original(interaction)
    await world.fake.wait_for(lambda: status.content == "🛑 Cancelled.")
    await world.fake.wait_for(lambda: not world.bot.tracker.followed_jobs)
    assert not any(m.files for m in world.fake.messages.values())


async def test_a_private_job_failing_after_its_token_expired_is_told_by_dm(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(engine=gated)
    world.engine.fail_next(NoFaceFound("no face in the selfie"))
    interaction = await world.portrait(astronaut_png, private=True)
    await world.driver.wait_for_ack(interaction)
    await wait_running(world)
    world.fake.clock.advance(TOKEN_LIFETIME_S + 1)
    world.engine.open()

    dm = await world.fake.wait_for(
        lambda: next(
            (m for m in world.fake.messages.values() if m.channel_id == world.fake.dm_channels.get(ALICE.id)), None
        )
    )
    assert dm.content == NoFaceFound.user_message
    assert channel_posts(world) == []  # the status stayed ephemeral and nothing went to the channel
    assert [
        r
        for r in world.fake.requests_to("channel_send", "channel_edit")
        if r.path.startswith(f"/api/v10/channels/{CHANNEL_ID}/")
    ] == []


async def test_a_private_job_never_posts_in_the_channel(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world()
    interaction = await world.portrait(astronaut_png, private=True)
    result = await world.result_message()
    assert result.is_ephemeral and f"<@{ALICE.id}>" not in result.content
    status = world.driver.original(interaction)
    await world.fake.wait_for(lambda: status.content.startswith("✅"))
    assert status.is_ephemeral and channel_posts(world) == []


async def _deliver_by_dm(world: PortraitWorld, selfie: bytes) -> tuple[FakeInteraction, StoredMessage]:
    """A public job outlives its token and the channel refuses the post: the results go by DM."""
    interaction = await world.portrait(selfie)
    await wait_running(world)
    world.fake.clock.advance(TOKEN_LIFETIME_S + 1)
    world.fake.fail_next(403, route="channel_send", code=50013, message="Missing Permissions")
    world.engine.open()
    result = await world.result_message()
    assert result.channel_id == world.fake.dm_channels[ALICE.id]
    return interaction, result


async def test_results_sent_by_dm_say_so_in_the_status(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world(engine=gated)
    interaction, result = await _deliver_by_dm(world, astronaut_png)
    # The files refused by the channel are sent again from their start, not as empty uploads.
    assert [file.data[:8] for file in result.files] == [b"\x89PNG\r\n\x1a\n"]
    status = world.driver.original(interaction)
    await world.fake.wait_for(lambda: status.content.startswith("✅"))
    assert status.content == "✅ Done: 1 image sent to you by DM."


async def test_a_user_limit_above_the_bots_own_says_which_applies(make_world: WorldFactory) -> None:
    world = await make_world(queue=QueueConfig(max_queued=5, max_per_user=2))
    interaction = await world.driver.send_command("settings user-limit", {"limit": 5}, user=ADMIN)
    reply = await world.sentence_for(interaction)
    assert reply.content == "Each member may now have 2 unfinished jobs (the bot allows at most 2 everywhere)."
    assert world.store.guilds.get(GUILD_ID).max_jobs_per_user == 5


async def test_the_pose_option_says_photos_work(make_world: WorldFactory) -> None:
    world = await make_world()
    schema = world.bot.tree.get_command("portrait").to_dict(world.bot.tree)
    (pose,) = [option for option in schema["options"] if option["name"] == "pose"]
    assert pose["description"] == "A photo (or OpenPose skeleton) whose body pose the portraits copy"


async def test_delete_on_a_private_result_removes_it_and_the_selfie(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world()
    await world.portrait(astronaut_png, private=True)
    result = await world.result_message()
    assert result.is_ephemeral
    await world.driver.click_button(world.button_id(result, "Delete"), message=result)
    await world.fake.wait_for(lambda: result.is_deleted)
    (job,) = world.store.jobs_of(ALICE.id, states=("delivered",))
    assert world.store.inputs(job.job_id) == {} and channel_posts(world) == []


async def test_cancel_by_id_does_not_reveal_other_peoples_jobs(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world(engine=gated)
    await world.portrait(astronaut_png, user=BOB)
    await wait_running(world)
    (theirs,) = world.store.jobs_of(BOB.id)
    someone_elses = await world.driver.send_command("cancel", {"job": theirs.job_id})
    missing = await world.driver.send_command("cancel", {"job": "0123456789abcdef"})
    assert (await world.sentence_for(someone_elses)).content == (await world.sentence_for(missing)).content
    assert world.store.get(theirs.job_id).state in ("queued", "running")
    world.engine.open()

    await world.result_message()
    finished = await world.driver.send_command("cancel", {"job": theirs.job_id}, user=BOB)
    assert (await world.sentence_for(finished)).content == "That job has already finished."


async def test_forget_with_nothing_stored_says_so(make_world: WorldFactory) -> None:
    world = await make_world()
    forget = await world.driver.send_command("forget")
    reply = await world.sentence_for(forget)
    assert reply.content == "Done: I had nothing stored about you." and reply.is_ephemeral


async def _set_channel(world: PortraitWorld, allowed: bool) -> str:
    """Run /settings channel for the test channel as an admin; Discord resolves the channel option."""
    schema = world.bot.tree.get_command("settings").to_dict(world.bot.tree)
    data = payloads.command_data(schema, ["channel"], {"channel": str(CHANNEL_ID), "allowed": allowed})
    data["resolved"] = {"channels": {str(CHANNEL_ID): {**payloads.text_channel(CHANNEL_ID), "permissions": "0"}}}
    interaction = await world.fake.send_interaction(2, data, ADMIN)
    return (await world.sentence_for(interaction)).content


async def test_channel_settings_say_what_an_empty_list_means(make_world: WorldFactory) -> None:
    world = await make_world()
    # Disallowing a channel while every channel is allowed changes nothing, and the admin is told how lists work.
    assert "allowed in every channel until you allow specific ones" in await _set_channel(world, False)
    assert world.store.guilds.get(GUILD_ID).allowed_channels == frozenset()
    assert await _set_channel(world, True) == f"Portraits are now allowed only in: <#{CHANNEL_ID}>."
    assert "allowed in every channel again" in await _set_channel(world, False)


async def test_the_style_switch_autocomplete_marks_styles_that_are_off(make_world: WorldFactory) -> None:
    world = await make_world()
    off = await world.driver.send_command("settings style", {"style": "comic", "enabled": False}, user=ADMIN)
    await world.sentence_for(off)
    choices = await world.driver.send_autocomplete("settings style", {"style": ""}, focused="style", user=ADMIN)
    names = {choice["value"]: choice["name"] for choice in choices}
    assert names["comic"].endswith("(off)") and not names["astronaut"].endswith("(off)")


async def test_style_pages_grey_out_their_buttons_when_they_close(
    make_world: WorldFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await make_world()
    # load_extension executes the cog module afresh, so patch the module the bot actually loaded.
    monkeypatch.setattr(sys.modules[type(world.bot.get_cog("StylesCog")).__module__], "_BROWSE_TIMEOUT_S", 0.3)
    browse = await world.driver.send_command("styles browse")
    await world.driver.wait_for_ack(browse)
    pages = world.driver.original(browse)
    assert pages.is_ephemeral and [b.get("disabled", False) for b in buttons(pages)] == [True, False]
    await world.fake.wait_for(lambda: all(b.get("disabled") for b in buttons(pages)))
    assert "Tags" in [field["name"] for field in pages.payload["embeds"][0]["fields"]]


async def test_a_public_job_sent_by_dm_does_not_mention_its_reader(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(engine=gated)
    _, result = await _deliver_by_dm(world, astronaut_png)
    assert result.content == "" and result_card(result).fields["Style"] == "Astronaut"
