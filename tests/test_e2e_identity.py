"""End to end: saving an identity (consent first), using it in /portrait and /inpaint, rerolls, and ownership."""

from __future__ import annotations

from fact_runtime import IdentityRequest
from tests.fakediscord import ALICE, BOB
from tests.fakediscord.harness import buttons
from tests.portrait_e2e import PortraitWorld, WorldFactory, gated_engine, result_card

NOT_FOUND = "You have no saved identity by that name; /identity list shows yours."


async def _saved_id(world: PortraitWorld, name: str, *photos: bytes, user=ALICE) -> str:
    message = await world.save_identity(name, *photos, user=user)
    assert message.content.startswith("✅ Saved"), message.content
    record = world.store.identities.find(user.id, name)
    assert record is not None
    return record.identity_id


async def test_saving_asks_first_and_downloads_nothing_before_consent(
    make_world: WorldFactory, astronaut_png: bytes, grace_hopper_jpeg: bytes
) -> None:
    world = await make_world(identity_retention_days=30)
    photos = {
        "photo1": world.driver.attach(astronaut_png, "a.png"),
        "photo2": world.driver.attach(grace_hopper_jpeg, "b.jpg"),
    }
    command = await world.driver.send_command("identity save", {"name": "me", **photos})
    consent = await world.sentence_for(command)
    assert consent.is_ephemeral and consent.content.startswith("Save your face as **me**?")
    assert "2 photos" in consent.content and "30 days after you last use it" in consent.content
    assert "Only you can see or use it" in consent.content and "/forget" in consent.content
    assert [b["label"] for b in buttons(consent)] == ["Save my face", "Don't save"]
    assert world.fake.requests_to("cdn") == [] and world.engine.runs == []

    await world.driver.click_button(world.button_id(consent, "Save my face"), message=consent)
    await world.fake.wait_for(lambda: consent.content.startswith("✅"))
    (run,) = world.engine.runs
    assert isinstance(run.request, IdentityRequest) and run.request.photos == (astronaut_png, grace_hopper_jpeg)
    assert consent.content.startswith("✅ Saved **me** (2 photos of one person; photo 1 is the clearest")
    assert [b["label"] for b in buttons(consent)] == ["Delete"]
    (record,) = world.store.identities.of(ALICE.id)
    assert (record.name, record.photo_count) == ("me", 2)


