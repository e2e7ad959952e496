"""QueueBoard: queued ETAs over one slot (the local worker) or several (remote workers), from measured speeds."""

from __future__ import annotations

from dataclasses import dataclass, field

from fact_runtime import JobHandle, Progress
from fact_runtime.executor.fair_queue import Job
from fact_runtime.executor.progress import QueueBoard
from fact_runtime.metrics import MetricsRecorder
from tests.fakes import portrait


@dataclass
class Posted:
    """Stands in for the LoopPoster: keeps what would be posted to the loop."""

    snapshots: dict[str, Progress] = field(default_factory=dict)

    def updates(self, pairs: list[tuple[JobHandle, Progress]]) -> None:
        self.snapshots.update({handle.job_id: progress for handle, progress in pairs})


def job(name: str, arrival: int, *, step: int = 0, total: int = 0) -> Job:
    record = Job(JobHandle(name, portrait(name), cancel=lambda handle: False), round=0, arrival=arrival)
    record.step, record.total = step, total
    return record


def board(posted: Posted, *, slots: int, step_s: float | None = None) -> QueueBoard:
    metrics = MetricsRecorder()
    metrics.record_step(1.0)  # one measured step of 1 s; a job is 4 steps until one has finished
    return QueueBoard(posted, metrics, default_steps=4, slots=lambda: slots, step_s=lambda: step_s)  # type: ignore[arg-type]


def etas(posted: Posted, names: str) -> list[float | None]:
    return [posted.snapshots[name].eta_s for name in names]


def test_one_slot_queues_every_job_behind_the_running_one() -> None:
    posted = Posted()
    board(posted, slots=1).publish([job("a", 1), job("b", 2), job("c", 3)], [job("r", 0, step=2, total=4)], False)
    assert etas(posted, "abc") == [6.0, 10.0, 14.0]  # 2 s left on the running job, then 4 s each
    assert [posted.snapshots[name].queue_position for name in "abc"] == [1, 2, 3]


def test_several_slots_start_each_job_on_the_first_free_one() -> None:
    posted = Posted()
    board(posted, slots=2).publish([job("a", 1), job("b", 2), job("c", 3)], [job("r", 0, step=2, total=4)], False)
    assert etas(posted, "abc") == [4.0, 6.0, 8.0]  # a on the idle slot, b after r, c after a


def test_the_live_workers_speed_replaces_the_local_measure_and_no_slot_means_no_eta() -> None:
    posted = Posted()
    board(posted, slots=2, step_s=0.5).publish([job("a", 1), job("b", 2), job("c", 3)], [], False)
    assert etas(posted, "abc") == [2.0, 2.0, 4.0]
    posted = Posted()
    board(posted, slots=0).publish([job("a", 1)], [], False)
    assert etas(posted, "a") == [None]  # no worker: nobody can say when
