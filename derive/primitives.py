"""Matrix-expression nodes that SymPy lacks.

SymPy supplies the linear-algebra nodes the engine builds on (``MatrixSymbol``,
``MatMul``, ``MatAdd``, ``Transpose``, ``HadamardProduct``, ``OneMatrix``,
``ZeroMatrix``).  Broadcasting and reductions are written with ``OneMatrix``
exactly as the paper writes them: ``1 bᵀ`` repeats a row over tokens, ``A 1``
sums each row, ``1ᵀ A`` sums over tokens.  This module adds what cannot be
written that way: elementwise scalar functions, the sum over leading batch
dimensions, and cotangent symbols.
"""
from __future__ import annotations

import sympy as sp
from sympy import Basic, Lambda, MatrixExpr, MatrixSymbol, Tuple
from sympy.core.symbol import Str

X_SCALAR = sp.Symbol("x", real=True)


class UnsupportedFunction(ValueError):
    """A scalar function the engine cannot differentiate or generate code for."""


def _zero_almost_everywhere(derivative: sp.Expr) -> sp.Expr:
    """Piecewise-constant parts (floor, ceiling, sign, Heaviside) have derivative 0 away from
    their jumps, where it is a Dirac delta; the derivative takes 0 there too, as PyTorch does.
    At a kink (ReLU's 0) the step takes the value 0, PyTorch's subgradient."""
    derivative = derivative.replace(lambda e: isinstance(e, sp.DiracDelta), lambda e: sp.S.Zero)
    derivative = derivative.replace(
        lambda e: isinstance(e, sp.Derivative) and isinstance(e.expr, (sp.floor, sp.ceiling)),
        lambda e: sp.S.Zero)
    return derivative.replace(lambda e: isinstance(e, sp.Heaviside), lambda e: sp.Heaviside(e.args[0], 0))


class ScalarFunction(Basic):
    """A scalar function ``x ↦ f(x)`` applied elementwise.

    ``name`` is empty for small anonymous functions (``sqrt(x + eps)``), which
    print inline; a named function (``gelu_tanh``) prints as a call to a
    module-level definition.
    """

    def __new__(cls, name: str | Str, body: Lambda):
        return Basic.__new__(cls, Str(str(name)), body)

    @property
    def name(self) -> str:
        return self.args[0].name

    @property
    def body(self) -> Lambda:
        return self.args[1]

    def derivative(self) -> "ScalarFunction":
        """f′ from ``sympy.diff`` of the scalar definition (0 where it is a Dirac delta)."""
        (x,), expr = self.body.signature, self.body.expr
        name = f"{self.name}_grad" if self.name else ""
        derivative = _zero_almost_everywhere(sp.diff(expr, x))
        if derivative.has(sp.Derivative):
            raise UnsupportedFunction(f"{self.describe()}: SymPy cannot differentiate it "
                                      f"(d/dx gives {derivative})")
        return ScalarFunction(name, Lambda(x, derivative))

    def describe(self) -> str:
        """``gelu_tanh(x) = …`` or ``f(x) = …`` for messages."""
        (x,), expr = self.body.signature, self.body.expr
        return f"{self.name or 'f'}({x}) = {expr}"

    def check(self, allowed: set) -> None:
        """Refuse a body with free symbols other than its variable and ``allowed``; check f′ exists.

        A named function prints as a module-level ``def _name(x)``, so only ``x`` may appear in it.
        """
        (x,), expr = self.body.signature, self.body.expr
        stray = sorted(map(str, expr.free_symbols - {x} - (set() if self.name else allowed)))
        if stray:
            hint = " (write the variable as derive.x)" if "x" in stray else ""
            raise UnsupportedFunction(f"{self.describe()}: unknown symbol(s) {', '.join(stray)}; "
                                      f"a scalar function may use only x"
                                      + ("" if self.name else " and the component's configuration") + hint)
        self.derivative()


