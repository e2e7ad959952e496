"""/audit through the fake Discord: admins only, one line per job, anonymised by /forget, purged after retention."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from bot.store import JobOptions, JobRecord, JobStore
from bot.store.database import MIGRATIONS, SCHEMA_VERSION
from fact_runtime import FaceAnalysis, SavedFace
from tests.fakediscord import ADMIN, ALICE, BOB
from tests.portrait_e2e import WorldFactory

_NEEDS_MANAGE = "You need the Manage Server permission to use this command."


async def test_admins_read_who_ran_what_and_forget_leaves_an_anonymous_line(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world()
    await world.result_message(await world.portrait(astronaut_png, style="comic"))
    await world.result_message(await world.portrait(astronaut_png, user=BOB))

    denied = await world.driver.send_command("audit", user=ALICE)
    assert await world.reply_to(denied) == _NEEDS_MANAGE

    listing = await world.reply_to(await world.driver.send_command("audit", user=ADMIN))
    head, bob_line, alice_line = listing.splitlines()
    assert head == "The 2 most recent jobs (kept 90 days):"
    assert f"<@{BOB.id}> · portrait · style `astronaut` · uploaded photo · delivered" in bob_line
    assert f"<@{ALICE.id}> · portrait · style `comic` · uploaded photo · delivered" in alice_line
    assert "png" not in listing.lower() and "http" not in listing

    only_alice = await world.driver.send_command("audit", {"member": str(ALICE.id)}, user=ADMIN)
    lines = (await world.reply_to(only_alice)).splitlines()
    assert lines[0] == f"The 1 most recent jobs by <@{ALICE.id}> (kept 90 days):" and len(lines) == 2

    await world.sentence_for(await world.driver.send_command("forget"))
    after = await world.reply_to(await world.driver.send_command("audit", user=ADMIN))
    assert str(ALICE.id) not in after
    assert "a member who used /forget · portrait · style `comic` · uploaded photo · delivered" in after
    assert f"<@{BOB.id}>" in after


async def test_audit_lines_are_purged_after_the_retention_by_the_retention_loop(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(audit_retention_days=1, purge_interval_s=0.05)
    await world.result_message(await world.portrait(astronaut_png))
    # The job's last status edit, before the clock moves past its token's life.
    await world.fake.wait_for(lambda: any(text.startswith("✅ Done") for text in world.status_texts()))
    guild_id = world.store.jobs_of(ALICE.id, states=("delivered",))[0].guild_id
    assert guild_id is not None and len(world.store.audit.entries(guild_id)) == 1
    world.fake.clock.advance(86400 * 0.5)
    await asyncio.sleep(0.3)  # several purge passes (every 0.05 s) that must keep the line
    assert len(world.store.audit.entries(guild_id)) == 1
    world.fake.clock.advance(86400 * 0.6)
    await world.fake.wait_for(lambda: world.store.audit.entries(guild_id) == [])


def _face() -> SavedFace:
    analysis = FaceAnalysis(box=(0, 0, 10, 10), landmarks68=(0.0,) * 136, embedding=(0.0,) * 128)
    return SavedFace(analysis=analysis, tokens=())


def test_the_audit_names_whose_saved_identity_a_job_used_and_forgets_its_owner() -> None:
    store = JobStore(":memory:")
    store.audit.start_recording()
    owned = store.identities.save(ALICE.id, "me", [b"photo"], _face())
    for job_id, user in (("own", ALICE), ("shared", BOB)):
        options = JobOptions(style_id="comic", identity_id=owned.identity_id)
        store.record(JobRecord(job_id=job_id, user_id=user.id, kind="portrait", options=options, guild_id=7), {})
    store.set_state("own", "failed", error_kind="no_face")
    by_job = {entry.job_id: entry for entry in store.audit.entries(7)}
    assert (by_job["own"].identity_owner_id, by_job["own"].outcome, by_job["own"].error_kind) == (
        ALICE.id,
        "failed",
        "no_face",
    )
    assert (by_job["shared"].user_id, by_job["shared"].identity_owner_id) == (BOB.id, ALICE.id)

    store.audit.anonymise(ALICE.id)
    by_job = {entry.job_id: entry for entry in store.audit.entries(7)}
    assert (by_job["own"].user_id, by_job["own"].identity_owner_id) == (None, None)
    assert (by_job["shared"].user_id, by_job["shared"].identity_owner_id) == (BOB.id, None)
    assert by_job["shared"].has_identity


def test_without_recording_no_audit_line_is_written() -> None:
    store = JobStore(":memory:")
    store.record(JobRecord(job_id="j", user_id=ALICE.id, kind="portrait", guild_id=7), {})
    assert store.audit.entries(7) == []


def test_a_database_of_the_previous_schema_gains_the_new_tables_on_open(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    old = sqlite3.connect(path)
    for migrate in MIGRATIONS[:3]:
        migrate(old)
    old.execute("PRAGMA user_version=3")
    old.execute(
        "INSERT INTO jobs (job_id, user_id, kind, options, state, created_at) VALUES ('old', '1', 'portrait', '{}',"
        " 'delivered', 0)"
    )
    old.commit()
    old.close()
    store = JobStore(path)
    assert store.get("old") is not None and store.audit.entries(7) == []
    store.acceptances.accept(1)
    assert store.acceptances.has_accepted(1)
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 4
