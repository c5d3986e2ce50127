"""Fusion: runs of row-local statements → one kernel that makes one pass over the rows.

A statement is *row-local* when its value at row r depends only on row r of its operands:
entrywise operations (sums, entrywise products, numbers times arrays, scalar functions that
vectorise, ``VECTOR_FUNCTIONS``), broadcasts (``v 1ᵀ`` of a column, ``1 wᵀ`` of a vector) and
sums along the last axis (``E 1``); a sum of each column over every row of the batch
(``Σ_batch 1ᵀ E``, a bias's or a scale's gradient) joins the group of its rows, accumulated as the
rows go by.  Products of matrices, transposes, other sums over rows, and the engine's other nodes
are not.  Between two products, a maximal run of consecutive row-local statements over the same
rows (the same batch and heads axes, the same row count) is a *group*:
its inputs are the arrays and numbers it reads from outside, its outputs the values read after
it (by later statements, the cache, the output or the gradients); the rest lives inside the
kernel, a number per row or a buffer of one row.

Precondition of fusing a group: every operand's rows are the group's rows, or the rows of one
sequence (no batch axes, or the heads axis alone) repeated over the leading axes, or none (a
vector, a number); and one input array has the group's rows in full (it gives the leading axes of
the outputs).  A statement that breaks it ends the group.  The kernel computes each value from
the same operations in the same order as the library calls it replaces, a row at a time, so the
values agree within rounding (sums run in float64, left to right).

Nothing here looks at a component's name: a user's RMSNorm or SwiGLU is fused as LayerNorm is.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp
from sympy import HadamardProduct, MatAdd, MatMul, MatrixSymbol, OneMatrix

from derive.families.normalisers import Softmax
from derive.primitives import BatchSum, ChoiceFunction, Elementwise, ScalarFunction
from derive.scalar_functions import vectorising
from derive.simplify import split_coefficient


class Unfusable(Exception):
    """A node or an operand that a kernel cannot compute row by row."""


# -- which statements are row-local

def row_local(e) -> bool:
    """Whether ``e`` is built of row-local operations only (the module docstring lists them)."""
    try:
        _kind(e)
    except Unfusable:
        return False
    return True


def _kind(e) -> str:
    """``full`` (varies along rows and columns), ``column`` (one number per row), ``row`` (one per
    column: a broadcast vector) or ``sum`` (a column sum over every row); raises ``Unfusable``."""
    if isinstance(e, MatrixSymbol):
        rows, cols = e.shape
        return "column" if cols == 1 else "full"
    if isinstance(e, (MatAdd, HadamardProduct)):
        kinds = {_kind(a) for a in e.args}
        if "full" in kinds or {"row", "column"} <= kinds:
            return "full"
        return kinds.pop() if len(kinds) == 1 else "full"
    if isinstance(e, Elementwise):
        options = e.fn.options if isinstance(e.fn, ChoiceFunction) else (e.fn,)
        for fn in options:
            if not isinstance(fn, ScalarFunction):
                raise Unfusable(type(fn).__name__)
            calls = library_calls(fn.body.expr)
            if calls:
                raise Unfusable(f"{', '.join(calls)} would be a scalar library call in the loop")
        return _kind(e.arg)
    if column_sum(e) is not None:
        _kind(column_sum(e))
        return "sum"  # Σ_batch 1ᵀ E: a vector, complete only after the last row
    if isinstance(e, Softmax):
        raise Unfusable("exp would be a scalar library call in the loop")
    if isinstance(e, MatMul):
        c, body = split_coefficient(e)
        factors = list(body.args) if isinstance(body, MatMul) else [body]
        if len(factors) == 1:
            return _kind(factors[0])
        if len(factors) == 2:
            a, b = factors
            if isinstance(b, OneMatrix) and b.shape[1] == 1 and not isinstance(a, OneMatrix):
                _kind(a)  # E 1: the sum of each row
                return "column"
            if isinstance(b, OneMatrix) and b.shape[0] == 1 and not isinstance(a, OneMatrix):
                if _kind(a) != "column" or a.shape[1] != 1:
                    raise Unfusable("a broadcast of a matrix")
                return "column"  # v 1ᵀ: each row's number along the row
            if isinstance(a, OneMatrix) and a.shape[1] == 1 and isinstance(b, MatrixSymbol) and b.shape[0] == 1:
                return "row"  # 1 wᵀ: a vector along the rows
        raise Unfusable("a product of matrices")
    raise Unfusable(type(e).__name__)


def column_sum(e):
    """E when ``e`` is Σ_batch 1ᵀ E (each column summed over every row of the batch), else None."""
    if isinstance(e, BatchSum) and isinstance(e.arg, MatMul) and len(e.arg.args) == 2:
        one, E = e.arg.args
        if isinstance(one, OneMatrix) and one.shape[0] == 1 and not isinstance(E, OneMatrix):
            return E
    return None


#: Functions a loop computes with vector instructions (LLVM's own: square roots, absolute values,
#: comparisons) besides arithmetic.  Any other (exp, log, tanh, erf, …) is a call to the C library
#: per entry where Numba's LLVM has no vector math library (SVML): about eight times slower than
#: NumPy's vectorised exp on 512×1024 float32 entries, so a statement with one stays NumPy's, and
#: the run of statements around it is fused on either side.
VECTOR_FUNCTIONS = vectorising()  # derive.scalar_functions, the one table


def library_calls(body) -> list[str]:
    """The functions of a scalar body that would be library calls in a loop (a power other than an
    integer or ±1/2 counts as ``pow``)."""
    calls = {type(f).__name__ for f in body.atoms(sp.Function) if not isinstance(f, VECTOR_FUNCTIONS)}
    for p in body.atoms(sp.Pow):
        if not (p.exp.is_Integer or p.exp in (sp.S.Half, -sp.S.Half)):
            calls.add("pow")
    return sorted(calls)


@dataclass
class Group:
    """Consecutive row-local statements of one function, fused into one kernel."""

    statements: list
    key: tuple = None  # (rows, batched, heads) of every statement's rows
    outputs: list = field(default_factory=list)  # values read after the group (code names)


def row_key(shape) -> tuple | None:
    """(rows, batched, heads) of a statement's laid-out array, or None when it is not (…, rows, cols)."""
    if shape is None or len(shape.core) != 2 or shape.core[0] == 1:
        return None
    return (shape.core[0], shape.batched, shape.heads)


