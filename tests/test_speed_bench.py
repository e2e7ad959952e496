"""``bench/speed.py --json`` has the documented shape; ``bench/gpu_check.sh --dry-run`` shows every step and its table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_speed_bench_json_has_every_tier_and_the_machine(tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "bench/speed.py", "--json", "--steps", "10", "--repeats", "1", "--size", "64"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert set(report) >= {"tiers", "machine"}
    assert list(report["tiers"]) == ["original", "fast", "turbo"]
    for figures in report["tiers"].values():
        assert {"unet_evals", "seconds", "unet_evals_ratio", "seconds_ratio", "full_unet_evals"} <= set(figures)
        assert figures["unet_evals"] > 0 and figures["seconds"] > 0
    tiers = report["tiers"]
    # 10 PNDM steps with CFG: 11 calls of 2 rows; fast: 20 DPM steps of 2 rows, the deep blocks every 3rd;
    # turbo: 8 steps without CFG.
    assert tiers["original"]["unet_evals"] == 22
    assert tiers["fast"]["unet_evals"] == 40 and tiers["fast"]["full_unet_evals"] == 14
    assert tiers["turbo"]["unet_evals"] == 8
    assert tiers["original"]["unet_evals_ratio"] == 1.0
    assert "torch" in report["machine"] and "python" in report["machine"]


def test_the_gpu_check_dry_run_lists_every_step_in_its_summary(tmp_path) -> None:
    done = subprocess.run(
        ["bash", "bench/gpu_check.sh", "--dry-run", "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    table = done.stdout.split("summary (", 1)[1]
    rows = {line.split()[0]: line for line in table.splitlines()[2:] if line.strip()}
    assert list(rows) == ["install", "cuda-tests", "upscale", "speed-full-size"]
    assert "pytest -q -m cuda" in table and "bench/speed.py --full-size" in table
    assert table.count("dry-run") == 4
    assert not (tmp_path / "speed.json").exists()
