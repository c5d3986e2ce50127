"""Batch semantics, stated once.

* An input is one sequence's value; the arrays given for it carry any number of leading batch
  axes (the same for every input).  A parameter is shared by every sequence: it has none.
* A value carries the batch when it reads a batched value, except through ``Σ_batch``, which sums
  over the sequences and so gives a value shared by the batch.
* A value shared by the batch that meets a batched one is the same for every sequence (it
  broadcasts over the batch axes); ``Σ_batch`` of a value shared by the batch is therefore
  n_batch times it.
* In the reverse sweep, a value shared by the batch receives the sum over the batch of its
  batched cotangent contributions, exactly where it meets batched values (the adjoint of a
  broadcast is a sum, as ``sum_to`` is in PyTorch's derivative table).  A parameter's gradient
  is the case everyone knows: the sum over sequences of the per-sequence gradients.

``carries_batch`` is the one test of the second point that the sweep, the lowering and the
printers share; ``heads_axis`` the one test of whether a value carries a heads axis.
"""
from __future__ import annotations

from sympy import MatrixExpr, MatrixSymbol

from .declare import primitive_of
from .primitives import BatchSum, matrix_children


def carries_batch(e: MatrixExpr, batched: set) -> bool:
    """Does ``e`` carry leading batch axes (it reads a symbol in ``batched``, not only under Σ_batch)?"""
    if isinstance(e, MatrixSymbol):
        return e in batched
    if isinstance(e, BatchSum):
        return False
    return any(carries_batch(a, batched) for a in e.args if isinstance(a, MatrixExpr))


def heads_axis(e: MatrixExpr, headed: dict):
    """The head count when ``e`` carries a heads axis (split and not merged back), else None;
    ``headed`` gives it for symbols."""
    if isinstance(e, MatrixSymbol):
        return headed.get(e)
    own = next((h for h in (heads_axis(a, headed) for a in matrix_children(e)) if h is not None), None)
    declared = primitive_of(e)
    if declared is not None and declared.heads is not None:
        return declared.heads(own, *e.params)  # a primitive that makes, removes or changes the heads axis
    return own
