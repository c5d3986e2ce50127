"""The validation gate, applied: a module's text becomes a module only once it agrees with the
reference semantics (``reference.gate``).

``validated`` is called before ``compile_component`` returns a module and before ``backprop generate``
writes a file, for the built-ins and for a user's components alike.  A disagreement is an
``EngineDefect``: one line naming the module, the value or gradient, the case and the error.
"""
from __future__ import annotations

import contextlib
import sys
import types

from reference.gate import check_module


class EngineDefect(ValueError):
    """A generated module disagrees with the reference semantics: a defect of the engine, not of the
    definition it was given."""


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


def agreeing(component, module, target: str):
    """``module`` once it agrees with the reference semantics; ``EngineDefect`` naming the first
    disagreement else."""
    problem = check_module(component, module, target)
    if problem is not None:
        raise EngineDefect(f"{component.name} ({target}): an engine defect, not the definition's: the generated "
                           f"module disagrees with the reference semantics: {problem}")
    return module


def validated(component, text: str, target: str) -> str:
    """``text`` once the module it makes agrees with the reference semantics; ``EngineDefect`` else."""
    agreeing(component, load(text, component.name, target, jit=False), target)
    return text
