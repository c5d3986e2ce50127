"""The generated modules' runtime helpers, one real Python module per backend.

``numpy_helpers.py`` (the NumPy and Numba modules), ``numba_helpers.py`` (the Numba modules' kernel
launcher), ``torch_helpers.py`` and ``shared_helpers.py`` (the same text for every backend) hold every
helper a generated module may call, each a block after a
``# -- helper: NAME`` line.  A generated module inlines the blocks its code calls, as text, so it stays
standalone; what a block needs (other helpers, standard modules) is read off the names it uses.
"""
from __future__ import annotations

import ast
import importlib
import re
from functools import lru_cache
from pathlib import Path

from reference.semantics import install_runtime

HERE = Path(__file__).parent
STANDARD_MODULES = ("functools", "math", "threading", "time")
_MARKER = re.compile(r"^# -- helper: (\w+)\n", re.M)


@lru_cache(maxsize=None)
def blocks_of(module: str) -> dict[str, str]:
    """Helper name → its block's source, from ``codegen/runtime/<module>.py``."""
    text = (HERE / f"{module}.py").read_text()
    parts = _MARKER.split(text)[1:]  # name, block, name, block, …
    return {name: block.strip() for name, block in zip(parts[::2], parts[1::2])}


@lru_cache(maxsize=None)
def _names(source: str) -> frozenset[str]:
    return frozenset(n.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Name))


@lru_cache(maxsize=None)
def _defined(source: str) -> frozenset[str]:
    tree = ast.parse(source)
    names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    return frozenset(names | {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets
                              if isinstance(t, ast.Name)})


def helper_blocks(modules: tuple[str, ...], wanted: set[str],
                  declared: dict[str, str] | None = None) -> tuple[list[tuple[str, str]], set[str]]:
    """((name, block) of ``wanted``, of the ``declared`` primitives' own helpers and of every helper they
    call, in the order of their names; the standard modules they use) from the runtime ``modules`` of one
    backend and the declarations (name → source)."""
    blocks: dict[str, str] = {}
    for module in modules:
        blocks.update(blocks_of(module))
    blocks.update(declared or {})
    wanted = set(wanted) | set(declared or {})
    unknown = sorted(wanted - set(blocks))
    if unknown:
        raise KeyError(f"no runtime helper {', '.join(unknown)} in {', '.join(modules)}")
    provider = {name: helper for helper, source in blocks.items() for name in _defined(source)}
    chosen, todo = set(), list(wanted)
    while todo:
        helper = todo.pop()
        if helper in chosen:
            continue
        chosen.add(helper)
        todo += [provider[n] for n in _names(blocks[helper]) if n in provider and provider[n] != helper]
    used = set().union(*(_names(blocks[h]) for h in chosen)) if chosen else set()
    return [(h, blocks[h]) for h in sorted(chosen)], standard_modules(used)


def standard_modules(names: set[str]) -> set[str]:
    """The standard modules among ``names`` (those a generated module may import)."""
    return {m for m in STANDARD_MODULES if m in names}


def namespace(backend: str) -> dict:
    """The helpers of ``backend``'s runtime modules, imported: what a lowering may call (a module whose
    optional library is not installed is left out)."""
    from ..backends import BACKENDS

    out: dict = {}
    for module in BACKENDS[backend].runtime:
        try:
            out.update(vars(importlib.import_module(f"{__name__}.{module}")))
        except ImportError:
            continue
    return out


install_runtime(namespace)  # the declarations' check runs the engine's lowerings with these helpers
