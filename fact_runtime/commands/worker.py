"""``python -m fact_runtime worker``: one GPU worker process serving the bot's jobs through Redis.

Exit status: 0 after SIGTERM or SIGINT (its job finished or handed back); 2 when the config, the
device or the Redis URL is invalid; 1 when the models could not be loaded (the message says which)
or the engine got stuck in a job (past ``queue.hang_timeout_s``): a supervisor should restart it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import signal
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, get_args

from ..config import BrokerConfig, RuntimeConfig, load_runtime_config
from ..errors import ConfigError, FactError, StyleError
from ..executor import Runtime
from ..executor.redis import WorkerOptions, WorkerProcess
from ..executor.redis.health import WorkerHealth
from ..executor.redis.sealing import Sealer
from ..limits import RequestLimits
from .terminal import add_config_argument, config_path, fail

if TYPE_CHECKING:
    from ..results import Engine

log = logging.getLogger(__name__)

FAILED = 1
INVALID = 2


def add_arguments(parser: argparse.ArgumentParser, command_name: str) -> None:
    parser.add_argument("--redis", metavar="URL", help="the Redis server (default: runtime.redis_url)")
    parser.add_argument("--name", help="a name unique among the workers, stable across restarts (default: host-device)")
    parser.add_argument("--device", help="override runtime.device, e.g. cuda:1 (one worker per GPU)")
    parser.add_argument("--preset", choices=("full", "tiny"), help="override runtime.preset (tiny: no weights needed)")
    parser.add_argument(
        "--on-sigterm",
        choices=get_args(BrokerConfig.model_fields["on_sigterm"].annotation),
        help="override runtime.broker.on_sigterm: finish the running job, or hand it back",
    )
    parser.add_argument("--health-host", default="127.0.0.1", help="address of /healthz and /metrics")
    parser.add_argument("--health-port", type=int, help="serve /healthz and /metrics on this port (default: none)")
    add_config_argument(parser)
    parser.add_argument(
        "--engine",
        metavar="MODULE:FACTORY",
        help="run this Engine factory instead of the FACT model stack (test doubles and benchmarks only)",
    )


def run(args: argparse.Namespace) -> int:
    # A service: what it does (jobs taken, reclaimed, finished) is worth a line each, not only warnings.
    if logging.getLogger("fact_runtime").level == logging.NOTSET:
        logging.getLogger("fact_runtime").setLevel(logging.INFO)
    try:
        config = _config(args)
        sealer = Sealer.from_environment(config.broker.key_file)  # refused before any model loads
        engine, styles = _engine(args, config)
    except (ConfigError, StyleError, ValueError) as exc:
        return fail(str(exc), INVALID)
    device = args.device or config.device
    options = WorkerOptions(
        name=args.name or f"{socket.gethostname()}-{device}",
        url=args.redis or config.redis_url,
        broker=config.broker,
        device=device,
        styles=styles,
        sealer=sealer,
    )
    worker = WorkerProcess(_runtime(engine, config), options)
    try:
        asyncio.run(_serve(worker, args.health_host, args.health_port))
    except FactError as exc:  # e.g. ModelMissing during warm-up: the message names the model and path
        return fail(f"the worker could not start: {exc}", FAILED)
    except (ValueError, OSError) as exc:  # a bad device, URL or health port
        log.debug("start-up failed", exc_info=True)
        return fail(str(exc), INVALID)
    if worker.is_dead:
        return fail("the engine got stuck in a job and the worker stopped; restart it", FAILED)
    return 0


async def _serve(worker: WorkerProcess, health_host: str, health_port: int | None) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, worker.stop)
    health = None if health_port is None else WorkerHealth(worker, host=health_host, port=health_port)
    if health is not None:
        await health.start()
    try:
        await worker.serve()
    finally:
        if health is not None:
            await health.close()


def _config(args: argparse.Namespace) -> RuntimeConfig:
    overrides: dict[str, object] = {}
    if args.preset:
        overrides["preset"] = args.preset
    if args.device:
        overrides["device"] = args.device
    # The tiny preset runs from a bare checkout: defaults, ./styles, no config file needed.
    config = load_runtime_config(config_path(args, is_required=args.preset != "tiny"), overrides=overrides)
    if args.on_sigterm:
        config = config.model_copy(update={"broker": config.broker.model_copy(update={"on_sigterm": args.on_sigterm})})
    return config


def _engine(args: argparse.Namespace, config: RuntimeConfig) -> tuple[Engine, tuple[str, ...]]:
    """The engine to serve with, and the style ids it can run."""
    if args.engine:
        module_name, _, attribute = args.engine.partition(":")
        try:
            factory: Callable[[], Engine] = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"--engine {args.engine}: {exc}") from exc
        return factory(), ()
    from ..catalog import StyleCatalog
    from ..pipelines import FactEngine

    catalog = StyleCatalog.from_config(config)
    catalog.reload()
    return FactEngine(config, catalog), tuple(style.id for style in catalog.all())


def _runtime(engine: Engine, config: RuntimeConfig) -> Runtime:
    # One job at a time (the bot's fair queue decides what comes next); every time limit as configured.
    queue = config.queue.model_copy(update={"max_queued": 1, "max_per_user": 1})
    return Runtime(
        engine, queue, limits=RequestLimits.from_config(config), default_steps=config.generation.num_inference_steps
    )
