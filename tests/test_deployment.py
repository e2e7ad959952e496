"""The image and the compose files, checked on their text (docker/smoke.sh runs them on a real engine), and the
entrypoint run for real."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli import REPO, cli_env, closed_port

DOCKERFILE = (REPO / "Dockerfile").read_text(encoding="utf-8")
BUILDS = ("cpu", "cuda")


class Reset:
    """Compose's ``!reset`` tag: the attribute is removed from the merged model."""


class ComposeLoader(yaml.SafeLoader):
    pass


ComposeLoader.add_constructor("!reset", lambda loader, node: Reset())


def compose(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load((REPO / name).read_text(encoding="utf-8"), Loader=ComposeLoader)
    return loaded


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per Dockerfile line, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE)
    lines = [line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def test_the_image_is_slim_python_with_torchs_own_cuda_and_no_cuda_base() -> None:
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", DOCKERFILE, flags=re.M))
    assert args["PYTHON_IMAGE"].startswith("python:3.11-slim") and args["TORCH"] == "cuda"
    installs = " ".join(value for name, value in _instructions() if name == "RUN")
    assert "nvidia/cuda" not in DOCKERFILE and not re.search(r"cuda|cudnn", installs, re.I)
    assert [value for name, value in _instructions() if name == "FROM"] == ["${PYTHON_IMAGE}"]
    # A `# syntax=` line makes every BuildKit build ask Docker Hub for a frontend first.
    assert not re.search(r"^#\s*syntax\s*=", DOCKERFILE, flags=re.M | re.I)


def test_torch_then_the_other_locked_dependencies_then_the_code_each_in_its_own_layer() -> None:
    steps = _instructions()
    copies = [(index, value) for index, (name, value) in enumerate(steps) if name == "COPY"]
    pip_runs = [index for index, (name, value) in enumerate(steps) if name == "RUN" and "pip install" in value]
    torch_copy, deps_copy, *code = copies
    assert torch_copy[1].startswith("requirements/${TORCH}-torch.txt ")
    assert deps_copy[1].startswith("requirements/${TORCH}.txt ")
    assert torch_copy[0] < pip_runs[0] < deps_copy[0] < pip_runs[1] < code[0][0] and len(pip_runs) == 2
    assert {value.split()[0] for _, value in code} >= {"fact_runtime", "bot", "config.yaml", "docker/entrypoint.sh"}
    for index in pip_runs:
        assert "--require-hashes" in steps[index][1]  # every package checked against the lock
    assert "pyproject.toml" not in DOCKERFILE  # a lint setting never reinstalls the dependencies


@pytest.mark.parametrize("build", BUILDS)
def test_every_lock_file_the_image_names_exists(build: str) -> None:
    for name in (f"{build}-torch.txt", f"{build}.txt"):
        assert (REPO / "requirements" / name).is_file()


def test_the_code_belongs_to_root_and_the_runtime_user_has_a_writable_home() -> None:
    steps = _instructions()
    assert not any("--chown" in value for name, value in steps if name == "COPY")
    user = next(index for index, (name, _) in enumerate(steps) if name == "USER")
    assert steps[user][1] == "fact" and all(name != "COPY" for name, _ in steps[user:])
    setup = next(value for name, value in steps if name == "RUN" and "useradd" in value)
    assert "--home-dir /home/fact --create-home" in setup
    assert "chown fact:fact /home/fact/.cache /app/data /app/cache" in setup
    env = " ".join(value for name, value in steps if name == "ENV")
    assert "HOME=/home/fact" in env and "XDG_CACHE_HOME=/home/fact/.cache" in env


def test_the_healthcheck_goes_through_the_entrypoint_that_knows_which_process_runs() -> None:
    (healthcheck,) = [value for name, value in _instructions() if name == "HEALTHCHECK"]
    assert healthcheck.endswith('CMD ["/app/docker/entrypoint.sh", "healthcheck"]')
    assert not re.search(r"\b(8080|9100)\b", healthcheck)


def test_compose_runs_the_bot_with_its_token_volumes_and_gpu() -> None:
    bot = compose("compose.yaml")["services"]["bot"]
    assert bot["build"] == {"context": ".", "args": {"TORCH": "${TORCH:-cuda}"}}
    assert {"models:/app/cache", "data:/app/data"} <= set(bot["volumes"])
    assert bot["environment"]["DISCORD_TOKEN"] == "${DISCORD_TOKEN:-}"  # never a value in the file
    assert bot["environment"]["FACT_BOT__HEALTH_PORT"] in bot["ports"][0]
    (gpu,) = bot["deploy"]["resources"]["reservations"]["devices"]
    assert gpu["capabilities"] == ["gpu"] and "profiles" not in bot


def test_the_redis_file_adds_redis_and_one_worker_per_gpu_without_a_token_and_takes_the_bots_gpu() -> None:
    services = compose("compose.redis.yaml")["services"]
    bot = services["bot"]
    assert isinstance(bot["deploy"], Reset)  # it runs no model
    key = "${FACT_BROKER_KEY:?set FACT_BROKER_KEY; python -m fact_runtime broker-key makes one}"
    assert bot["environment"] == {
        "FACT_RUNTIME__BACKEND": "redis",
        "FACT_RUNTIME__REDIS_URL": "redis://redis:6379/0",
        "FACT_BROKER_KEY": key,  # from the host's environment, never a value in the file
    }
    redis = services["redis"]
    assert "--appendonly" in redis["command"] and redis["volumes"] == ["redis:/data"]
    workers = {name: service for name, service in services.items() if name.startswith("worker-")}
    names, gpus = [], []
    for service in workers.values():
        assert service["environment"] == {"FACT_BROKER_KEY": key}  # the same key as the bot; no DISCORD_TOKEN
        assert service["command"][:3] == ["worker", "--redis", "redis://redis:6379/0"]
        names.append(service["command"][service["command"].index("--name") + 1])
        (gpu,) = service["deploy"]["resources"]["reservations"]["devices"]
        gpus.append(tuple(gpu["device_ids"]))
    assert len(workers) >= 2 and len(set(names)) == len(names) == len(set(gpus))  # one name and one GPU each


def test_the_entrypoint_sends_runtime_commands_to_fact_runtime_and_the_rest_to_the_bot(tmp_path: Path) -> None:
    env = _entrypoint_env(tmp_path)
    styles = _entrypoint("styles", "cheongsam", env=env)
    assert styles.returncode == 0, styles.stderr
    assert styles.stdout.splitlines()[1].startswith("cheongsam  Cheongsam")
    leading = _entrypoint("-v", "styles", "cheongsam", env=env)  # options before the command
    assert leading.returncode == 0 and leading.stdout == styles.stdout
    moved = _entrypoint("--config", str(REPO / "config.yaml"), "templates", env=env)
    assert moved.returncode == 0 and "astronaut" in moved.stdout
    bot = _entrypoint("--preset", "tiny", "sync", "--help", env=env)
    assert bot.returncode == 0 and bot.stdout.startswith("usage: python -m bot sync")
    worker = _entrypoint("worker", "--help", env=env)
    assert worker.returncode == 0 and "--redis URL" in worker.stdout
    # A worker started without a health port gets one, and the HEALTHCHECK is told where it is.
    assert (tmp_path / "worker-health").read_text().strip() == "http://127.0.0.1:9100/healthz"


def test_the_healthcheck_probes_the_bot_or_the_worker_this_container_runs(tmp_path: Path) -> None:
    env = _entrypoint_env(tmp_path, FACT_BOT__HEALTH_PORT=str(closed_port()))
    bot = _entrypoint("healthcheck", env=env)
    assert bot.returncode == 1 and bot.stderr.startswith("unhealthy: http://127.0.0.1:")
    with _answering(200) as port:
        worker = _entrypoint("-v", "worker", "--help", "--health-port", str(port), env=env)
        assert worker.returncode == 0
        assert _entrypoint("healthcheck", env=env).returncode == 0  # the worker's port, not the bot's
    with _answering(503) as port:
        _entrypoint("worker", "--help", f"--health-port={port}", env=env)
        sick = _entrypoint("healthcheck", env=env)
    assert sick.returncode == 1 and sick.stderr.strip().startswith(f"unhealthy: http://127.0.0.1:{port}/healthz (")


def _entrypoint_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    # A wrapper, not a link: a link to a virtual environment's python loses the environment.
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (bin_dir / "python").chmod(0o755)
    path = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    return cli_env(PATH=path, FACT_WORKER_HEALTH_FILE=str(tmp_path / "worker-health"), **extra)


def _entrypoint(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    entrypoint = str(REPO / "docker" / "entrypoint.sh")
    return subprocess.run(["sh", entrypoint, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def _answering(status: int) -> Iterator[int]:
    """A loopback HTTP server answering every GET with ``status``; yields its port."""
    server = HTTPServer(("127.0.0.1", 0), type("Handler", (_Health,), {"status": status}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
