"""Admin commands are enforced with has_permissions(manage_guild), and guild rules apply to /portrait."""

from __future__ import annotations

from pathlib import Path

from bot.store import GuildSettings
from tests.bot_harness import CHANNEL_ID, MEMBER_PERMISSIONS, BotHarness, attachment

_NEEDS_MANAGE = "You need the Manage Server permission to use this command."


async def test_a_member_without_manage_server_is_refused(tmp_path: Path) -> None:
    async with BotHarness(tmp_path) as h:
        options = [{"name": "user-limit", "type": 1, "options": [{"name": "limit", "type": 4, "value": 1}]}]
        denied = await h.run_command("settings", options, permissions=MEMBER_PERMISSIONS)
        assert h.ephemeral_reply(denied) == _NEEDS_MANAGE
        assert h.store.guilds.get(200).max_jobs_per_user is None

        allowed = await h.run_command("settings", options)
        assert h.ephemeral_reply(allowed) == "Each member may now have 1 unfinished job."
        assert h.store.guilds.get(200).max_jobs_per_user == 1


async def test_style_reload_is_for_admins_only(tmp_path: Path) -> None:
    async with BotHarness(tmp_path) as h:
        (tmp_path / "styles" / "sketch.yaml").write_text(
            'id: sketch\nname: Sketch\nbase_model: majicmix\nprompt: "a pencil sketch of {subject}"\n'
        )
        reload = [{"name": "reload", "type": 1, "options": []}]
        denied = await h.run_command("styles", reload, permissions=MEMBER_PERMISSIONS)
        assert h.ephemeral_reply(denied) == _NEEDS_MANAGE
        assert "sketch" not in h.catalog

        allowed = await h.run_command("styles", reload)
        assert h.ephemeral_reply(allowed) == "3 styles loaded; added: sketch."
        assert "sketch" in h.catalog


async def test_a_bad_style_file_keeps_the_old_set_and_says_why(tmp_path: Path) -> None:
    async with BotHarness(tmp_path) as h:
        (tmp_path / "styles" / "broken.yaml").write_text("id: broken\nname: Broken\nbase_model: majicmix\nprompt: no subject\n")
        interaction = await h.run_command("styles", [{"name": "reload", "type": 1, "options": []}])
        reply = h.ephemeral_reply(interaction)
        assert reply.startswith("The styles were NOT reloaded; the old set stays.")
        assert "broken.yaml" in reply and "prompt" in reply
        assert len(h.catalog) == 2


async def test_guild_rules_gate_portrait_before_the_download(tmp_path: Path, astronaut_png: bytes) -> None:
    async with BotHarness(tmp_path) as h:
        h.store.guilds.save(GuildSettings(guild_id=200, allowed_channels=frozenset({CHANNEL_ID + 1})))
        selfie = attachment(h.recorder, astronaut_png)
        refused = await h.portrait(selfie)
        assert h.ephemeral_reply(refused).startswith("Portraits are not enabled in this channel")

        h.store.guilds.save(GuildSettings(guild_id=200, disabled_styles=frozenset({"astronaut"})))
        refused = await h.portrait(selfie)
        assert h.ephemeral_reply(refused) == "That style is turned off in this server; please pick another one."
        assert h.recorder.downloads == [] and h.engine.runs == []


async def test_settings_commands_by_an_admin_change_the_rules(tmp_path: Path) -> None:
    async with BotHarness(tmp_path) as h:
        off = [{"name": "style", "type": 1, "options": [{"name": "style", "type": 3, "value": "astronaut"},
                                                         {"name": "enabled", "type": 5, "value": False}]}]
        await h.run_command("settings", off)
        assert h.store.guilds.get(200).disabled_styles == {"astronaut"}
        show = await h.run_command("settings", [{"name": "show", "type": 1, "options": []}])
        assert "Disabled styles: astronaut" in h.ephemeral_reply(show)
