"""The package's import graph: no module imports (even lazily) one that imports it back."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import fleetsim

ROOT = Path(fleetsim.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    """Return module -> the fleetsim modules it imports anywhere (top level or in functions)."""
    modules = {_module_name(path): path for path in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fleetsim"):
                for alias in node.names:
                    child = f"{node.module}.{alias.name}"
                    imported.add(child if child in modules else node.module)
            elif isinstance(node, ast.Import):
                imported |= {a.name for a in node.names if a.name.startswith("fleetsim")}
        graph[name] = {m for m in imported if m in modules and m != name}
    return graph


def _cycle_through(graph: dict[str, set[str]], start: str) -> list[str] | None:
    """Return a path start -> ... -> start, or None."""
    stack, seen = [(start, [start])], set()
    while stack:
        node, path = stack.pop()
        for nxt in graph[node]:
            if nxt == start:
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


def test_the_graph_sees_lazy_imports():
    graph = _graph()
    assert "fleetsim.layout" in graph["fleetsim.sweep"]
    assert "fleetsim.api" in graph["fleetsim.cli"]  # imported inside a function
    assert "fleetsim.analysis.selection" in graph["fleetsim.analysis.plots.style"]


def test_no_import_cycles():
    graph = _graph()
    cycles = [cycle for name in graph if (cycle := _cycle_through(graph, name))]
    assert cycles == []


def test_config_needs_neither_the_kernel_layout_nor_the_analysis():
    graph = _graph()
    assert "fleetsim.layout" not in graph["fleetsim.config"]
    assert "fleetsim.config" not in graph["fleetsim.uncertainty"]


def test_an_empty_folder_of_the_same_name_does_not_shadow_the_bundled_one(tmp_path):
    from fleetsim import paths

    stray = tmp_path / "data"  # what an empty site-packages/data beside the package looks like
    stray.mkdir()
    bundled = tmp_path / "fleetsim" / "_data"
    bundled.mkdir(parents=True)
    (bundled / "hardware.csv").write_text("id\n")
    assert paths._first_existing("hardware.csv", stray, bundled) == bundled
    with pytest.raises(FileNotFoundError, match="could not find its folder"):
        paths._first_existing("hardware.csv", stray)
