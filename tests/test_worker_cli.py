"""``python -m fact_runtime worker``: bad start-up input is one line and exit 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _worker(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "fact_runtime", "worker", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)


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
