"""End to end: /styles reload is for admins only, and a broken style file leaves the old styles in place."""

from __future__ import annotations

import shutil

from tests.fakediscord import ADMIN, ALICE
from tests.portrait_e2e import REPO, PortraitWorld, WorldFactory, result_card

OLD_STYLES = ["astronaut", "christmas", "comic", "cyberpunk"]


async def style_ids(world: PortraitWorld, query: str = "") -> list[str]:
    choices = await world.driver.send_autocomplete("portrait", {"style": query}, focused="style")
    return sorted(choice["value"] for choice in choices)


async def test_a_non_admin_cannot_reload_styles(make_world: WorldFactory) -> None:
    world = await make_world()
    shutil.copy(REPO / "styles" / "dunhuang.yaml", world.styles_dir / "dunhuang.yaml")
    version = world.catalog.version

    refused = await world.driver.send_command("styles reload", user=ALICE)
    assert await world.reply_to(refused) == "You need the Manage Server permission to use this command."
    assert world.catalog.version == version and await style_ids(world) == OLD_STYLES

    allowed = await world.driver.send_command("styles reload", user=ADMIN)
    assert await world.reply_to(allowed) == "5 styles loaded; added: dunhuang."
    assert await style_ids(world) == sorted([*OLD_STYLES, "dunhuang"])


async def test_a_broken_style_file_keeps_the_old_styles(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world()
    (world.styles_dir / "comic.yaml").unlink()
    (world.styles_dir / "broken.yaml").write_text("id: broken\nname: Broken\nprompt: [not, a, string\n")
    version = world.catalog.version

    reload = await world.driver.send_command("styles reload", user=ADMIN)
    reply = await world.sentence_for(reload)
    assert reply.content.startswith("The styles were NOT reloaded; the old set stays.")
    assert "broken.yaml" in reply.content and len(reply.content) <= 2000
    assert world.catalog.version == version and await style_ids(world) == OLD_STYLES
    await world.portrait(astronaut_png, style="comic")  # the removed file's style still works
    result = await world.result_message()
    assert result_card(result).fields["Style"] == "Comic Illustration"


async def test_a_style_file_with_a_bad_field_names_the_file_and_the_field(make_world: WorldFactory) -> None:
    world = await make_world()
    (world.styles_dir / "broken.yaml").write_text(
        "id: broken\nname: Broken\nbase_model: majicmix\nprompt: no subject\n"
    )
    reload = await world.driver.send_command("styles reload", user=ADMIN)
    reply = await world.reply_to(reload)
    assert reply.startswith("The styles were NOT reloaded; the old set stays.")
    assert "broken.yaml" in reply and "prompt" in reply
    assert len(world.catalog) == len(OLD_STYLES) and await style_ids(world) == OLD_STYLES
