"""The order of a start: local checks, then Discord (token and gateway), then the models, then the gateway session.

Every check that can fail fast runs before the slow one after it: a wrong token is found in a
second, not after minutes of loading models. Each failure is a ``StartupError`` whose message is
the one line ``python -m bot`` prints (naming the problem and the fix) before it exits with 2.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sqlite3
from collections.abc import Iterator
from typing import TYPE_CHECKING

import aiohttp
import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from fact_runtime import ConfigError, FactError, ModelMissing, RuntimeDead, StyleError, missing_models

from .settings import DISCORD_API, TOKEN_ENV, BotSettings

if TYPE_CHECKING:
    from pydantic import SecretStr

    from fact_runtime import JobRuntime, RuntimeConfig, StyleCatalog

    from .client import PortraitBot

__all__ = ["StartupError", "serve", "sync"]

log = logging.getLogger(__name__)

#: Logging in is one HTTP request; a network that drops packets must not hang the start for minutes.
LOGIN_TIMEOUT_S = 30.0


class StartupError(Exception):
    """The bot cannot start; the message is one line that names the problem and the fix."""


def point_at_discord(settings: BotSettings) -> None:
    """Send REST calls to ``bot.api_base_url`` and the gateway session to ``bot.gateway_url`` (proxies)."""
    # The default leaves discord.py's own address alone (and any redirect already made in-process).
    if settings.api_base_url.rstrip("/") != DISCORD_API:
        Route.BASE = settings.api_base_url.rstrip("/")
    if settings.gateway_url:
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.gateway_url)


@contextlib.contextmanager
def _talking_to_discord(api: str) -> Iterator[None]:
    """Turn what Discord (or the network) answers a login into a ``StartupError`` naming the fix."""
    try:
        yield
    except discord.LoginFailure:
        raise StartupError(
            f"Discord refused the token in {TOKEN_ENV}; copy it again from the Developer Portal "
            "(your application → Bot → Reset Token)"
        ) from None
    except discord.GatewayNotFound as exc:
        raise StartupError(f"Discord's gateway is not available ({exc.__cause__ or exc}); try again later") from exc
    except discord.HTTPException as exc:
        raise StartupError(
            f"Discord answered {exc.status} {exc.text or exc.response.reason} at {api}; try again in a few minutes"
        ) from exc
    except TimeoutError as exc:
        raise StartupError(
            f"cannot reach Discord at {api}: no answer within {LOGIN_TIMEOUT_S:.0f} s; check the network or proxy"
        ) from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise StartupError(f"cannot reach Discord at {api} ({exc}); check the network, DNS or proxy") from exc


async def log_in(bot: discord.Client, token: SecretStr, settings: BotSettings) -> None:
    """Log in (which checks the token) and ask for the gateway, before anything slow starts.

    Raises
    ------
    StartupError
        The token is refused, Discord cannot be reached, or it allows no new gateway session.
    """
    with _talking_to_discord(settings.api_base_url):
        await asyncio.wait_for(bot.login(token.get_secret_value()), LOGIN_TIMEOUT_S)
        _, _, limit = await asyncio.wait_for(bot.http.get_bot_gateway(), LOGIN_TIMEOUT_S)
    if limit.get("remaining", 1) <= 0:
        hours = limit.get("reset_after", 0) / 3_600_000
        raise StartupError(
            f"Discord allows no new gateway session for this token for {hours:.1f} h (too many restarts); "
            "wait, or reset the token in the Developer Portal"
        )
    log.info("logged in to Discord as %s", bot.user)


async def check_discord(token: SecretStr, settings: BotSettings) -> None:
    """``log_in`` with a bare client, so a wrong token is found before the models' libraries are even imported."""
    from .client import skip_voice_warnings

    skip_voice_warnings()
    async with discord.Client(intents=discord.Intents.default()) as probe:
        await log_in(probe, token, settings)


def check_models(config: RuntimeConfig) -> None:
    """Refuse to start when a model the warm-up loads is not on disk (the bot never downloads at start)."""
    missing = missing_models(config)
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise StartupError(
            f"{len(missing)} model{'s are' if len(missing) > 1 else ' is'} not downloaded: {missing[0]}{more}; "
            "run `python -m fact_runtime download` first (in Docker: `docker compose run --rm bot download`)"
        )


def _has_safety_checker(config: RuntimeConfig) -> bool:
    """Whether finished images are checked before they are posted (the tiny preset has no checker)."""
    models = config.models
    return models is not None and models.safety_checker is not None and config.generation.is_safety_check_enabled


def _load_styles(config: RuntimeConfig) -> StyleCatalog:
    from fact_runtime import StyleCatalog

    catalog = StyleCatalog.from_config(config)
    try:
        catalog.reload()
    except StyleError as exc:
        problems = "; ".join(str(exc).splitlines())
        raise StartupError(f"the style files are invalid: {problems}; fix them and start again") from exc
    return catalog


