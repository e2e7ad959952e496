"""/styles browse pages with previews, and style autocomplete that follows the guild's rules."""

from __future__ import annotations

from pathlib import Path

from bot.store import GuildSettings
from tests.fakediscord import GUILD_ID
from tests.fakediscord.harness import buttons
from tests.portrait_e2e import PortraitWorld, WorldFactory

STYLE_YAML = """id: {id}
name: {name}
description: A test style.
base_model: majicmix
prompt: "a portrait of {{subject}}, {id}"
"""


def two_styles(styles: Path, *, preview: bytes | None = None) -> None:
    """Astronaut (with a preview image when given) and Oil painting, in the admin's styles folder."""
    styles.mkdir()
    for style_id, name in (("astronaut", "Astronaut"), ("oil-painting", "Oil painting")):
        (styles / f"{style_id}.yaml").write_text(STYLE_YAML.format(id=style_id, name=name))
    if preview is not None:
        (styles / "astronaut.png").write_bytes(preview)
        with (styles / "astronaut.yaml").open("a") as handle:
            handle.write("preview: astronaut.png\n")


async def _browse(world: PortraitWorld) -> tuple[dict, list]:
    interaction = await world.driver.send_command("styles browse")
    await world.driver.wait_for_ack(interaction)
    (reply,) = world.driver.requests_for(interaction)
    assert reply.json["type"] == 4 and reply.json["data"]["flags"] & 64  # only the member sees the pages
    return reply.json["data"], list(reply.files)


async def test_browse_shows_a_page_with_the_preview_attached(
    make_world: WorldFactory, tmp_path: Path, astronaut_png: bytes
) -> None:
    two_styles(tmp_path / "styles", preview=astronaut_png)
    world = await make_world()
    data, files = await _browse(world)
    embed = data["embeds"][0]
    assert embed["title"] == "Astronaut" and embed["image"]["url"] == "attachment://preview.png"
    assert [(f.filename, f.data) for f in files] == [("preview.png", astronaut_png)]
    assert embed["footer"]["text"].startswith("Style 1 of 2")


async def test_the_pager_turns_pages_and_stops_at_the_ends(make_world: WorldFactory, tmp_path: Path) -> None:
    two_styles(tmp_path / "styles")
    world = await make_world()
    interaction = await world.driver.send_command("styles browse")
    await world.driver.wait_for_ack(interaction)
    pages = world.driver.original(interaction)
    assert [(b["label"], b.get("disabled", False)) for b in buttons(pages)] == [("Previous", True), ("Next", False)]

    click = await world.driver.click_button(world.button_id(pages, "Next"), message=pages)
    await world.fake.wait_for(lambda: pages.edits == 1)
    assert click.callback_type == 7  # the same message is edited in place
    assert pages.payload["embeds"][0]["title"] == "Oil painting"
    assert [(b["label"], b.get("disabled", False)) for b in buttons(pages)] == [("Previous", False), ("Next", True)]


async def test_style_autocomplete_hides_styles_the_guild_turned_off(make_world: WorldFactory, tmp_path: Path) -> None:
    two_styles(tmp_path / "styles")
    world = await make_world()
    world.store.guilds.save(GuildSettings(guild_id=GUILD_ID, disabled_styles=frozenset({"oil-painting"})))
    await world.driver.send_autocomplete("portrait", {"style": ""}, focused="style")
    (answer,) = world.fake.requests_to("interaction_callback")
    assert answer.json == {"type": 8, "data": {"choices": [{"name": "Astronaut", "value": "astronaut"}]}}
