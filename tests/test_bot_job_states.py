"""The job store's state table and the typed job options, on a real SQLite file."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from bot.store import FINISHED, TRANSITIONS, UNFINISHED, IllegalTransition, JobOptions, JobRecord, JobState, JobStore

ALL_STATES: tuple[JobState, ...] = (*UNFINISHED, *FINISHED)
LEGAL = sorted((before, after) for before, afters in TRANSITIONS.items() for after in afters)


def _store_with_job_in(tmp_path: Path, state: JobState) -> JobStore:
    store = JobStore(tmp_path / "jobs.sqlite3")
    store.record(JobRecord(job_id="j1", user_id=5, kind="portrait", state=state), {"selfie": b"s"})
    return store


def test_the_table_covers_every_state_and_ends_in_the_finished_ones() -> None:
    assert set(TRANSITIONS) == set(ALL_STATES)
    assert all(TRANSITIONS[state] <= set(ALL_STATES) for state in ALL_STATES)
    # Only "failed" leaves a finished state, and only to post its kept images again.
    assert {state for state in FINISHED if TRANSITIONS[state]} == {"failed"}
    assert TRANSITIONS["failed"] == {"delivering"}


@pytest.mark.parametrize(("before", "after"), LEGAL, ids=[f"{b}->{a}" for b, a in LEGAL])
def test_every_legal_move_is_stored(tmp_path: Path, before: JobState, after: JobState) -> None:
    store = _store_with_job_in(tmp_path, before)
    store.set_state("j1", after)
    assert store.get("j1").state == after


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("delivered", "queued"),  # a posted job is never run again by itself
        ("cancelled", "running"),  # a cancel wins over a late start
        ("refused", "delivering"),
        ("accepted", "delivered"),  # nothing to post before the photos are stored
        ("queued", "delivered"),  # the images are kept (delivering) before anything is posted
        ("delivering", "cancelled"),  # too late to cancel: the images are out
        ("failed", "queued"),
        ("running", "accepted"),
        ("running", "refused"),  # refusals happen at submission only
    ],
)
def test_an_illegal_move_raises_and_writes_nothing(tmp_path: Path, before: JobState, after: JobState) -> None:
    store = _store_with_job_in(tmp_path, before)
    with pytest.raises(IllegalTransition, match=f"from {before} to {after}"):
        store.set_state("j1", after, error_kind="x")
    record = store.get("j1")
    assert (record.state, record.error_kind, record.finished_at) == (before, None, None)
    assert store.inputs("j1") == {"selfie": b"s"}


def test_posting_again_is_only_for_a_job_that_may_be_delivering(tmp_path: Path) -> None:
    from fact_runtime import GeneratedImage, JobResult

    store = _store_with_job_in(tmp_path, "cancelled")
    with pytest.raises(IllegalTransition):
        store.begin_delivery("j1", JobResult(images=(GeneratedImage(b"png", 1),)))
    assert store.results("j1") is None and store.get("j1").state == "cancelled"


def test_a_forgotten_job_is_left_alone(tmp_path: Path) -> None:
    store = _store_with_job_in(tmp_path, "running")
    store.forget(5)
    store.set_state("j1", "cancelled")  # its tracker finishing after /forget: nothing to record
    assert store.get("j1") is None


def test_options_round_trip_through_json() -> None:
    options = JobOptions(
        count=3,
        seed=42,
        subject="woman",
        template_id="beach",
        has_template=False,
        face_index=2,
        recipe="fast",
        identity_id="abcd1234",
        identity_name="me",
        speed="turbo",
    )
    assert JobOptions.from_json(options.to_json()) == options
    assert JobOptions.from_json(JobOptions().to_json()) == JobOptions()


def test_options_of_an_older_bot_still_load(tmp_path: Path) -> None:
    # Rows written before the options were typed: a plain dict, with only the keys of their time.
    path = tmp_path / "jobs.sqlite3"
    JobStore(path).close()
    old_rows = {
        "p1": {"style_id": "comic", "count": 2, "seed": 9, "prompt": "", "subject": "person"},
        "i1": {"template_id": None, "has_template": True, "face_index": 1, "count": 1, "seed": 3, "subject": "man"},
        "e1": {},
        "n1": {"style_id": "comic", "future_option": [1, 2]},
    }
    db = sqlite3.connect(path)
    for job_id, options in old_rows.items():
        db.execute(
            "INSERT INTO jobs (job_id, user_id, kind, options, state, created_at) VALUES (?, '5', ?, ?, 'queued', 1)",
            (job_id, "inpaint" if job_id == "i1" else "portrait", json.dumps(options)),
        )
    db.commit()
    db.close()

    store = JobStore(path)
    assert store.get("p1").options == JobOptions(style_id="comic", count=2, seed=9)
    assert store.get("i1").options == JobOptions(has_template=True, seed=3, subject="man")
    assert store.get("e1").options == JobOptions()
    assert store.get("n1").options == JobOptions(style_id="comic")


@pytest.mark.parametrize(
    "text",
    [
        '["style_id"]',
        '{"count": "2"}',
        '{"count": true}',
        '{"subject": "robot"}',
        '{"recipe": "slow"}',
        '{"speed": "ludicrous"}',
        '{"seed": 1.5}',
    ],
)
def test_options_of_the_wrong_shape_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="job option"):
        JobOptions.from_json(text)
