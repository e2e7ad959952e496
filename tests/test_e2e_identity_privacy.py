"""End to end: what a saved identity leaves behind (nothing, once deleted), retention, leaving, and the limits."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from tests.fakediscord import ALICE, BOB, GUILD_ID, payloads
from tests.fakes import fake_saved_face
from tests.identity_photos import brighter, mirrored
from tests.portrait_e2e import PortraitWorld, WorldFactory, gated_engine
from tests.tiny_stack import png_bytes

DAY_S = 86400.0
_TABLES = ("identities", "identity_photos", "identity_tokens")


def _rows(world: PortraitWorld) -> dict[str, int]:
    with sqlite3.connect(world.settings.database) as db:
        return {table: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] for table in _TABLES}


def _database_bytes(world: PortraitWorld) -> bytes:
    """Every byte of the store's files as they lie on disk (the database, its write-ahead log, its index)."""
    files = [Path(f"{world.settings.database}{suffix}") for suffix in ("", "-wal", "-shm")]
    return b"".join(path.read_bytes() for path in files if path.exists())


def _traces(photo: bytes) -> list[bytes]:
    """Slices from the middle of a photo's bytes: any of them on disk means the photo is still there."""
    middle = len(photo) // 2
    return [photo[start : start + 48] for start in (middle - 4096, middle, middle + 4096)]


async def test_delete_leaves_no_rows_and_no_bytes(make_world: WorldFactory, astronaut_rgb) -> None:
    world = await make_world()
    photos = (png_bytes(mirrored(astronaut_rgb)), png_bytes(brighter(astronaut_rgb)))
    saved = await world.save_identity("me", *photos)
    assert _rows(world) == {"identities": 1, "identity_photos": 2, "identity_tokens": 1}
    on_disk = _database_bytes(world)
    assert all(trace in on_disk for photo in photos for trace in _traces(photo))  # the check can fail

    await world.driver.click_button(world.button_id(saved, "Delete"), message=saved)
    await world.fake.wait_for(lambda: saved.content.startswith("🗑️ Deleted **me**"))
    assert _rows(world) == dict.fromkeys(_TABLES, 0)
    on_disk = _database_bytes(world)
    assert not any(trace in on_disk for photo in photos for trace in _traces(photo))
    assert world.engine.forgotten == [str(ALICE.id)]  # the runtime dropped what it held of her photos


async def test_forget_removes_every_identity_with_the_rest(
    make_world: WorldFactory, astronaut_png: bytes, grace_hopper_jpeg: bytes
) -> None:
    world = await make_world()
    await world.save_identity("one", astronaut_png)
    await world.save_identity("two", grace_hopper_jpeg)
    await world.save_identity("bobs", astronaut_png, user=BOB)
    await world.result_message(await world.portrait(grace_hopper_jpeg))
    forget = await world.driver.send_command("forget")
    reply = await world.sentence_for(forget)
    assert reply.content == "Done: I deleted your photos, 1 job, 1 posted result and 2 saved identities."
    assert world.store.identities.of(ALICE.id) == [] and [r.name for r in world.store.identities.of(BOB.id)] == ["bobs"]
    assert _rows(world) == {"identities": 1, "identity_photos": 1, "identity_tokens": 1}
    on_disk = _database_bytes(world)
    assert not any(trace in on_disk for trace in _traces(grace_hopper_jpeg))  # the identity's and the job's copy
    assert all(trace in on_disk for trace in _traces(astronaut_png))  # Bob's identity stays


async def test_an_unused_identity_expires_and_each_use_restarts_the_count(
    make_world: WorldFactory, astronaut_png: bytes, grace_hopper_jpeg: bytes
) -> None:
    world = await make_world(identity_retention_days=30)
    await world.save_identity("used", astronaut_png)
    await world.save_identity("idle", grace_hopper_jpeg)
    retention = world.bot.get_cog("RetentionCog")
    world.fake.clock.advance(20 * DAY_S)
    portrait = await world.driver.send_command("portrait", {"identity": "used", "style": "comic"})
    await world.result_message(portrait)
    await world.fake.wait_for(lambda: world.driver.original(portrait).content.startswith("✅ Done:"))
    world.fake.clock.advance(15 * DAY_S)  # 35 days after saving, 15 after the last use of "used"
    await retention.purge()
    assert [r.name for r in world.store.identities.of(ALICE.id)] == ["used"]
    assert not any(trace in _database_bytes(world) for trace in _traces(grace_hopper_jpeg))
    listing = await world.driver.send_command("identity list")
    assert "**used** · 1 photo" in (await world.reply_to(listing))
    world.fake.clock.advance(16 * DAY_S)
    await retention.purge()
    assert _rows(world) == dict.fromkeys(_TABLES, 0)
    listing = await world.driver.send_command("identity list")
    assert (await world.reply_to(listing)).startswith("You have no saved identities")


