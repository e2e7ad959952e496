"""A small HTTP endpoint for orchestrators: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import logging
import sys
import urllib.error
import urllib.request
from collections import Counter
from typing import TYPE_CHECKING, ClassVar

from aiohttp import web
from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from fact_runtime import prometheus_registry

if TYPE_CHECKING:
    import discord

    from fact_runtime import JobRuntime, Supervisor

    from .settings import BotSettings

__all__ = ["BotCounters", "HealthServer", "check_health"]

log = logging.getLogger(__name__)


class BotCounters:
    """Bot-side counters (event loop only), rendered next to the runtime's metrics."""

    _HELP: ClassVar[dict[str, tuple[str, str]]] = {
        "jobs": ("kind", "Jobs accepted by the bot, by kind."),
        "refusals": ("reason", "Jobs refused at submission, by reason."),
        "deliveries": ("via", "Results delivered, by route (followup, channel, dm)."),
        "failures": ("kind", "Jobs that ended in an error, by kind."),
        "commands": ("command", "Slash commands invoked, by name."),
        "identities": ("outcome", "Identity saves, by outcome (saved, or why they were refused)."),
    }

    def __init__(self) -> None:
        self._counts: dict[str, Counter[str]] = {name: Counter() for name in self._HELP}

    def count(self, family: str, label: str) -> None:
        self._counts[family][label] += 1

    def get(self, family: str, label: str) -> int:
        return self._counts[family][label]

    def families(self) -> list[Metric]:
        """One counter family per kind of count, for the health server's registry."""
        found: list[Metric] = []
        for family, (label_name, help_text) in self._HELP.items():
            counter = CounterMetricFamily(f"fact_bot_{family}_total", help_text, labels=[label_name])
            for label, value in sorted(self._counts[family].items()):
                counter.add_metric([label], value)
            found.append(counter)
        return found


def _gateway_state(bot: discord.Client) -> str:
    if bot.is_closed():
        return "closed"
    return "ready" if bot.is_ready() else "connecting"


class HealthServer:
    """``/healthz`` (process up), ``/readyz`` (gateway ready, runtime alive, no background task down), ``/metrics``.

    ``supervisor`` runs the bot's own background loops (``PortraitBot.supervisor``); the ones it is
    restarting are reported by ``/readyz`` next to the runtime's ``unhealthy_tasks``.
    """

    def __init__(
        self,
        bot: discord.Client,
        runtime: JobRuntime,
        counters: BotCounters,
        *,
        host: str,
        port: int,
        supervisor: Supervisor | None = None,
    ) -> None:
        self.bot = bot
        self.runtime = runtime
        self.counters = counters
        self.host = host
        self.port = port
        self.supervisor = supervisor
        self.registry = prometheus_registry(lambda: runtime.metrics().families(), counters.families, self._gateway)
        self._runner: web.AppRunner | None = None

    @property
    def unhealthy_tasks(self) -> tuple[str, ...]:
        """The bot's and the runtime's background tasks that failed and are being restarted."""
        own = self.supervisor.unhealthy if self.supervisor is not None else ()
        return own + self.runtime.unhealthy_tasks

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self._app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        # With port 0 the OS picks one; report the real port.
        if self._runner.addresses:
            self.port = self._runner.addresses[0][1]
        log.info("health endpoint on http://%s:%d", self.host, self.port)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, request: web.Request) -> web.Response:
        # Liveness: a dead GPU worker never recovers in-process, so the container should be restarted.
        if self.runtime.is_dead:
            return web.json_response({"status": "runtime dead"}, status=503)
        return web.json_response({"status": "ok"})

    async def _readyz(self, request: web.Request) -> web.Response:
        gateway = _gateway_state(self.bot)
        is_alive = self.runtime.is_alive
        unhealthy = self.unhealthy_tasks
        body = {
            "gateway": gateway,
            "latency_s": None if gateway != "ready" else round(self.bot.latency, 3),
            "runtime_alive": is_alive,
            "queue_depth": self.runtime.queue_depth,
            "unhealthy": list(unhealthy),
        }
        is_ready = gateway == "ready" and is_alive and not unhealthy
        return web.json_response(body, status=200 if is_ready else 503)

    def _gateway(self) -> list[Metric]:
        is_ready = _gateway_state(self.bot) == "ready"
        return [
            GaugeMetricFamily(
                "fact_bot_gateway_ready", "1 while the Discord gateway session is ready.", value=int(is_ready)
            ),
            GaugeMetricFamily(
                "fact_bot_gateway_latency_seconds",
                "Heartbeat latency of the gateway session.",
                value=self.bot.latency if is_ready else float("nan"),
            ),
        ]

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(self.registry),
            content_type="text/plain",
            charset="utf-8",
            headers={"X-Content-Type-Options": "nosniff"},
        )


def check_health(settings: BotSettings, *, timeout_s: float = 4.0) -> int:
    """``python -m bot healthcheck``: 0 when the running bot's ``/healthz`` answers 200, else 1 with one line.

    It reads the same settings as the bot (file and environment), so the port is never hard-coded.
    """
    if not settings.is_health_enabled:
        print("unhealthy: the health endpoint is off (bot.is_health_enabled: false)", file=sys.stderr)
        return 1
    # A server listening on every address is reached on loopback from inside its container.
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(settings.health_host, settings.health_host)
    url = f"http://{f'[{host}]' if ':' in host else host}:{settings.health_port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError) as exc:
        print(f"unhealthy: {url}: {getattr(exc, 'reason', exc)}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"unhealthy: {url} answered {status}", file=sys.stderr)
        return 1
    return 0
