"""The Grafana dashboard asks only for metrics the bot and the workers export, scraped here from their real
/metrics endpoints, and the monitoring profile's Prometheus scrapes the processes the dashboard names."""

from __future__ import annotations

import json
import re

import aiohttp
import discord
import pytest
import yaml

from bot.health import BotCounters, HealthServer
from fact_runtime import RedisRuntime
from tests.cli import REPO
from tests.fakes import portrait
from tests.redis_world import Start, Workers, eventually, finished, free_port

DASHBOARDS = sorted((REPO / "deploy" / "grafana" / "dashboards").glob("*.json"))
PROMETHEUS = REPO / "deploy" / "prometheus"
_TYPE_LINE = re.compile(r"^# TYPE (\w+) (\w+)$")
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]")
#: The series each kind of family may expose (prometheus-client adds _total to counters and _created to both).
_SUFFIXES = {"counter": ("", "_total", "_created"), "summary": ("", "_sum", "_count", "_created"), "gauge": ("",)}
_SUFFIXES["histogram"] = ("_bucket", "_sum", "_count", "_created")


def exported_names(text: str) -> set[str]:
    """Every series name a Prometheus text exposition offers: its samples and what its declared families allow."""
    names: set[str] = set()
    for line in text.splitlines():
        declared = _TYPE_LINE.match(line)
        if declared:
            family = declared[1].removesuffix("_total") if declared[2] == "counter" else declared[1]
            names.update(family + suffix for suffix in _SUFFIXES.get(declared[2], ("",)))
        elif line and not line.startswith("#"):
            sample = _SAMPLE.match(line)
            assert sample, line
            names.add(sample[1])
    return names


def queries() -> list[tuple[str, str, str]]:
    """(dashboard, panel title, PromQL expression) for every target of every panel."""
    found = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text(encoding="utf-8"))["panels"]:
            found += [(path.name, panel["title"], target["expr"]) for target in panel.get("targets", [])]
    return found


def test_the_dashboard_covers_what_an_operator_watches() -> None:
    assert DASHBOARDS, "no dashboard under deploy/grafana/dashboards"
    text = " ".join(expr for _, _, expr in queries())
    for metric in ("fact_queue_depth", "fact_job_seconds", "fact_step_seconds", "fact_jobs_total", "fact_worker_up"):
        assert metric in text
    assert "fact_broker_stream_length" in text and "fact_broker_pending" in text  # broker lag


async def test_every_metric_the_dashboard_queries_is_exported(start_redis_runtime: Start, workers: Workers) -> None:
    port = free_port()
    workers.start("w0", args=("--health-port", str(port)))
    runtime: RedisRuntime = await start_redis_runtime()
    await eventually(lambda: runtime.fleet.capacity == 1, timeout=30)
    workers.open()
    await finished(runtime.submit(portrait("A", seed=1)))  # so labelled series have samples too
    client = discord.Client(intents=discord.Intents.none())  # never connected: the gateway gauges still render
    health = HealthServer(client, runtime, BotCounters(), host="127.0.0.1", port=0)
    await health.start()
    try:
        async with aiohttp.ClientSession() as http:
            await eventually(lambda: runtime.fleet.workers["w0"].jobs_by_outcome.get("succeeded") == 1)
            bot_text = await (await http.get(f"http://127.0.0.1:{health.port}/metrics")).text()
            worker_text = await (await http.get(f"http://127.0.0.1:{port}/metrics")).text()
    finally:
        await health.close()
        await client.close()
    exported = exported_names(bot_text) | exported_names(worker_text) | {"up"}  # `up`: Prometheus's own
    assert {"fact_queue_depth", "fact_worker_published_total", "fact_bot_gateway_ready"} <= exported
    for dashboard, title, expr in queries():
        queried = set(re.findall(r"\bfact_\w+", expr)) | ({"up"} if re.search(r"\bup\{", expr) else set())
        assert queried, f"{dashboard} {title!r} queries no metric: {expr}"
        assert queried <= exported, f"{dashboard} {title!r} queries {sorted(queried - exported)}, not exported"


@pytest.mark.parametrize("config", ["prometheus.yml", "prometheus-redis.yml"])
def test_prometheus_scrapes_the_jobs_the_dashboard_filters_on(config: str) -> None:
    jobs = {job["job_name"] for job in yaml.safe_load((PROMETHEUS / config).read_text())["scrape_configs"]}
    named = {job for _, _, expr in queries() for job in re.findall(r'job="([^"]+)"', expr)}
    assert "fact-bot" in jobs and named <= {"fact-bot", "fact-worker"}
    if config == "prometheus-redis.yml":
        assert jobs == named


def test_the_monitoring_profile_mounts_what_exists() -> None:
    from tests.test_deployment import compose

    services = compose("compose.yaml")["services"]
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["monitoring"]
        for volume in services[name]["volumes"]:
            source = volume.split(":")[0]
            assert not source.startswith("./") or (REPO / source).exists(), volume
    override = compose("compose.redis.yaml")["services"]["prometheus"]["volumes"]
    assert override == ["./deploy/prometheus/prometheus-redis.yml:/etc/prometheus/prometheus.yml:ro"]
    targets = yaml.safe_load((PROMETHEUS / "prometheus-redis.yml").read_text())["scrape_configs"][1]
    workers = {name for name in compose("compose.redis.yaml")["services"] if name.startswith("worker-")}
    assert {target.split(":")[0] for target in targets["static_configs"][0]["targets"]} == workers
