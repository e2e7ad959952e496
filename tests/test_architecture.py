"""The layout's rules, checked on the source: boundaries, one-way imports, files that read in one sitting."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("fact_runtime", "bot")
#: Folders whose modules must never import torch, even lazily: the bot-facing part of the runtime.
TORCH_FREE = ("fact_runtime/executor", "fact_runtime/catalog")
#: Runtime packages that import torch; a torch-free module may reach them only where listed here.
TORCH_PACKAGES = ("fact_runtime.pipelines", "fact_runtime.loading", "fact_runtime.fact", "fact_runtime.pose")
ALLOWED_REACH = {("fact_runtime/executor/runtime.py", "fact_runtime.pipelines")}  # from_config, when it starts
HEAVY = ("torch", "diffusers", "transformers", "peft", "accelerate")


def _sources() -> list[Path]:
    files = [path for package in PACKAGES for path in (ROOT / package).rglob("*.py")]
    return sorted(files + list((ROOT / "tests").rglob("*.py")) + list((ROOT / "bench").rglob("*.py")))


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> Iterator[tuple[str, bool]]:
    """(imported module, is under ``if TYPE_CHECKING``) for every import in the file, lazy ones too."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_only.update(id(child) for child in ast.walk(node))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, id(node) in type_only
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield target, id(node) in type_only
            for alias in node.names:  # `from . import x` may import a submodule x
                yield f"{target}.{alias.name}", id(node) in type_only


def _graph(package: str) -> dict[str, set[str]]:
    """Every import between the package's modules; ``TYPE_CHECKING`` ones count, a type is a dependency too."""
    modules = {_module_name(path): path for path in (ROOT / package).rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for target, _ in _imports(path):
            if target in modules and target != name:
                graph[name].add(target)
    return graph


@pytest.mark.parametrize("package", ["bot", "fact_runtime"])
def test_no_import_cycles_between_modules(package: str) -> None:
    graph = _graph(package)
    # A package's __init__ re-exports its modules; importing a sibling through it is not a cycle.
    edges = {
        name: {t for t in targets if not (name.startswith(f"{t}.") and (ROOT / t.replace(".", "/")).is_dir())}
        for name, targets in graph.items()
    }
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(edges[node]):
            if state.get(target) == 1:
                cycle = [*stack[stack.index(target) :], target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)


@pytest.mark.parametrize("path", _sources(), ids=lambda path: str(path.relative_to(ROOT)))
def test_every_file_reads_in_one_sitting(path: Path) -> None:
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 300


def test_the_boundaries_hold() -> None:
    for path in (ROOT / "fact_runtime").rglob("*.py"):
        targets = {target for target, _ in _imports(path)}
        assert not any(t == "discord" or t.startswith("discord.") for t in targets), f"{path} imports discord"
        relative = str(path.relative_to(ROOT))
        if relative.startswith(TORCH_FREE):
            heavy = {t for t in targets if t.split(".")[0] in HEAVY}
            assert not heavy, f"{path} imports {heavy}"
            allowed = tuple(target for where, target in ALLOWED_REACH if where == relative)
            reach = {t for t in targets if t.startswith(TORCH_PACKAGES) and not (allowed and t.startswith(allowed))}
            assert not reach, f"{path} reaches {reach}"
    for path in (ROOT / "bot").rglob("*.py"):
        targets = {target for target, _ in _imports(path)}
        heavy = {t for t in targets if t.split(".")[0] in HEAVY}
        assert not heavy, f"{path} imports {heavy}"
        # The bot uses only the runtime's public surface.
        inner = {t for t in targets if t.startswith("fact_runtime.")}
        assert inner <= {f"fact_runtime.{name}" for name in __import__("fact_runtime").__all__}, f"{path}: {inner}"
