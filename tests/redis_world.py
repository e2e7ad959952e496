"""The Redis backend's bench: a real redis-server per test, worker processes around it, runtimes over it.

``redis_server`` starts ``redis-server`` on a free loopback port with AOF persistence (fsync on
every write, so a SIGKILL loses nothing and a restart on the same folder finds everything).
``workers`` starts ``python -m fact_runtime worker`` processes running ``tests.remote_engine``
(or the tiny preset) and holds or releases their steps. ``redis_runtime`` builds the bot side.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from fact_runtime import JobHandle, JobResult, Progress, RedisRuntime
from fact_runtime.config import BrokerConfig, QueueConfig
from fact_runtime.executor.redis.sealing import KEY_ENV, Sealer, generate_key
from tests.remote_engine import TEST_PREFIX

ROOT = Path(__file__).resolve().parent.parent
#: Fast heartbeats, so losses and reclaims happen within a test's patience.
BROKER = BrokerConfig(heartbeat_s=0.2, lost_after_s=1.0)
#: The deployment key of every test's bot and workers (``redis_server`` puts it in the environment).
BROKER_KEY = generate_key()
SEALER = Sealer.from_text(BROKER_KEY, source="the tests' key")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """One redis-server process; ``kill`` and ``start`` again keep its port and its data folder."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory)]
        command += ["--appendonly", "yes", "--appendfsync", "always", "--save", "", "--logfile", "redis.log"]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = self.client()
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL: no shutdown save; the append-only file has every write already."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=5)


@pytest.fixture
def redis_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RedisServer]:
    monkeypatch.setenv(KEY_ENV, BROKER_KEY)  # the bot side reads it; worker processes inherit it
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed: `apt-get install redis-server` (.ci/run does it)")
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.kill()


class Workers:
    """Worker processes of one test, and the controls of their engines (``tests.remote_engine``)."""

    def __init__(self, server: RedisServer, tmp_path: Path) -> None:
        self.server = server
        self.tmp_path = tmp_path
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.config = tmp_path / "worker.yaml"
        self.write_config()

    def write_config(self, *, queue: dict[str, object] | None = None, **broker: object) -> None:
        """The workers' config.yaml: the tiny preset, 64 px and 3 steps, the test's broker timings, ``queue`` limits."""
        settings = {**BROKER.model_dump(), **broker}
        runtime = {
            "preset": "tiny",
            "cache_dir": str(self.tmp_path / "cache"),
            "styles_dir": str(self.tmp_path / "styles"),
            "templates_dir": str(self.tmp_path / "templates"),
            "generation": {"width": 64, "height": 64, "num_inference_steps": 3},
            "broker": settings,
            "queue": queue or {},
        }
        self.config.write_text(json.dumps({"runtime": runtime}), encoding="utf-8")  # JSON is YAML

    def start(
        self,
        name: str,
        *,
        engine: str | None = "tests.remote_engine:RemoteEngine",
        module: str = "fact_runtime",
        args: tuple[str, ...] = (),
        **env: str,
    ) -> subprocess.Popen[bytes]:
        """Start ``python -m <module> worker`` named ``name`` (``engine=None``: the real stack, tiny preset)."""
        command = [sys.executable, "-m", module, "worker", "--redis", self.server.url, "--name", name]
        command += ["--device", "cpu", "--config", str(self.config), *args]
        if engine is not None:
            command += ["--engine", engine]
        environment = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "OMP_NUM_THREADS": "1",
            "FACT_TEST_REDIS": self.server.url,
            "FACT_TEST_WORKER": name,
            **env,
        }
        log = (self.tmp_path / f"{name}.log").open("ab")
        process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT)
        self.processes[name] = process
        return process

    async def ready(self, *names: str, timeout: float = 30.0) -> None:
        """Wait until each named worker has announced itself."""
        client = self.server.client()
        await eventually(lambda: all(client.exists(f"fact:worker:{name}") for name in names), timeout=timeout)

    def log(self, name: str) -> str:
        return (self.tmp_path / f"{name}.log").read_text(encoding="utf-8", errors="replace")

    def release(self, seed: int, steps: int = 1) -> None:
        """Let ``steps`` more steps of the job with ``seed`` run, on whichever worker runs it."""
        self.server.client().rpush(f"{TEST_PREFIX}:gate:{seed}", *([b"1"] * steps))

    def open(self) -> None:
        """Stop gating: every step of every job runs."""
        self.server.client().set(f"{TEST_PREFIX}:gate:open", b"1")

    def runs(self) -> list[dict[str, Any]]:
        """Every run any worker started, in order: worker, user, seed, style."""
        return [json.loads(raw) for raw in self.server.client().lrange(f"{TEST_PREFIX}:runs", 0, -1)]

    def kill(self, name: str) -> None:
        """kill -9."""
        process = self.processes.pop(name)
        process.kill()
        process.wait()

    def terminate(self, name: str, *, timeout: float = 15.0) -> int:
        """SIGTERM, and the exit status once it has stopped."""
        process = self.processes.pop(name)
        process.send_signal(signal.SIGTERM)
        return process.wait(timeout)

    def close(self) -> None:
        for process in self.processes.values():
            process.kill()
            process.wait()
        self.processes.clear()


