"""The image and compose.yaml, checked on their text (no Docker engine here) and their helper scripts run for real."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

from tests.cli import REPO, cli_env, closed_port

DOCKERFILE = (REPO / "Dockerfile").read_text(encoding="utf-8")


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per Dockerfile line, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE)
    lines = [line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def test_the_image_is_slim_python_with_torchs_own_cuda_and_no_cuda_base() -> None:
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", DOCKERFILE, flags=re.M))
    assert args["PYTHON_IMAGE"].startswith("python:3.11-slim")
    installs = " ".join(value for name, value in _instructions() if name == "RUN")
    assert "nvidia/cuda" not in DOCKERFILE and not re.search(r"cuda|cudnn", installs, re.I)
    assert args["TORCH_INDEX"].startswith("https://download.pytorch.org/whl/cu")
    froms = [value for name, value in _instructions() if name == "FROM"]
    assert all(value.startswith(("${PYTHON_IMAGE}", "base")) for value in froms), froms


def test_dependencies_are_installed_in_layers_before_the_code_is_copied() -> None:
    steps = _instructions()
    position = {f"{name} {value}": index for index, (name, value) in enumerate(steps)}
    torch = next(i for s, i in position.items() if s.startswith('RUN pip install "torch=='))
    deps = next(i for s, i in position.items() if "pip install -r" in s)
    code = [
        i
        for s, i in position.items()
        if s.startswith(("COPY --chown=fact:fact fact_runtime", "COPY --chown=fact:fact bot"))
    ]
    pyproject = next(i for s, i in position.items() if s.startswith("COPY pyproject.toml"))
    assert torch < pyproject < deps < min(code)
    # Only pyproject.toml (and the script reading it) reaches the dependency layer.
    assert [v for n, v in steps[: min(code)] if n == "COPY" and "pyproject" in v] == [
        "pyproject.toml docker/requirements.py /tmp/build/"
    ]


def test_the_dependency_layer_installs_exactly_the_projects_dependencies_but_torch() -> None:
    done = subprocess.run(
        [sys.executable, "docker/requirements.py", "pyproject.toml"], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert done.stdout.split("\n")[:-1] == [dep for dep in declared if not dep.startswith("torch")]
    assert any(dep.startswith("torch") for dep in declared) and "pydantic-settings" in done.stdout


def test_the_healthcheck_reads_the_port_from_the_settings() -> None:
    (healthcheck,) = [value for name, value in _instructions() if name == "HEALTHCHECK"]
    assert healthcheck.endswith('CMD ["python", "-m", "bot", "healthcheck"]')
    assert not re.search(r"\b8080\b", healthcheck)


def test_compose_runs_the_bot_with_its_volumes_health_check_and_gpu() -> None:
    compose = yaml.safe_load((REPO / "compose.yaml").read_text(encoding="utf-8"))
    bot = compose["services"]["bot"]
    assert bot["build"] == "." and set(compose["volumes"]) == {"models", "data", "redis"}
    assert {"models:/app/cache", "data:/app/data"} <= set(bot["volumes"])
    assert bot["healthcheck"]["test"] == ["CMD", "python", "-m", "bot", "healthcheck"]
    assert bot["environment"]["DISCORD_TOKEN"] == "${DISCORD_TOKEN:-}"  # never a value in the file
    assert bot["environment"]["FACT_BOT__HEALTH_PORT"] in bot["ports"][0]
    (gpu,) = bot["deploy"]["resources"]["reservations"]["devices"]
    assert gpu["capabilities"] == ["gpu"]
    # The shared block other services (a worker profile) can reuse.
    assert compose["x-fact"]["image"] == bot["image"]


def test_the_redis_profile_adds_a_persistent_redis_and_one_worker_per_gpu() -> None:
    compose = yaml.safe_load((REPO / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert "profiles" not in services["bot"]  # `docker compose up -d` is still the one-GPU bot
    assert services["bot"]["environment"]["FACT_RUNTIME__BACKEND"] == "${FACT_RUNTIME__BACKEND:-local}"
    assert services["bot"]["environment"]["FACT_RUNTIME__REDIS_URL"] == "redis://redis:6379/0"
    redis = services["redis"]
    assert redis["profiles"] == ["redis"] and "--appendonly" in redis["command"] and redis["volumes"] == ["redis:/data"]
    workers = {name: service for name, service in services.items() if name.startswith("worker-")}
    assert len(workers) >= 2
    names, gpus = [], []
    for service in workers.values():
        assert service["profiles"] == ["redis"] and service["command"][:3] == [
            "worker",
            "--redis",
            "redis://redis:6379/0",
        ]
        names.append(service["command"][service["command"].index("--name") + 1])
        (gpu,) = service["deploy"]["resources"]["reservations"]["devices"]
        gpus.append(tuple(gpu["device_ids"]))
    assert len(set(names)) == len(names) and len(set(gpus)) == len(gpus)  # one name and one GPU each


def test_the_entrypoint_sends_runtime_commands_to_fact_runtime_and_the_rest_to_the_bot(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # A wrapper, not a link: a link to a virtual environment's python loses the environment.
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (bin_dir / "python").chmod(0o755)
    env = cli_env(PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    entrypoint = str(REPO / "docker" / "entrypoint.sh")

    styles = subprocess.run(
        ["sh", entrypoint, "styles", "cheongsam"], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert styles.returncode == 0, styles.stderr
    assert styles.stdout.splitlines()[1].startswith("cheongsam  Cheongsam")
    worker = subprocess.run(["sh", entrypoint, "worker", "--help"], cwd=REPO, env=env, capture_output=True, text=True)
    assert worker.returncode == 0 and "--redis URL" in worker.stdout
    env["FACT_BOT__HEALTH_PORT"] = str(closed_port())
    health = subprocess.run(["sh", entrypoint, "healthcheck"], cwd=REPO, env=env, capture_output=True, text=True)
    assert health.returncode == 1 and health.stderr.startswith("unhealthy: http://127.0.0.1:")
