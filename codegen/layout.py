"""How each value's array sits against its declared shape: the one layout analysis.

A value of declared shape (rows, cols) is printed as an array that may hold less: a broadcast
``1 bᵀ`` keeps one row and leaves NumPy to repeat it, a declared 1-D argument is its (cols,)
vector, a loss is a number.  ``Layout`` says which; ``layout_of`` computes it for any expression
from the layouts of the values it reads, mirroring the printing rules (``codegen.printers``), and
``lay_out`` gives every statement of a plan its layout and shape once, after the passes.  The
printers, the fusion pass and the shape comments all read these: nothing else infers a layout.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy import HadamardProduct, MatAdd, MatMul, MatrixExpr, MatrixSymbol, OneMatrix, Transpose

from derive.batch import carries_batch, heads_axis
from derive.primitives import BatchSum, Elementwise, IndexSlice, ScatterAdd, TargetScatter
from derive.simplify import split_coefficient

from .shapes import Shape


@dataclass(frozen=True)
class Layout:
    """How a value's array is laid out against its declared shape (rows, cols).

    ``ndim`` is 2 for (…, rows, cols), 1 for the row vector (cols,) of a declared 1-D argument or
    a sum to one, 0 for a number (a loss).  ``rows`` (``cols``) is true when that axis holds one
    entry that repeats over a declared size other than 1: a broadcast, printed as nothing.
    """

    ndim: int = 2
    rows: bool = False
    cols: bool = False

    @property
    def full(self) -> bool:
        return self.ndim == 2 and not self.rows and not self.cols

    def repeats(self, shape) -> tuple[bool, bool]:
        """(rows, cols): whether each axis of the declared ``shape`` repeats one entry. A row (cols,)
        repeats over rows other than 1, a number over both."""
        rows = self.rows or (self.ndim < 2 and shape[0] != 1)
        cols = self.cols or (self.ndim == 0 and shape[1] != 1)
        return rows, cols


FULL, ROW, NUMBER = Layout(2), Layout(1), Layout(0)


def updates_in_place(term) -> bool:
    """A term a sum prints as an update of a full array: a scatter at target entries, or rows
    scattered into a sum over the batch."""
    return isinstance(term, TargetScatter) or isinstance(term, BatchSum) and isinstance(term.arg, ScatterAdd)


def merged_ones(factors) -> tuple[sp.Expr, list]:
    """Adjacent all-ones factors as one: 1ₐₖ 1ₖₘ = k 1ₐₘ (an outer product when k = 1)."""
    out, coefficient = [], sp.Integer(1)
    for f in factors:
        if isinstance(f, OneMatrix) and out and isinstance(out[-1], OneMatrix):
            coefficient *= f.shape[0]
            out[-1] = OneMatrix(out[-1].shape[0], f.shape[1])
        else:
            out.append(f)
    return coefficient, out


def column_sum(e, ctx):
    """E when ``e`` is Σ_batch 1ᵀ E over a batched E without heads: it prints as a (cols,) vector."""
    if not (isinstance(e, BatchSum) and isinstance(e.arg, MatMul) and len(e.arg.args) == 2):
        return None
    one, E = e.arg.args
    if isinstance(one, OneMatrix) and one.shape[0] == 1 and carries_batch(E, ctx.batched) \
            and heads_axis(E, ctx.headed) is None:
        return E
    return None


def layout_of(e, ctx) -> Layout:
    """The layout of the array the printers make of ``e``; ``ctx`` (``codegen.plan.PrintContext``)
    gives the module's vectors, batched values and the layouts of the statements already laid out."""
    if isinstance(e, MatrixSymbol):
        name = ctx.names.get(e, e.name)
        if name in ctx.layouts:
            return ctx.layouts[name]
        return ROW if e in ctx.vectors else FULL
    if isinstance(e, Transpose):
        a = layout_of(e.arg, ctx)
        if a.ndim == 0:
            return a
        # a row (cols,) standing for (rows, cols) repeats over its rows; transposed, over its columns
        return Layout(2, rows=a.cols, cols=a.rows if a.ndim == 2 else e.arg.shape[0] != 1)
    if isinstance(e, (MatAdd, HadamardProduct)):
        if isinstance(e, MatAdd) and any(updates_in_place(split_coefficient(t)[1]) for t in e.args):
            return FULL  # printed as one full array updated in place
        parts = [layout_of(a, ctx) for a in e.args]
        repeats = [p.repeats(a.shape) for p, a in zip(parts, e.args)]
        rows, cols = all(r for r, _ in repeats), all(c for _, c in repeats)  # an axis every term repeats
        ndim = max(p.ndim for p in parts)
        if ndim < 2:
            return Layout(ndim, rows=ndim == 1 and rows)
        return Layout(2, rows=rows, cols=cols)
    if isinstance(e, MatMul):
        _, body = split_coefficient(e)
        return product_layout(list(body.args) if isinstance(body, MatMul) else [body], ctx)
    if isinstance(e, (Elementwise, IndexSlice)):  # entry by entry; a slice of indices keeps their axes
        return layout_of(e.arg if isinstance(e, Elementwise) else e.index, ctx)
    if isinstance(e, BatchSum):
        if not carries_batch(e.arg, ctx.batched):  # n_batch times the value: its own layout
            return layout_of(e.arg, ctx)
        return ROW if column_sum(e, ctx) is not None else FULL
    return FULL


