"""/portrait and /inpaint through the real command tree: acknowledge, check, record, submit, deliver."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fact_runtime import QueueFull
from fact_runtime.config import QueueConfig
from tests.fakediscord import ALICE, StoredMessage
from tests.fakediscord.harness import buttons
from tests.fakes import FakeEngine
from tests.portrait_e2e import WorldFactory, result_card

MiB = 1024 * 1024


def custom_ids(message: StoredMessage | dict[str, Any]) -> list[str]:
    return [b["custom_id"] for b in buttons(message)]


async def test_portrait_defers_records_tracks_and_delivers(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world()
    selfie = world.driver.attach(astronaut_png, "me.png")
    interaction = await world.driver.send_command("portrait", {"selfie": selfie, "style": "astronaut", "count": 2})
    result = await world.result_message()
    job_id = (await world.only_job("delivered")).job_id
    await world.fake.wait_for(lambda: world.status_texts()[-1].startswith("✅ Done"))

    first = world.driver.requests_for(interaction)[0]
    assert first.route == "interaction_callback" and first.json == {"type": 5}  # deferred first, in public
    assert [r.path for r in world.fake.requests_to("cdn")] == [f"/attachments/{selfie['id']}/me.png"]
    edits = [r for r in world.fake.requests_to("webhook_edit") if r.status == 200]
    assert {r.match["message"] for r in edits} == {str(interaction.original_message_id)}  # one status message
    assert edits[0].content.startswith("⏳ Queued") and custom_ids(edits[0].json) == [f"fact:cancel:{job_id}"]
    assert edits[-1].content.startswith("✅ Done") and custom_ids(edits[-1].json) == []
    (posted,) = world.fake.requests_to("followup_send")
    assert [f.filename for f in posted.files] == [f"portrait-{job_id[:6]}-1.png", f"portrait-{job_id[:6]}-2.png"]
    follow_ups = [f"fact:{choice}:{job_id}:{number}" for choice in ("upscale", "subtle", "strong") for number in (1, 2)]
    first_row = [f"fact:reroll:{job_id}", f"fact:again:{job_id}", f"fact:delete:{job_id}", f"fact:edit:{job_id}"]
    assert custom_ids(result) == [*first_row, *follow_ups]
    assert result.content == f"<@{ALICE.id}>"
    card = result_card(result)
    assert card.title == "Here are your 2 portraits" and card.fields["Style"] == "Astronaut"
    assert card.image_url == f"attachment://portrait-{job_id[:6]}-1.png"

    (request,) = world.engine.requests
    assert request.selfie == astronaut_png and request.count == 2 and request.style_id == "astronaut"
    assert world.store.get(job_id).options.seed == request.seed  # the bot picked the seed: "again" repeats it
    assert world.store.inputs(job_id) == {"selfie": astronaut_png}  # kept for rerolls until retention ends


async def test_bad_attachments_are_refused_before_download(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world()
    # What Discord declares about an attachment decides, before any byte is fetched.
    declared = [
        (world.driver.attach(b"GIF89a", "me.gif", content_type="image/gif"), "not a supported image"),
        (
            {**world.driver.attach(astronaut_png, "me.png"), "size": 50 * MiB},
            "That image is 50 MB; please send one under 10 MB.",
        ),
        ({**world.driver.attach(astronaut_png, "me.png"), "width": 100, "height": 90}, "only 100x90 pixels"),
        ({**world.driver.attach(astronaut_png, "me.png"), "width": 20000, "height": 20000}, "(20000x20000)"),
    ]
    for selfie, expected in declared:
        refused = await world.driver.send_command("portrait", {"selfie": selfie, "style": "astronaut"})
        assert expected in await world.reply_to(refused)  # answered at once, only to the user
    assert world.fake.requests_to("cdn") == []
    assert world.store.jobs_of(ALICE.id, states=("accepted", "queued", "running", "refused")) == []


async def test_unknown_style_and_count_over_the_limit_are_one_sentence(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(max_count=2)
    unknown = await world.portrait(astronaut_png, style="nope")
    assert await world.reply_to(unknown) == (
        "There is no style called 'nope'; pick one from the list that appears as you type, or see /styles browse."
    )
    too_many = await world.portrait(astronaut_png, count=3)  # the schema allows 10; the runtime's limit is 2
    assert await world.reply_to(too_many) == "You can ask for 1 to 2 images at a time."
    assert world.engine.runs == [] and world.fake.requests_to("cdn") == []


async def test_a_full_queue_is_told_ephemerally_and_the_job_marked_refused(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(
        engine=lambda: FakeEngine(steps=2, is_gated=True), queue=QueueConfig(max_queued=1, max_per_user=10)
    )
    await world.portrait(astronaut_png)
    await world.engine_started()  # one running...
    await world.portrait(astronaut_png)  # ...one queued
    await world.fake.wait_for(lambda: world.runtime.queue_depth == 1)
    third = await world.portrait(astronaut_png)
    sorry = await world.sentence_for(third)
    world.engine.open()

    (refused,) = world.store.jobs_of(ALICE.id, states=("refused",))
    assert refused.error_kind == "queue_full"
    assert [r.route for r in world.driver.requests_for(third)] == [
        "interaction_callback",
        "webhook_delete",
        "followup_send",
    ]
    assert world.driver.requests_for(third)[0].json == {"type": 5}
    # The public "thinking" message is removed and the reason told privately.
    assert world.driver.original(third).is_deleted
    assert sorry.is_ephemeral and sorry.content == QueueFull.user_message


async def test_inpaint_needs_exactly_one_template(
    make_world: WorldFactory, astronaut_png: bytes, grace_hopper_jpeg: bytes
) -> None:
    world = await make_world()
    neither = await world.driver.send_command("inpaint", {"selfie": world.driver.attach(astronaut_png, "me.png")})
    assert "either a template image or a built-in template" in await world.reply_to(neither)
    both = await world.driver.send_command(
        "inpaint",
        {
            "selfie": world.driver.attach(astronaut_png, "me.png"),
            "template": world.driver.attach(grace_hopper_jpeg, "t.jpg"),
            "template_id": "office-party",
        },
    )
    assert "not both and not neither" in await world.reply_to(both)
    assert world.engine.runs == []

    await world.driver.send_command(
        "inpaint",
        {
            "selfie": world.driver.attach(astronaut_png, "me.png"),
            "template": world.driver.attach(grace_hopper_jpeg, "t.jpg"),
            "face": 1,
        },
    )
    await world.result_message()
    await world.only_job("delivered")
    (request,) = world.engine.requests
    assert request.template == grace_hopper_jpeg and request.face_index == 1 and request.selfie == astronaut_png


async def test_inpaint_with_a_built_in_template(
    make_world: WorldFactory, astronaut_png: bytes, grace_hopper_jpeg: bytes, tmp_path: Path
) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "office-party.jpg").write_bytes(grace_hopper_jpeg)
    world = await make_world(templates_dir=templates)
    choices = await world.driver.send_autocomplete("inpaint", {"template_id": "off"}, focused="template_id")
    assert choices == [{"name": "office-party", "value": "office-party"}]

    selfie = world.driver.attach(astronaut_png, "me.png")
    outside = await world.driver.send_command("inpaint", {"selfie": selfie, "template_id": "../config"})
    assert await world.reply_to(outside) == (
        "That built-in template does not exist; pick one from the list that appears as you type, "
        "or attach a template photo."
    )

    await world.driver.send_command("inpaint", {"selfie": selfie, "template_id": "office-party", "face": 2})
    await world.result_message()
    await world.only_job("delivered")
    (request,) = world.engine.requests
    assert (request.template, request.template_id, request.face_index) == (None, "office-party", 2)
    assert request.recipe is None  # the server's configured recipe


async def test_the_inpaint_recipe_choice_is_stored_and_reaches_the_runtime(
    make_world: WorldFactory, astronaut_png: bytes, grace_hopper_jpeg: bytes
) -> None:
    world = await make_world()
    schema = {
        option["name"]: option for option in world.bot.tree.get_command("inpaint").to_dict(world.bot.tree)["options"]
    }
    assert [choice["value"] for choice in schema["recipe"]["choices"]] == ["original", "fast"]
    selfie, template = world.driver.attach(astronaut_png, "me.png"), world.driver.attach(grace_hopper_jpeg, "t.jpg")
    await world.driver.send_command("inpaint", {"selfie": selfie, "template": template, "recipe": "fast"})
    await world.result_message()
    record = await world.only_job("delivered")
    assert record.options.recipe == "fast"
    assert [request.recipe for request in world.engine.requests] == ["fast"]
