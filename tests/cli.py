"""Running ``python -m bot`` and ``python -m fact_runtime`` as a user does: a real process, its exit code and output."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True, slots=True)
class Finished:
    returncode: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        """The ``error:`` lines on stderr (a start-up failure prints exactly one)."""
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]


def cli_env(**extra: str) -> dict[str, str]:
    """The test's (isolated) environment plus ``extra``; the checkout is importable from any working folder."""
    return {**os.environ, "PYTHONPATH": str(REPO), **extra}


def run_cli(module: str, *args: str, env: dict[str, str] | None = None, cwd: Path = REPO) -> Finished:
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=env or cli_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    return Finished(done.returncode, done.stdout, done.stderr)


async def arun_cli(module: str, *args: str, env: dict[str, str] | None = None, cwd: Path = REPO) -> Finished:
    """``run_cli`` without blocking the event loop, so in-process fakes (the fake Discord) keep serving."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        *args,
        cwd=cwd,
        env=env or cli_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 180)
    assert process.returncode is not None
    return Finished(process.returncode, stdout.decode(), stderr.decode())


def closed_port() -> int:
    """A loopback port that was free a moment ago and that nothing listens on: connections are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
