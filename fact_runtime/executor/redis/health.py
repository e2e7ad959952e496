"""Worker process: its own HTTP endpoint, ``/healthz`` for its orchestrator and ``/metrics`` for Prometheus."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from ...metrics import prometheus_registry

if TYPE_CHECKING:
    from .worker import WorkerProcess

__all__ = ["WorkerHealth", "worker_families"]

log = logging.getLogger(__name__)


def worker_families(worker: WorkerProcess) -> list[Metric]:
    """The worker's runtime metrics (jobs by outcome, step and stage times) and its own gauges."""
    busy = GaugeMetricFamily("fact_worker_busy", "1 while this worker runs a job.", labels=["worker"])
    busy.add_metric([worker.name], int(worker.current is not None))
    connected = GaugeMetricFamily(
        "fact_worker_broker_connected", "1 while this worker reaches Redis.", labels=["worker"]
    )
    connected.add_metric([worker.name], int(worker.is_connected))
    published = CounterMetricFamily(
        "fact_worker_published_total", "Outcomes this worker published, by outcome.", labels=["worker", "outcome"]
    )
    for outcome, count in sorted(worker.outcomes.items()):
        published.add_metric([worker.name, outcome], count)
    return [*worker.runtime.metrics().families(), busy, connected, published]


class WorkerHealth:
    """``/healthz``: 200 while the engine is alive and no background loop is down (else 503); ``/metrics``: Prometheus text."""

    def __init__(self, worker: WorkerProcess, *, host: str, port: int) -> None:
        self.worker = worker
        self.host = host
        self.port = port
        self.registry = prometheus_registry(lambda: worker_families(worker))
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        if self._runner.addresses:
            self.port = self._runner.addresses[0][1]
        log.info("worker health endpoint on http://%s:%d", self.host, self.port)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, request: web.Request) -> web.Response:
        worker = self.worker
        body = {
            "worker": worker.name,
            "busy": worker.current is not None,
            "broker_connected": worker.is_connected,
            "stopping": worker.is_stopping,
            "unhealthy": list(worker.unhealthy_tasks),
        }
        is_healthy = not worker.runtime.is_dead and not body["unhealthy"]
        return web.json_response(body, status=200 if is_healthy else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.registry), content_type="text/plain", charset="utf-8")
