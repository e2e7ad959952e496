"""Faces on disk: after /forget and after the retention purge no byte of the selfie is left in the data folder."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

from bot.store import JobStore
from tests.portrait_e2e import PortraitWorld, WorldFactory

#: Distinct slices of the selfie to look for: any one of them found means the photo is recoverable.
_PROBES = 8


def leftovers(folder: Path, photo: bytes) -> list[str]:
    """Every file of `folder` (database, WAL, shared memory) that still holds a piece of `photo`."""
    size = 256
    probes = [photo[i : i + size] for i in range(0, len(photo) - size, max(size, len(photo) // _PROBES))]
    found = []
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            found += [path.name for probe in probes if probe in data][:1]
    return found


async def delivered_world(make_world: WorldFactory, tmp_path: Path, selfie: bytes, **settings: object) -> PortraitWorld:
    world = await make_world(database=tmp_path / "data" / "jobs.sqlite3", **settings)
    await world.portrait(selfie)
    await world.result_message()
    job = await world.only_job("delivered")
    assert world.store.inputs(job.job_id) == {"selfie": selfie}  # kept for rerolls until purged
    assert leftovers(tmp_path / "data", selfie)  # the probe finds the photo while it is stored
    return world


async def test_forget_leaves_no_byte_of_the_selfie_in_any_file(
    make_world: WorldFactory, tmp_path: Path, astronaut_png: bytes
) -> None:
    world = await delivered_world(make_world, tmp_path, astronaut_png)
    forget = await world.driver.send_command("forget")
    await world.sentence_for(forget)
    assert leftovers(tmp_path / "data", astronaut_png) == []


async def test_the_retention_purge_leaves_no_byte_of_the_selfie_in_any_file(
    make_world: WorldFactory, tmp_path: Path, grace_hopper_jpeg: bytes
) -> None:
    world = await delivered_world(make_world, tmp_path, grace_hopper_jpeg, retention_hours=0)
    job = await world.only_job("delivered")
    await world.bot.get_cog("RetentionCog").purge()  # the purge loop's next round, run now
    assert world.store.inputs(job.job_id) == {}
    assert leftovers(tmp_path / "data", grace_hopper_jpeg) == []
    assert world.store.get(job.job_id) is not None  # the record stays; only the photo goes


async def test_the_data_folder_and_database_files_are_private(
    make_world: WorldFactory, tmp_path: Path, astronaut_png: bytes
) -> None:
    world = await make_world(database=tmp_path / "data" / "jobs.sqlite3")
    await world.portrait(astronaut_png)
    await world.result_message()
    files = sorted(path.name for path in (tmp_path / "data").iterdir())
    assert files == ["jobs.sqlite3", "jobs.sqlite3-shm", "jobs.sqlite3-wal"]
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
    for name in files:
        assert stat.S_IMODE((tmp_path / "data" / name).stat().st_mode) == 0o600, name


def test_an_existing_world_readable_database_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    sqlite3.connect(path).close()
    path.chmod(0o644)
    JobStore(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_old_database_is_migrated_and_keeps_its_jobs(tmp_path: Path) -> None:
    from bot.store.database import MIGRATIONS, SCHEMA_VERSION

    path = tmp_path / "jobs.sqlite3"
    old = sqlite3.connect(path, isolation_level=None)
    MIGRATIONS[0](old)  # a file written by the first schema version
    old.execute("PRAGMA user_version=1")
    old.execute(
        "INSERT INTO jobs (job_id, user_id, kind, options, state, created_at) VALUES ('j1', '5', 'portrait', '{}',"
        " 'queued', 1.0)"
    )
    old.execute("INSERT INTO inputs (job_id, name, data) VALUES ('j1', 'selfie', x'00')")
    old.close()
    store = JobStore(path)
    assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert [r.job_id for r in store.unfinished()] == ["j1"] and store.inputs("j1") == {"selfie": b"\x00"}
    assert store.results("j1") is None
