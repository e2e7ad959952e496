"""The identity tables on a real SQLite file: their migration step, owner scoping, retention."""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot.store import JobStore
from bot.store.database import SCHEMA_VERSION
from tests.fakes import FakeClock, fake_saved_face

#: The version-1 schema as the previous bot wrote it (jobs, inputs, guild settings; no identities).
_V1 = """
CREATE TABLE jobs (job_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, guild_id TEXT, channel_id TEXT, kind TEXT NOT NULL,
    options TEXT NOT NULL, state TEXT NOT NULL, is_private INTEGER NOT NULL DEFAULT 0, parent_id TEXT,
    application_id TEXT, interaction_token TEXT, token_expires_at REAL, status_message_id TEXT,
    result_channel_id TEXT, result_message_id TEXT, error_kind TEXT, created_at REAL NOT NULL, finished_at REAL);
CREATE TABLE inputs (job_id TEXT NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE, name TEXT NOT NULL,
    data BLOB NOT NULL, PRIMARY KEY (job_id, name));
CREATE TABLE guild_settings (guild_id TEXT PRIMARY KEY, allowed_channels TEXT NOT NULL DEFAULT '[]',
    disabled_styles TEXT NOT NULL DEFAULT '[]', max_jobs_per_user INTEGER);
INSERT INTO jobs (job_id, user_id, kind, options, state, created_at) VALUES ('old', '7', 'portrait', '{}', 'queued', 1);
INSERT INTO inputs (job_id, name, data) VALUES ('old', 'selfie', x'ff');
PRAGMA user_version=1;
"""


def test_a_version_1_file_gains_the_identity_tables_and_keeps_its_jobs(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(_V1)
    store = JobStore(path)
    assert store.inputs("old") == {"selfie": b"\xff"} and store.get("old").user_id == 7
    saved = store.identities.save(7, "me", [b"photo"], fake_saved_face(1))
    assert store.identities.find(7, "ME") == saved
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_every_query_is_scoped_to_the_owner(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    identities = store.identities
    mine = identities.save(1, "me", [b"a", b"b"], fake_saved_face(2, best_index=1))
    identities.save(2, "me", [b"c"], fake_saved_face(1))  # another member may use the same name
    assert identities.find(2, mine.identity_id) is None and identities.load(2, mine.identity_id) is None
    assert not identities.rename(2, mine.identity_id, "stolen") and not identities.delete(2, mine.identity_id)
    loaded = identities.load(1, mine.identity_id)
    assert loaded is not None and loaded.photos == (b"a", b"b") and loaded.request_photos() == (b"b", (b"a",))
    assert loaded.face == fake_saved_face(2, best_index=1)  # the face survives the round trip exactly
    with pytest.raises(sqlite3.IntegrityError):
        identities.save(1, "ME", [b"d"], fake_saved_face(1))  # names ignore case
    assert [r.photo_count for r in identities.of(1)] == [2]
    assert identities.forget(1) == 1 and identities.of(1) == [] and len(identities.of(2)) == 1


def test_retention_counts_from_the_last_use(tmp_path: Path) -> None:
    clock = FakeClock(start=1000.0)
    store = JobStore(tmp_path / "jobs.sqlite3", clock=clock)
    identities = store.identities
    used = identities.save(1, "used", [b"a"], fake_saved_face(1))
    identities.save(1, "idle", [b"b"], fake_saved_face(1))
    clock.advance(50)
    identities.touch(used.identity_id)
    clock.advance(60)
    assert identities.purge_expired(retention_s=100) == 1
    assert [r.name for r in identities.of(1)] == ["used"]
    clock.advance(41)
    assert identities.purge_expired(retention_s=100) == 1 and identities.of(1) == []


def test_the_limit_is_counted_in_the_inserting_transaction_across_connections(tmp_path: Path) -> None:
    # Two connections (as two bot processes on one file would be) save at one below the limit at once.
    path = tmp_path / "jobs.sqlite3"
    store = JobStore(path)
    for user_id in range(1, 21):
        store.identities.save(user_id, "first", [b"a"], fake_saved_face(1))
    barrier = threading.Barrier(2)

    def save_all(name: str) -> list[bool]:
        own = JobStore(path)  # a connection of this thread's own
        saved = []
        for user_id in range(1, 21):
            barrier.wait()
            saved.append(own.identities.save(user_id, name, [b"b"], fake_saved_face(1), limit=2) is not None)
        own.close()
        return saved

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(save_all, ["second", "third"]))
    assert [a + b for a, b in zip(*outcomes, strict=True)] == [1] * 20  # exactly one of each pair saved
    assert all(len(store.identities.of(user_id)) == 2 for user_id in range(1, 21))
    assert store.identities.save(1, "fourth", [b"c"], fake_saved_face(1), limit=2) is None
    store.close()
