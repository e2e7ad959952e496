"""End to end: /portrait through the real bot, runtime and discord.py, against the fake Discord."""

from __future__ import annotations

import io

from PIL import Image

from fact_runtime import ImageUnreadable, QueueFull, UnsupportedImage
from fact_runtime.config import QueueConfig
from tests.fakediscord import ADMIN, ALICE, BOB, CHANNEL_ID
from tests.fakediscord.harness import buttons
from tests.fakes import fake_image_colour
from tests.portrait_e2e import WorldFactory, gated_engine, result_card

MiB = 1024 * 1024


async def test_portrait_delivers_the_engines_images_with_status_edits_between(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(engine=gated_engine)
    interaction = await world.portrait(astronaut_png, count=2)
    assert await world.driver.wait_for_ack(interaction) == 5  # deferred, "thinking…"
    status = world.driver.original(interaction)
    assert not status.is_ephemeral
    await world.engine_started()
    world.engine.release(2)
    await world.fake.wait_for(lambda: "step 2/4" in status.content)
    assert [b["custom_id"].split(":")[1] for b in buttons(status)] == ["cancel"]
    world.engine.open()

    result = await world.result_message()
    await world.fake.wait_for(lambda: status.content.startswith("✅"))
    request = world.engine.requests[0]
    assert request.selfie == astronaut_png and request.style_id == "astronaut" and request.count == 2
    assert [Image.open(io.BytesIO(f.data)).getpixel((0, 0)) for f in result.files] == [
        fake_image_colour(request.seed, index) for index in range(2)
    ]
    assert result.content == f"<@{ALICE.id}>" and result_card(result).fields["Style"] == "Astronaut"
    follow_ups = {f"{action} {number}" for action in ("Upscale", "Subtle", "Strong") for number in (1, 2)}
    assert {b["label"] for b in buttons(result)} == {"Reroll", "Same again", "Delete", "Edit", *follow_ups}
    edits = world.status_texts()
    assert any("Painting" in text for text in edits[:-1]) and edits[-1].startswith("✅ Done: 2 images")
    followup = world.fake.requests_to("followup_send")[-1]
    assert followup.at < world.fake.requests_to("webhook_edit")[-1].at  # "done" comes after the images


async def test_style_autocomplete_lists_matching_styles(make_world: WorldFactory) -> None:
    world = await make_world()
    every = await world.driver.send_autocomplete("portrait", {"style": ""}, focused="style")
    assert sorted(c["value"] for c in every) == ["astronaut", "christmas", "comic", "cyberpunk"]
    some = await world.driver.send_autocomplete("portrait", {"style": "cy"}, focused="style")
    assert [c["value"] for c in some] == ["cyberpunk"]


async def test_a_text_file_gets_the_unsupported_image_sentence(make_world: WorldFactory) -> None:
    world = await make_world()
    interaction = await world.portrait(b"my holiday notes", "notes.txt")
    reply = await world.sentence_for(interaction)
    assert reply.content == UnsupportedImage.user_message
    assert interaction.callback_type == 4 and world.engine.runs == []
    assert world.fake.requests_to("cdn") == []  # refused from the metadata, nothing downloaded


async def test_a_jpeg_discord_could_not_read_is_refused(make_world: WorldFactory) -> None:
    world = await make_world()
    interaction = await world.portrait(b"\xff\xd8\xff\xe0" + b"\x13" * 4000, "selfie.jpg")
    reply = await world.sentence_for(interaction)
    # A damaged JPEG is told it could not be read, not that JPEG is unsupported.
    assert reply.content == ImageUnreadable.user_message and world.engine.runs == []


async def test_an_oversized_file_is_refused_before_download(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world()
    padded = astronaut_png + b"\0" * (11 * MiB)  # a valid PNG header, 11+ MiB declared
    interaction = await world.portrait(padded, "huge.png")
    reply = await world.sentence_for(interaction)
    assert reply.content.startswith("That image is 11.") and "under 10 MB" in reply.content
    assert world.fake.requests_to("cdn") == [] and world.engine.runs == []


async def test_a_full_queue_is_told_so(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world(engine=gated_engine, queue=QueueConfig(max_queued=1, max_per_user=2))
    await world.portrait(astronaut_png, user=ALICE)
    await world.engine_started()
    queued = await world.portrait(astronaut_png, user=BOB)
    await world.fake.wait_for(lambda: world.runtime.queue_depth == 1)
    refused = await world.portrait(astronaut_png, user=ADMIN)
    reply = await world.sentence_for(refused)
    assert reply.content == QueueFull.user_message
    # The public "thinking…" message is replaced by the private sentence, not left hanging.
    assert world.driver.original(refused).is_deleted
    assert world.store.jobs_of(ADMIN.id) == [] and len(world.store.jobs_of(BOB.id)) == 1
    assert "position 1" in (await world.fake.wait_for(lambda: world.driver.original(queued).content or None))


async def test_a_member_over_their_limit_is_told_so(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world(engine=gated_engine, queue=QueueConfig(max_queued=5, max_per_user=1))
    await world.portrait(astronaut_png)
    await world.engine_started()
    second = await world.portrait(astronaut_png, style="comic")
    reply = await world.sentence_for(second)
    # The member learns the limit and the way out.
    assert reply.content.startswith("You already have 1 unfinished job,") and "/cancel" in reply.content
    assert second.callback_type == 4 and len(world.engine.runs) == 1
    assert all(m.channel_id == CHANNEL_ID for m in world.fake.messages.values())


async def test_inpaint_puts_the_selfie_into_an_uploaded_template(
    make_world: WorldFactory, astronaut_png: bytes, grace_hopper_jpeg: bytes
) -> None:
    world = await make_world()
    selfie = world.driver.attach(astronaut_png, "me.png")
    template = world.driver.attach(grace_hopper_jpeg, "template.jpg")
    await world.driver.send_command("inpaint", {"selfie": selfie, "template": template, "face": 1, "count": 2})
    result = await world.result_message()
    (request,) = world.engine.requests
    assert (request.selfie, request.template, request.face_index) == (astronaut_png, grace_hopper_jpeg, 1)
    assert len(result.files) == 2 and result_card(result).fields["Template"] == "your template photo"


async def test_inpaint_needs_exactly_one_template(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world()
    interaction = await world.driver.send_command("inpaint", {"selfie": world.driver.attach(astronaut_png, "me.png")})
    reply = await world.sentence_for(interaction)
    assert reply.content.startswith("Give either a template image or a built-in template")
    assert world.engine.runs == []
