"""``python -m bot``: run the portrait bot; ``python -m bot sync [--guild ID]`` publishes its commands."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sqlite3
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING

import discord

from fact_runtime import (
    ConfigError,
    FactError,
    RequestLimits,
    RuntimeConfig,
    RuntimeDead,
    StyleError,
    load_runtime_config,
)

from .logs import setup_logging
from .settings import BotSettings, load_bot_settings

if TYPE_CHECKING:
    from .client import PortraitBot

log = logging.getLogger("bot")


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bot", description="The FACT portrait Discord bot.")
    parser.add_argument("--config", type=Path, default=Path("config.yaml"), help="config file (default: config.yaml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument(
        "--preset", choices=("full", "tiny"), help="override runtime.preset (tiny: try the bot without any weights)"
    )
    parser.add_argument(
        "--redis", metavar="URL", help="run jobs on worker processes through this Redis (runtime.backend: redis)"
    )
    commands = parser.add_subparsers(dest="command")
    sync = commands.add_parser("sync", help="publish the slash commands to Discord (run after changing them)")
    sync.add_argument("--guild", type=int, help="sync to one guild only (instant; for testing)")
    return parser.parse_args(argv)


def build_sync_bot(settings: BotSettings) -> PortraitBot:
    """A bot that only builds its command tree (no runtime, no jobs) for ``python -m bot sync``."""
    from .client import COMMAND_EXTENSIONS, PortraitBot
    from .store import JobStore

    class _SyncBot(PortraitBot):
        async def setup_hook(self) -> None:
            await self.load_cogs(COMMAND_EXTENSIONS)

        async def close(self) -> None:
            await super().close()
            self.store.close()

    # The commands never run here, so they get no runtime or catalogue.
    return _SyncBot(runtime=None, catalog=None, store=JobStore(":memory:"), settings=settings)  # type: ignore[arg-type]


async def _sync(settings: BotSettings, token: str, guild_id: int | None) -> None:
    async with build_sync_bot(settings) as bot:
        await bot.login(token)
        guild = discord.Object(guild_id) if guild_id is not None else None
        if guild is not None:
            bot.tree.copy_global_to(guild=guild)
        synced = await bot.tree.sync(guild=guild)
        log.info("synced %d commands %s", len(synced), f"to guild {guild_id}" if guild_id else "globally")


async def _serve(config: RuntimeConfig, settings: BotSettings, token: str) -> None:
    from fact_runtime import JobRuntime, RedisRuntime, Runtime, StyleCatalog

    from .client import PortraitBot
    from .health import HealthServer
    from .store import JobStore

    catalog = StyleCatalog.from_config(config)
    catalog.reload()
    try:
        store = JobStore(settings.database)
    except (OSError, sqlite3.Error) as exc:
        raise ConfigError(f"{settings.database}: cannot open the job store ({exc})") from exc
    # With Redis the models load in the worker processes, not here.
    runtime: JobRuntime = (
        RedisRuntime.from_config(config) if config.backend == "redis" else Runtime.from_config(config, catalog)
    )
    bot = PortraitBot(
        runtime=runtime, catalog=catalog, store=store, settings=settings, templates_dir=config.templates_dir
    )
    health = HealthServer(bot, runtime, bot.counters, host=settings.health_host, port=settings.health_port)
    try:
        if settings.is_health_enabled:
            try:
                await health.start()  # liveness answers while the models load; readiness waits
            except OSError as exc:
                raise ConfigError(
                    f"health endpoint {settings.health_host}:{settings.health_port}: {exc.strerror}"
                ) from exc
        log.info("warming up the runtime (loading models)")
        await runtime.start()
        async with bot:
            await bot.start(token)
        if runtime.is_dead:  # the bot closed itself: exit non-zero so the supervisor restarts it
            raise RuntimeDead(await runtime.wait_dead())
    finally:
        await health.close()
        # The bot (and its job trackers) stop first, so jobs the runtime cancels on close stay queued
        # in the store and are re-queued on the next start. The running job is interrupted too:
        # nobody is left to deliver its result, and a container stop allows only seconds.
        await runtime.close(cancel_running=True)
        store.close()


def _run(coroutine: Coroutine[object, object, None]) -> None:
    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        with contextlib.suppress(NotImplementedError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        await coroutine

    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        asyncio.run(main())


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    try:
        overrides: dict[str, str] = {"preset": args.preset} if args.preset else {}
        if args.redis:
            overrides.update(backend="redis", redis_url=args.redis)
        config = load_runtime_config(args.config, overrides=overrides) if args.command is None else None
        # Syncing runs no command, so only a serving bot's settings must fit the runtime's limits.
        limits = RequestLimits.from_config(config) if config is not None else None
        settings = load_bot_settings(args.config, limits=limits)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    token = os.environ.get("DISCORD_TOKEN", "").strip()
    if not token:
        print("error: DISCORD_TOKEN is not set; export the bot's token before starting", file=sys.stderr)
        return 2
    with setup_logging(token=token, level=logging.DEBUG if args.verbose else logging.INFO):
        try:
            if args.command == "sync":
                _run(_sync(settings, token, args.guild))
            else:
                assert config is not None
                _run(_serve(config, settings, token))
        except discord.LoginFailure:
            log.error("Discord refused the token in DISCORD_TOKEN")
            return 2
        except StyleError as exc:
            log.error("the style files are invalid:\n%s", exc)
            return 2
        except ConfigError as exc:
            log.error("%s", exc)
            return 2
        except RuntimeDead as exc:
            log.error("exiting because the runtime died (%s); its unfinished jobs resume at the next start", exc)
            return 1
        except FactError as exc:  # e.g. ModelMissing during warm-up: the message names the model and path
            log.error("the runtime could not start: %s", exc)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
