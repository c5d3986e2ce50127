"""The plan of one module as data: its statements and what each reads and writes.

A ``Statement`` is one assignment ``target = expr`` of the forward or the backward; a
``ModulePlan`` holds a component's statements, its cache and what the passes did.  Lowering
(``codegen.lower``) makes a plan, the passes (``codegen.passes``) rewrite it and ``codegen.layout``
lays its arrays out; printing (``codegen.emit``) reads it and makes an ``Emitted`` statement of each,
which scheduling (``codegen.schedule``: fusion, liveness, overwriting) rewrites, and rendering
(``codegen.render``) puts them in a module.  This module imports nothing else of ``codegen``: every
stage depends on it, it depends on none of them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sympy import MatrixExpr, MatrixSymbol

from derive.api import RESERVED_NAMES, Component, split_size
from derive.reverse import Derivation


@dataclass
class PrintContext:
    """What the printers must know about the symbols of one module."""

    names: dict[MatrixSymbol, str] = field(default_factory=dict)  # code names
    vectors: set[MatrixSymbol] = field(default_factory=set)  # declared 1-D arguments
    batched: set[MatrixSymbol] = field(default_factory=set)  # values with batch dimensions
    headed: dict = field(default_factory=dict)  # values with a heads axis → their head count
    layouts: dict = field(default_factory=dict)  # code name → its array's codegen.layout.Layout (``lay_out``)


@dataclass
class Statement:
    """One value of the plan: ``target = expr``, its array's ``shape`` and a comment saying why."""

    target: str
    expr: MatrixExpr
    shape: object  # a codegen.shapes.Shape, the array's axes (laid out by codegen.layout), or None
    comment: str = ""  # e.g. "grad of: …"


@dataclass
class Emitted:
    """A statement as printed for one backend: the plan's ``Statement`` is never written, printing
    makes one of these per statement (``Emitted.of``), and scheduling (fusion, liveness, writing
    into free arrays) rewrites them."""

    target: str
    expr: MatrixExpr
    shape: object
    comment: str = ""
    code: str = ""  # the printed expression
    reads: set = field(default_factory=set)  # the names the printed code reads
    release: list = field(default_factory=list)  # names no longer needed after this statement
    updates: list = field(default_factory=list)  # lines that update the target in place, after it is made
    shape_note: str = ""  # said after the shape comment, e.g. whose array the target is
    outputs: list = field(default_factory=list)  # a fused kernel's call: the arrays it makes (else the target)
    fused: list = field(default_factory=list)  # a fused kernel's call: the statements it computes
    wrapped: bool = False  # printed inside a helper that changes its axes (heads summed, a vector's reshape)

    @classmethod
    def of(cls, st: Statement) -> Emitted:
        return cls(st.target, st.expr, st.shape, st.comment)


@dataclass
class ModulePlan:
    component: Component
    derivation: Derivation
    context: PrintContext  # the module's symbols: code names, batch, heads, layouts
    forward: list[Statement]
    outputs: list[str]  # the outputs' code names, in declaration order
    backward: list[Statement]
    gradients: list[tuple[str, Statement | None]]  # (argument, statement); None: zero gradient
    notes: list[str] = field(default_factory=list)  # what the optimising passes did
    taken: set[str] = field(default_factory=set)  # every code name in use: a new one must be fresh
    defined: list[Statement] = field(default_factory=list)  # every forward statement, read or not
    given: list[str] = field(default_factory=list)  # the upstream gradients' code names, one per output

    @property
    def output(self) -> str:
        """The output of a plan with one (a model part's)."""
        if len(self.outputs) != 1:
            raise ValueError(f"{self.component.name} has several outputs: read outputs")
        return self.outputs[0]

    @property
    def several(self) -> bool:
        return len(self.outputs) > 1

    def numbers(self) -> set[str]:
        """The outputs that are numbers, shape (): 1 × 1 and carrying no batch (a loss)."""
        return {o.name for o in self.component.output_symbols
                if tuple(o.shape) == (1, 1) and o not in self.context.batched}


def user_names(component: Component) -> set[str]:
    """Every name the component itself gives: arguments, definitions, dimensions, derived scalars."""
    names = {a.name for a in component.arguments} | {d.name for d in component.definitions}
    names |= {str(s) for a in component.tensor_arguments for s in a.dims}
    return names | {str(s) for s, _, _ in component.scalars} | set(RESERVED_NAMES)


def fresh_name(preferred: str, taken: set[str]) -> str:
    """``preferred``, or ``preferred`` with ``_`` inserted after its first letter until it is free."""
    name, k = preferred, 1
    while name in taken:
        name = preferred[0] + "_" * k + preferred[1:]
        k += 1
    taken.add(name)
    return name


def symbols_read(expr: MatrixExpr, names: dict) -> set[str]:
    """The code names of the matrix symbols ``expr`` reads (``names``: symbol → code name)."""
    return {names.get(s, s.name) for s in expr.free_symbols if isinstance(s, MatrixSymbol)}


def dims_in_order(c, arguments) -> list[str]:
    """The dimension names of ``arguments`` of component ``c``, each once, in order of first
    appearance (the dimension of a size n_heads*d_h is d_h; a fixed size names nothing)."""
    order: list[str] = []
    for a in arguments:
        for d in a.dims:
            dimension, _ = split_size(d, set(c._dims.values()))
            if dimension is not None and str(dimension) not in order:
                order.append(str(dimension))
    return order
