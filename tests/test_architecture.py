"""The shape of the Python side: imports point one way, the node's path leaves the study's
tooling out, and no module grows past ~400 lines without saying why.

The import graph is read from the source (every `import` and `from ... import`, including those
under `if TYPE_CHECKING:` and inside functions), so a cycle is found whether it bites at run time
or only when type-checking.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("oracle", "inference", "deploy", "bench")
MAX_LINES = 400
LONG_MODULE_MARKER = "Long module:"
"""A module over MAX_LINES says why in its docstring, in a sentence starting with this."""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The project modules `path` imports (a `from package import module` counts as the module)."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as a path of module names, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for imported in sorted(graph[module]):
            # A package's __init__ re-exporting its own modules is not a cycle of its parts.
            if module.startswith(imported + ".") or imported.startswith(module + "."):
                continue
            if state.get(imported) == 1:
                return [*path[path.index(imported) :], imported]
            if imported not in state:
                found = visit(imported)
                if found:
                    return found
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state:
            found = visit(module)
            if found:
                return found
    return None


def test_no_import_cycle_between_modules() -> None:
    modules = _modules()
    known = set(modules)
    graph = {name: _imports(path, name, known) for name, path in modules.items()}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_inference_package_knows_nothing_of_chains() -> None:
    modules = _modules()
    known = set(modules)
    for name, path in modules.items():
        if name.startswith("inference"):
            chained = {m for m in _imports(path, name, known) if m.split(".")[0] != "inference"}
            assert not chained, f"{name} imports {sorted(chained)}"


TOOLING = ("inference.study", "inference.bulk")
"""The collision study and its bulk accelerators: run by people and benchmarks, never by a node."""
TOOLING_USERS = (*TOOLING, "bench", "oracle.cli")
"""Who may import them: themselves, the benchmarks, and the CLI that registers `genoracle study`."""


def _within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def test_the_node_path_imports_no_study_tooling() -> None:
    modules = _modules()
    known = set(modules)
    for name, path in modules.items():
        if _within(name, TOOLING_USERS):
            continue
        tooling = {m for m in _imports(path, name, known) if _within(m, TOOLING)}
        assert not tooling, f"{name} is on the node's path but imports {sorted(tooling)}"


@pytest.mark.parametrize("name", sorted(_modules()))
def test_a_long_module_says_why(name: str) -> None:
    path = _modules()[name]
    lines = len(path.read_text().splitlines())
    if lines <= MAX_LINES:
        return
    docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
    assert LONG_MODULE_MARKER in docstring, (
        f"{path.relative_to(ROOT)} has {lines} lines: split it, or say why it is one module in a "
        f"'{LONG_MODULE_MARKER} ...' sentence of its docstring"
    )
