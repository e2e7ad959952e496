"""The job store's waiting /group requests on a real SQLite file: reopened, answered once, taken once."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from bot.store import GroupMember, GroupSeat, JobOptions, JobStore, PendingGroup


def _request(key: str = "00aa11bb22cc33dd") -> PendingGroup:
    seats = (GroupSeat(1, 401, "a" * 16, "me"), GroupSeat(2, 402, "b" * 16, "me"), GroupSeat(3, 403, "c" * 16, "cy"))
    return PendingGroup(
        key=key,
        asker_id=401,
        asker_name="Alice",
        guild_id=2**63 + 1,
        channel_id=2**63 + 2,
        application_id=7,
        interaction_token="tok",
        token_expires_at=900.0,
        status_message_id=99,
        is_private=False,
        options=JobOptions(count=2, seed=5, has_template=True, seats=seats),
        members=(GroupMember(401, "Alice"), GroupMember(402, "Bob", True), GroupMember(403, "Cy", True)),
        template={"id": 5, "filename": "t.jpg", "size": 10, "url": "https://cdn/t.jpg", "proxy_url": "https://p/t.jpg"},
        expires_at=300.0,
    )


def test_a_request_comes_back_after_reopening_and_its_last_allow_deletes_it(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    store = JobStore(path)
    store.groups.requests.add(_request())
    store.groups.requests.asked("00aa11bb22cc33dd", 402, 1234)
    store.close()

    requests = JobStore(path).groups.requests
    (request,) = requests.all()
    assert request == replace(
        _request(), members=(request.members[0], replace(request.members[1], question_id=1234), request.members[2])
    )
    assert [m.name for m in request.waiting] == ["Bob", "Cy"] and request.involves(403) and not request.involves(404)

    older = GroupSeat(2, 402, "d" * 16, "older")
    after_bob = requests.allow(request.key, older)
    assert after_bob is not None and [m.name for m in after_bob.waiting] == ["Cy"]
    assert requests.allow(request.key, older) is None  # Bob answered already: a second click counts for nothing
    assert requests.get(request.key) == after_bob and after_bob.seat_of(402) == older

    last = requests.allow(request.key, GroupSeat(3, 403, "c" * 16, "cy"))
    assert last is not None and last.waiting == () and len(requests) == 0  # the caller queues it
    assert requests.take(request.key) is None


def test_a_request_is_taken_once_and_an_unreadable_row_is_dropped(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    requests = store.groups.requests
    requests.add(_request())
    assert requests.take("00aa11bb22cc33dd") == _request() and requests.take("00aa11bb22cc33dd") is None

    requests.add(_request("ffff0000ffff0000"))
    store._db.execute('UPDATE group_requests SET members = \'[{"user_id": "x"}]\'')
    assert requests.all() == [] and len(requests) == 0
