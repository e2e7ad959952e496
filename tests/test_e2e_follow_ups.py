"""End to end through the fake Discord: the follow-up buttons (upscale, subtle and strong variations) under results."""

from __future__ import annotations

from bot.errors import ImageExpired, NotJobOwner, StyleDisabled
from bot.responsible.rules import PromptBlocked
from fact_runtime import UpscaleRequest, VaryRequest
from tests.fakediscord import ADMIN, ALICE, BOB
from tests.fakediscord.harness import buttons
from tests.follow_ups_e2e import LABEL, engine, gated_engine, open_form, press, result_of, rows, says, submit
from tests.portrait_e2e import WorldFactory


async def test_a_result_of_two_images_has_a_row_per_follow_up_and_each_button_runs_its_job(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(engine=engine)
    await world.portrait(astronaut_png, style="cyberpunk", count=2, seed=7)
    result = await world.result_message()
    assert rows(result) == [
        ["Reroll", "Same again", "Delete", "Edit"],
        ["Upscale 1", "Upscale 2"],
        ["Subtle 1", "Subtle 2"],
        ["Strong 1", "Strong 2"],
    ]
    parent = world.store.jobs_of(ALICE.id, states=("delivered",))[0]
    kept = world.store.results(parent.job_id)
    assert kept is not None  # the posted images stay for follow-ups

    upscale = await press(world, result, "Upscale 2")
    upscaled = await result_of(world, upscale)
    request = world.engine.requests[-1]
    assert isinstance(request, UpscaleRequest)
    # The second image, redrawn with its own seed, the job's style and selfie.
    assert request.image == kept.images[1].png and request.seed == 8 and request.scale == 2
    assert request.style_id == "cyberpunk" and request.selfie == astronaut_png
    assert says(upscaled, "Upscaled 2x from image 2 of")
    # A public follow-up is a reply to its parent in the channel, pinging its owner alone.
    assert upscaled.payload["message_reference"]["message_id"] == str(result.id)
    assert [user["id"] for user in upscaled.payload["mentions"]] == [str(ALICE.id)]
    # A single image's follow-ups name the action alone.
    assert rows(upscaled)[1:] == [["Upscale 2x"], ["Vary (subtle)"], ["Vary (strong)"]]

    for label, strength in (("Subtle 1", 0.3), ("Strong 1", 0.6)):
        click = await press(world, result, label)
        varied = await result_of(world, click)
        request = world.engine.requests[-1]
        assert isinstance(request, VaryRequest)
        assert request.image == kept.images[0].png and request.strength == strength and request.seed != 7
        assert says(varied, "A variation of image 1 of")

    # An upscale of a variation starts from the variation's own image.
    again = await press(world, varied, "Upscale 2x")
    upscaled_variation = await result_of(world, again)
    assert upscaled_variation.payload["message_reference"]["message_id"] == str(varied.id)
    request = world.engine.requests[-1]
    (child,) = [r for r in world.store.jobs_of(ALICE.id, states=("delivered",)) if r.kind == "vary"][-1:]
    assert isinstance(request, UpscaleRequest) and request.image == world.store.results(child.job_id).images[0].png
    follow_ups = [r for r in world.store.jobs_of(ALICE.id, states=("delivered",)) if r.parent_id]
    assert sorted(r.kind for r in follow_ups) == ["upscale", "upscale", "vary", "vary"]


async def test_only_the_owner_can_press_a_follow_up_and_a_private_jobs_stay_private(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(engine=engine)
    await world.portrait(astronaut_png, private=True)
    result = await world.result_message()
    assert result.is_ephemeral

    refused = await press(world, result, "Upscale 2x", user=BOB)
    assert (await world.sentence_for(refused)).content == NotJobOwner.user_message
    assert len(world.engine.requests) == 1

    click = await press(world, result, "Vary (subtle)")
    varied = await world.result_message(click)
    assert varied.is_ephemeral and click.is_ephemeral
    (follow_up,) = [r for r in world.store.jobs_of(ALICE.id, states=("delivered",)) if r.kind == "vary"]
    assert follow_up.is_private


async def test_a_follow_up_is_counted_queued_and_re_queued_after_a_restart(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(engine=gated_engine)
    await world.portrait(astronaut_png)
    await world.engine_started()
    world.engine.open()
    result = await world.result_message()
    world.engine.is_gated = True

    await press(world, result, "Upscale 2x")
    await world.engine_started()
    # Unfinished, so it counts against the member's limit; a job of its own, pointing at its parent.
    (job,) = await world.fake.wait_for(lambda: world.store.jobs_of(ALICE.id))
    assert job.kind == "upscale" and job.parent_id is not None
    queue = await world.driver.send_command("queue")
    assert f"Astronaut upscale of image 1 of job `{job.parent_id}`" in (await world.sentence_for(queue)).content

    await world.restart()
    world.engine.open()
    assert isinstance(world.engine.requests[0], UpscaleRequest)  # the new process re-queued it
    await world.wait_state(job.job_id, "delivered")


async def test_an_expired_parent_image_is_told_in_one_sentence(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world(engine=engine)
    await world.portrait(astronaut_png)
    result = await world.result_message()
    await world.fake.wait_for(lambda: world.status_texts()[-1].startswith("✅"))  # the job's last edit is done
    world.fake.clock.advance(world.settings.retention_s + 1)
    assert world.store.purge_expired(world.settings.retention_s) == 1

    click = await press(world, result, "Upscale 2x")
    assert (await world.sentence_for(click)).content == ImageExpired.user_message
    assert len(world.engine.requests) == 1


async def test_forget_deletes_the_kept_images(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world(engine=engine)
    await world.portrait(astronaut_png)
    result = await world.result_message()
    (parent,) = world.store.jobs_of(ALICE.id, states=("delivered",))
    png = world.store.results(parent.job_id).images[0].png

    forget = await world.driver.send_command("forget")
    await world.sentence_for(forget)
    assert world.store.results(parent.job_id) is None
    assert png not in world.settings.database.read_bytes()  # scrubbed, not merely unlinked
    click = await press(world, result, "Vary (strong)")
    assert "no longer exists" in (await world.sentence_for(click)).content
    assert buttons(result)  # the message itself is Discord's; its buttons now refuse


async def test_edit_opens_the_filled_form_and_its_submit_runs_the_job_again_changed(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(engine=engine)
    await world.portrait(astronaut_png, style="cyberpunk", prompt="neon rain", seed=5)
    result = await world.result_message()
    assert rows(result)[0] == ["Reroll", "Same again", "Delete", "Edit"]

    refused = await press(world, result, "Edit", user=BOB)
    assert (await world.sentence_for(refused)).content == NotJobOwner.user_message

    form = await open_form(world, result)
    fields = [row["components"][0] for row in form["components"] if row["type"] == 1]
    assert [(field["label"].split(" ")[0], field["value"]) for field in fields] == [
        ("Extra", "neon rain"),
        ("Subject", "person"),
        ("Seed", "5"),
    ]
    # Below them a style menu, the job's own style first and chosen.
    (menu,) = [row["component"] for row in form["components"] if row["type"] == LABEL]
    assert [(o["value"], bool(o.get("default"))) for o in menu["options"]][:2] == [
        ("cyberpunk", True),
        ("astronaut", False),
    ]

    submitted = await submit(world, form, {"Extra": "golden hour", "Subject": "Woman", "Seed": "9"})
    await world.result_message(submitted)
    request = world.engine.requests[-1]
    assert (request.prompt, request.subject, request.seed) == ("golden hour", "woman", 9)
    assert request.style_id == "cyberpunk" and request.selfie == astronaut_png

    wrong = await submit(world, await open_form(world, result), {"Extra": "", "Subject": "", "Seed": "nine"})
    assert (await world.sentence_for(wrong)).content.startswith("The seed must be a whole number")
    assert len(world.engine.requests) == 2


async def test_edit_switches_the_style_to_one_the_server_offers(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world(engine=engine)
    off = await world.driver.send_command("settings style", {"style": "comic", "enabled": False}, user=ADMIN)
    await world.reply_to(off)
    await world.portrait(astronaut_png, style="cyberpunk", seed=5)
    result = await world.result_message()
    form = await open_form(world, result)
    (menu,) = [row["component"] for row in form["components"] if row["type"] == LABEL]
    offered = [option["value"] for option in menu["options"]]
    assert "comic" not in offered and {"cyberpunk", "astronaut", "christmas"} <= set(offered)

    answers = {"Extra": "", "Subject": "person", "Seed": "5"}
    switched = await submit(world, form, {**answers, "Style": "christmas"})
    await world.result_message(switched)
    assert world.engine.requests[-1].style_id == "christmas"

    # A forged submit naming a style the server turned off, or none it knows, gets /portrait's sentence.
    for style, refusal in (("comic", StyleDisabled.user_message), ("no-such-style", "There is no style called")):
        forged = await submit(world, form, {**answers, "Style": style})
        assert (await world.sentence_for(forged)).content.startswith(refusal)
    assert len(world.engine.requests) == 2


async def test_an_edited_prompt_meets_the_servers_prompt_rules(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world(engine=engine, blocked_words=("forbidden",))
    await world.portrait(astronaut_png)
    result = await world.result_message()
    submitted = await submit(
        world, await open_form(world, result), {"Extra": "a Forbidden idea", "Subject": "", "Seed": ""}
    )
    assert (await world.sentence_for(submitted)).content == PromptBlocked.user_message
    assert len(world.engine.requests) == 1
