"""End to end: /group through the fake Discord: consent (allow, decline, timeout, standing share), refusals, one job."""

from __future__ import annotations

import copy
from typing import Any

from bot.groups import CONSENT_TTL_S
from bot.groups.texts import ENDED
from fact_runtime import GroupRequest
from tests.fakediscord import ADMIN, ALICE, BOB, FakeInteraction, FakeUser, StoredMessage
from tests.fakediscord.harness import buttons
from tests.fakediscord.payloads import STRANGER
from tests.portrait_e2e import PortraitWorld, WorldFactory, result_card


async def group_world(
    make_world: WorldFactory, astronaut_png: bytes, grace_hopper_jpeg: bytes, **kw: Any
) -> PortraitWorld:
    """A world where Alice and Bob each saved an identity (Alice's best photo is her second)."""
    world = await make_world(**kw)
    for user, photos in ((ALICE, (grace_hopper_jpeg, astronaut_png)), (BOB, (grace_hopper_jpeg,))):
        world.engine.best_photo = len(photos) - 1
        if world.engine.is_gated:
            world.engine.release(world.engine.steps)  # the save runs through; later jobs wait at the gate
        saved = await world.save_identity("me", *photos, user=user)
        assert saved.content.startswith("✅ Saved"), saved.content
    return world


async def ask_group(world: PortraitWorld, template: bytes, *, user: FakeUser = ALICE, **faces: Any) -> FakeInteraction:
    """Run /group (Alice in face 1, Bob in face 2 unless `faces` say otherwise) with an uploaded template."""
    options = {"face1": ALICE, "face2": BOB, "template": world.driver.attach(template, "template.jpg"), "seed": 7}
    given = {
        name: str(value.id) if isinstance(value, FakeUser) else value for name, value in {**options, **faces}.items()
    }
    return await world.driver.send_command("group", given, user=user)


def template_fetched(world: PortraitWorld) -> bool:
    return any(r.path.endswith("/template.jpg") for r in world.fake.requests_to("cdn"))


async def outcome(world: PortraitWorld, command: FakeInteraction) -> str:
    """How the request ended, as the asker alone is told: a private request's status says it; a public
    one's status says only that it ended (the channel reads it), and the reason comes ephemeral."""

    def ended() -> StoredMessage | None:
        status = world.driver.original(command)
        # Not while it is the deferred "thinking…" (no content) or says it waits.
        return status if status is not None and status.content and not status.content.startswith("⏳") else None

    status = await world.fake.wait_for(ended)
    if status.is_ephemeral:
        return status.content
    assert status.content == ENDED  # nobody else learns who declined, timed out or was forgotten
    told = await world.fake.wait_for(
        lambda: [m for m in world.fake.messages.values() if m.token == command.token and m.is_ephemeral]
    )
    return told[-1].content


async def question_for(world: PortraitWorld, command: FakeInteraction, user: FakeUser = BOB) -> StoredMessage:
    """The channel message that asks `user` to allow their face, once the asker's status says it waits."""
    await world.fake.wait_for(
        lambda: (status := world.driver.original(command)) is not None and status.content.startswith("⏳ Waiting")
    )
    return await world.fake.wait_for(
        lambda: next(
            (m for m in world.fake.messages.values() if m.token is None and m.content.startswith(f"<@{user.id}>,")),
            None,
        )
    )


async def test_a_member_who_allows_gets_one_job_counted_to_the_asker(
    make_world: WorldFactory, astronaut_png: bytes, grace_hopper_jpeg: bytes
) -> None:
    world = await group_world(make_world, astronaut_png, grace_hopper_jpeg)
    command = await ask_group(world, grace_hopper_jpeg)
    question = await question_for(world, command)
    assert "**Alice** would like to put your saved face **me** into a group photo (face 2" in question.content
    assert [b["label"] for b in buttons(question)] == ["Allow", "Decline"]
    (sent,) = world.fake.requests_to("channel_send")
    mentions = sent.json["allowed_mentions"]  # it pings Bob and nobody else
    assert mentions["parse"] == [] and [int(user) for user in mentions["users"]] == [BOB.id]
    status = world.driver.original(command)
    assert status is not None and status.content.startswith("⏳ Waiting for **Bob** to allow")
    assert world.store.jobs_of(ALICE.id) == [] and not template_fetched(world)  # nothing kept yet

    # Only Bob answers his question: Alice's click (or anyone else's) changes nothing.
    for user in (ALICE, ADMIN):
        click = await world.driver.click_button(world.button_id(question, "Allow"), message=question, user=user)
        assert await world.reply_to(click) == "Only the member this question is for can answer it."
    await world.driver.click_button(world.button_id(question, "Allow"), message=question, user=BOB)
    result = await world.result_message(command)
    assert question.content == "✅ **Bob** allowed their face in **Alice**'s group photo." and buttons(question) == []
    card = result_card(result)
    assert card.fields["Template"] == "your template photo"
    assert f"ℹ️ Faces from the left: 1 <@{ALICE.id}> (**me**), 2 <@{BOB.id}> (**me**)." in card.fields["Notes"]

    request = world.engine.requests[-1]
    assert isinstance(request, GroupRequest) and request.user_id == str(ALICE.id) and request.seed == 7
    assert [(face.face_index, face.user_id) for face in request.faces] == [(1, str(ALICE.id)), (2, str(BOB.id))]
    assert request.faces[0].photo == astronaut_png and request.faces[1].photo == grace_hopper_jpeg  # best photos
    assert request.template == grace_hopper_jpeg and all(face.face.tokens for face in request.faces)
    (job,) = world.store.jobs_of(ALICE.id, states=("delivered",))
    assert job.kind == "group" and world.store.jobs_of(BOB.id, states=("delivered",)) == []

    # A reroll runs the same faces again with a new seed, and needs no new question.
    reroll = await world.driver.click_button(world.button_id(result, "Reroll"), message=result)
    await world.result_message(reroll)
    again = world.engine.requests[-1]
    assert isinstance(again, GroupRequest) and again.seed != 7 and again.faces == request.faces
    assert len(world.fake.requests_to("channel_send")) == 1


