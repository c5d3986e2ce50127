"""What a definition may say: checked as each value is defined, refused there in one line.

Every node of an expression must be one the engine has a meaning and a rule for (SymPy's
``BlockMatrix``, ``MatrixElement``, ``MatrixSlice``, ``Inverse``, ``Determinant``… are not),
every matrix symbol an argument or an earlier definition of the same component, every scalar
symbol a dimension, a configuration value or the batch size, and heads are split once and merged
only where they were split.
"""
from __future__ import annotations

import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixElement
from sympy import HadamardProduct, MatAdd, MatMul, MatrixExpr, MatrixSymbol, OneMatrix, Transpose, ZeroMatrix

from .declare import primitive_of
from .primitives import Gather, Node

#: SymPy's own nodes that the engine understands; its ``Node`` subclasses are the rest.
SYMPY_NODES = (MatrixSymbol, MatMul, MatAdd, HadamardProduct, Transpose, OneMatrix, ZeroMatrix)


class IllFormed(ValueError):
    """Raised by ``check``; the caller names the component and the value."""


class UnknownNode(IllFormed):
    """A node that is none of the engine's primitives: it has no rule."""


def check(expr: MatrixExpr, symbols: set, scalars: set, batched: set, headed: dict):
    """Refuse what ``expr`` may not say; return its head count (or None).

    ``symbols``: the matrix symbols it may read; ``scalars``: the scalar symbols; ``batched``: the
    symbols that carry the batch; ``headed``: symbol → head count of values split into heads.
    """

    def scalar(e, where):
        """``where()`` names the place in a message (made only for a message: printing is slow)."""
        e = sp.sympify(e)
        if e.has(MatrixElement) or any(isinstance(a, MatrixExpr) for a in sp.preorder_traversal(e)):
            raise IllFormed(f"{where()}: an entry of a matrix ({e}) used as a number has no rule; "
                            f"use a (1, 1) value in a product or a configuration value")
        stray = sorted(str(s) for s in e.free_symbols if s not in scalars)
        if stray:
            raise IllFormed(f"{where()}: unknown symbol(s) {', '.join(stray)}: a size must be a declared "
                            f"dimension, a number a configuration value")

    def visit(e):
        if not isinstance(e, MatrixExpr):
            scalar(e, lambda: str(e))
            return None
        if not isinstance(e, SYMPY_NODES + (Node,)):
            raise UnknownNode(f"{type(e).__name__} ({e}) is not one of the engine's primitives: it has no rule, "
                            f"so its gradient would be wrong; write it with the primitives")
        for size in e.shape:
            scalar(size, lambda: f"the shape of {e}")
        if isinstance(e, MatrixSymbol):
            if e not in symbols:
                raise IllFormed(f"{e.name} {e.shape} is not an argument or an earlier definition of this "
                                f"component (declare it with c.input, c.param or c.let)")
            return headed.get(e)
        if isinstance(e, (OneMatrix, ZeroMatrix)):
            return None
        heads = [visit(a) for a in e.args]
        counts = {h for h in heads if h is not None}
        if len(counts) > 1:
            raise IllFormed(f"{e}: values split into different numbers of heads meet")
        own = next(iter(counts), None)
        declared = primitive_of(e)
        if declared is not None and declared.heads is not None:
            try:
                return declared.heads(own, *e.params)
            except ValueError as error:
                raise IllFormed(f"{e}: {error}") from None
        if isinstance(e, Gather) and own is not None:
            raise IllFormed(f"{e}: the table of a gather is split into heads; gather its rows before "
                            f"split_heads, or after merge_heads")
        return own

    return visit(expr)