async def test_declining_saves_nothing(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world()
    command = await world.driver.send_command(
        "identity save", {"name": "me", "photo1": world.driver.attach(astronaut_png, "a.png")}
    )
    consent = await world.sentence_for(command)
    await world.driver.click_button(world.button_id(consent, "Don't save"), message=consent)
    await world.fake.wait_for(lambda: consent.content.startswith("Nothing was saved"))
    assert world.store.identities.of(ALICE.id) == [] and world.fake.requests_to("cdn") == []
    assert buttons(consent) == [] and world.engine.runs == []


async def test_a_consent_answered_too_late_saves_nothing(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world()
    command = await world.driver.send_command(
        "identity save", {"name": "me", "photo1": world.driver.attach(astronaut_png, "a.png")}
    )
    consent = await world.sentence_for(command)
    world.fake.clock.advance(11 * 60)
    click = await world.driver.click_button(world.button_id(consent, "Save my face"), message=consent)
    assert (await world.reply_to(click)).startswith("That request has expired and nothing was saved")
    assert world.store.identities.of(ALICE.id) == [] and world.engine.runs == []


async def test_a_portrait_and_an_inpaint_from_a_saved_identity(
    make_world: WorldFactory, astronaut_png: bytes, grace_hopper_jpeg: bytes
) -> None:
    world = await make_world()
    world.engine.best_photo = 1
    identity_id = await _saved_id(world, "holiday", grace_hopper_jpeg, astronaut_png)
    portrait = await world.driver.send_command("portrait", {"identity": identity_id, "style": "comic", "seed": 9})
    result = await world.result_message(portrait)
    request = world.engine.requests[-1]
    # The best photo is the selfie (fused in, ranked against); the others follow; no analysis or encoding left.
    assert request.selfie == astronaut_png and request.references == (grace_hopper_jpeg,)
    assert request.face is not None and request.face.best_index == 1
    card = result_card(result)
    assert "ℹ️ Made from your saved identity **holiday**." in card.fields["Notes"].splitlines()
    assert card.fields["Style"] == "Comic Illustration"
    (job,) = world.store.jobs_of(ALICE.id, states=("delivered",))
    assert world.store.inputs(job.job_id) == {}  # the identity's photos are not copied into the job

    template = world.driver.attach(grace_hopper_jpeg, "group.jpg")
    inpaint = await world.driver.send_command("inpaint", {"identity": "HOLIDAY", "template": template})
    inpainted = await world.result_message(inpaint)
    request = world.engine.requests[-1]
    assert request.selfie == astronaut_png and request.template == grace_hopper_jpeg and request.face is not None
    assert "**holiday**" in result_card(inpainted).fields["Notes"]


async def test_rerolls_and_same_again_work_for_identity_jobs(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world()
    await _saved_id(world, "me", astronaut_png)
    command = await world.driver.send_command("portrait", {"identity": "me", "style": "astronaut", "seed": 4})
    result = await world.result_message(command)
    await world.restart()  # the identity and the job's buttons outlive the process

    reroll = await world.driver.click_button(world.button_id(result, "Reroll"), message=result)
    again = await world.driver.click_button(world.button_id(result, "Same again"), message=result)
    for click in (reroll, again):
        assert "saved identity **me**" in result_card(await world.result_message(click)).fields["Notes"]
    seeds = sorted(request.seed for request in world.engine.requests)
    assert 4 in seeds and len(set(seeds)) == 2
    assert all(request.face is not None and request.selfie == astronaut_png for request in world.engine.requests)

    delete = await world.driver.send_command("identity delete", {"name": "me"})
    assert (await world.reply_to(delete)).startswith("🗑️ Deleted **me**")
    late = await world.driver.click_button(world.button_id(result, "Same again"), message=result)
    assert (await world.reply_to(late)).startswith("The saved identity that job used was deleted")
    assert len(world.engine.requests) == 2


async def test_exactly_one_of_a_selfie_and_an_identity(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world()
    await _saved_id(world, "me", astronaut_png)
    both = await world.portrait(astronaut_png, identity="me")
    neither = await world.driver.send_command("portrait", {"style": "astronaut"})
    for interaction in (both, neither):
        assert (await world.reply_to(interaction)).startswith("Give either a selfie or one of your saved identities")
    assert len(world.engine.runs) == 1  # the save only


async def test_autocomplete_offers_only_the_members_own_identities(
    make_world: WorldFactory, astronaut_png: bytes, grace_hopper_jpeg: bytes
) -> None:
    world = await make_world()
    alice_id = await _saved_id(world, "work", astronaut_png)
    await _saved_id(world, "weekend", grace_hopper_jpeg, user=BOB)
    for command in ("portrait", "inpaint", "identity delete", "identity rename"):
        option = "name" if command.startswith("identity") else "identity"
        choices = await world.driver.send_autocomplete(command, {option: "w"}, focused=option)
        assert choices == [{"name": "work (1 photo)", "value": alice_id}], command
    assert await world.driver.send_autocomplete("portrait", {"identity": "wee"}, focused="identity") == []


async def test_another_members_identity_is_refused_by_command_and_by_forged_button(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world()
    saved = await world.save_identity("me", astronaut_png)
    alice_id = world.store.identities.find(ALICE.id, "me").identity_id
    for key in (alice_id, "me"):
        template = world.driver.attach(astronaut_png, "group.png")
        for command, extra in (("portrait", {"style": "astronaut"}), ("inpaint", {"template": template})):
            attempt = await world.driver.send_command(command, {"identity": key, **extra}, user=BOB)
            assert await world.reply_to(attempt) == NOT_FOUND
        for command, options in (
            ("identity delete", {"name": key}),
            ("identity rename", {"name": key, "new_name": "mine"}),
        ):
            assert await world.reply_to(await world.driver.send_command(command, options, user=BOB)) == NOT_FOUND

    # Bob forges the Delete button of Alice's identity, and a consent button of a save Alice asked for.
    forged = await world.driver.click_button(f"fact:identity:delete:{alice_id}", message=saved, user=BOB)
    assert await world.reply_to(forged) == NOT_FOUND
    command = await world.driver.send_command(
        "identity save", {"name": "two", "photo1": world.driver.attach(astronaut_png, "a.png")}
    )
    consent = await world.sentence_for(command)
    stolen = await world.driver.click_button(world.button_id(consent, "Save my face"), message=consent, user=BOB)
    assert await world.reply_to(stolen) == "Only the person who asked to save those photos can use this button."
    assert [r.name for r in world.store.identities.of(ALICE.id)] == ["me"] and world.store.identities.of(BOB.id) == []
    assert world.store.jobs_of(BOB.id) == [] and len(world.engine.runs) == 1

    # Alice's own consent still works after Bob's attempt, and her identity's job buttons stay hers.
    await world.driver.click_button(world.button_id(consent, "Save my face"), message=consent)
    await world.fake.wait_for(lambda: consent.content.startswith("✅"))
    portrait = await world.driver.send_command("portrait", {"identity": "two", "style": "astronaut"})
    result = await world.result_message(portrait)
    reroll = await world.driver.click_button(world.button_id(result, "Reroll"), message=result, user=BOB)
    assert await world.reply_to(reroll) == "Only the person who started that job can use this button."


async def test_an_unfinished_identity_job_resumes_after_a_restart(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(engine=gated_engine)
    world.engine.release(world.engine.steps)  # the save runs through; the portrait will wait
    await _saved_id(world, "me", astronaut_png)
    world.engine.started.clear()
    await world.driver.send_command("portrait", {"identity": "me", "style": "comic", "seed": 8})
    await world.engine_started()
    await world.restart()
    world.engine.open()
    job = await world.wait_state((await world.only_job()).job_id, "delivered")
    (request,) = world.engine.requests  # the new process rebuilt the request from the identity
    assert request.face is not None and request.selfie == astronaut_png and request.seed == 8
    assert job.options.identity_name == "me"


async def test_deleting_an_identity_cancels_its_unfinished_jobs(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world(engine=gated_engine)
    world.engine.release(world.engine.steps)
    await _saved_id(world, "me", astronaut_png)
    world.engine.started.clear()
    await world.driver.send_command("portrait", {"identity": "me", "style": "comic"})
    await world.engine_started()
    delete = await world.driver.send_command("identity delete", {"name": "me"})
    assert (await world.reply_to(delete)).startswith("🗑️ Deleted **me**")
    world.engine.open()
    job = await world.only_job()
    await world.wait_state(job.job_id, "cancelled")
    assert not any(message.files for message in world.fake.messages.values())


async def test_a_save_behind_other_jobs_says_where_it_waits(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world(engine=gated_engine)
    await world.portrait(astronaut_png, user=BOB)
    await world.engine_started()
    command = await world.driver.send_command(
        "identity save", {"name": "me", "photo1": world.driver.attach(astronaut_png, "a.png")}
    )
    consent = await world.sentence_for(command)
    await world.driver.click_button(world.button_id(consent, "Save my face"), message=consent)
    await world.fake.wait_for(lambda: consent.content.startswith("⏳ Waiting in the queue (position 1)"))
    world.engine.open()
    await world.fake.wait_for(lambda: consent.content.startswith("✅ Saved **me**"))