def statement_key(st, batched: set, headed: dict) -> tuple | None:
    """The rows a statement's value runs over: its own, or for a column sum Σ_batch 1ᵀ E, E's rows
    (which must carry the batch and no heads)."""
    E = column_sum(st.expr)
    if E is None:
        return row_key(st.shape)
    if st.shape is None or len(st.shape.core) != 1:  # a (cols,) vector; a number (a loss) is not summed here
        return None
    symbols = [s for s in E.free_symbols if hasattr(s, "shape")]
    if not symbols or not all(s in batched and s not in headed for s in symbols if s.shape[0] == E.shape[0]):
        return None
    return (E.shape[0], True, None)


def find_groups(statements, fusable, key_of, reads_of, needed_after: set) -> list[Group]:
    """Maximal runs of consecutive statements for which ``fusable(st)`` holds and ``key_of(st)`` is one
    key.  ``reads_of(st)``: the code names it reads; ``needed_after``: names read after the function's
    statements (the cache, the output, the gradients)."""
    groups, run, key = [], [], None
    for st in statements + [None]:
        k = key_of(st) if st is not None and fusable(st) else None
        if run and (k is None or k != key):
            groups.append(Group(run, key))
            run = []
        if k is not None:
            run.append(st)
            key = k
    for group in groups:
        made = [st.target for st in group.statements]
        later = set(needed_after)
        after = False
        for st in statements:
            if st is group.statements[-1]:
                after = True
                continue
            if after:
                later |= reads_of(st)
        group.outputs = [n for n in made if n in later]
    return [g for g in groups if g.outputs]
