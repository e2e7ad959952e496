"""Runtime counters and their Prometheus families (rendered by ``prometheus-client``, one registry per process)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily

__all__ = [
    "BrokerStats",
    "FamiliesCollector",
    "MetricsRecorder",
    "RuntimeMetrics",
    "WorkerStatus",
    "prometheus_registry",
    "render_prometheus",
]


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
        return render_prometheus(self.families())

    def families(self) -> list[Metric]:
        """The snapshot as Prometheus metric families, for a process's registry (see ``render_prometheus``)."""
        jobs = CounterMetricFamily("fact_jobs_total", "Jobs finished, by outcome.", labels=["outcome"])
        for outcome, count in sorted(self.jobs_by_outcome.items()):
            jobs.add_metric([outcome], count)
        rejected = CounterMetricFamily(
            "fact_jobs_rejected_total", "Submissions refused at admission, by reason.", labels=["reason"]
        )
        for reason, count in sorted(self.rejected_by_reason.items()):
            rejected.add_metric([reason], count)
        stages = SummaryMetricFamily("fact_stage_seconds", "Time spent in each stage of a job.", labels=["stage"])
        for stage, (total, count) in sorted(self.stage_seconds.items()):
            stages.add_metric([stage], count_value=count, sum_value=total)
        families: list[Metric] = [
            jobs,
            rejected,
            GaugeMetricFamily("fact_queue_depth", "Jobs waiting in the queue.", value=self.queue_depth),
            GaugeMetricFamily("fact_jobs_running", "Jobs running on the worker (0 or 1).", value=self.running),
            _summary("fact_step_seconds", "Duration of one denoising step.", self.step_seconds),
            stages,
            _summary("fact_job_seconds", "Wall time of a job from start to outcome.", self.job_seconds),
            GaugeMetricFamily(
                "fact_runtime_alive",
                "1 while the runtime can take jobs (its worker thread, or Redis and a worker, up).",
                value=int(self.is_alive),
            ),
        ]
        if self.broker is not None:
            families += _broker_families(self.broker, self.workers)
        return families


def _summary(name: str, help_text: str, seconds: tuple[float, int]) -> SummaryMetricFamily:
    total, count = seconds
    return SummaryMetricFamily(name, help_text, count_value=count, sum_value=total)


def _broker_families(broker: BrokerStats, workers: tuple[WorkerStatus, ...]) -> list[Metric]:
    up = GaugeMetricFamily(
        "fact_worker_up",
        "1 for each worker with a live heartbeat (labels: device, compatible, ready).",
        labels=["worker", "device", "compatible", "ready"],
    )
    busy = GaugeMetricFamily("fact_worker_busy", "1 while the worker runs a job.", labels=["worker"])
    jobs = CounterMetricFamily(
        "fact_worker_jobs_total", "Jobs the worker finished, by outcome.", labels=["worker", "outcome"]
    )
    steps = SummaryMetricFamily(
        "fact_worker_step_seconds", "Denoising step durations measured on the worker.", labels=["worker"]
    )
    for worker in sorted(workers, key=lambda w: w.name):
        up.add_metric([worker.name, worker.device, str(int(worker.is_compatible)), str(int(worker.is_ready))], 1)
        busy.add_metric([worker.name], int(worker.job_id is not None))
        for outcome, count in sorted(worker.jobs_by_outcome.items()):
            jobs.add_metric([worker.name, outcome], count)
        total, count = worker.step_seconds
        steps.add_metric([worker.name], count_value=count, sum_value=total)
    return [
        GaugeMetricFamily("fact_broker_connected", "1 while Redis answers.", value=int(broker.is_connected)),
        GaugeMetricFamily(
            "fact_broker_stream_length",
            "Entries in the jobs stream (released, not finished).",
            value=broker.stream_length,
        ),
        GaugeMetricFamily(
            "fact_broker_pending", "Jobs taken by a worker and not yet acknowledged.", value=broker.pending
        ),
        CounterMetricFamily(
            "fact_broker_reclaimed_total", "Jobs taken over from a lost worker.", value=broker.reclaimed
        ),
        CounterMetricFamily(
            "fact_broker_handed_back_total", "Jobs handed back by a worker shutting down.", value=broker.handed_back
        ),
        up,
        busy,
        jobs,
        steps,
    ]


class FamiliesCollector:
    """A Prometheus collector that asks ``families()`` for its metric families at every scrape."""

    def __init__(self, families: Callable[[], Iterable[Metric]]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families()


def prometheus_registry(*sources: Callable[[], Iterable[Metric]]) -> CollectorRegistry:
    """A registry of one process's own (never the library's global one), collecting ``sources`` in order."""
    registry = CollectorRegistry(auto_describe=False)
    for source in sources:
        registry.register(FamiliesCollector(source))
    return registry


def render_prometheus(families: Iterable[Metric]) -> str:
    """Metric families in the Prometheus text exposition format; the library escapes the label values."""
    families = list(families)
    return generate_latest(prometheus_registry(lambda: families)).decode("utf-8")


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
