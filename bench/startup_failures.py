"""How long a server owner waits for the one-line answer to each start-up failure, and for a tiny portrait.

Each case runs the real command as a process, as a user does, and is timed from launch to exit:
- ``download`` with the hub unreachable (a closed loopback port as ``MODELSCOPE_ENDPOINT``),
- ``python -m bot`` whose token the fake Discord refuses (401), with no model on disk,
- ``python -m bot`` with the models missing (the token accepted),
- ``python -m fact_runtime portrait`` with a text file as the selfie (full preset, nothing on disk),
- ``python -m fact_runtime portrait --preset tiny`` end to end, for scale.

Run: ``python bench/startup_failures.py [--repeat 3]``; prints the median of each and the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import describe_machine
from tests.cli import REPO, Finished, arun_cli, cli_env, closed_port
from tests.fakediscord.harness import patched_discord
from tests.fakediscord.server import FakeDiscord


def _full_config(folder: Path) -> Path:
    text = (REPO / "config.yaml").read_text(encoding="utf-8")
    text = text.replace("cache_dir: cache/models", f"cache_dir: {folder / 'empty-cache'}")
    text = text.replace("styles_dir: styles", f"styles_dir: {REPO / 'styles'}")
    (folder / "config.yaml").write_text(text, encoding="utf-8")
    return folder / "config.yaml"


async def _timed(module: str, *args: str, env: dict[str, str]) -> tuple[float, Finished]:
    start = time.perf_counter()
    done = await arun_cli(module, *args, env=env)
    return time.perf_counter() - start, done


async def _cases(folder: Path, repeat: int) -> list[tuple[str, list[float], str]]:
    config = str(_full_config(folder))
    hub = cli_env(MODELSCOPE_ENDPOINT=f"http://127.0.0.1:{closed_port()}", FACT_RUNTIME__CACHE_DIR=str(folder / "x"))
    text = folder / "notes.txt"
    text.write_text("not a photo")
    results: list[tuple[str, list[float], str]] = []

    async def case(name: str, module: str, *args: str, env: dict[str, str], fake: FakeDiscord | None = None) -> None:
        times, last = [], None
        for _ in range(repeat):
            if fake is not None and name.startswith("bot: token"):
                fake.fail_next(401, route="get_me", code=0, message="401: Unauthorized")
            seconds, last = await _timed(module, *args, env=env)
            times.append(seconds)
        assert last is not None
        outcome = (last.error_lines or [f"exit {last.returncode}"])[0][:90]
        results.append((name, times, f"exit {last.returncode}: {outcome}"))

    await case("download: hub unreachable", "fact_runtime", "download", "--config", config, env=hub)
    fake = FakeDiscord()
    await fake.start()
    try:
        with patched_discord(fake):
            bot = cli_env(
                DISCORD_TOKEN="fake-bot-token",
                FACT_BOT__API_BASE_URL=fake.api_base,
                FACT_BOT__GATEWAY_URL=fake.ws_url,
                FACT_BOT__DATABASE=str(folder / "jobs.sqlite3"),
                FACT_BOT__IS_HEALTH_ENABLED="false",
            )
            await case("bot: token refused", "bot", "--config", config, env=bot, fake=fake)
            await case("bot: models missing", "bot", "--config", config, env=bot, fake=fake)
    finally:
        await fake.close()
    selfie = ("--selfie", str(text), "--style", "cheongsam", "--offline", "-o", str(folder / "out"))
    await case("portrait: text file as selfie", "fact_runtime", "portrait", *selfie, "--config", config, env=hub)
    tiny = ("--selfie", "templates/astronaut.jpg", "--style", "cheongsam", "--preset", "tiny", "--size", "64")
    await case("portrait: tiny preset, 10 steps", "fact_runtime", "portrait", *tiny, "--steps", "10",
               "-o", str(folder / "out"), env=cli_env())  # fmt: skip
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        results = asyncio.run(_cases(Path(folder), args.repeat))
    print(describe_machine())
    print(f"{'case':<34} {'median s':>9} {'min s':>7}  outcome")
    for name, times, outcome in results:
        print(f"{name:<34} {statistics.median(times):>9.2f} {min(times):>7.2f}  {outcome}")


if __name__ == "__main__":
    main()