def _guild(guild_id: int, *users: payloads.FakeUser) -> dict:
    """A second server the bot shares with `users`."""
    guild = payloads.guild_create()
    members = [guild["members"][0], *(user.member_payload() for user in users)]
    everyone = {**guild["roles"][0], "id": str(guild_id)}
    return {
        **guild,
        "id": str(guild_id),
        "name": "Other",
        "channels": [],
        "roles": [everyone],
        "members": members,
        "member_count": len(members),
    }


async def test_leaving_every_shared_server_deletes_the_identities_when_configured(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(is_identity_purged_on_leave=True)
    assert world.bot.intents.members  # the members intent is asked for only when the purge is on
    await world.save_identity("me", astronaut_png)
    await world.save_identity("me", astronaut_png, user=BOB)
    await world.fake.gateway.dispatch("GUILD_CREATE", _guild(GUILD_ID + 1, BOB))
    await world.fake.wait_for(lambda: world.bot.get_guild(GUILD_ID + 1) is not None)
    for user in (ALICE, BOB):
        await world.fake.gateway.dispatch(
            "GUILD_MEMBER_REMOVE", {"guild_id": str(GUILD_ID), "user": user.user_payload()}
        )
    await world.fake.wait_for(lambda: world.store.identities.of(ALICE.id) == [])
    # Bob is still in a server the bot shares with him: his identity stays.
    assert [r.name for r in world.store.identities.of(BOB.id)] == ["me"]


async def test_leaving_keeps_the_identities_by_default(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world()
    assert not world.bot.intents.members
    await world.save_identity("me", astronaut_png)
    await world.fake.gateway.dispatch("GUILD_MEMBER_REMOVE", {"guild_id": str(GUILD_ID), "user": ALICE.user_payload()})
    await world.fake.wait_for(lambda: world.bot.get_guild(GUILD_ID).get_member(ALICE.id) is None)
    assert [r.name for r in world.store.identities.of(ALICE.id)] == ["me"]


async def test_the_limits_on_identities_photos_and_names(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world(max_identities=1, max_photos=2)
    attach = world.driver.attach

    async def save(name: str, count: int) -> str:
        options = {"name": name, **{f"photo{n}": attach(astronaut_png, f"{n}.png") for n in range(1, count + 1)}}
        return await world.reply_to(await world.driver.send_command("identity save", options))

    assert await save("three", 3) == "An identity takes 1 to 2 photos."
    assert (await save("bad*name", 1)).startswith("Identity names are 1 to 32 letters")
    assert (await world.save_identity("me", astronaut_png, astronaut_png)).content.startswith("✅ Saved **me**")
    assert (
        await save("ME", 1)
        == "You already have an identity with that name; pick another name or delete that one first."
    )
    assert (
        await save("second", 1)
        == "You already have 1 saved identity, the most allowed; delete one with /identity delete first."
    )
    assert world.fake.requests_to("cdn") and len(world.fake.requests_to("cdn")) == 2  # only the saved one's photos
    rename = await world.driver.send_command("identity rename", {"name": "me", "new_name": "Me Again"})
    assert await world.reply_to(rename) == "Renamed **me** to **Me Again**."


async def test_a_damaged_saved_face_gets_one_sentence(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world()
    world.store.identities.save(ALICE.id, "odd", [astronaut_png], fake_saved_face(3))  # tokens for 3 photos, 1 photo
    command = await world.driver.send_command("portrait", {"identity": "odd", "style": "comic"})
    reply = await world.sentence_for(command)
    assert reply.content == "That saved face could not be used; please save the identity again."
    assert world.engine.runs == [] and [job.state for job in world.store.jobs_of(ALICE.id, states=("refused",))] == [
        "refused"
    ]


async def test_two_saves_confirmed_together_at_one_below_the_limit_save_one(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(engine=gated_engine, max_identities=2)
    world.store.identities.save(ALICE.id, "first", [astronaut_png], fake_saved_face(1))
    consents = []
    for name in ("second", "third"):
        photo = world.driver.attach(astronaut_png, f"{name}.png")
        consents.append(
            await world.sentence_for(await world.driver.send_command("identity save", {"name": name, "photo1": photo}))
        )
    # Both pressed before either photo check ends: both pass the early check of the limit.
    await asyncio.gather(*(world.driver.click_button(world.button_id(c, "Save my face"), message=c) for c in consents))
    await world.engine_started()
    await world.fake.wait_for(lambda: any(c.content.startswith("⏳ Waiting in the queue") for c in consents))
    world.engine.open()
    await world.fake.wait_for(lambda: not any(c.content.startswith("⏳") for c in consents), timeout=20)

    saved, refused = sorted((c.content for c in consents), key=lambda content: not content.startswith("✅"))
    assert saved.startswith("✅ Saved **")
    assert refused == "You already have 2 saved identities, the most allowed; delete one with /identity delete first."
    assert len(world.store.identities.of(ALICE.id)) == 2
    assert len(world.engine.runs) == 2  # the late one was refused after its check, not before it
