"""The one table of scalar functions: what each backend calls for it and how a loop computes it.

A scalar function of a definition (``pointwise``, an activation) is a SymPy expression; every consumer
that must know a function by name reads it here: the printers' in-place ufuncs, the overwrite pass's
unary calls, the Numba fusion's test of what vectorises, and the reference semantics' evaluation.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp


@dataclass(frozen=True)
class Scalar:
    """``name``: SymPy's class (``exp``, ``Abs``, ``ceiling``); ``numpy``: NumPy's ufunc (``np.<numpy>``,
    None where NumPy has none: erf is ``math.erf`` per entry); ``torch``: ``torch.<torch>``;
    ``vector``: a loop computes it with vector instructions (LLVM's own), else it is one C library
    call per entry (where Numba's LLVM has no vector math library)."""

    name: str
    numpy: str | None
    torch: str
    vector: bool = False

    @property
    def sympy(self) -> type:
        return getattr(sp, self.name)


SCALAR_FUNCTIONS: dict[str, Scalar] = {s.name: s for s in (
    Scalar("exp", "exp", "exp"),
    Scalar("log", "log", "log"),
    Scalar("tanh", "tanh", "tanh"),
    Scalar("sinh", "sinh", "sinh"),
    Scalar("cosh", "cosh", "cosh"),
    Scalar("sin", "sin", "sin"),
    Scalar("cos", "cos", "cos"),
    Scalar("tan", "tan", "tan"),
    Scalar("atan", "arctan", "atan"),
    Scalar("asinh", "arcsinh", "asinh"),
    Scalar("erf", None, "erf"),
    Scalar("Abs", "abs", "abs", vector=True),
    Scalar("sign", "sign", "sign", vector=True),
    Scalar("floor", "floor", "floor"),
    Scalar("ceiling", "ceil", "ceil"),
)}

#: Forms printed as comparisons and selections, which loops vectorise too.
VECTOR_FORMS = (sp.Max, sp.Min, sp.Heaviside, sp.Piecewise)

#: Powers both libraries print as calls of one argument (x^½, x², 1/x).
POWER_CALLS = ("sqrt", "square", "reciprocal")


def vectorising() -> tuple[type, ...]:
    """The SymPy functions a loop computes with vector instructions."""
    return tuple(s.sympy for s in SCALAR_FUNCTIONS.values() if s.vector) + VECTOR_FORMS


def ufuncs() -> dict[type, str]:
    """SymPy function → NumPy ufunc name, for the functions NumPy can compute ``out=`` a buffer."""
    return {s.sympy: s.numpy for s in SCALAR_FUNCTIONS.values() if s.numpy is not None}


def unary_calls() -> set[str]:
    """Every printed call of one array argument that makes a fresh array of its shape (``np.exp``…)."""
    numpy = {s.numpy for s in SCALAR_FUNCTIONS.values() if s.numpy is not None} | set(POWER_CALLS)
    torch = {s.torch for s in SCALAR_FUNCTIONS.values()} | set(POWER_CALLS)
    return {f"np.{n}" for n in numpy} | {f"torch.{n}" for n in torch}