async def test_a_decline_ends_the_request_naming_who(
    make_world: WorldFactory, astronaut_png: bytes, grace_hopper_jpeg: bytes
) -> None:
    world = await group_world(make_world, astronaut_png, grace_hopper_jpeg)
    runs = len(world.engine.runs)
    command = await ask_group(world, grace_hopper_jpeg)
    question = await question_for(world, command)
    await world.driver.click_button(world.button_id(question, "Decline"), message=question, user=BOB)
    assert await outcome(world, command) == "**Bob** declined, so the group photo was not made and nothing was kept."
    assert buttons(question) == [] and len(world.engine.runs) == runs
    assert world.store.jobs_of(ALICE.id, states=("accepted", "queued", "refused", "cancelled")) == []
    assert not template_fetched(world)


async def test_an_unanswered_question_times_out(
    make_world: WorldFactory, astronaut_png: bytes, grace_hopper_jpeg: bytes
) -> None:
    world = await group_world(make_world, astronaut_png, grace_hopper_jpeg)
    command = await ask_group(world, grace_hopper_jpeg)
    question = await question_for(world, command)
    as_shown = copy.deepcopy(question)  # the question as Bob's screen still shows it when the request ends
    assert await world.bot.group_consent.expire() == 0  # not yet
    world.fake.clock.advance(CONSENT_TTL_S + 1)
    assert await world.bot.group_consent.expire() == 1
    told = await outcome(world, command)
    assert told == "**Bob** did not answer in time, so the group photo was not made and nothing was kept."
    assert question.content == "This group photo request has ended." and buttons(question) == []
    # A click that was on its way when the question closed finds the request gone.
    late = await world.driver.click_button(world.button_id(as_shown, "Allow"), message=as_shown, user=BOB)
    assert (await world.reply_to(late)).startswith("That group photo request has ended")
    assert world.store.jobs_of(ALICE.id) == []


async def test_a_standing_share_skips_the_question_until_revoked(
    make_world: WorldFactory, astronaut_png: bytes, grace_hopper_jpeg: bytes
) -> None:
    world = await group_world(make_world, astronaut_png, grace_hopper_jpeg)
    share = await world.driver.send_command("identity share", {"allow": True}, user=BOB)
    assert (await world.reply_to(share)).startswith("Sharing is on here")
    command = await ask_group(world, grace_hopper_jpeg)
    await world.result_message(command)
    assert world.fake.requests_to("channel_send") == []  # nobody was asked

    revoke = await world.driver.send_command("identity share", {"allow": False}, user=BOB)
    assert (await world.reply_to(revoke)).startswith("Sharing is off here")
    await question_for(world, await ask_group(world, grace_hopper_jpeg))

    # Without an identity there is nothing to share.
    nothing = await world.driver.send_command("identity share", {"allow": True}, user=ADMIN)
    assert await world.reply_to(nothing) == "You have no saved identity to share; save one with /identity save first."


async def test_refusals_name_who_before_anyone_is_asked(
    make_world: WorldFactory, astronaut_png: bytes, grace_hopper_jpeg: bytes
) -> None:
    world = await group_world(make_world, astronaut_png, grace_hopper_jpeg)
    cases = [
        ({"face2": ADMIN}, "**Admin** has no saved identity; they can save one with /identity save first."),
        ({"face2": STRANGER}, "**Stranger** is not in this server."),
        ({"face2": ALICE}, "**Alice** is named for two faces; name each member once."),
        ({"face3": BOB, "face4": ADMIN, "face5": STRANGER}, "A group photo takes 2 to 4 faces."),
        ({"template_id": "nope"}, "Give either a template image or a built-in template, not both and not neither."),
    ]
    for faces, sentence in cases:
        reply = await world.reply_to(await ask_group(world, grace_hopper_jpeg, **faces))
        assert reply == sentence, faces
    assert world.fake.requests_to("channel_send") == [] and world.store.jobs_of(ALICE.id) == []


async def test_a_question_the_bot_cannot_post_ends_the_request(
    make_world: WorldFactory, astronaut_png: bytes, grace_hopper_jpeg: bytes
) -> None:
    world = await group_world(make_world, astronaut_png, grace_hopper_jpeg)
    world.fake.fail_next(403, route="channel_send", code=50013, message="Missing Permissions")
    command = await ask_group(world, grace_hopper_jpeg)
    assert await outcome(world, command) == "I could not post the question to **Bob** in this channel, " + (
        "so the group photo was not made and nothing was kept."
    )
    assert world.bot.group_consent.pending == 0 and world.store.jobs_of(ALICE.id) == []
