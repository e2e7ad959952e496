"""Write the lock files in ``requirements/`` from pyproject.toml (``make lock``) and read them back (the tests).

Each torch build (``cpu``, ``cuda``) gets three files, all pinned with hashes by ``uv pip compile``:
``<build>.txt`` (the runtime, what the image installs), ``<build>-test.txt`` (runtime and the ``test``
extra, pinned to the same versions; what ``make test`` and CI install) and ``<build>-torch.txt`` (torch
and what it needs, cut from ``<build>.txt``: the image's torch layer). Versions already locked are kept
unless ``--upgrade``; the header records a hash of the dependency lists, so a test notices a pyproject
edit that was not locked.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK_DIR = ROOT / "requirements"
TORCH_VERSION = "2.13.0"
# cpu: PyTorch's own CPU wheel (no CUDA libraries); cuda: the PyPI wheel, built for CUDA 13 with the nvidia-* wheels.
TORCH_PINS = {"cpu": f"torch=={TORCH_VERSION}+cpu", "cuda": f"torch=={TORCH_VERSION}"}
CPU_TORCH_WHEELS = "https://download.pytorch.org/whl/cpu/torch/"
# The image and CI are Linux x86-64 with CPython 3.11 (the image's base), whatever machine locks.
TARGET = ("--python-version", "3.11", "--python-platform", "x86_64-manylinux_2_28")
HASH_LINE = "# dependencies-sha256: "
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def dependency_hash(pyproject: Path, build: str) -> str:
    """A hash of what the lock is made from: the runtime and test requirements and the torch pin."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    made_from = {
        "dependencies": sorted(project["dependencies"]),
        "test": sorted(project["optional-dependencies"]["test"]),
        "torch": TORCH_PINS[build],
    }
    return hashlib.sha256(json.dumps(made_from, sort_keys=True).encode()).hexdigest()


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_entries(lock: Path) -> dict[str, tuple[str, list[str]]]:
    """Canonical name -> (the entry's text with its hashes and annotations, the names it is required via)."""
    entries: dict[str, tuple[str, list[str]]] = {}
    name, lines, via = "", [], []
    for line in lock.read_text(encoding="utf-8").splitlines():
        pin = _PIN.match(line)
        if pin:
            if name:
                entries[name] = ("\n".join(lines), via)
            name, lines, via = canonical(pin[1]), [line], []
        elif name:
            lines.append(line)
            reason = line.strip().removeprefix("#").strip()
            if reason.startswith("via "):
                via.append(reason.removeprefix("via "))
            elif line.startswith("    #   "):
                via.append(reason)
    if name:
        entries[name] = ("\n".join(lines), via)
    return entries


def pins(lock: Path) -> dict[str, str]:
    """Canonical name -> exact version, for every entry of a lock file."""
    versions = {}
    for name, (text, _) in read_entries(lock).items():
        pin = _PIN.match(text)
        assert pin is not None  # read_entries starts every entry at a pin
        versions[name] = pin[2]
    return versions


def torch_closure(lock: Path) -> list[str]:
    """torch and every entry torch needs, directly or not, in lock order."""
    entries = read_entries(lock)
    wanted, frontier = {"torch"}, ["torch"]
    while frontier:
        parent = frontier.pop()
        for name, (_, via) in entries.items():
            if name not in wanted and any(canonical(reason) == parent for reason in via):
                wanted.add(name)
                frontier.append(name)
    return [text for name, (text, _) in entries.items() if name in wanted]


def _header(build: str, what: str) -> str:
    return (
        f"# {what}, torch build '{build}'. Written by `make lock` (tools/lock.py) from pyproject.toml: do not edit.\n"
        f"{HASH_LINE}{dependency_hash(ROOT / 'pyproject.toml', build)}\n"
    )


def _compile(build: str, output: Path, *extra: str, torch_wheels: str, is_upgrade: bool) -> None:
    pin_file = (LOCK_DIR / f".{build}-torch-pin.in").relative_to(ROOT)
    (ROOT / pin_file).write_text(TORCH_PINS[build] + "\n", encoding="utf-8")
    wheels = ("--find-links", torch_wheels) if build == "cpu" else ()
    command = [sys.executable, "-m", "uv", "pip", "compile", "pyproject.toml", *extra, "-c", str(pin_file)]
    command += [
        *wheels,
        *TARGET,
        "--no-config",
        "--generate-hashes",
        "--no-header",
        "--quiet",
        "-o",
        str(output.relative_to(ROOT)),
    ]
    command += ["--upgrade"] if is_upgrade else []
    try:
        subprocess.run(command, cwd=ROOT, check=True)
    finally:
        (ROOT / pin_file).unlink()
    body = output.read_text(encoding="utf-8").replace(f"-c {pin_file}", "torch build pin")
    output.write_text(body, encoding="utf-8")


def _strip_header(path: Path) -> None:
    """Drop a previous header, so uv reads the file as the versions to keep."""
    if path.exists():
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        path.write_text("".join(line for line in lines if not line.startswith("#")), encoding="utf-8")


def lock(build: str, *, torch_wheels: str, is_upgrade: bool) -> None:
    runtime, test, torch = (LOCK_DIR / f"{build}{suffix}.txt" for suffix in ("", "-test", "-torch"))
    for path in (runtime, test):
        _strip_header(path)
    _compile(build, runtime, torch_wheels=torch_wheels, is_upgrade=is_upgrade)
    # The test lock is held to the runtime lock's versions, so tests run what the image ships.
    _compile(
        build,
        test,
        "--extra",
        "test",
        "-c",
        str(runtime.relative_to(ROOT)),
        torch_wheels=torch_wheels,
        is_upgrade=False,
    )
    test.write_text(_header(build, "Runtime and test dependencies") + test.read_text(encoding="utf-8"))
    torch.write_text(_header(build, "torch and what it needs") + "\n".join(torch_closure(runtime)) + "\n")
    runtime.write_text(_header(build, "Runtime dependencies") + runtime.read_text(encoding="utf-8"))
    print(f"locked {build}: {len(pins(runtime))} runtime, {len(pins(test))} with tests, {len(pins(torch))} for torch")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/lock.py", description=__doc__.splitlines()[0])
    parser.add_argument("builds", nargs="*", choices=[*sorted(TORCH_PINS), []], help="default: all")
    parser.add_argument("--upgrade", action="store_true", help="take the newest allowed versions, not the locked ones")
    parser.add_argument(
        "--torch-wheels", default=CPU_TORCH_WHEELS, help=f"where the CPU torch wheel is (default: {CPU_TORCH_WHEELS})"
    )
    args = parser.parse_args(argv)
    LOCK_DIR.mkdir(exist_ok=True)
    try:
        for build in args.builds or sorted(TORCH_PINS):
            lock(build, torch_wheels=args.torch_wheels, is_upgrade=args.upgrade)
    except subprocess.CalledProcessError:
        print("error: uv could not lock the dependencies (its message is above); fix pyproject.toml or the network")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
