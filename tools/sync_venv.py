"""Create or refresh the virtual environment from the lock, only when the lock changed (``make venv``).

The environment records which lock file it was installed from and that file's hash; a run with the
same lock does nothing, a changed lock installs the difference and removes what the lock dropped, and
another torch build (``cpu`` <-> ``cuda``) starts a new environment, since pip takes ``2.13.0+cpu``
as satisfying ``torch==2.13.0``. Standard library only: it runs before any dependency is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAMP = ".fact-lock"
#: Packages installed without their declared dependencies (the file says why).
NO_DEPS = ROOT / "requirements" / "no-deps.txt"
# Installed by venv itself, never in a lock.
KEPT = {"pip"}


def _canonical(name: str) -> str:
    """A distribution name as PEP 503 compares them: discord.py, discord_py and Discord-Py are one."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _installed(python: Path) -> set[str]:
    listed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
        check=True,
        capture_output=True,
        text=True,
    )
    return {_canonical(entry["name"]) for entry in json.loads(listed.stdout)}


def _locked_names(lock: Path) -> set[str]:
    names = set()
    for line in lock.read_text(encoding="utf-8").splitlines():
        if line and not line[0].isspace() and not line.startswith("#") and "==" in line:
            names.add(_canonical(line.split("==", 1)[0]))
    return names


def sync(build: str, target: Path, torch_wheels: str) -> None:
    lock = ROOT / "requirements" / f"{build}-test.txt"
    digest = hashlib.sha256(lock.read_bytes() + NO_DEPS.read_bytes()).hexdigest()
    wanted = f"{lock.name} {digest}"
    stamp = target / STAMP
    python = target / "bin" / "python"
    recorded = stamp.read_text(encoding="utf-8").strip() if stamp.exists() else ""
    if recorded == wanted and python.exists():
        return
    if target.exists() and (not python.exists() or (recorded and recorded.split()[0] != lock.name)):
        print(f"{target}: another torch build or a broken environment; making a new one", flush=True)
        shutil.rmtree(target)
    if not python.exists():
        print(f"{target}: creating it", flush=True)
        venv.create(target, with_pip=True)
    print(f"{target}: installing {lock.relative_to(ROOT)}", flush=True)
    wheels = ["--find-links", torch_wheels] if build == "cpu" else []
    install = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--require-hashes"]
    subprocess.run([*install, *wheels, "-r", str(lock)], check=True)
    subprocess.run([*install, "--no-deps", "-r", str(NO_DEPS)], check=True)
    extra = _installed(python) - _locked_names(lock) - _locked_names(NO_DEPS) - KEPT
    if extra:
        print(f"{target}: removing what the lock no longer has: {', '.join(sorted(extra))}", flush=True)
        subprocess.run([str(python), "-m", "pip", "uninstall", "--quiet", "--yes", *sorted(extra)], check=True)
    stamp.write_text(wanted + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 tools/sync_venv.py", description=__doc__.splitlines()[0])
    parser.add_argument("--torch", choices=("cpu", "cuda"), default="cpu", help="which torch build (default: cpu)")
    parser.add_argument("--venv", type=Path, default=ROOT / ".venv", help="the environment's folder")
    parser.add_argument("--torch-wheels", required=True, help="where pip finds the CPU torch wheel (a URL or folder)")
    args = parser.parse_args(argv)
    try:
        sync(args.torch, args.venv.resolve(), args.torch_wheels)
    except subprocess.CalledProcessError as exc:
        print(f"error: `{' '.join(exc.cmd[:5])} …` failed (its message is above); fix that, then run make again")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
