"""Admin commands are enforced with has_permissions(manage_guild), and guild rules apply to /portrait."""

from __future__ import annotations

from bot.store import GuildSettings
from tests.fakediscord import ADMIN, ALICE, CHANNEL_ID, GUILD_ID
from tests.portrait_e2e import WorldFactory, gated_engine

_NEEDS_MANAGE = "You need the Manage Server permission to use this command."


async def test_a_member_without_manage_server_is_refused(make_world: WorldFactory) -> None:
    world = await make_world()
    denied = await world.driver.send_command("settings user-limit", {"limit": 1}, user=ALICE)
    assert await world.reply_to(denied) == _NEEDS_MANAGE
    assert world.store.guilds.get(GUILD_ID).max_jobs_per_user is None

    allowed = await world.driver.send_command("settings user-limit", {"limit": 1}, user=ADMIN)
    assert await world.reply_to(allowed) == "Each member may now have 1 unfinished job."
    assert world.store.guilds.get(GUILD_ID).max_jobs_per_user == 1


async def test_guild_rules_gate_portrait_before_the_download(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world()
    world.store.guilds.save(GuildSettings(guild_id=GUILD_ID, allowed_channels=frozenset({CHANNEL_ID + 1})))
    refused = await world.portrait(astronaut_png)
    assert (await world.reply_to(refused)).startswith("Portraits are not enabled in this channel")

    world.store.guilds.save(GuildSettings(guild_id=GUILD_ID, disabled_styles=frozenset({"astronaut"})))
    refused = await world.portrait(astronaut_png)
    assert await world.reply_to(refused) == "That style is turned off in this server; please pick another one."
    assert world.fake.requests_to("cdn") == [] and world.engine.runs == []


async def test_a_lowered_user_limit_applies_to_portrait(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world(engine=gated_engine)
    await world.reply_to(await world.driver.send_command("settings user-limit", {"limit": 1}, user=ADMIN))
    await world.portrait(astronaut_png)
    await world.engine_started()
    second = await world.portrait(astronaut_png)
    # The guild's 1 wins over the runtime's 2, and the sentence names the limit that applies.
    assert (await world.reply_to(second)).startswith("You already have 1 unfinished job,")
    show = await world.driver.send_command("settings show", user=ADMIN)
    assert "Unfinished jobs per member: 1" in (await world.reply_to(show)).splitlines()


async def test_settings_commands_by_an_admin_change_the_rules(make_world: WorldFactory) -> None:
    world = await make_world()
    off = await world.driver.send_command("settings style", {"style": "astronaut", "enabled": False}, user=ADMIN)
    assert await world.reply_to(off) == "Style `astronaut` is now off in this server."
    assert world.store.guilds.get(GUILD_ID).disabled_styles == {"astronaut"}
    show = await world.driver.send_command("settings show", user=ADMIN)
    assert "Disabled styles: astronaut" in await world.reply_to(show)
