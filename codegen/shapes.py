"""The shape of a statement's array, as the lowering gives it to the printers and passes.

An array is laid out as its value's type says: the leading batch axes (all of them or none),
a heads axis where the value is split into heads, then the core axes of its declared shape,
(rows, cols), (cols,) for a declared 1-D argument, () for a number.  An axis that repeats one
entry (a broadcast ``1 bᵀ``) has size 1 in the array.  Passes and printers read these fields;
the comment ``(..., n_T, d)`` beside a statement is printed from them and never read back.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import sympy as sp

BATCH_AXES = "..."  # how the leading batch axes are named among the axes


@dataclass(frozen=True)
class Shape:
    """An array's axes: ``batched`` (the leading batch axes), ``heads`` (the head count or None),
    ``core`` (the sizes of the remaining axes, SymPy expressions; 1 where the array broadcasts)."""

    core: tuple
    batched: bool = False
    heads: object = None

    @classmethod
    def of(cls, declared, batched: bool, vector: bool = False, heads=None) -> Shape:
        """The array of a value of ``declared`` shape (rows, cols): a declared 1-D argument is its
        (cols,) vector, without batch or heads.  ``laid_out`` then sets each axis that repeats one
        entry to 1 (``codegen.layout.lay_out``)."""
        core = tuple(sp.sympify(d) for d in declared)
        if vector:
            return cls((core[1],))
        return cls(core, batched, heads)

    @classmethod
    def number(cls) -> Shape:
        """A 0-d array: a loss."""
        return cls(())

    def axes(self) -> tuple[str, ...]:
        """Every axis by name: ``("...", "n_heads", "n_T", "d")``; a broadcast axis is ``"1"``."""
        lead = ((BATCH_AXES,) if self.batched else ()) + ((str(self.heads),) if self.heads is not None else ())
        return lead + tuple(str(d) for d in self.core)

    def without_batch(self) -> Shape:
        return replace(self, batched=False)

    def laid_out(self, layout) -> Shape:
        """This shape as a printed array of ``layout`` (``codegen.layout.Layout``) holds it: a row (cols,)
        (behind the batch axes for an input's indices, 1-D per sequence) or a number, or size 1 on each
        axis that repeats one entry."""
        if layout.ndim == 0:
            return Shape.number()
        if layout.ndim == 1:
            return Shape(self.core[-1:], self.batched)
        if len(self.core) < 2:
            return self
        rows, cols = self.core[-2:]
        return replace(self, core=self.core[:-2] + (sp.Integer(1) if layout.rows else rows,
                                                    sp.Integer(1) if layout.cols else cols))

    def __str__(self) -> str:
        axes = self.axes()
        return "(" + ", ".join(axes) + ("," if len(axes) == 1 else "") + ")"