class ChoiceFunction(Basic):
    """An elementwise function selected by a configuration value.

    ``config`` names the keyword argument that selects; ``table`` names the
    set of functions (``activation``, then ``activation_grad`` for the
    derivatives); ``options`` holds one ``ScalarFunction`` per accepted value.
    """

    def __new__(cls, config: str | Str, table: str | Str, options: Tuple):
        return Basic.__new__(cls, Str(str(config)), Str(str(table)), Tuple(*options))

    @property
    def config(self) -> str:
        return self.args[0].name

    @property
    def table(self) -> str:
        return self.args[1].name

    @property
    def options(self) -> tuple[ScalarFunction, ...]:
        return tuple(self.args[2])

    @property
    def name(self) -> str:
        return self.table

    def check(self, allowed: set) -> None:
        for option in self.options:
            option.check(allowed)

    def derivative(self) -> "ChoiceFunction":
        """The choice of derivatives, each from ``sympy.diff``."""
        return ChoiceFunction(self.config, f"{self.table}_grad",
                              Tuple(*(f.derivative() for f in self.options)))


class Node(MatrixExpr):
    """Base of the engine's own nodes: operands named by ``fields``, a shape rule.

    ``Node`` subclasses list their operands once, in ``fields``; each becomes a
    read-only attribute (``node.arg``, ``node.heads``…) over SymPy's ``args``.
    """

    fields: tuple[str, ...] = ()
    #: The operands the node is linear in, each on its own (every one: multilinear).  The simplifier's
    #: zero and factor facts follow from it: f(…, 0, …) = 0 and f(…, c A, …) = c f(…, A, …).
    linear: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for i, name in enumerate(cls.fields):
            setattr(cls, name, property(lambda self, i=i: self.args[i]))

    def __new__(cls, *operands):
        if len(operands) != len(cls.fields):
            raise TypeError(f"{cls.__name__} takes {', '.join(cls.fields)}")
        return Basic.__new__(cls, *(sp.sympify(o) for o in operands))


class Elementwise(Node):
    """``f(A)``: the scalar function ``f`` applied to every entry of ``A``."""

    fields = ("fn", "arg")

    @property
    def shape(self):
        return self.arg.shape

    def _eval_transpose(self):
        return Elementwise(self.fn, self.arg.T)


class BatchSum(Node):
    """``Σ_batch A``: the sum over leading batch dimensions.

    The symbolic derivation works on one sequence, as the paper does.  A
    parameter is shared by every sequence of a batch, so its gradient is the
    sum of the per-sequence contributions; this node marks where that sum is
    taken.  Its shape is the per-sequence shape.
    """

    fields = ("arg",)
    linear = ("arg",)

    @property
    def shape(self):
        return self.arg.shape


class Cotangent(MatrixSymbol):
    """``Δ_name = ∂L/∂name``, the cotangent of a named value."""

    @property
    def target(self) -> str:
        return self.name

    def _sympystr(self, printer):
        return f"Δ_{self.name}"  # str(expr) tells Δ_Y from the value Y


def cotangent(symbol: MatrixSymbol) -> Cotangent:
    return Cotangent(symbol.name, *symbol.shape)


class Upstream(Cotangent):
    """``Ḡ_name``: the upstream gradient given for one output of a component with several.  Apart from
    the output's cotangent Δ_name, which also gathers what later definitions pass back when the output
    is read again (Q returned and used in S = Q Kᵀ)."""

    def _sympystr(self, printer):
        return f"Ḡ_{self.name}"


def upstream(symbol: MatrixSymbol) -> Upstream:
    return Upstream(symbol.name, *symbol.shape)


def upstream_gradients(component) -> dict:
    """Each output's given gradient: the output's own cotangent Δ_Y for a component with one (as the
    paper writes it), ``Ḡ_name`` for each of several."""
    outputs = component.output_symbols
    if len(outputs) == 1:
        return {outputs[0]: cotangent(outputs[0])}
    return {o: upstream(o) for o in outputs}


