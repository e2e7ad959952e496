"""End to end: /styles reload is for admins only, and a broken style file leaves the old styles in place."""

from __future__ import annotations

import asyncio
import itertools
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
    assert await world.deferred_reply(allowed) == "5 styles loaded; added: dunhuang."
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
    reply = await world.deferred_reply(reload)
    assert reply.startswith("The styles were NOT reloaded; the old set stays.")
    assert "broken.yaml" in reply and "prompt" in reply
    assert len(world.catalog) == len(OLD_STYLES) and await style_ids(world) == OLD_STYLES


def three_megabyte_style(world: PortraitWorld) -> int:
    """A real 3 MB style file (valid YAML, a description far over its 300 characters); returns its size."""
    path = world.styles_dir / "huge.yaml"
    lines = ("  " + "x" * 98 + "\n" for _ in range(30_000))
    path.write_text(
        "id: huge\nname: Huge\nbase_model: majicmix\nprompt: '{subject}'\ndescription: |\n" + "".join(lines)
    )
    return path.stat().st_size


async def test_a_style_file_over_the_size_cap_is_refused_unread(make_world: WorldFactory) -> None:
    world = await make_world()
    size = three_megabyte_style(world)
    reload = await world.driver.send_command("styles reload", user=ADMIN)
    reply = await world.deferred_reply(reload)
    assert f"huge.yaml: (file): is {size} bytes; a style file may have at most 65536" in reply
    assert await style_ids(world) == OLD_STYLES


async def test_reload_parses_off_the_event_loop_so_other_commands_are_answered(make_world: WorldFactory) -> None:
    world = await make_world(max_style_bytes=8 * 1024 * 1024)  # big enough that the 3 MB file is parsed
    three_megabyte_style(world)
    loop = asyncio.get_running_loop()
    ticks: list[float] = []

    async def probe() -> None:
        while True:
            ticks.append(loop.time())
            await asyncio.sleep(0.01)

    prober = asyncio.create_task(probe())
    reload = await world.driver.send_command("styles reload", user=ADMIN)
    await world.driver.wait_for_ack(reload)
    started = loop.time()
    queue = await world.driver.send_command("queue")
    assert (await world.reply_to(queue)).startswith("You have no unfinished jobs.")
    assert world.driver.original(reload).payload["flags"] & 128  # the reload was still parsing
    reply = await world.deferred_reply(reload, timeout=60)
    finished = loop.time()
    prober.cancel()
    assert reply.startswith("The styles were NOT reloaded") and "huge.yaml: description" in reply
    gaps = [later - earlier for earlier, later in itertools.pairwise(ticks) if later >= started]
    # Parsed on the loop, the probe would have stood still for the whole parse.
    assert max(gaps) < (finished - started) / 3


async def test_a_preview_naming_the_job_database_is_refused_and_never_uploaded(make_world: WorldFactory) -> None:
    world = await make_world()
    assert world.settings.database == world.styles_dir.parent / "jobs.sqlite3"
    (world.styles_dir / "leak.yaml").write_text(
        "id: leak\nname: Leak\nbase_model: majicmix\nprompt: '{subject}'\npreview: ../jobs.sqlite3\n"
    )
    reload = await world.driver.send_command("styles reload", user=ADMIN)
    reply = await world.deferred_reply(reload)
    assert "leak.yaml: preview: must be a file inside the styles folder; ../jobs.sqlite3 is not" in reply

    browse = await world.driver.send_command("styles browse", user=ALICE)
    await world.driver.wait_for_ack(browse)
    assert await style_ids(world) == OLD_STYLES
    assert [f for r in world.fake.requests for f in r.files] == []  # nothing was uploaded, the database least of all
