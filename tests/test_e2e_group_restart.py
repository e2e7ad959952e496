"""End to end: a member picks which identity they bring, and /group requests waiting for answers over a restart."""

from __future__ import annotations

import copy
import json
from types import SimpleNamespace

from bot.groups import CONSENT_TTL_S
from bot.groups.texts import ENDED
from fact_runtime import GroupRequest
from tests.fakediscord import ALICE, BOB, StoredMessage
from tests.fakediscord.harness import buttons
from tests.portrait_e2e import PortraitWorld, WorldFactory, result_card
from tests.test_e2e_group import ask_group, group_world, outcome, question_for, template_fetched

NOTHING = "so the group photo was not made and nothing was kept."


def _rows(world: PortraitWorld) -> list[dict[str, object]]:
    return [dict(row) for row in world.store._db.execute("SELECT * FROM group_requests")]


async def _waiting_request(world: PortraitWorld, template: bytes) -> tuple[object, StoredMessage]:
    command = await ask_group(world, template)
    return command, await question_for(world, command)


async def test_a_member_with_two_identities_allows_with_the_older_one(
    make_world: WorldFactory, astronaut_png: bytes, grace_hopper_jpeg: bytes
) -> None:
    world = await group_world(make_world, astronaut_png, grace_hopper_jpeg)
    world.engine.best_photo = 0
    later = await world.save_identity("later", astronaut_png, user=BOB)  # Bob's newest; "me" is his older one
    assert later.content.startswith("✅ Saved"), later.content
    command = await ask_group(world, grace_hopper_jpeg)
    question = await question_for(world, command)
    assert "**Alice** would like to put one of your saved faces into a group photo (face 2" in question.content
    assert [b["label"] for b in buttons(question)] == ["Allow: later (newest)", "Allow: me", "Decline"]

    # A button forged to name an identity that is not the clicker's (here Alice's) brings nothing.
    key = world.button_id(question, "Decline").split(":")[3]
    forged_id = f"fact:group:allow:{key}:{world.store.identities.of(ALICE.id)[0].identity_id}"
    forged = copy.deepcopy(question.payload)
    buttons(forged)[0]["custom_id"] = forged_id
    click = await world.driver.click_button(forged_id, message=SimpleNamespace(payload=forged), user=BOB)  # type: ignore[arg-type]
    assert (await world.reply_to(click)).startswith("You have no saved identity by that name")

    await world.driver.click_button(world.button_id(question, "Allow: me"), message=question, user=BOB)
    result = await world.result_message(command)
    assert question.content == "✅ **Bob** allowed their face in **Alice**'s group photo." and buttons(question) == []
    (job,) = world.store.jobs_of(ALICE.id, states=("delivered",))
    bobs_me = next(r for r in world.store.identities.of(BOB.id) if r.name == "me")
    assert [(seat.user_id, seat.identity_id, seat.identity_name) for seat in job.options.seats][1] == (
        BOB.id,
        bobs_me.identity_id,
        "me",
    )
    request = world.engine.requests[-1]
    assert isinstance(request, GroupRequest) and request.faces[1].photo == grace_hopper_jpeg  # "me", not "later"
    assert f"2 <@{BOB.id}> (**me**)." in result_card(result).fields["Notes"]
    assert world.store.groups.requests.get(key) is None


async def test_a_waiting_request_survives_a_restart_and_is_queued_when_the_member_allows(
    make_world: WorldFactory, astronaut_png: bytes, grace_hopper_jpeg: bytes
) -> None:
    world = await group_world(make_world, astronaut_png, grace_hopper_jpeg)
    command, question = await _waiting_request(world, grace_hopper_jpeg)
    (row,) = _rows(world)
    # The row links to the upload and names identities: no photo is downloaded or stored before everyone allowed.
    template = json.loads(str(row["template"]))
    assert template["filename"] == "template.jpg" and template["url"].endswith("/template.jpg")
    assert sum(len(str(value)) for value in row.values()) < 4096 and not template_fetched(world)

    await world.restart()
    assert world.bot.group_consent.pending == 1
    await world.driver.click_button(world.button_id(question, "Allow"), message=question, user=BOB)
    await world.result_message(command)
    (job,) = world.store.jobs_of(ALICE.id, states=("delivered",))
    assert job.kind == "group" and world.bot.group_consent.pending == 0 and _rows(world) == []
    request = world.engine.requests[-1]
    assert isinstance(request, GroupRequest) and request.template == grace_hopper_jpeg and request.seed == 7


async def test_a_request_whose_deadline_passed_during_a_restart_ends_and_says_so(
    make_world: WorldFactory, astronaut_png: bytes, grace_hopper_jpeg: bytes
) -> None:
    world = await group_world(make_world, astronaut_png, grace_hopper_jpeg)
    command, question = await _waiting_request(world, grace_hopper_jpeg)
    as_shown = copy.deepcopy(question)  # the question as Bob's screen still shows it
    await world.restart(downtime_s=CONSENT_TTL_S + 1)
    # The new process's first sweep ends it: the asker's status (its token still valid) says why.
    assert await outcome(world, command) == f"**Bob** did not answer in time, {NOTHING}"
    await world.fake.wait_for(lambda: question.content == "This group photo request has ended.")
    assert buttons(question) == [] and _rows(world) == [] and world.store.jobs_of(ALICE.id) == []
    late = await world.driver.click_button(world.button_id(as_shown, "Allow"), message=as_shown, user=BOB)
    assert (await world.reply_to(late)).startswith("That group photo request has ended")


