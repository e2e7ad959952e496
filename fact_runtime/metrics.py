"""Runtime counters and their Prometheus text rendering."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["BrokerStats", "MetricsRecorder", "RuntimeMetrics", "WorkerStatus"]


@dataclass(frozen=True, slots=True)
class WorkerStatus:
    """One remote worker as its last heartbeat described it (Redis backend)."""

    name: str
    device: str = ""
    schema: int = 0
    #: Names the broker key it seals with (``Sealer.fingerprint``); a worker with another key gets no jobs.
    key_fingerprint: str = ""
    capacity: int = 1
    #: The job it is running, if any.
    job_id: str | None = None
    #: False once it got SIGTERM: it takes no new jobs.
    is_ready: bool = True
    is_compatible: bool = True
    styles: tuple[str, ...] = ()
    jobs_by_outcome: Mapping[str, int] = field(default_factory=dict)
    step_seconds: tuple[float, int] = (0.0, 0)


@dataclass(frozen=True, slots=True)
class BrokerStats:
    """Redis as the bot last saw it (Redis backend)."""

    is_connected: bool = False
    #: Entries in the jobs stream: released and not yet finished.
    stream_length: int = 0
    #: Of those, the ones a worker has taken (delivered, not yet acknowledged).
    pending: int = 0
    #: Jobs taken over from a lost worker, and jobs handed back on shutdown, since the stream began.
    reclaimed: int = 0
    handed_back: int = 0


@dataclass(frozen=True, slots=True)
class RuntimeMetrics:
    """A snapshot of the runtime's counters, taken by ``Runtime.metrics()``."""

    #: Finished jobs by outcome: ``"succeeded"`` or the error's ``kind``.
    jobs_by_outcome: Mapping[str, int] = field(default_factory=dict)
    #: Submissions refused at admission, by the error's ``kind``.
    rejected_by_reason: Mapping[str, int] = field(default_factory=dict)
    queue_depth: int = 0
    running: int = 0
    #: Denoising step durations: (sum of seconds, number of steps).
    step_seconds: tuple[float, int] = (0.0, 0)
    #: Time spent per stage: stage -> (sum of seconds, number of times entered).
    stage_seconds: Mapping[str, tuple[float, int]] = field(default_factory=dict)
    #: Whole-job wall time from start to outcome: (sum of seconds, number of jobs).
    job_seconds: tuple[float, int] = (0.0, 0)
    is_alive: bool = False
    #: The remote workers and the broker, with the Redis backend.
    workers: tuple[WorkerStatus, ...] = ()
    broker: BrokerStats | None = None

    @property
    def mean_step_s(self) -> float | None:
        total, count = self.step_seconds
        return total / count if count else None

    def to_prometheus(self) -> str:
        """Render in the Prometheus text exposition format (version 0.0.4), names prefixed ``fact_``."""
        lines: list[str] = []

        def family(name: str, kind: str, help_text: str) -> None:
            lines.append(f"# HELP fact_{name} {help_text}")
            lines.append(f"# TYPE fact_{name} {kind}")

        family("jobs_total", "counter", "Jobs finished, by outcome.")
        for outcome, count in sorted(self.jobs_by_outcome.items()):
            lines.append(f'fact_jobs_total{{outcome="{_escape(outcome)}"}} {count}')
        family("jobs_rejected_total", "counter", "Submissions refused at admission, by reason.")
        for reason, count in sorted(self.rejected_by_reason.items()):
            lines.append(f'fact_jobs_rejected_total{{reason="{_escape(reason)}"}} {count}')
        family("queue_depth", "gauge", "Jobs waiting in the queue.")
        lines.append(f"fact_queue_depth {self.queue_depth}")
        family("jobs_running", "gauge", "Jobs running on the worker (0 or 1).")
        lines.append(f"fact_jobs_running {self.running}")
        family("step_seconds", "summary", "Duration of one denoising step.")
        lines.append(f"fact_step_seconds_sum {_number(self.step_seconds[0])}")
        lines.append(f"fact_step_seconds_count {self.step_seconds[1]}")
        family("stage_seconds", "summary", "Time spent in each stage of a job.")
        for stage, (total, count) in sorted(self.stage_seconds.items()):
            label = _escape(stage)
            lines.append(f'fact_stage_seconds_sum{{stage="{label}"}} {_number(total)}')
            lines.append(f'fact_stage_seconds_count{{stage="{label}"}} {count}')
        family("job_seconds", "summary", "Wall time of a job from start to outcome.")
        lines.append(f"fact_job_seconds_sum {_number(self.job_seconds[0])}")
        lines.append(f"fact_job_seconds_count {self.job_seconds[1]}")
        family(
            "runtime_alive",
            "gauge",
            "1 while the runtime can take jobs (its worker thread, or Redis and a worker, up).",
        )
        lines.append(f"fact_runtime_alive {int(self.is_alive)}")
        if self.broker is not None:
            lines += _broker_lines(self.broker, self.workers)
        return "\n".join(lines) + "\n"


