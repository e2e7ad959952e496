"""The liveness probe turns red when the GPU worker dies, so the container gets restarted."""

from __future__ import annotations

import asyncio
import threading

import aiohttp
import discord
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.health import BotCounters, HealthServer
from fact_runtime import PortraitRequest, Runtime, RuntimeDead
from fact_runtime.config import QueueConfig
from tests.fakes import FakeClock, FakeEngine, wait_running


class WorkerKilled(BaseException):
    """Escapes ``except Exception``, as a crash of the worker itself would."""


async def _healthz(health: HealthServer) -> int:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{health.port}/healthz") as response:
        return response.status


async def test_healthz_is_green_while_the_worker_lives_and_red_once_it_dies() -> None:
    engine = FakeEngine()
    runtime = Runtime(engine, QueueConfig())
    await runtime.start()
    client = discord.Client(intents=discord.Intents.none())
    health = HealthServer(client, runtime, BotCounters(), host="127.0.0.1", port=0)
    await health.start()
    try:
        assert await _healthz(health) == 200
        engine.fail_next(WorkerKilled())
        handle = runtime.submit(PortraitRequest(user_id="ada", selfie=b"s", style_id="film"))
        with pytest.raises(RuntimeDead):
            await handle.result()
        assert await _healthz(health) == 503
    finally:
        await health.close()
        await runtime.close()
        await client.close()


async def test_readyz_is_red_until_the_gateway_is_ready() -> None:
    runtime = Runtime(FakeEngine(), QueueConfig())
    await runtime.start()
    client = discord.Client(intents=discord.Intents.none())  # never connected
    health = HealthServer(client, runtime, BotCounters(), host="127.0.0.1", port=0)
    await health.start()
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{health.port}/readyz") as response:
                assert response.status == 503
                body = await response.json()
            async with session.get(f"http://127.0.0.1:{health.port}/metrics") as response:
                text = await response.text()
        assert body == {
            "gateway": "connecting",
            "latency_s": None,
            "runtime_alive": True,
            "queue_depth": 0,
            "unhealthy": [],
        }
        assert "fact_bot_gateway_ready 0" in text
        assert await _healthz(health) == 200  # alive, just not ready
    finally:
        await health.close()
        await runtime.close()
        await client.close()


async def test_a_hung_step_turns_readyz_and_healthz_red() -> None:
    engine = FakeEngine(is_gated=True)  # the step never returns until the test opens the gate
    clock = FakeClock()
    runtime = Runtime(engine, QueueConfig(step_timeout_s=1, hang_timeout_s=2), clock=clock)
    await runtime.start()
    client = discord.Client(intents=discord.Intents.none())
    health = HealthServer(client, runtime, BotCounters(), host="127.0.0.1", port=0)
    await health.start()
    try:
        handle = runtime.submit(PortraitRequest(user_id="ada", selfie=b"s", style_id="film"))
        await wait_running(handle)
        assert await _healthz(health) == 200
        clock.advance(2.5)  # silent past the hang limit
        await asyncio.wait_for(runtime.wait_dead(), 5)
        assert await _healthz(health) == 503
        url = f"http://127.0.0.1:{health.port}/readyz"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            assert response.status == 503 and (await response.json())["runtime_alive"] is False
    finally:
        engine.open()
        await health.close()
        await runtime.close()
        await client.close()


async def test_the_bots_metrics_parse_with_the_official_parser_whatever_a_label_holds() -> None:
    runtime = Runtime(FakeEngine(), QueueConfig())
    await runtime.start()
    counters = BotCounters()
    hostile = 'say "hi" \\ then\nleave'
    counters.count("commands", hostile)
    counters.count("commands", hostile)
    client = discord.Client(intents=discord.Intents.none())
    health = HealthServer(client, runtime, counters, host="127.0.0.1", port=0)
    await health.start()
    try:
        url = f"http://127.0.0.1:{health.port}/metrics"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            text = await response.text()
    finally:
        await health.close()
        await runtime.close()
        await client.close()
    samples = {
        (sample.name, tuple(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert samples[("fact_bot_commands_total", (("command", hostile),))] == 2
    assert samples[("fact_runtime_alive", ())] == 1 and samples[("fact_bot_gateway_ready", ())] == 0


async def test_readyz_names_the_runtimes_unhealthy_tasks() -> None:
    fake = FakeClock()

    def clock() -> float:
        if threading.current_thread().name == "fact-runtime-watchdog":
            raise OSError("the clock broke")
        return fake()

    engine = FakeEngine(is_gated=True)
    runtime = Runtime(engine, QueueConfig(), clock=clock)
    await runtime.start()
    client = discord.Client(intents=discord.Intents.none())
    health = HealthServer(client, runtime, BotCounters(), host="127.0.0.1", port=0)
    await health.start()
    try:
        await wait_running(runtime.submit(PortraitRequest(user_id="ada", selfie=b"s", style_id="film")))
        await asyncio.wait_for(runtime.wait_dead(), 5)  # the watchdog read the clock, and died
        url = f"http://127.0.0.1:{health.port}/readyz"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            assert response.status == 503 and (await response.json())["unhealthy"] == ["watchdog"]
    finally:
        engine.open()
        await health.close()
        await runtime.close(cancel_running=True)
        await client.close()
