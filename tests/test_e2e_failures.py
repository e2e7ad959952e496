"""End to end: how a failed job reads in public and in private, what the admins are told, styles and templates by name."""

from __future__ import annotations

from pathlib import Path

from fact_runtime import JobFailed, ModelMissing, NoFaceFound
from tests.fakediscord import ALICE, CHANNEL_ID
from tests.portrait_e2e import REPO, PortraitWorld, WorldFactory

ADMIN_CHANNEL = 777_000_000_000_000_001
LORA_MISSING = ModelMissing.named("style LoRA", "style LoRA: ModelScope acme/lora@v1 file 'x.safetensors' is missing")


def admin_posts(world: PortraitWorld) -> list[str]:
    return [
        r.content or ""
        for r in world.fake.requests_to("channel_send")
        if r.path == f"/api/v10/channels/{ADMIN_CHANNEL}/messages" and r.status == 200
    ]


async def test_a_failure_the_server_must_fix_is_posted_for_the_admins(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(admin_channel_id=ADMIN_CHANNEL)
    world.fake.channels.add(ADMIN_CHANNEL)
    world.engine.fail_next(LORA_MISSING)
    interaction = await world.portrait(astronaut_png)
    record = await world.only_job("failed")
    notice = await world.sentence_for(interaction)
    status = world.driver.original(interaction)
    assert notice.content == (
        "The style LoRA this job needs is not available on this server; please try another style, "
        "or tell a server admin."
    )
    # The public status says why, in the same sentence.
    await world.fake.wait_for(lambda: status.content == f"❌ Not finished: {notice.content}")
    (post,) = await world.fake.wait_for(lambda: admin_posts(world))
    assert post.startswith(f"⚠️ Job `{record.job_id}` (portrait, astronaut) failed: ")
    assert post.endswith("style LoRA: ModelScope acme/lora@v1 file 'x.safetensors' is missing")
    assert str(ALICE.id) not in post  # the report is about the server, not the member


async def test_a_members_own_mistake_is_not_reported_and_a_private_status_keeps_the_reason_private(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(admin_channel_id=ADMIN_CHANNEL)
    world.fake.channels.add(ADMIN_CHANNEL)
    world.engine.fail_next(NoFaceFound("0 faces"))
    interaction = await world.portrait(astronaut_png, private=True)
    await world.only_job("failed")
    status = world.driver.original(interaction)
    await world.fake.wait_for(lambda: status.content == "❌ Not finished; the reason was sent only to you.")
    # The reason itself reaches the owner alone, in a message of its own.
    notice = await world.fake.wait_for(
        lambda: next((m for m in world.fake.messages.values() if m.content == NoFaceFound.user_message), None)
    )
    assert notice.is_ephemeral and notice.token == interaction.token and notice.id != status.id
    assert admin_posts(world) == []


async def test_without_an_admin_channel_a_failure_is_told_to_the_member_alone(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world()
    world.engine.fail_next(JobFailed("worker exploded"))
    interaction = await world.portrait(astronaut_png)
    await world.only_job("failed")
    assert (await world.sentence_for(interaction)).content == JobFailed.user_message
    assert [r.path for r in world.fake.requests_to("channel_send")] == []
    status = world.driver.original(interaction)
    await world.fake.wait_for(lambda: status.content == f"❌ Not finished: {JobFailed.user_message}")
    assert status.channel_id == CHANNEL_ID


async def test_a_style_named_by_its_display_name_is_found(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world()
    await world.portrait(astronaut_png, style="comic illustration")
    await world.result_message()
    (request,) = world.engine.requests
    assert request.style_id == "comic"


async def test_the_shipped_templates_are_offered_and_none_is_said_when_a_server_has_none(
    make_world: WorldFactory, astronaut_png: bytes, tmp_path: Path
) -> None:
    world = await make_world(templates_dir=REPO / "templates")
    choices = await world.driver.send_autocomplete("inpaint", {"template_id": ""}, focused="template_id")
    assert [choice["value"] for choice in choices] == ["astronaut", "grace-hopper", "two-pioneers"]
    await world.stop()

    empty = tmp_path / "no-templates"
    empty.mkdir()
    world = await make_world(templates_dir=empty)
    selfie = world.driver.attach(astronaut_png, "me.png")
    asked = await world.driver.send_command("inpaint", {"selfie": selfie, "template_id": "beach"})
    assert (
        await world.reply_to(asked) == "This server has no built-in templates; please attach a template photo instead."
    )
