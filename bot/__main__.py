"""``python -m bot``: run the portrait bot; ``sync [--guild ID]`` publishes its commands; ``healthcheck`` probes it.

Every failure to start is one line on stderr and exit status 2; tracebacks only with ``-v``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path

from fact_runtime import CONFIG_ENV, ConfigError, RequestLimits, RuntimeDead, find_config, load_runtime_config

from .health import check_health
from .logs import setup_logging
from .settings import load_bot_settings, load_token
from .startup import BackgroundTasksFailing, StartupError, describe_config_error, serve, sync

log = logging.getLogger("bot")


def _add_common(parser: argparse.ArgumentParser, *, is_top: bool) -> None:
    # Below the top level the default is SUPPRESS, so `sync` without --config keeps the top level's value.
    default_config = None if is_top else argparse.SUPPRESS
    parser.add_argument(
        "--config", type=Path, default=default_config, help=f"config file (default: ${CONFIG_ENV}, else ./config.yaml)"
    )
    verbose_default = False if is_top else argparse.SUPPRESS
    parser.add_argument("-v", "--verbose", action="store_true", default=verbose_default, help="debug logging")


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bot", description="The FACT portrait Discord bot.")
    _add_common(parser, is_top=True)
    parser.add_argument(
        "--preset", choices=("full", "tiny"), help="override runtime.preset (tiny: try the bot without any weights)"
    )
    parser.add_argument(
        "--redis", metavar="URL", help="run jobs on worker processes through this Redis (runtime.backend: redis)"
    )
    commands = parser.add_subparsers(dest="command")
    sync = commands.add_parser("sync", help="publish the slash commands to Discord (run after changing them)")
    sync.add_argument("--guild", type=int, help="sync to one guild only (instant; for testing)")
    health = commands.add_parser("healthcheck", help="exit 0 if the running bot's /healthz answers (HEALTHCHECK)")
    for sub in (sync, health):
        _add_common(sub, is_top=False)
    return parser.parse_args(argv)


def _run(coroutine: Coroutine[object, object, None]) -> None:
    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        with contextlib.suppress(NotImplementedError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        await coroutine

    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        asyncio.run(main())


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    try:
        path = find_config(args.config)
        if args.command == "healthcheck":
            return check_health(load_bot_settings(path))
        overrides: dict[str, str] = {"preset": args.preset} if args.preset else {}
        if args.redis:
            overrides.update(backend="redis", redis_url=args.redis)
        config = load_runtime_config(path, overrides=overrides) if args.command is None else None
        # Syncing runs no command, so only a serving bot's settings must fit the runtime's limits.
        limits = RequestLimits.from_config(config) if config is not None else None
        settings = load_bot_settings(path, limits=limits)
        token = load_token()
    except ConfigError as exc:
        return _fail(describe_config_error(exc))
    if not args.verbose:
        # The model libraries print their notices through handlers of their own, set from these when imported.
        for variable in ("TRANSFORMERS_VERBOSITY", "DIFFUSERS_VERBOSITY"):
            os.environ.setdefault(variable, "error")
    # `sync` is a one-shot command: its output is its result or one error line, not the library's progress.
    quiet = logging.WARNING if args.command == "sync" else logging.INFO
    with setup_logging(token=token.get_secret_value(), level=logging.DEBUG if args.verbose else quiet):
        try:
            if args.command == "sync":
                _run(sync(settings, token, args.guild))
            else:
                assert config is not None
                _run(serve(config, settings, token))
        except StartupError as exc:
            log.debug("start-up failed", exc_info=True)
            return _fail(str(exc))
        except RuntimeDead as exc:
            log.error("exiting because the runtime died (%s); its unfinished jobs resume at the next start", exc)
            return 1
        except BackgroundTasksFailing as exc:
            log.error("exiting: %s (tracebacks above); its unfinished jobs resume at the next start", exc)
            return 1
        except Exception as exc:
            log.debug("unexpected failure", exc_info=True)
            hint = "" if args.verbose else "; run with -v for the traceback"
            print(f"error: unexpected {type(exc).__name__}: {exc}{hint}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