async def test_a_request_ended_after_its_token_is_spent_tells_the_asker_by_dm(
    make_world: WorldFactory, astronaut_png: bytes, grace_hopper_jpeg: bytes
) -> None:
    world = await group_world(make_world, astronaut_png, grace_hopper_jpeg)
    command, question = await _waiting_request(world, grace_hopper_jpeg)
    await world.restart(downtime_s=20 * 60)
    sentence = f"**Bob** did not answer in time, {NOTHING}"
    told = await world.fake.wait_for(
        lambda: next((m for m in world.fake.messages.values() if m.content == sentence), None)
    )
    # By DM with the bot's token (the interaction's had run out), so the channel never reads who it was.
    assert told.token is None and told.channel_id == world.fake.dm_channels[ALICE.id]
    status = await world.fake.wait_for(lambda: (s := world.driver.original(command)) and s.content == ENDED)
    assert status and not [m for m in world.fake.messages.values() if sentence in m.content and m is not told]
    assert question.content == ENDED and _rows(world) == []
    assert not [r for r in world.fake.violations if r.kind == "expired_token"]


async def test_forget_after_a_restart_ends_the_waiting_request_and_deletes_its_row(
    make_world: WorldFactory, astronaut_png: bytes, grace_hopper_jpeg: bytes
) -> None:
    world = await group_world(make_world, astronaut_png, grace_hopper_jpeg)
    command, question = await _waiting_request(world, grace_hopper_jpeg)
    await world.restart()
    forget = await world.driver.send_command("forget", user=BOB)
    await world.sentence_for(forget)
    assert await outcome(world, command) == f"**Bob** asked the bot to forget them, {NOTHING}"
    await world.fake.wait_for(lambda: question.content == "This group photo request has ended.")
    assert _rows(world) == [] and world.store.jobs_of(ALICE.id) == []


async def test_a_template_link_gone_stale_by_the_last_allow_asks_for_the_template_again(
    make_world: WorldFactory, astronaut_png: bytes, grace_hopper_jpeg: bytes
) -> None:
    world = await group_world(make_world, astronaut_png, grace_hopper_jpeg)
    command, question = await _waiting_request(world, grace_hopper_jpeg)
    await world.restart()
    world.fake.cdn.clear()  # the CDN answers 404 for a link past its expiry
    await world.driver.click_button(world.button_id(question, "Allow"), message=question, user=BOB)
    assert await outcome(world, command) == (
        "I could not fetch the template photo any more, so the group photo was not made;"
        " upload the template again with /group."
    )
    assert world.store.jobs_of(ALICE.id) == [] and _rows(world) == []
    assert [job.state for job in world.store.jobs_of(ALICE.id, states=("refused",))] == ["refused"]


async def test_a_standing_share_brings_the_identity_it_names(
    make_world: WorldFactory, astronaut_png: bytes, grace_hopper_jpeg: bytes
) -> None:
    world = await group_world(make_world, astronaut_png, grace_hopper_jpeg)
    world.engine.best_photo = 0
    await world.save_identity("later", astronaut_png, user=BOB)
    choices = await world.driver.send_autocomplete(
        "identity share", {"allow": True, "identity": ""}, focused="identity", user=BOB
    )
    assert sorted(choice["name"] for choice in choices) == ["later (1 photo)", "me (1 photo)"]
    share = await world.driver.send_command("identity share", {"allow": True, "identity": "me"}, user=BOB)
    assert (await world.reply_to(share)).startswith(
        "Sharing is on here: members of this server can put your saved identity **me** into /group photos"
    )
    command = await ask_group(world, grace_hopper_jpeg)
    await world.result_message(command)
    assert world.fake.requests_to("channel_send") == []  # nobody was asked
    (job,) = world.store.jobs_of(ALICE.id, states=("delivered",))
    assert [seat.identity_name for seat in job.options.seats] == ["me", "me"]
    request = world.engine.requests[-1]
    assert isinstance(request, GroupRequest) and request.faces[1].photo == grace_hopper_jpeg

    # Sharing again without a name brings the newest from then on.
    again = await world.driver.send_command("identity share", {"allow": True}, user=BOB)
    assert "your newest saved identity" in await world.reply_to(again)
    await world.result_message(await ask_group(world, grace_hopper_jpeg, seed=8))
    newest = next(job for job in world.store.jobs_of(ALICE.id, states=("delivered",)) if job.options.seed == 8)
    assert [seat.identity_name for seat in newest.options.seats] == ["me", "later"]


async def test_a_private_request_ended_after_its_token_is_spent_tells_the_asker_by_dm(
    make_world: WorldFactory, astronaut_png: bytes, grace_hopper_jpeg: bytes
) -> None:
    world = await group_world(make_world, astronaut_png, grace_hopper_jpeg)
    command = await ask_group(world, grace_hopper_jpeg, private=True)
    question = await question_for(world, command)
    await world.restart(downtime_s=20 * 60)
    sentence = f"**Bob** did not answer in time, {NOTHING}"
    told = await world.fake.wait_for(
        lambda: next((m for m in world.fake.messages.values() if m.content == sentence and m.token is None), None)
    )
    assert told.channel_id == world.fake.dm_channels[ALICE.id]
    assert question.content == "This group photo request has ended." and _rows(world) == []
