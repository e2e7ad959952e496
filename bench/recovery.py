"""Recovery from a wedged GPU: how fast a hung step is noticed, and how fast a restart runs the jobs it left.

The real bot (and its health endpoint) against the in-process fake Discord. A fake engine's first
step never returns; jobs of other members wait behind it. Prints:
- hung step -> its member told ``JobTimedOut`` (the step limit), -> ``/readyz`` and ``/healthz`` 503 (the hang limit),
- in-process restart (same job store, a fresh runtime and bot) -> first re-queued job running, -> all delivered,
- with ``--process``: a real ``python -m bot --preset tiny`` started on that job store -> gateway identified,
  -> first re-queued job running, -> all delivered (imports, tiny model warm-up and real tiny diffusion included).

Run: ``python bench/recovery.py [--step-s 0.5] [--hang-s 1.0] [--waiting 3] [--process]``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
from PIL import Image

from bench.machine import describe_machine
from bot.health import HealthServer
from fact_runtime.config import QueueConfig
from tests.fakediscord import FakeDiscord, FakeUser, patched_discord
from tests.fakediscord.process import BotProcess
from tests.fakes import FakeEngine
from tests.portrait_e2e import PortraitWorld, bot_settings

STYLE = "id: studio\nname: Studio\nbase_model: majicmix\nprompt: 'a portrait photo of {subject}, best quality'\n"
CONFIG = """runtime:
  preset: tiny
  styles_dir: styles
  cache_dir: cache
  generation: {width: 64, height: 64, num_inference_steps: 3}
bot:
  database: jobs.sqlite3
  is_health_enabled: false
"""


def selfie() -> bytes:
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buffer, format="PNG")
    return buffer.getvalue()


async def until(probe: Callable[[], object], *, period_s: float = 0.002, timeout_s: float = 300.0) -> float:
    """Poll ``probe`` (which may return an awaitable) until it is true; the time it first was."""
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        value = probe()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return time.perf_counter()
        await asyncio.sleep(period_s)
    raise TimeoutError(f"{probe} never became true")


def states(database: Path) -> list[str]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        return [row[0] for row in db.execute("SELECT state FROM jobs WHERE user_id != '401' ORDER BY created_at")]


async def wedge(fake: FakeDiscord, folder: Path, args: argparse.Namespace, photo: bytes) -> tuple[PortraitWorld, dict]:
    """A bot whose GPU hangs in its first step with ``args.waiting`` jobs queued behind; the times it took."""
    engines = iter([FakeEngine(is_gated=True), FakeEngine()])
    queue = QueueConfig(max_queued=50, step_timeout_s=args.step_s, hang_timeout_s=args.hang_s, close_timeout_s=0.5)
    world = PortraitWorld(fake, folder, lambda: next(engines), queue, bot_settings(folder))
    await world.start()
    health = HealthServer(
        world.bot, world.runtime, world.bot.counters, host="127.0.0.1", port=0, supervisor=world.bot.supervisor
    )
    await health.start()
    async with aiohttp.ClientSession() as session:

        async def status_is(path: str, expected: int) -> bool:
            async with session.get(f"http://127.0.0.1:{health.port}{path}") as response:
                return response.status == expected

        await until(lambda: status_is("/readyz", 200), period_s=0.01)  # once the gateway is ready
        hung = await world.portrait(photo, style="studio")
        started = await until(world.engine.started.is_set, period_s=0.0005)
        for number in range(args.waiting):
            await world.portrait(photo, style="studio", user=FakeUser(500 + number, f"member{number}"))
        await until(lambda: world.runtime.queue_depth == args.waiting)
        told = await until(
            lambda: any(m.token == hung.token and "too long" in m.content for m in fake.messages.values())
        )
        ready_red = await until(lambda: status_is("/readyz", 503))
        alive_red = await until(lambda: status_is("/healthz", 503))
    await health.close()
    return world, {"told": told - started, "readyz": ready_red - started, "healthz": alive_red - started}


async def restart_in_process(world: PortraitWorld, waiting: int) -> dict:
    await until(world.bot.is_closed)  # the bot closed itself when the runtime died
    begin = time.perf_counter()
    await world.stop()
    await world.start()
    running = await until(lambda: world.engine.runs)
    done = await until(lambda: states(world.settings.database).count("delivered") == waiting)
    await world.stop()
    return {"first running": running - begin, "all delivered": done - begin}


async def restart_as_process(fake: FakeDiscord, world: PortraitWorld, waiting: int) -> dict:
    await until(world.bot.is_closed)
    await world.stop()
    (world.tmp / "config.yaml").write_text(CONFIG)
    bot = BotProcess(fake, world.tmp / "config.yaml", log=world.tmp / "bot.log", token="bench-token")
    database = world.settings.database
    begin = time.perf_counter()
    starting = asyncio.create_task(bot.start(timeout=300))  # the bot re-queues before it identifies
    running = await until(lambda: {"running", "delivered"} & set(states(database)), period_s=0.01)
    identified = await until(starting.done, period_s=0.01)
    starting.result()
    done = await until(lambda: states(database).count("delivered") == waiting, period_s=0.05)
    await bot.stop()
    return {"identified": identified - begin, "first running": running - begin, "all delivered": done - begin}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step-s", type=float, default=0.5, help="queue.step_timeout_s")
    parser.add_argument("--hang-s", type=float, default=1.0, help="queue.hang_timeout_s")
    parser.add_argument("--waiting", type=int, default=3, help="jobs of other members queued behind the hung one")
    parser.add_argument("--process", action="store_true", help="also restart as a real python -m bot process")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # the bot's own warnings about the wedged worker are expected here
    photo = selfie()
    fake = FakeDiscord()
    await fake.start()
    fake.is_expired_token_a_violation = False
    try:
        with patched_discord(fake), tempfile.TemporaryDirectory() as folder:
            runs = [Path(folder) / "in-process", Path(folder) / "process"][: 1 + args.process]
            for run in runs:
                (run / "styles").mkdir(parents=True)
                (run / "styles" / "studio.yaml").write_text(STYLE)
            world, noticed = await wedge(fake, runs[0], args, photo)
            print(
                f"limits: step {args.step_s:g} s, hang {args.hang_s:g} s; {args.waiting} jobs waiting behind the hung one"
            )
            print(f"hung step -> member told JobTimedOut: {noticed['told']:.3f} s")
            print(f"hung step -> /readyz 503: {noticed['readyz']:.3f} s, /healthz 503: {noticed['healthz']:.3f} s")
            restarted = await restart_in_process(world, args.waiting)
            print(
                f"in-process restart -> first re-queued job running: {restarted['first running']:.3f} s, "
                f"all {args.waiting} delivered: {restarted['all delivered']:.3f} s"
            )
            if args.process:
                world, _ = await wedge(fake, runs[1], args, photo)
                process = await restart_as_process(fake, world, args.waiting)
                print(
                    f"process restart (python -m bot, tiny preset) -> identified: {process['identified']:.2f} s, "
                    f"first re-queued job running: {process['first running']:.2f} s, "
                    f"all {args.waiting} delivered: {process['all delivered']:.2f} s"
                )
    finally:
        await fake.close()
    print(describe_machine())


if __name__ == "__main__":
    asyncio.run(main())
