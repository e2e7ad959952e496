"""Every /metrics is written by prometheus-client: label values any worker name or outcome may hold round-trip
through the official text parser, and each process object has a registry of its own."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from fact_runtime import BrokerStats, RuntimeMetrics, WorkerStatus, prometheus_registry
from fact_runtime.metrics import render_prometheus

HOSTILE = 'gpu "0" \\ on\nhost\\n'


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_label_values_with_quotes_backslashes_and_newlines_round_trip_through_the_official_parser() -> None:
    worker = WorkerStatus(name=HOSTILE, device=HOSTILE, jobs_by_outcome={HOSTILE: 3}, step_seconds=(1.5, 6))
    metrics = RuntimeMetrics(
        jobs_by_outcome={HOSTILE: 2, "succeeded": 5},
        stage_seconds={HOSTILE: (0.25, 1)},
        is_alive=True,
        workers=(worker,),
        broker=BrokerStats(is_connected=True, stream_length=4),
    )
    samples = _samples(metrics.to_prometheus())
    assert samples[("fact_jobs_total", (("outcome", HOSTILE),))] == 2
    assert samples[("fact_jobs_total", (("outcome", "succeeded"),))] == 5
    assert samples[("fact_stage_seconds_sum", (("stage", HOSTILE),))] == 0.25
    assert samples[("fact_worker_jobs_total", (("outcome", HOSTILE), ("worker", HOSTILE)))] == 3
    up = (("compatible", "1"), ("device", HOSTILE), ("ready", "1"), ("worker", HOSTILE))
    assert samples[("fact_worker_up", up)] == 1
    assert samples[("fact_worker_step_seconds_count", (("worker", HOSTILE),))] == 6
    assert samples[("fact_broker_stream_length", ())] == 4
    assert samples[("fact_runtime_alive", ())] == 1


def test_each_registry_collects_its_own_sources_at_every_scrape() -> None:
    first = {"succeeded": 1}
    second = {"job_failed": 7}
    registries = [
        prometheus_registry(lambda: RuntimeMetrics(jobs_by_outcome=first).families()),
        prometheus_registry(lambda: RuntimeMetrics(jobs_by_outcome=second).families()),
    ]
    first["succeeded"] = 2  # read when scraped, not when registered
    texts = [generate_latest(registry).decode() for registry in registries]
    assert _samples(texts[0])[("fact_jobs_total", (("outcome", "succeeded"),))] == 2
    assert ("fact_jobs_total", (("outcome", "job_failed"),)) not in _samples(texts[0])
    assert _samples(texts[1])[("fact_jobs_total", (("outcome", "job_failed"),))] == 7


def test_a_snapshot_renders_the_same_families_as_its_registry() -> None:
    metrics = RuntimeMetrics(jobs_by_outcome={"succeeded": 1}, queue_depth=3)
    assert render_prometheus(metrics.families()) == generate_latest(prometheus_registry(metrics.families)).decode()
