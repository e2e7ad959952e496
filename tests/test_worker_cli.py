"""``python -m fact_runtime worker``: bad start-up input is one line and exit 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fact_runtime.executor.redis.sealing import KEY_ENV, Sealer

ROOT = Path(__file__).resolve().parents[1]
KEY = "x" * 43  # 32 bytes in URL-safe base64


def _worker(*args: str, key: str | None = KEY) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "fact_runtime", "worker", *args]
    env = {name: value for name, value in os.environ.items() if name != KEY_ENV}
    if key is not None:
        env[KEY_ENV] = key
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)


def test_the_worker_command_documents_its_options() -> None:
    done = _worker("--help")
    assert done.returncode == 0
    for option in ("--redis", "--name", "--device", "--on-sigterm", "--health-port", "--engine"):
        assert option in done.stdout


def test_an_invalid_config_an_engine_that_does_not_import_and_a_bad_url_are_one_line(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("runtime:\n  preset: tiny\n  broker: {heartbeat_s: 0}\n")
    done = _worker("--config", str(config))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "runtime.broker.heartbeat_s" in done.stderr

    config.write_text("runtime:\n  preset: tiny\n")
    done = _worker("--config", str(config), "--engine", "tests.nowhere:Engine")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: --engine tests.nowhere:Engine: No module named 'tests.nowhere'")

    done = _worker("--config", str(config), "--engine", "tests.fakes:FakeEngine", "--redis", "http://localhost")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: Redis URL must specify one of the following schemes")


def test_a_worker_without_a_broker_key_refuses_to_start_saying_how_to_make_one(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("runtime:\n  preset: tiny\n")
    done = _worker("--config", str(config), "--engine", "tests.fakes:FakeEngine", key=None)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "FACT_BROKER_KEY" in done.stderr and "python -m fact_runtime broker-key" in done.stderr

    done = _worker("--config", str(config), "--engine", "tests.fakes:FakeEngine", key="too short")
    assert done.returncode == 2 and "FACT_BROKER_KEY is not a broker key" in done.stderr

    key_file = tmp_path / "broker.key"
    key_file.write_text("short\n")
    config.write_text(f"runtime:\n  preset: tiny\n  broker: {{key_file: {key_file}}}\n")
    done = _worker("--config", str(config), "--engine", "tests.fakes:FakeEngine", key=None)
    assert done.returncode == 2 and f"runtime.broker.key_file {key_file}" in done.stderr


def test_broker_key_prints_a_new_key_each_time() -> None:
    command = [sys.executable, "-m", "fact_runtime", "broker-key"]
    first, second = (subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60) for _ in "ab")
    assert first.returncode == second.returncode == 0
    assert first.stdout != second.stdout
    assert Sealer.from_text(first.stdout, source="stdout").fingerprint  # a usable key, newline and all