def _check_port(settings: BotSettings) -> None:
    """Fail now, not after the login, when the health endpoint's port is taken (it is bound for real later)."""
    try:
        with socket.create_server((settings.health_host, settings.health_port)):
            pass
    except OSError as exc:
        raise _port_taken(settings, exc) from exc


def _port_taken(settings: BotSettings, exc: OSError) -> StartupError:
    return StartupError(
        f"the health endpoint cannot listen on {settings.health_host}:{settings.health_port} "
        f"({exc.strerror}); free the port or set bot.health_port (FACT_BOT__HEALTH_PORT)"
    )


async def _run(bot: PortraitBot, runtime: JobRuntime, settings: BotSettings, token: SecretStr) -> None:
    # Entered with the bot, so leaving closes it (and stops its trackers) before the runtime closes.
    async with bot:
        with _talking_to_discord(settings.api_base_url):
            await asyncio.wait_for(bot.login(token.get_secret_value()), LOGIN_TIMEOUT_S)
        log.info("warming up the runtime (loading models)")
        try:
            await runtime.start()
        except ModelMissing as exc:
            raise StartupError(str(exc)) from exc
        except FactError as exc:
            raise StartupError(f"the portrait engine could not start: {exc}") from exc
        try:
            await bot.connect(reconnect=True)
        except discord.PrivilegedIntentsRequired as exc:
            raise StartupError(
                "Discord refused the Server Members intent (bot.is_identity_purged_on_leave is on); enable it in "
                "the Developer Portal (your application → Bot → Privileged Gateway Intents) or turn the setting off"
            ) from exc
    if runtime.is_dead:  # the bot closed itself: exit non-zero so the supervisor restarts it
        raise RuntimeDead(await runtime.wait_dead())


async def serve(config: RuntimeConfig, settings: BotSettings, token: SecretStr) -> None:
    """Run the bot until it is stopped.

    Raises
    ------
    StartupError
        Any check of the start failed; nothing is left running.
    """
    from fact_runtime import RedisRuntime, Runtime

    from .client import PortraitBot
    from .health import HealthServer
    from .store import JobStore

    point_at_discord(settings)
    catalog = _load_styles(config)
    try:
        store = JobStore(settings.database)
    except (OSError, sqlite3.Error) as exc:
        raise StartupError(f"{settings.database}: cannot open the job store ({exc}); fix bot.database") from exc
    try:
        if settings.is_health_enabled:
            _check_port(settings)
        await check_discord(token, settings)
        runtime: JobRuntime
        if config.backend == "redis":
            runtime = RedisRuntime.from_config(config)  # the models load in the worker processes, not here
        else:
            check_models(config)
            runtime = Runtime.from_config(config, catalog)  # imports the model libraries, loads nothing yet
        bot = PortraitBot(
            runtime=runtime,
            catalog=catalog,
            store=store,
            settings=settings,
            templates_dir=config.templates_dir,
            has_safety_checker=_has_safety_checker(config),
        )
        health = HealthServer(bot, runtime, bot.counters, host=settings.health_host, port=settings.health_port)
        try:
            if settings.is_health_enabled:
                try:
                    await health.start()  # liveness answers while the models load; readiness waits
                except OSError as exc:  # taken since the check above
                    raise _port_taken(settings, exc) from exc
            await _run(bot, runtime, settings, token)
        finally:
            await health.close()
            # The bot (and its job trackers) stopped first, so jobs the runtime cancels on close stay queued
            # in the store and are re-queued on the next start. The running job is interrupted too:
            # nobody is left to deliver its result, and a container stop allows only seconds. (With
            # Redis, released jobs go on in their workers; their results wait for the next start.)
            await runtime.close(cancel_running=True)
    finally:
        store.close()


async def sync(settings: BotSettings, token: SecretStr, guild_id: int | None) -> None:
    """Publish the slash commands, globally or to one guild.

    Raises
    ------
    StartupError
        Logging in failed.
    """
    from .client import build_sync_bot, invite_url

    point_at_discord(settings)
    async with build_sync_bot(settings) as bot:
        await log_in(bot, token, settings)
        guild = discord.Object(guild_id) if guild_id is not None else None
        if guild is not None:
            bot.tree.copy_global_to(guild=guild)
        try:
            synced = await bot.tree.sync(guild=guild)
        except discord.Forbidden as exc:
            raise StartupError(
                f"Discord refused the command sync for guild {guild_id} ({exc.text}); invite the bot to that server "
                "with the applications.commands scope (README: Set up the Discord application)"
            ) from exc
        print(f"synced {len(synced)} commands {f'to guild {guild_id}' if guild_id else 'globally'}")
        if bot.application_id is not None:
            print(f"add the bot to a server: {invite_url(bot.application_id)}")


def describe_config_error(exc: ConfigError) -> str:
    """A config error as one line: every problem, separated by semicolons."""
    return "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
