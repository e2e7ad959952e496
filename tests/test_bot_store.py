"""JobStore on a real SQLite file: recording, restart recovery, retention purge, forget, guild settings."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.store import GuildSettings, JobOptions, JobRecord, JobStore
from bot.store.database import MIGRATIONS
from fact_runtime import RequestLimits
from tests.fakes import FakeClock


def _job(job_id: str, user_id: int = 400, **changes: object) -> JobRecord:
    return JobRecord(
        job_id=job_id,
        user_id=user_id,
        kind="portrait",
        options=JobOptions(style_id="astronaut", count=2, seed=7),
        **changes,
    )


def test_a_recorded_job_comes_back_with_its_options_and_inputs(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    store.record(_job("a1", channel_id=2**63 + 5, status_message_id=12), {"selfie": b"\x89PNG", "pose": b"pose"})

    record = store.get("a1")
    assert record is not None
    assert (record.user_id, record.state, record.options.count) == (400, "queued", 2)
    assert record.channel_id == 2**63 + 5  # snowflakes beyond signed 64-bit survive as text
    assert store.inputs("a1") == {"selfie": b"\x89PNG", "pose": b"pose"}
    assert store.get("missing") is None


def test_unfinished_jobs_are_found_after_reopening_the_file(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    store = JobStore(path)
    for job_id in ("q1", "r1", "d1"):
        store.record(_job(job_id, interaction_token="tok"), {"selfie": b"s"})
    store.set_state("r1", "running")
    store.set_state("d1", "delivering")
    store.set_state("d1", "delivered")
    store.close()

    reopened = JobStore(path)
    assert [r.job_id for r in reopened.unfinished()] == ["q1", "r1"]
    assert reopened.inputs("q1") == {"selfie": b"s"}
    assert reopened.get("d1").interaction_token is None  # a finished job drops its token
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_purge_removes_inputs_only_of_jobs_finished_before_the_window(tmp_path: Path) -> None:
    clock = FakeClock(start=10_000.0)
    store = JobStore(tmp_path / "jobs.sqlite3", clock=clock)
    for job_id in ("old", "recent", "queued"):
        store.record(_job(job_id), {"selfie": job_id.encode()})
    store.set_state("old", "delivering")
    store.set_state("old", "delivered")
    clock.advance(3000)
    store.set_state("recent", "failed", error_kind="no_face")
    clock.advance(1000)

    assert store.purge_expired(retention_s=3600) == 1
    assert store.inputs("old") == {}
    assert store.inputs("recent") == {"selfie": b"recent"}
    assert store.inputs("queued") == {"selfie": b"queued"}  # still needed: never purged while unfinished
    assert store.get("old").state == "delivered"  # the record stays; only the photo goes


def test_forget_deletes_every_job_and_input_of_one_user(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    store.record(_job("a1", user_id=1), {"selfie": b"a"})
    store.record(_job("a2", user_id=1), {"selfie": b"a", "template": b"t"})
    store.record(_job("b1", user_id=2), {"selfie": b"b"})

    assert store.forget(1) == 2
    assert store.get("a1") is None and store.inputs("a2") == {}
    assert store.jobs_of(1) == []
    assert [r.job_id for r in store.jobs_of(2)] == ["b1"]
    assert store._db.execute("SELECT COUNT(*) FROM inputs").fetchone()[0] == 1


def test_guild_settings_round_trip_and_default(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    assert store.guilds.get(5) == GuildSettings(guild_id=5)
    settings = GuildSettings(
        guild_id=5, allowed_channels=frozenset({10, 11}), disabled_styles=frozenset({"x"}), max_jobs_per_user=1
    )
    store.guilds.save(settings)
    assert store.guilds.get(5) == settings
    assert settings.is_channel_allowed(10) and not settings.is_channel_allowed(12)
    assert GuildSettings(guild_id=6).is_channel_allowed(12)
    # A guild may lower the bot-wide per-member limit, never raise it.
    assert settings.per_member_limit(2) == 1
    assert GuildSettings(guild_id=6, max_jobs_per_user=5).per_member_limit(2) == 2
    assert GuildSettings(guild_id=6).per_member_limit(3) == 3


def test_a_guilds_speed_tiers_round_trip_and_stay_within_the_runtimes(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    narrowed = GuildSettings(guild_id=5, allowed_speeds=frozenset({"turbo", "original"}), default_speed="turbo")
    store.guilds.save(narrowed)
    assert store.guilds.get(5) == narrowed
    every = RequestLimits()
    # The runtime's order, whatever order the admin turned them on in; the guild's default wins.
    assert narrowed.speeds(every) == ("original", "turbo") and narrowed.speed_default(every) == "turbo"
    assert GuildSettings(guild_id=6).speeds(every) == ("original", "fast", "turbo")
    assert GuildSettings(guild_id=6).speed_default(every) == "original"
    # An operator who stops running a tier takes it from every guild; a default it took falls back.
    no_turbo = RequestLimits(speeds=("original", "fast"), default_speed="fast")
    assert narrowed.speeds(no_turbo) == ("original",) and narrowed.speed_default(no_turbo) == "original"
    # A guild left with none of the runtime's tiers gets the runtime's default alone.
    only_turbo = GuildSettings(guild_id=7, allowed_speeds=frozenset({"turbo"}))
    assert only_turbo.speeds(no_turbo) == ("fast",) and only_turbo.speed_default(no_turbo) == "fast"


def test_a_version_3_file_gains_speed_settings_and_keeps_its_rules(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    db = sqlite3.connect(path)
    for migrate in MIGRATIONS[:3]:
        migrate(db)
    db.execute("INSERT INTO guild_settings (guild_id, disabled_styles) VALUES ('5', '[\"comic\"]')")
    db.execute("PRAGMA user_version=3")
    db.commit()
    db.close()
    store = JobStore(path)
    assert store.guilds.get(5) == GuildSettings(guild_id=5, disabled_styles=frozenset({"comic"}))


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    JobStore(path).close()
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA user_version=99")
    connection.close()
    with pytest.raises(RuntimeError, match="schema version 99"):
        JobStore(path)


def test_photos_of_jobs_no_button_can_rerun_are_purged_at_once(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    for job_id in ("cancelled", "refused", "bad-input", "crashed", "delivered"):
        store.record(_job(job_id), {"selfie": b"s"})
    store.set_state("cancelled", "cancelled")
    store.set_state("refused", "refused", error_kind="queue_full")
    store.set_state("bad-input", "failed", error_kind="no_face", has_retry=False)
    store.set_state("crashed", "failed", error_kind="job_failed")
    store.set_state("delivered", "delivering")
    store.set_state("delivered", "delivered")
    kept = {job_id for job_id in ("cancelled", "refused", "bad-input", "crashed", "delivered") if store.inputs(job_id)}
    # Retry and reroll buttons need the selfie until the retention window ends.
    assert kept == {"crashed", "delivered"}


def test_admission_counts_and_inserts_in_one_transaction(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    store, other_process = JobStore(path), JobStore(path)  # e.g. two shards on one file
    assert store.admit(_job("a1"), limit=2) is not None
    assert other_process.admit(_job("a2"), limit=2) is not None
    assert store.admit(_job("a3"), limit=2) is None  # refused: nothing stored
    assert [r.job_id for r in other_process.jobs_of(400)] == ["a1", "a2"]
    assert store.get("a1").state == "accepted" and store.inputs("a1") == {}
    assert store.admit(_job("b1", user_id=401), limit=2) is not None  # the limit is per member


def test_inputs_attach_only_to_a_job_still_accepted(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    store.admit(_job("a1"), limit=5)
    store.admit(_job("a2"), limit=5)
    store.set_state("a2", "cancelled")  # /cancel while its photo was downloading
    queued = store.attach_inputs("a1", {"selfie": b"s"})
    assert queued is not None and queued.state == "queued" and store.inputs("a1") == {"selfie": b"s"}
    assert store.attach_inputs("a2", {"selfie": b"s"}) is None and store.inputs("a2") == {}
    assert store.attach_inputs("gone", {"selfie": b"s"}) is None


def test_images_are_kept_while_delivering_after_a_failed_upload_and_once_posted_until_deleted(tmp_path: Path) -> None:
    from fact_runtime import GeneratedImage, JobResult

    store = JobStore(tmp_path / "jobs.sqlite3")
    result = JobResult(images=(GeneratedImage(b"png-1", 11, 0.25), GeneratedImage(b"png-2", 12)), notes=("n",))
    for job_id in ("failed", "posted"):
        store.record(_job(job_id), {"selfie": b"s"})
        store.begin_delivery(job_id, result)
    assert [r.state for r in store.unfinished()] == ["delivering", "delivering"]
    kept = store.results("failed")
    assert kept is not None and kept.images == result.images and kept.notes == ("n",)
    store.set_state("failed", "failed", error_kind="upload_failed")
    store.set_state("posted", "delivered")
    # Posted images stay for the follow-up buttons, until retention, Delete or /forget.
    assert store.results("failed") == kept and store.results("posted") == kept
    assert store.inputs("posted") == {"selfie": b"s"}  # rerolls still need the selfie
    store.purge_inputs("failed")  # the Delete button
    assert store.results("failed") is None and store.inputs("failed") == {}
