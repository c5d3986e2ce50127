"""The validation gate, applied: a module's text becomes a module only once it agrees with the
reference semantics (``reference.gate``).

``validated`` is called before ``compile_component`` returns a module and before ``backprop generate``
writes a file, for the built-ins and for a user's components alike.  A disagreement is an
``EngineDefect``: one line naming the module, the value or gradient, the case and the error.

The gate runs the module with a probe after each statement (``shape_probed``): every array must
have the shape its statement states (``codegen.layout`` laid it out; the passes that write into
free arrays read it), else ``WrongLayout`` names the array.
"""
from __future__ import annotations

import contextlib
import re
import sys
import types

import sympy as sp

from reference.gate import check_module

from .backends import BACKENDS


class EngineDefect(ValueError):
    """A generated module disagrees with the reference semantics: a defect of the engine, not of the
    definition it was given."""


class WrongLayout(EngineDefect):
    """A generated array whose shape is not the one its statement states."""


#: A statement of a generated forward or backward: ``    name = code  # (..., n_T, d)…``
_STATEMENT = re.compile(r"^(\s+)(\w+) = .*  # (\((?:[^()]|\([^()]*\))*\))")
_FUNCTION = re.compile(r"^def \w*(forward|backward)\(")


def shape_probed(text: str) -> str:
    """``text`` with ``_probe(name, array, stated)`` after each statement of its forward and backward
    functions (a fused kernel's call, which makes several arrays, is not probed)."""
    out, inside = [], False
    for line in text.splitlines():
        out.append(line)
        if line and not line[0].isspace():
            inside = bool(_FUNCTION.match(line))
        elif inside and (m := _STATEMENT.match(line)):
            indent, name, stated = m.groups()
            out.append(f"{indent}_probe({name!r}, {name}, {stated!r})")
    return "\n".join(out) + "\n"


class ShapeProbe:
    """The ``_probe`` of a ``shape_probed`` module: each array against the shape its statement
    states, at the sizes of the case being run (``expect``)."""

    def __init__(self, component):
        self.component, self.values, self.batch = component, {}, ()
        self._axes: dict[str, sp.Expr] = {}

    def expect(self, case) -> None:
        """The sizes of ``case`` (a ``reference.gate.Case``): its dimensions, counts and batch axes."""
        config = {a.name: case.config.get(a.name, a.default) for a in self.component.configs}
        self.values = {**{k: v for k, v in config.items() if isinstance(v, int) and not isinstance(v, bool)},
                       **case.sizes}
        self.batch = tuple(case.batch)

    def size(self, axis: str) -> int:
        if axis not in self._axes:
            names = {n: sp.Symbol(n) for n in re.findall(r"[A-Za-z_]\w*", axis)}
            self._axes[axis] = sp.sympify(axis, locals=names)
        expr = self._axes[axis]
        return int(expr.xreplace({s: sp.Integer(self.values[s.name]) for s in expr.free_symbols}))

    def __call__(self, name: str, array, stated: str) -> None:
        axes = [a.strip() for a in stated[1:-1].split(",") if a.strip()]
        expected = tuple(n for a in axes for n in (self.batch if a == "..." else (self.size(a),)))
        if tuple(array.shape) != expected:
            raise WrongLayout(f"{name} is an array of shape {tuple(array.shape)} where its statement states "
                              f"{stated} = {expected}")


def probed(component, text: str, target: str, jit: bool = False) -> types.ModuleType:
    """The module of ``text`` with its shapes probed (``shape_probed``): call ``module._probe.expect(case)``
    before running a case."""
    module = load(shape_probed(text), component.name, target, jit=jit)
    module._probe = ShapeProbe(component)
    return module


class _PythonKernel:
    """A kernel run as the Python function it is written as (it compiled nothing: no signatures)."""

    signatures = ()

    def __init__(self, fn):
        self.py_func = fn

    def __call__(self, *args):
        return self.py_func(*args)


def _python_njit(*args, **options):
    return _PythonKernel(args[0]) if args and callable(args[0]) else _PythonKernel


@contextlib.contextmanager
def _kernels_as_python(target: str, jit: bool):
    """The Numba target's kernels run as plain Python while the module is made: on the gate's small
    cases they compute what the compiled kernels compute, without their compile time (the compiled
    kernels are checked against autograd by the tests).  Where Numba is not installed, the module's
    ``import numba`` finds a stand-in for the same purpose; with ``jit``, nothing changes."""
    if target != "numba" or jit:
        yield
        return
    try:
        import numba
    except ImportError:  # the module's ``import numba`` finds a stand-in that has only what it uses
        stand_in = types.ModuleType("numba")
        stand_in.njit = _python_njit
        before = sys.modules.get("numba", stand_in)
        sys.modules["numba"] = stand_in
        try:
            yield
        finally:
            if before is stand_in:
                del sys.modules["numba"]
            else:
                sys.modules["numba"] = before
        return
    njit = numba.njit
    numba.njit = _python_njit
    try:
        yield
    finally:
        numba.njit = njit


def load(text: str, name: str, target: str = "numpy", jit: bool = True) -> types.ModuleType:
    """The module of generated ``text``, made in memory (its kernels compiled when ``jit``)."""
    module = types.ModuleType(f"generated_{name}")
    module.__source__ = text
    with _kernels_as_python(target, jit):
        exec(compile(text, f"<generated {name}>", "exec"), module.__dict__)
    return module


def check(component, text: str, target: str) -> None:
    """Nothing when the module of ``text`` agrees with the reference semantics, its arrays at the
    shapes their statements state; ``EngineDefect`` naming the first disagreement else.  The module
    is run with its kernels as Python (``_kernels_as_python``) and its shapes probed."""
    module = probed(component, text, target)
    # a fusing backend's jvp is the NumPy statements (no forward-only part is fused): checked with NumPy's
    problem = check_module(component, module, target, before=module._probe.expect,
                           forward_mode=not BACKENDS[target].fuses)
    if problem is not None:
        raise EngineDefect(f"{component.name} ({target}): an engine defect, not the definition's: the generated "
                           f"module disagrees with the reference semantics: {problem}")


def agreeing(component, module, target: str):
    """``module`` (made by ``load``) once its text passes ``check``."""
    check(component, module.__source__, target)
    return module


def validated(component, text: str, target: str) -> str:
    """``text`` once it passes ``check``."""
    check(component, text, target)
    return text
