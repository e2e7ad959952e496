"""Responsible use through the fake Discord: the notice and its Accept button, prompt rules, age-restricted channels."""

from __future__ import annotations

from pathlib import Path

from bot.responsible.notice import ACCEPTED, DEFAULT_NOTICE
from bot.store import GuildPromptRules
from bot.texts import AI_GENERATED
from tests.fakediscord import ADMIN, ALICE, BOB, GUILD_ID
from tests.fakediscord.harness import buttons
from tests.portrait_e2e import WorldFactory

_BLOCKED = "Your prompt contains words this server does not allow; please rephrase it."
_NOT_AGE_RESTRICTED = "This server makes pictures only in age-restricted channels; please run the command in one."


async def test_a_first_portrait_waits_for_the_notice_and_forget_forgets_the_acceptance(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(is_notice_enabled=True)
    first = await world.portrait(astronaut_png)
    notice = await world.sentence_for(first)
    assert notice.content == DEFAULT_NOTICE.read_text(encoding="utf-8").strip()
    assert "people who agreed" in notice.content and "anonymous" in notice.content
    assert [b["label"] for b in buttons(notice)] == ["Accept"]
    # Nothing was downloaded or stored for the refused command.
    assert world.fake.requests_to("cdn") == [] and world.store.jobs_of(ALICE.id) == []

    await world.driver.click_button(world.button_id(notice, "Accept"), message=notice)
    await world.fake.wait_for(lambda: notice.content == ACCEPTED)
    assert buttons(notice) == []
    assert world.store.acceptances.has_accepted(ALICE.id) and not world.store.acceptances.has_accepted(BOB.id)

    again = await world.portrait(astronaut_png)
    result = await world.result_message(again)
    (embed,) = result.payload["embeds"]
    assert embed["author"]["name"] == AI_GENERATED

    await world.sentence_for(await world.driver.send_command("forget"))
    assert not world.store.acceptances.has_accepted(ALICE.id)
    after_forget = await world.portrait(astronaut_png)
    assert [b["label"] for b in buttons(await world.sentence_for(after_forget))] == ["Accept"]


async def test_identity_save_shows_the_admins_own_notice(make_world: WorldFactory, tmp_path: Path) -> None:
    notice_file = tmp_path / "notice.md"
    notice_file.write_text("Only your own face, please.\n", encoding="utf-8")
    world = await make_world(is_notice_enabled=True, notice_file=notice_file)
    photo = world.driver.attach(b"not read yet", "me.png", content_type="image/png")
    command = await world.driver.send_command("identity save", {"name": "me", "photo1": photo}, user=BOB)
    assert await world.reply_to(command) == "Only your own face, please."
    # Commands that make nothing need no acceptance.
    assert await world.reply_to(await world.driver.send_command("identity list", user=BOB)) != (
        "Only your own face, please."
    )


async def test_prompt_rules_refuse_blocked_words_whatever_their_case_and_accents(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(blocked_words=("gore",))
    set_word = await world.driver.send_command("settings prompt-rules", {"action": "block", "word": "Nudé"}, user=ADMIN)
    assert (await world.reply_to(set_word)).startswith("Blocked words: `Nudé`\nBlocked patterns: none")

    for prompt in ("a NUDE beach", "a nude beach", "ａ ｎｕｄｅ beach", "a Nüdé beach", "GÖRE everywhere"):
        refused = await world.portrait(astronaut_png, prompt=prompt)
        assert await world.reply_to(refused) == _BLOCKED, prompt
    assert world.fake.requests_to("cdn") == [] and world.store.jobs_of(ALICE.id) == []
    audit = await world.reply_to(await world.driver.send_command("audit", user=ADMIN))
    assert audit.count(f"<@{ALICE.id}> · /portrait · refused (prompt_blocked)") == 5
    assert "nude" not in audit.lower()  # the prompt itself is never kept

    # Whole words only: "nudes" and "gorey" are other words.
    allowed = await world.portrait(astronaut_png, prompt="nudes gorey beach")
    await world.result_message(allowed)

    unblock = await world.driver.send_command(
        "settings prompt-rules", {"action": "unblock", "word": "Nudé"}, user=ADMIN
    )
    assert (await world.reply_to(unblock)).startswith("Blocked words: none")


async def test_a_bad_pattern_is_refused_when_set_and_a_good_one_applies(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world()
    for pattern, sentence in (
        ("[unclosed", "That is not a valid regular expression"),
        ("(a+)+b", "That pattern repeats a group that itself repeats"),
        ("x*", "That pattern matches every prompt"),
        ("a" * 101, "A pattern must be 1 to 100 characters long."),
    ):
        command = await world.driver.send_command(
            "settings prompt-rules", {"action": "block", "pattern": pattern}, user=ADMIN
        )
        assert (await world.reply_to(command)).startswith(sentence), pattern
    assert world.store.prompt_rules.get(GUILD_ID) == GuildPromptRules(guild_id=GUILD_ID)

    good = await world.driver.send_command(
        "settings prompt-rules", {"action": "block", "pattern": r"blood\s*bath"}, user=ADMIN
    )
    assert "Blocked patterns: `blood\\s*bath`" in await world.reply_to(good)
    refused = await world.portrait(astronaut_png, prompt="a BLOODBATH at dawn")
    assert await world.reply_to(refused) == _BLOCKED

    members_may_not = await world.driver.send_command(
        "settings prompt-rules", {"action": "unblock", "pattern": r"blood\s*bath"}, user=ALICE
    )
    assert await world.reply_to(members_may_not) == "You need the Manage Server permission to use this command."
    assert world.store.prompt_rules.get(GUILD_ID).blocked_patterns == (r"blood\s*bath",)


async def test_without_a_safety_checker_jobs_can_be_kept_to_age_restricted_channels(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(is_nsfw_channel_required=True)
    refused = await world.portrait(astronaut_png)
    assert await world.reply_to(refused) == _NOT_AGE_RESTRICTED
    assert world.fake.requests_to("cdn") == []
    assert world.bot.counters.get("refusals", "channel_not_age_restricted") == 1

    await world.fake.set_channel_nsfw(True)
    await world.result_message(await world.portrait(astronaut_png))

    await world.fake.set_channel_nsfw(False)
    off = await world.driver.send_command("settings age-restricted", {"required": False}, user=ADMIN)
    assert await world.reply_to(off) == "Pictures may now be made in any allowed channel."
    second = await world.portrait(astronaut_png, user=BOB)
    await world.result_message(second)
