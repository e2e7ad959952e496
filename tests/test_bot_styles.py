"""/styles browse pages with previews, and style autocomplete that follows the guild's rules."""

from __future__ import annotations

from pathlib import Path

from bot.cogs.styles import StylePager
from bot.store import GuildSettings
from tests.bot_harness import BotHarness, command_data, interaction_payload, message_payload, snowflake


async def test_browse_shows_a_page_with_the_preview_attached(tmp_path: Path, astronaut_png: bytes) -> None:
    styles = tmp_path / "styles"
    styles.mkdir()
    (styles / "astronaut.png").write_bytes(astronaut_png)
    async with BotHarness(tmp_path) as h:
        (styles / "astronaut.yaml").write_text((styles / "astronaut.yaml").read_text() + "preview: astronaut.png\n")
        h.catalog.reload()
        interaction = await h.run_command("styles", [{"name": "browse", "type": 1, "options": []}])
        [reply] = h.recorder.calls_for(interaction)
        data = reply.payload["data"]
        assert reply.is_ephemeral
        assert data["embeds"][0]["title"] == "Astronaut"
        assert data["embeds"][0]["image"]["url"] == "attachment://preview.png"
        assert reply.files == [("preview.png", astronaut_png)]
        assert data["embeds"][0]["footer"]["text"].startswith("Style 1 of 2")


async def test_the_pager_turns_pages_and_stops_at_the_ends(tmp_path: Path) -> None:
    async with BotHarness(tmp_path) as h:
        pager = StylePager(h.catalog.all(), owner_id=400)
        assert pager.previous.disabled and not pager.next.disabled
        message = message_payload(snowflake(), 300, {"flags": 64})
        click = h.interaction(interaction_payload(3, {"custom_id": pager.next.custom_id, "component_type": 2},
                                                  message=message))
        await pager.next.callback(click)
        assert pager.index == 1 and pager.next.disabled and not pager.previous.disabled
        [update] = h.recorder.calls_for(click)
        assert update.payload["type"] == 7  # the same message is edited in place
        assert update.payload["data"]["embeds"][0]["title"] == "Oil painting"


async def test_style_autocomplete_hides_styles_the_guild_turned_off(tmp_path: Path) -> None:
    async with BotHarness(tmp_path) as h:
        h.store.guilds.save(GuildSettings(guild_id=200, disabled_styles=frozenset({"oil-painting"})))
        options = [{"name": "style", "type": 3, "value": "", "focused": True}]
        interaction = h.interaction(interaction_payload(4, command_data("portrait", options)))
        await h.bot.tree._call(interaction)
        [reply] = h.recorder.calls_for(interaction)
        assert reply.payload == {"type": 8, "data": {"choices": [{"name": "Astronaut", "value": "astronaut"}]}}