@pytest.fixture
def workers(redis_server: RedisServer, tmp_path: Path) -> Iterator[Workers]:
    bench = Workers(redis_server, tmp_path)
    yield bench
    bench.close()


RuntimeFactory = Callable[..., RedisRuntime]


def make_redis_runtime(server: RedisServer, **queue: Any) -> RedisRuntime:
    """The bot side over ``server``: the given queue bounds, the test's broker timings, 4 default steps."""
    return RedisRuntime(server.url, QueueConfig(**queue), broker=BROKER, default_steps=4)


@pytest.fixture
async def start_redis_runtime(redis_server: RedisServer) -> AsyncIterator[Callable[..., Any]]:
    """Start a RedisRuntime over the test's server; each is closed at teardown."""
    runtimes: list[RedisRuntime] = []

    async def start(**queue: Any) -> RedisRuntime:
        runtime = make_redis_runtime(redis_server, **queue)
        runtimes.append(runtime)
        await runtime.start()
        return runtime

    yield start
    for runtime in runtimes:
        await asyncio.wait_for(runtime.close(), 10)  # a hang here fails the test instead of the run


async def eventually(probe: Callable[[], object], *, timeout: float = 10.0) -> Any:
    """Poll ``probe`` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while not (value := probe()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{getattr(probe, '__name__', 'probe')} never held")
        await asyncio.sleep(0.02)
    return value


async def finished(handle: JobHandle, *, timeout: float = 15.0) -> JobResult:
    """The job's result (or its error raised), within ``timeout``."""
    return await asyncio.wait_for(handle.result(), timeout)


async def cancel_reached_redis(server: RedisServer, handle: JobHandle) -> None:
    """Wait until the cancel of a released job is in Redis (its marker and its control message)."""
    client = server.client()
    await eventually(lambda: client.exists(f"fact:cancelled:{handle.job_id}"))


Start = Callable[..., Any]


async def started(start: Start, workers: Workers, names: list[str], **queue: Any) -> RedisRuntime:
    """Start the named workers and a runtime, once it sees all of them ready."""
    for name in names:
        workers.start(name)
    runtime: RedisRuntime = await start(**queue)
    await eventually(lambda: runtime.fleet.capacity == len(names), timeout=30)
    return runtime


async def progress_at(handle: JobHandle, step: int) -> Progress:
    """Wait until the job reports ``step``."""
    async with asyncio.timeout(10):
        async for update in handle:
            if isinstance(update, Progress) and update.step >= step:
                return update
    raise AssertionError("the job ended first")
