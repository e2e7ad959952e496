"""The bot as a child process pointed at the fake Discord: what a deployment runs, and what SIGKILL can stop.

``python -m tests.fakediscord.process API_BASE WS_URL [python -m bot arguments]`` makes the same
redirects as ``patched_discord`` and then runs ``python -m bot``'s ``main`` unchanged.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .server import FakeDiscord

REPO = Path(__file__).resolve().parents[2]


class BotProcess:
    """One ``python -m bot`` process talking to `fake`, its output (stdout and stderr) in `log`.

    Parameters
    ----------
    fake:
        The running fake Discord.
    config:
        The config.yaml the bot reads.
    token:
        Its DISCORD_TOKEN.
    is_verbose:
        Run with ``-v`` (debug logging).
    """

    def __init__(self, fake: FakeDiscord, config: Path, *, log: Path, token: str, is_verbose: bool = False) -> None:
        self.fake = fake
        self.config = config
        self.log = log
        self.token = token
        self.is_verbose = is_verbose
        self.process: asyncio.subprocess.Process | None = None

    async def start(self, *, timeout: float = 120.0) -> None:
        """Spawn the bot and wait until it has identified on the fake gateway (its recovery has run by then)."""
        gateway = self.fake.gateway
        identified = gateway.identify_count
        env = {**os.environ, "DISCORD_TOKEN": self.token, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO)}
        arguments = [self.fake.api_base, self.fake.ws_url, "--config", str(self.config)]
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.fakediscord.process",
                *arguments,
                *(["-v"] if self.is_verbose else []),
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )

        def probe() -> bool:
            if self.process is not None and self.process.returncode is not None:
                raise RuntimeError(f"the bot exited with {self.process.returncode}:\n{self.output()[-3000:]}")
            return gateway.identify_count > identified and bool(gateway.sessions)

        await self.fake.wait_for(probe, timeout=timeout)

    async def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed or closed; then wait until the fake saw the socket go."""
        assert self.process is not None
        self.process.kill()
        await self.process.wait()
        await self.fake.wait_for(lambda: not self.fake.gateway.sessions)

    async def stop(self, *, timeout: float = 60.0) -> int:
        """SIGTERM (what ``docker stop`` sends) and the exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), timeout)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""


def main(argv: list[str]) -> int:
    """Redirect discord.py to the fake, then run the bot's own entry point with the rest of ``argv``."""
    import yarl
    from discord.gateway import DiscordWebSocket
    from discord.http import Route

    from bot.__main__ import main as bot_main

    api_base, ws_url, *bot_arguments = argv
    Route.BASE = api_base
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(ws_url)
    return bot_main(bot_arguments)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
