"""The project's import graph: no cycle among its modules, imports inside functions included, and
the packages' layers point one way (derive ← reference ← codegen ← backprop)."""
from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("derive", "reference", "codegen", "backprop", "generated")

#: What each package may import of the others.
LAYERS = {
    "derive": set(),
    "reference": {"derive"},
    "codegen": {"derive", "reference"},
    "backprop": {"derive", "reference", "codegen", "generated"},
    "generated": set(),
}


def modules() -> dict[str, Path]:
    """Dotted module name → file, for every module of the project's packages."""
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imported(module: str, path: Path, known: dict) -> set[str]:
    """The project modules ``module`` imports anywhere in its file (``from p import m`` names the module
    p.m when it is one, else p itself)."""
    def project_module(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        out |= {m for m in map(project_module, names) if m and m != module}
    return out


@lru_cache(maxsize=None)
def graph() -> dict[str, set[str]]:
    known = modules()
    return {m: imported(m, path, known) for m, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import(tmp_path):
    """The check itself: a cycle closed by an import inside a function is found."""
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(edges) == [["a", "b", "c"]]
    (tmp_path / "x.py").write_text("def f():\n    from .y import g\n")
    known = {"pkg.x": tmp_path / "x.py", "pkg.y": tmp_path / "y.py"}
    assert imported("pkg.x", tmp_path / "x.py", known) == {"pkg.y"}


def test_no_import_cycle_among_the_project_modules():
    assert cycles(graph()) == []


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_imports_point_one_way(package):
    wrong = sorted(f"{m} imports {d}" for m, deps in graph().items() if m.split(".")[0] == package
                   for d in deps if d.split(".")[0] not in LAYERS[package] | {package})
    assert wrong == []


def test_every_package_directory_is_in_the_distribution():
    """A non-editable install carries only the packages pyproject.toml lists: a directory of modules
    missing there imports in a checkout and fails once installed."""
    tomllib = pytest.importorskip("tomllib")
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    directories = {".".join(path.parent.relative_to(ROOT).parts) for package in PACKAGES
                   for path in (ROOT / package).rglob("*.py") if "__pycache__" not in path.parts}
    assert directories - listed == set(), "add them to [tool.setuptools] packages"