def matrix_children(expr: Basic) -> tuple[MatrixExpr, ...]:
    """The matrix-valued operands of ``expr`` (leaves have none)."""
    if isinstance(expr, MatrixSymbol) or not isinstance(expr, MatrixExpr):
        return ()
    return tuple(a for a in expr.args if isinstance(a, MatrixExpr))


class RotaryAngles(Node):
    """The (rows, cols) table of rotary angles, entry (t, j) = t · θ^(−2 (j mod cols/2) / cols) at
    positions t = 0 … rows − 1: the two halves of a row carry the same frequencies (Hugging Face's
    layout).  A constant of the sizes and θ: it reads no matrix and receives no gradient."""

    fields = ("rows", "cols", "theta")

    @property
    def shape(self):
        return (self.rows, self.cols)


class Gather(Node):
    """``ohe(idx) W``: the rows of W at the integer indices idx (1, n), shape (n, d).

    The table is a parameter (an embedding: the same rows for every sequence) or a value of each
    sequence (its own rows, picked by its own indices).  No one-hot matrix exists anywhere: forward
    is an indexing, backward a scatter-add (summed over the batch for a parameter's table).
    """

    fields = ("table", "index")
    linear = ("table",)

    @property
    def shape(self):
        return (self.index.shape[1], self.table.shape[1])


class ScatterAdd(Node):
    """``ohe(idx)ᵀ G``: row t of G added into row idx[t] of a zero (rows, d) matrix, for each sequence
    (under Σ_batch: for all of them into one)."""

    fields = ("values", "index", "rows")
    linear = ("values",)

    @property
    def shape(self):
        return (self.rows, self.values.shape[1])


class IndexSlice(Node):
    """``idx[start:]`` of integer indices (1, n) — the next-token targets are ``idx[1:]``."""

    fields = ("index", "start")

    @property
    def shape(self):
        return (1, self.index.shape[1] - self.start)


class Pick(Node):
    """``(ohe(t) ∘ Z) 1``: entry t_i of each row i of Z, shape (n, 1)."""

    fields = ("arg", "targets")
    linear = ("arg",)

    @property
    def shape(self):
        return (self.arg.shape[0], 1)


class TargetScatter(Node):
    """``(g 1ᵀ) ∘ ohe(t)``: g_i at column t_i of row i, zero elsewhere, shape (n, columns).

    Never built as a matrix: added to another term it prints as an update at
    the target positions.
    """

    fields = ("values", "targets", "columns")
    linear = ("values",)

    @property
    def shape(self):
        return (self.values.shape[0], self.columns)


def index_base(e: MatrixExpr) -> MatrixExpr:
    """The integer input an index expression reads (``idx`` for ``idx[1:]``)."""
    return index_base(e.index) if isinstance(e, IndexSlice) else e


def index_tables(definitions) -> list[tuple]:
    """(integer input, table size) for every integer index the ``definitions`` read: the rows of a
    gathered table, the columns a target picks from."""
    checks = []
    for d in definitions:
        for node in sp.preorder_traversal(d.expr):
            if isinstance(node, Gather):
                check = (index_base(node.index), node.table.shape[0])
            elif isinstance(node, Pick):
                check = (index_base(node.targets), node.arg.shape[1])
            else:
                continue
            if check not in checks:
                checks.append(check)
    return checks


class Repeat(Node):
    """``f_L(… f_1(X))``: a stack of blocks applied in turn (``stack`` is the runtime object
    that holds each block's parameters and runs its derived forward pass)."""

    fields = ("arg", "stack")

    @property
    def shape(self):
        return self.arg.shape


class RepeatBackward(Node):
    """The cotangent of a ``Repeat``'s input: each block's derived backward, last block first."""

    fields = ("cotangent", "stack")

    @property
    def shape(self):
        return self.cotangent.shape