def _broker_lines(broker: BrokerStats, workers: tuple[WorkerStatus, ...]) -> list[str]:
    lines: list[str] = []

    def gauge(name: str, help_text: str, value: float, kind: str = "gauge") -> None:
        lines.extend([f"# HELP fact_{name} {help_text}", f"# TYPE fact_{name} {kind}", f"fact_{name} {value}"])

    gauge("broker_connected", "1 while Redis answers.", int(broker.is_connected))
    gauge("broker_stream_length", "Entries in the jobs stream (released, not finished).", broker.stream_length)
    gauge("broker_pending", "Jobs taken by a worker and not yet acknowledged.", broker.pending)
    gauge("broker_reclaimed_total", "Jobs taken over from a lost worker.", broker.reclaimed, "counter")
    gauge("broker_handed_back_total", "Jobs handed back by a worker shutting down.", broker.handed_back, "counter")
    families = {
        "worker_up": ("gauge", "1 for each worker with a live heartbeat (labels: device, compatible, ready)."),
        "worker_busy": ("gauge", "1 while the worker runs a job."),
        "worker_jobs_total": ("counter", "Jobs the worker finished, by outcome."),
        "worker_step_seconds": ("summary", "Denoising step durations measured on the worker."),
    }
    rows: dict[str, list[str]] = {name: [] for name in families}
    for worker in sorted(workers, key=lambda w: w.name):
        label = f'worker="{_escape(worker.name)}"'
        flags = (
            f'device="{_escape(worker.device)}",compatible="{int(worker.is_compatible)}",ready="{int(worker.is_ready)}"'
        )
        rows["worker_up"].append(f"fact_worker_up{{{label},{flags}}} 1")
        rows["worker_busy"].append(f"fact_worker_busy{{{label}}} {int(worker.job_id is not None)}")
        for outcome, count in sorted(worker.jobs_by_outcome.items()):
            rows["worker_jobs_total"].append(f'fact_worker_jobs_total{{{label},outcome="{_escape(outcome)}"}} {count}')
        total, count = worker.step_seconds
        rows["worker_step_seconds"].append(f"fact_worker_step_seconds_sum{{{label}}} {_number(total)}")
        rows["worker_step_seconds"].append(f"fact_worker_step_seconds_count{{{label}}} {count}")
    for name, (kind, help_text) in families.items():
        lines += [f"# HELP fact_{name} {help_text}", f"# TYPE fact_{name} {kind}", *rows[name]]
    return lines


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return repr(float(value))


class MetricsRecorder:
    """Thread-safe counters: the worker records, the event loop takes snapshots."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._outcomes: Counter[str] = Counter()
        self._rejected: Counter[str] = Counter()
        self._step_sum = 0.0
        self._step_count = 0
        self._stage_sum: dict[str, float] = {}
        self._stage_count: Counter[str] = Counter()
        self._job_sum = 0.0
        self._job_count = 0
        # Steps per requested image of finished jobs, for queue ETAs.
        self._steps_per_image_sum = 0.0
        self._steps_per_image_count = 0

    def record_outcome(self, outcome: str, *, seconds: float | None = None) -> None:
        with self._lock:
            self._outcomes[outcome] += 1
            if seconds is not None:
                self._job_sum += seconds
                self._job_count += 1

    def record_rejection(self, reason: str) -> None:
        with self._lock:
            self._rejected[reason] += 1

    def record_step(self, seconds: float) -> None:
        with self._lock:
            self._step_sum += seconds
            self._step_count += 1

    def record_stage(self, stage: str, seconds: float) -> None:
        with self._lock:
            self._stage_sum[stage] = self._stage_sum.get(stage, 0.0) + seconds
            self._stage_count[stage] += 1

    def record_steps_per_image(self, steps: int, count: int) -> None:
        with self._lock:
            self._steps_per_image_sum += steps / count
            self._steps_per_image_count += 1

    def estimator(
        self, *, default_steps: int, step_s: float | None = None
    ) -> Callable[[int, int | None], float | None]:
        """Freeze the measured rates into ``estimate(count, steps_left) -> seconds | None``.

        The estimate is the denoising time a job still needs: ``steps_left`` (a running job's
        remaining steps) if known, else the whole job, ``count`` x steps per image (learned from
        finished jobs, ``default_steps`` before) x the mean step time (``step_s`` when given, e.g.
        the live remote workers', else the one measured here). Time outside the denoising steps
        is not counted. None until a step has been timed.
        """
        with self._lock:
            if step_s is None and self._step_count:
                step_s = self._step_sum / self._step_count
            per_image = float(default_steps)
            if self._steps_per_image_count:
                per_image = self._steps_per_image_sum / self._steps_per_image_count

        def estimate(count: int, steps_left: int | None = None) -> float | None:
            if step_s is None:
                return None
            return (count * per_image if steps_left is None else steps_left) * step_s

        return estimate

    def snapshot(self, *, queue_depth: int, running: int, is_alive: bool) -> RuntimeMetrics:
        with self._lock:
            return RuntimeMetrics(
                jobs_by_outcome=MappingProxyType(dict(self._outcomes)),
                rejected_by_reason=MappingProxyType(dict(self._rejected)),
                queue_depth=queue_depth,
                running=running,
                step_seconds=(self._step_sum, self._step_count),
                stage_seconds=MappingProxyType(
                    {stage: (total, self._stage_count[stage]) for stage, total in self._stage_sum.items()}
                ),
                job_seconds=(self._job_sum, self._job_count),
                is_alive=is_alive,
            )
