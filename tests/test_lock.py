"""The lock files agree with pyproject.toml: every requirement pinned within its range, with hashes, and locked since
the last edit of the dependency lists (otherwise: run `make lock`)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.cli import REPO
from tools.lock import HASH_LINE, TORCH_PINS, canonical, dependency_hash, pins, read_entries, torch_closure

LOCKS = REPO / "requirements"
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
BUILDS = sorted(TORCH_PINS)


def _requirements(*, is_test: bool) -> list[Requirement]:
    declared = PROJECT["dependencies"] + (PROJECT["optional-dependencies"]["test"] if is_test else [])
    return [Requirement(line) for line in declared]


@pytest.mark.parametrize("name", [f"{build}{suffix}.txt" for build in BUILDS for suffix in ("", "-test", "-torch")])
def test_every_lock_was_written_from_the_current_dependency_lists(name: str) -> None:
    build = name.split("-")[0].removesuffix(".txt")
    recorded = [line for line in (LOCKS / name).read_text().splitlines() if line.startswith(HASH_LINE)]
    assert recorded == [HASH_LINE + dependency_hash(REPO / "pyproject.toml", build)], "run `make lock`"


@pytest.mark.parametrize(("build", "is_test"), [(build, is_test) for build in BUILDS for is_test in (False, True)])
def test_every_requirement_is_pinned_within_its_range_with_hashes(build: str, is_test: bool) -> None:
    lock = LOCKS / f"{build}{'-test' if is_test else ''}.txt"
    locked = pins(lock)
    for requirement in _requirements(is_test=is_test):
        if requirement.marker is not None and not requirement.marker.evaluate({"python_version": "3.11"}):
            continue
        version = locked.get(canonical(requirement.name))
        assert version is not None, f"{requirement.name} is not in {lock.name}: run `make lock`"
        assert requirement.specifier.contains(version, prereleases=True), f"{requirement} but {lock.name} has {version}"
    for name, (text, _) in read_entries(lock).items():
        assert "--hash=sha256:" in text, f"{name} has no hash in {lock.name}"


@pytest.mark.parametrize("build", BUILDS)
def test_the_test_lock_and_the_torch_layer_hold_the_runtime_locks_versions(build: str) -> None:
    runtime = pins(LOCKS / f"{build}.txt")
    with_tests = pins(LOCKS / f"{build}-test.txt")
    torch = pins(LOCKS / f"{build}-torch.txt")
    assert {name: with_tests[name] for name in runtime} == runtime
    assert {name: runtime[name] for name in torch} == torch
    assert "torch" in torch and "pytest" in with_tests and "pytest" not in runtime
    assert f"torch=={torch['torch']}" == TORCH_PINS[build]


def test_the_torch_builds_differ_only_by_torch_and_what_cuda_brings() -> None:
    cpu, cuda = pins(LOCKS / "cpu.txt"), pins(LOCKS / "cuda.txt")
    assert cpu["torch"].endswith("+cpu") and not cuda["torch"].endswith("+cpu")
    assert {name: cuda[name] for name in cpu if name != "torch"} == {n: v for n, v in cpu.items() if n != "torch"}
    assert any(name.startswith("nvidia-") for name in cuda) and not any(name.startswith("nvidia-") for name in cpu)


def test_the_torch_closure_follows_the_lock_annotations(tmp_path: Path) -> None:
    lock = tmp_path / "lock.txt"
    lock.write_text(
        "a==1 \\\n    --hash=sha256:00\n    # via torch\n"
        "b==2 \\\n    --hash=sha256:11\n    # via\n    #   a\n    #   pydantic\n"
        "pydantic==3 \\\n    --hash=sha256:22\n    # via fact-portrait-bot (pyproject.toml)\n"
        "torch==2.13.0+cpu \\\n    --hash=sha256:33\n    # via torch build pin\n"
    )
    assert [entry.split("==")[0] for entry in torch_closure(lock)] == ["a", "b", "torch"]