def product_layout(factors, ctx) -> Layout:
    """The layout of the product A₁ … Aₖ, every all-ones factor printed as a sum or a broadcast
    (``NumPyMatrixPrinter.product``): L 1ₖₘ R = (L 1ₖ)(1ₘᵀ R)."""
    factors = [f for f in merged_ones(factors)[1] if isinstance(f, MatrixExpr)]  # numbers lay out nothing
    j = next((i for i, f in enumerate(factors) if isinstance(f, OneMatrix)), None)
    if j is None:
        if len(factors) == 1:
            return layout_of(factors[0], ctx)
        first, last = layout_of(factors[0], ctx), layout_of(factors[-1], ctx)
        return Layout(2, rows=first.repeats(factors[0].shape)[0], cols=last.repeats(factors[-1].shape)[1])
    ones, left, right = factors[j], factors[:j], factors[j + 1:]
    k, m = ones.shape
    left_part = right_part = None
    # which axes repeat is read through ``repeats`` (a row (cols,) repeats over its rows, a number
    # over both), never off the flags alone
    if left:  # L 1ₖ: L itself when k = 1, else its row sums (…, r, 1)
        inner = product_layout(left, ctx)
        rows, cols = inner.repeats((left[0].shape[0], left[-1].shape[1]))
        left_part = Layout(max(inner.ndim, 2 if k != 1 else inner.ndim), rows=rows, cols=cols and k == 1)
    if right:  # 1ₘᵀ R: R itself when m = 1, else its column sums (…, 1, c)
        inner = product_layout(right, ctx)
        rows, cols = inner.repeats((right[0].shape[0], right[-1].shape[1]))
        right_part = Layout(max(inner.ndim, 2 if m != 1 else inner.ndim), rows=rows and m == 1, cols=cols)
    if left_part and right_part:
        return Layout(max(left_part.ndim, right_part.ndim, 2), rows=left_part.rows, cols=right_part.cols)
    if left_part:
        return Layout(left_part.ndim, rows=left_part.rows, cols=m != 1 or left_part.cols)
    return Layout(right_part.ndim, rows=k != 1 or right_part.rows, cols=right_part.cols)


def lay_out(plan) -> None:
    """Give every statement of ``plan`` its layout (in ``plan.context.layouts``, by code name) and
    its shape laid out accordingly, in order: the forward, then the backward.

    An output and each gradient are made at their declared shape (a loss: a number; a gradient of a
    declared 1-D argument: its (d,) vector); the cotangent of a head-split value that is the same
    for every head is given its heads axis whole; every other value is laid out as its expression.
    Run once the passes are done: the printers read these layouts and never infer their own."""
    c, ctx = plan.component, plan.context
    numbers = plan.numbers()
    # each upstream gradient is given at its output's shape
    ctx.layouts = {given: NUMBER if output in numbers else FULL for output, given in zip(plan.outputs, plan.given)}
    argument_of = {id(st): c.argument(name) for name, st in plan.gradients if st is not None}
    headed_names = {ctx.names.get(symbol, symbol.name) for symbol in ctx.headed}
    for st in plan.forward:
        if st.target in plan.outputs:
            layout = NUMBER if st.target in numbers else FULL
        else:
            layout = layout_of(st.expr, ctx)
        st.shape = st.shape.laid_out(layout)
        ctx.layouts[st.target] = layout
    for st in plan.backward:
        if id(st) in argument_of:  # its argument's shape, batch axes included, whatever the expression carries
            a = argument_of[id(st)]
            layout, st.shape = (ROW if a.is_vector else FULL), Shape.of(a.symbol.shape, a.batched, a.is_vector,
                                                                           heads=a.heads)
            if a.is_scalar:  # given back as the number it was given: its batch axes, or ()
                layout, st.shape = NUMBER, Shape((), a.batched)
        elif st.target in headed_names and heads_axis(st.expr, ctx.headed) is None:
            layout = FULL  # expanded over the heads (``_expand_heads``)
        else:
            layout = layout_of(st.expr, ctx)
            st.shape = st.shape.laid_out(layout)
        ctx.layouts[st.target] = layout
