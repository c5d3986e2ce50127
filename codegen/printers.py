"""Array-code printers for the engine's matrix expressions.

``NumPyMatrixPrinter`` subclasses SymPy's ``NumPyPrinter`` with ``strict``
on: a node without a ``_print_X`` method is an error, never a guess.  It
prints what a person would write: ``@`` for products, ``.swapaxes(-1, -2)``
for transposes, ``.sum(axis=-1, keepdims=True)`` for ``A 1``, nothing at all
for a broadcast ``1 bᵀ`` (NumPy broadcasting does it), ``v * A`` for
``(v 1ᵀ) ∘ A``.  No ones, identity or diagonal matrix is ever built.

Every value carries any number of leading batch dimensions; ``BatchSum``
prints as a reduction over them, folded into the product when it is a
contraction over tokens (``Xᵀ Δ`` becomes one 2-D matmul over batch × tokens).
"""
from __future__ import annotations

import ast

import sympy as sp
from sympy import (
    HadamardProduct,
    MatAdd,
    MatMul,
    MatrixExpr,
    MatrixSymbol,
    OneMatrix,
    Transpose,
)
from sympy.printing.numpy import NumPyPrinter

from derive.activations import ACTIVATIONS
from derive.batch import carries_batch, heads_axis
from derive.primitives import X_SCALAR, BatchSum, ChoiceFunction, ScalarFunction, ScatterAdd, TargetScatter
from derive.simplify import split_coefficient

from .layout import Layout, layout_of, merged_ones, product_layout
from .plan import PrintContext


class UnprintableNode(TypeError):
    """The printer met a node it has no code for."""


def atomic(code: str) -> bool:
    """True when ``code`` needs no parentheses as an operand or a receiver."""
    node = ast.parse(code, mode="eval").body
    return isinstance(node, (ast.Name, ast.Call, ast.Attribute, ast.Subscript)) or (
        isinstance(node, ast.Constant) and not code.startswith("-")
    )


def paren(code: str) -> str:
    return code if atomic(code) else f"({code})"


def to_floats(e: sp.Expr) -> sp.Expr:
    """Replace irrational numeric constants (√2, π…) by floats.

    A Python float keeps float32 arrays float32; a NumPy float64 scalar such
    as ``np.sqrt(2)`` would promote them.
    """
    if not isinstance(e, sp.Basic) or e.is_Atom and not e.is_NumberSymbol:
        return e
    if e.is_number and not e.is_Rational:
        return sp.Float(e.evalf(20), 20)
    return e.func(*[to_floats(a) for a in e.args])


def exact_size(expr, scalar) -> str:
    """A size as an exact integer, printed by ``scalar``: a quotient such as d / n_heads is integer
    division (the divisibility is checked when the arguments are)."""
    numerator, denominator = sp.fraction(sp.sympify(expr))
    if denominator == 1:
        return scalar(numerator)
    return f"{paren(scalar(numerator))} // {paren(scalar(denominator))}"


class NumPyMatrixPrinter(NumPyPrinter):
    """Prints matrix expressions as NumPy code over batched arrays."""

    array = "np"
    backend = "numpy"  # whose lowering of a declared primitive it prints (module_printer sets it)
    printmethod = "_numpymatrixcode"

    def __init__(self, context: PrintContext | None = None):
        super().__init__({"strict": True, "fully_qualified_modules": True})
        self.ctx = context or PrintContext()
        self.symbols_used: set[str] = set()
        self.functions_used: dict[str, ScalarFunction] = {}
        self.choices_used: dict[str, ChoiceFunction] = {}
        self.helpers_used: set[str] = set()
        self.runtime_used: dict[str, str] = {}  # declared primitives' helpers: name → source
        self.kernels: list[str] = []  # fused kernels' source (``codegen.kernels``), for the numba target
        self._scalar_depth = 0
        self._entrywise_argument = None
        self.like = "None"  # an array in the dtype (and on the device) the function computes in

    # -- module names

    def _module_format(self, fqn, register=True):
        """NumPy's names, in this backend's array module; any other module is refused, not imported."""
        if not fqn.startswith("numpy."):
            raise UnprintableNode(f"it would need {fqn}, which generated code does not import")
        return f"{self.array}.{fqn[len('numpy.'):]}"

    # -- backend idioms (the Torch printer overrides these)

    def transpose(self, code: str) -> str:
        return f"{paren(code)}.swapaxes(-1, -2)"

    def reciprocal(self, code: str) -> str:
        """1/x for an atomic ``code``."""
        return f"1/{code}"

    def vector_as_column(self, code: str) -> str:
        return f"{paren(code)}[:, None]"

    def reduce(self, code: str, axis: int) -> str:
        return f"{paren(code)}.sum(axis={axis}, keepdims=True)"

    def flatten_batch(self, code: str, cols: str) -> str:
        """(..., n, c) → (batch · n, c)."""
        return f"{paren(code)}.reshape(-1, {cols})"

    def sum_leading(self, code: str) -> str:
        """Sum a (batch · n, c) array over its first axis, giving (c,)."""
        return f"{paren(code)}.sum(axis=0)"

    def sum_batch(self, code: str, rows: str, cols: str) -> str:
        return f"{paren(code)}.reshape(-1, {rows}, {cols}).sum(axis=0)"

    def flat_transpose(self, code: str) -> str:
        return f"{paren(code)}.T"

    def choice_call(self, fn: ChoiceFunction, arg: str) -> str:
        return f"_{fn.table.upper()}[{fn.config}]({arg})"

    # -- scalars

    def _print_Symbol(self, expr):
        self.symbols_used.add(expr.name)
        return expr.name

    def _print_Float(self, expr):
        return repr(float(expr))

    def _print_Heaviside(self, expr):
        arg, value = expr.args
        return f"{self.array}.heaviside({self._print(arg)}, {self._print(value)})"

    def _print_Max(self, expr):
        return self._extremum(expr, "maximum")

    def _print_Min(self, expr):
        return self._extremum(expr, "minimum")

    def _extremum(self, expr, how: str) -> str:
        """max/min of several values, pairwise: ``np.maximum(a, np.maximum(b, c))``."""
        *rest, last = sorted(expr.args, key=lambda a: a.is_number)  # numbers last: arrays lead
        code = self._print(last)
        for a in reversed(rest):
            code = f"{self.array}.{how}({self._print(a)}, {code})"
        return code

    def _print_Piecewise(self, expr):
        """Nested ``where``; when every branch is a constant, the last one is an array like the argument."""
        pieces = list(expr.args)
        if pieces[-1].cond is not sp.true:
            raise UnprintableNode(f"{expr} has no value where no condition holds (add a (value, True) branch)")
        values = [self._print(e) for e, _ in pieces]
        if all(e.is_number for e, _ in pieces):
            values[-1] = f"{self.array}.full_like({self._entrywise_argument}, {values[-1]})"
        code = values[-1]
        for (_, cond), value in zip(reversed(pieces[:-1]), reversed(values[:-1])):
            code = f"{self.array}.where({self._print(cond)}, {value}, {code})"
        return code

    def _print_floor(self, expr):
        return f"{self.array}.floor({self._print(expr.args[0])})"

    def _print_ceiling(self, expr):
        return f"{self.array}.ceil({self._print(expr.args[0])})"

    def _print_sign(self, expr):
        return f"{self.array}.sign({self._print(expr.args[0])})"

    def _print_Abs(self, expr):
        return f"{self.array}.abs({self._print(expr.args[0])})"

    def _relation(self, expr, op: str) -> str:
        return f"{self._print(expr.lhs)} {op} {self._print(expr.rhs)}"

    def _print_And(self, expr):
        return " & ".join(f"({self._print(a)})" for a in expr.args)

    def _print_Or(self, expr):
        return " | ".join(f"({self._print(a)})" for a in expr.args)

    def _print_Pow(self, expr, rational=False):
        base, exp = expr.args
        b = self._print(base)
        b = b if atomic(b) else f"({b})"
        if exp == -1:
            return self.reciprocal(b)
        sqrt = "math.sqrt" if self._scalar_depth else f"{self.array}.sqrt"
        if sqrt == "math.sqrt" and exp in (sp.Rational(1, 2), -sp.Rational(1, 2)):
            self.helpers_used.add("math")
        if exp == sp.Rational(1, 2):
            return f"{sqrt}({self._print(base)})"
        if exp == -sp.Rational(1, 2):
            return f"1/{sqrt}({self._print(base)})"
        if exp.is_Integer and exp < 0:
            return f"1/{b}**{-exp}"
        e = self._print(exp)
        return f"{b}**{e if atomic(e) else f'({e})'}"

    def _print_erf(self, expr):
        self.helpers_used.add("erf")
        return f"_erf({self._print(expr.args[0])})"

    def scalar(self, expr: sp.Expr) -> str:
        """A scalar of sizes and configuration: Python arithmetic (``math.sqrt``), no array scalars."""
        expr = sp.sympify(expr)
        self._scalar_depth += 1
        try:
            return self._print(to_floats(expr))
        finally:
            self._scalar_depth -= 1

    def size(self, expr: sp.Expr) -> str:
        """A size (an axis's extent, an index), ``exact_size``."""
        return exact_size(expr, self.scalar)

    def _print_Declared(self, expr):
        """A declared primitive (``derive.declare``) in its declaration's code for this backend: each
        operand at its declared size with both matrix axes (a batched operand without heads gets a
        heads axis when the result has one), each parameter an exact size or a scalar, in parentheses
        where the lowering puts it inside an expression."""
        primitive = expr.primitive
        # operands meeting head-split ones get a heads axis, unless the primitive makes or changes it
        heads = self.has_heads(expr) and primitive.heads is None
        operands = [self.heads_axis(self.full(a), a, heads) for a in expr.operands]
        params = [self.size(v) if name in primitive.sizes or sp.sympify(v).is_integer else self.scalar(v)
                  for name, v in zip(primitive.params, expr.params)]
        self.runtime_used.update(primitive.runtime_for(self.backend))
        return primitive.code(self.backend, operands, params, wrap=paren)

    def _print_RotaryAngles(self, expr):
        """The angles in the dtype (and on the device) of ``like``, an array of the function computing."""
        self.helpers_used.add("rotary_angles")
        return (f"_rotary_angles({self.size(expr.rows)}, {self.size(expr.cols)}, {self.scalar(expr.theta)}, "
                f"like={self.like})")

    def _print_Gather(self, expr):
        if self.is_batched(expr.table):  # each sequence's own rows, at its own indices
            self.helpers_used.add("gather_rows")
            return f"_gather_rows({self.full(expr.table)}, {self._print(expr.index)})"
        return f"{paren(self.full(expr.table))}[{self._print(expr.index)}]"

    def _print_ScatterAdd(self, expr):
        """ohe(idx)ᵀ G of each sequence (the cotangent of a batched table): into its own zero rows."""
        self.helpers_used.add("scatter_rows")
        return f"_scatter_rows({self._print(expr.index)}, {self.full(expr.values)}, {self.size(expr.rows)})"

    def scatter_add(self, expr: ScatterAdd, into: str | None = None, fresh: bool = False) -> str:
        """Σ_batch ohe(idx)ᵀ G: one scatter-add over batch × tokens (into the array ``into``)."""
        self.helpers_used.add("scatter_add_rows")
        extra = "" if into is None else f", into={into}, fresh={fresh}"
        index, values = self._print(expr.index), self.full(expr.values)
        if not self.is_batched(expr.values) and self.is_batched(expr.index):  # the same rows for every sequence
            self.helpers_used.add("expand_batch")
            values = f"_expand_batch({values}, {paren(index)}.shape[:-1])"
        return (f"_scatter_add_rows({index}, {values}, "
                f"{self.size(expr.shape[0])}{extra})")

    def _print_Repeat(self, expr):
        return f"{self.scalar(expr.stack)}.forward({self._print(expr.arg)})"

    def _print_RepeatBackward(self, expr):
        return f"{self.scalar(expr.stack)}.backward({self._print(expr.cotangent)})"

    def _print_IndexSlice(self, expr):
        return f"{paren(self._print(expr.index))}[..., {self.size(expr.start)}:]"

    def _print_LogSumExpOfSoftmax(self, expr):
        self.helpers_used.add("logsumexp_of_softmax")
        return f"_logsumexp_of_softmax({self._print(expr.arg)}, {self._print(expr.softmax)})"

    def _print_Pick(self, expr):
        values, targets = self.full(expr.arg), self._print(expr.targets)
        if not self.is_batched(expr.arg) and self.is_batched(expr.targets):  # the same table for every sequence
            self.helpers_used.add("expand_batch")
            values = f"_expand_batch({values}, {paren(targets)}.shape[:-1])"
        return self.pick(values, targets)

    def pick(self, values: str, targets: str) -> str:
        return f"np.take_along_axis({values}, {paren(targets)}[..., None], axis=-1)"

    def _print_TargetScatter(self, expr):
        # Alone (nothing to add it to), the result itself is the dense matrix: zeros, values at the targets.
        self.helpers_used.add("scatter_at_targets")
        return (f"_scatter_at_targets({self._print(expr.targets)}, {self.full(expr.values)}, "
                f"{self.size(expr.shape[1])})")

    def _print_GreaterThan(self, expr):
        return self._relation(expr, ">=")

    def _print_StrictGreaterThan(self, expr):
        return self._relation(expr, ">")

    def _print_LessThan(self, expr):
        return self._relation(expr, "<=")

    def _print_StrictLessThan(self, expr):
        return self._relation(expr, "<")

    def _print_Unequality(self, expr):
        return self._relation(expr, "!=")

    def _print_BooleanTrue(self, expr):
        return "True"

    def _print_BooleanFalse(self, expr):
        return "False"

    def _print_Not(self, expr):
        return f"~({self._print(expr.args[0])})" if not self._scalar_depth else f"not {paren(self._print(expr.args[0]))}"

    def _print_Equality(self, expr):
        return self._relation(expr, "==")

    def _print_Mod(self, expr):
        a, b = (paren(self._print(x)) for x in expr.args)
        return f"{a} % {b}"

    # -- layouts: how each printed array sits against its declared shape

    def layout(self, e) -> Layout:
        """The layout of the array ``self._print(e)`` makes (``codegen.layout``, the one analysis)."""
        return layout_of(e, self.ctx)

    def has_heads(self, e) -> bool:
        """Does ``e`` carry a heads axis (split and not merged back)?"""
        return heads_axis(e, self.ctx.headed) is not None

    def matrix(self, e) -> str:
        """``e`` as an array with both matrix axes: a row vector (cols,) gets its row axis back."""
        return self.as_matrix_code(self._print(e), self.layout(e))

    def full(self, e) -> str:
        """``e`` at its declared size: broadcast axes expanded (``_expand``), for an operation that
        reads the extent of an axis (a reduction, a softmax, a product's inner dimension)."""
        return self.full_code(self._print(e), self.layout(e), e.shape)

    def full_code(self, code: str, layout: Layout, shape) -> str:
        """Printed ``code`` of that ``layout`` at the declared ``shape`` (rows, cols)."""
        code = self.as_matrix_code(code, layout)
        if any(layout.repeats(shape)):
            self.helpers_used.add("expand")
            code = f"_expand({code}, {self.size(shape[0])}, {self.size(shape[1])})"
        return code

    def with_heads(self, e, result_heads: bool) -> str:
        """``e`` as an operand of a value with a heads axis (``heads_axis``)."""
        if self.needs_heads_axis(e, result_heads):
            return self.heads_axis(self.matrix(e), e, result_heads)
        return self._print(e)

    def needs_heads_axis(self, e, result_heads: bool) -> bool:
        return result_heads and not self.has_heads(e) and self.is_batched(e)

    def heads_axis(self, code: str, e, result_heads: bool) -> str:
        """``code`` of ``e`` (both matrix axes) as an operand of a value with a heads axis: a batched
        value without one gets an axis of size 1 there (the same for every head), so its batch axes
        stay the batch axes, not the heads'."""
        return f"{paren(code)}[..., None, :, :]" if self.needs_heads_axis(e, result_heads) else code

    # -- matrices

    def _print_MatrixSymbol(self, expr):
        name = self.ctx.names.get(expr, expr.name)
        self.symbols_used.add(name)
        return name

    def _print_Transpose(self, expr):
        layout = self.layout(expr.arg)
        if layout.ndim == 1:
            return self.vector_as_column(self._print(expr.arg))
        if layout.ndim == 0:
            return self._print(expr.arg)
        return self.transpose(self._print(expr.arg))

    def _print_MatAdd(self, expr):
        fused = self.biased_product(expr)
        if fused is not None:
            return fused
        rows_added = [t for t in expr.args if isinstance(t, BatchSum) and isinstance(t.arg, ScatterAdd)]
        if rows_added and len(rows_added) < len(expr.args):
            # base + Σ_batch ohe(idx)ᵀ V: the rows of V added into the base, no array of zeros
            rest = [t for t in expr.args if t not in rows_added]
            base = rest[0] if len(rest) == 1 else MatAdd(*rest)
            code, fresh = self._print(base), not isinstance(base, MatrixSymbol)
            for term in rows_added:
                code = self.scatter_add(term.arg, into=code, fresh=fresh)
                fresh = True
            return code
        scatters = [t for t in expr.args if isinstance(split_coefficient(t)[1], TargetScatter)]
        if scatters:
            # base + c (g 1ᵀ) ∘ ohe(t): an update at the target entries, no one-hot matrix.
            rest = [t for t in expr.args if t not in scatters]
            if not rest:  # only scatters: the first makes the array, the others update it
                rest, scatters = scatters[:1], scatters[1:]
            base = rest[0] if len(rest) == 1 else MatAdd(*rest)
            code = self._print(base)
            fresh = not isinstance(base, MatrixSymbol)  # a new array may be updated in place
            for term in scatters:
                c, scatter = split_coefficient(term)
                values = self._print(sp.MatMul(c, scatter.values) if c != 1 else scatter.values)
                self.helpers_used.add("add_at_targets")
                code = f"_add_at_targets({code}, {self._print(scatter.targets)}, {values}, fresh={fresh})"
                fresh = True
            return code
        out = ""
        heads = self.has_heads(expr)
        for i, term in enumerate(expr.args):
            c, body = split_coefficient(term)
            if c.could_extract_minus_sign() and i > 0:
                code = self.with_heads(sp.MatMul(-c, body) if -c != 1 else body, heads)
                out += f" - {code if not _is_sum(code) else f'({code})'}"
            else:
                code = self.with_heads(term, heads)
                out += code if i == 0 else f" + {code}"
        return out

    def _print_MatMul(self, expr):
        c, body = split_coefficient(expr)
        factors = list(body.args) if isinstance(body, MatMul) else [body]
        code = self.product(factors)
        if c == 1:
            return code
        if c == -1:
            return f"-{paren(code)}"
        return f"{paren(self.scalar(c)) if _is_sum(self.scalar(c)) else self.scalar(c)} * {paren(code)}"

    def product(self, factors: list[MatrixExpr]) -> str:
        """A₁ … Aₖ, with every all-ones factor printed as a sum or a broadcast.

        1ₖₘ = 1ₖ 1ₘᵀ, so L 1ₖₘ R = (L 1ₖ)(1ₘᵀ R): a row sum of L times a
        token sum of R, an outer product that broadcasting computes; a missing
        side is a broadcast and prints as nothing.  Adjacent all-ones factors are one
        (1ₐₖ 1ₖₘ = k 1ₐₘ), and a sum over an axis that is itself a broadcast is that
        many times the entry (no array is expanded to be summed).
        """
        coefficient, factors = merged_ones(factors)
        if coefficient != 1:
            return f"{paren(self.scalar(coefficient))} * {paren(self.product(factors))}"
        j = next((i for i, f in enumerate(factors) if isinstance(f, OneMatrix)), None)
        if j is None:
            if len(factors) == 1:
                return self._print(factors[0])
            return self.chain(factors)
        ones, left, right = factors[j], factors[:j], factors[j + 1:]
        parts = []
        if left and ones.shape[0] != 1 and (pair := self.entrywise_pair(left)):
            parts.append(self.row_dot(*pair))  # (A ∘ B) 1: one contraction, no A ∘ B array
        elif left:
            layout = product_layout(left, self.ctx)
            code = self.product(left)
            if ones.shape[0] == 1:
                parts.append(code)
            elif layout.repeats((left[0].shape[0], left[-1].shape[1]))[1]:
                parts.append(f"{paren(self.scalar(ones.shape[0]))} * {paren(self.as_column_code(code, layout))}")
            else:
                parts.append(self.reduce(self.as_matrix_code(code, layout), -1))
        if right:
            layout = product_layout(right, self.ctx)
            code = self.product(right)
            if ones.shape[1] == 1:
                parts.append(code)
            elif layout.repeats((right[0].shape[0], right[-1].shape[1]))[0]:
                parts.append(f"{paren(self.scalar(ones.shape[1]))} * {paren(self.as_matrix_code(code, layout))}")
            else:
                parts.append(self.reduce(self.as_matrix_code(code, layout), -2))
        if not parts:
            raise UnprintableNode(f"a bare all-ones matrix {ones.shape} would be materialised")
        return parts[0] if len(parts) == 1 else " * ".join(paren(p) for p in parts)

    def as_matrix_code(self, code: str, layout: Layout) -> str:
        """Printed ``code`` of that ``layout`` with both matrix axes."""
        if layout.ndim == 1:
            return f"{paren(code)}[None, :]"
        if layout.ndim == 0:
            return f"{paren(code)}.reshape(1, 1)"
        return code

    def as_column_code(self, code: str, layout: Layout) -> str:
        """A value whose columns all repeat one entry, as its (…, rows, 1) column of entries."""
        if layout.ndim == 1:  # a row vector (1, k) with broadcast columns: one entry
            return f"{paren(code)}[..., :1][None, :]"
        return self.as_matrix_code(code, layout)

    def biased_product(self, expr) -> str | None:
        """X W + 1 bᵀ (+ …) in one call where the backend adds the bias inside the product (NumPy: no)."""
        return None

    def biased_terms(self, expr):
        """(X W, 1 bᵀ) when ``biased_product`` prints ``expr`` as one call, else None."""
        return None

    # (A ∘ B) 1 and Σ_batch 1ᵀ (A ∘ B) as one contraction: a module's printer turns it on for NumPy
    # (its helpers ``_row_dot``, ``_column_dot`` are then part of the module)
    contract_entrywise_products = False

    def entrywise_pair(self, factors) -> tuple[str, str] | None:
        """The code of A and B when ``factors`` is one entrywise product A ∘ B of two arrays of the
        same shape (neither broadcast), else None."""
        if not self.contract_entrywise_products or len(factors) != 1:
            return None
        e = factors[0]
        if not (isinstance(e, HadamardProduct) and len(e.args) == 2
                and all(isinstance(a, MatrixSymbol) and self.layout(a).full for a in e.args)
                and self.is_batched(e.args[0]) == self.is_batched(e.args[1])):
            return None
        return self._print(e.args[0]), self._print(e.args[1])

    def row_dot(self, a: str, b: str) -> str:
        """(A ∘ B) 1 without the product array (``_row_dot``)."""
        self.helpers_used.add("row_dot")
        return f"_row_dot({a}, {b})"

    def column_dot(self, a: str, b: str) -> str:
        """Σ_batch 1ᵀ (A ∘ B), a (d,) vector, without the product array (``_column_dot``)."""
        self.helpers_used.add("row_dot")
        return f"_column_dot({a}, {b})"

    def chain(self, factors: list[MatrixExpr]) -> str:
        """A₁ @ A₂ @ …, left to right; a batched operand times a weight shared by the batch is one
        2-D product over all its rows (``_rows_matmul``), not a stack of per-sequence products.
        Each operand has both matrix axes and its contracted axis at full size; a batched operand
        without heads meeting one with heads gets a heads axis of size 1."""
        heads = any(self.has_heads(f) for f in factors)
        codes = []
        for i, f in enumerate(factors):
            layout = self.layout(f)
            rows, cols = layout.repeats(f.shape)
            inner_cols, inner_rows = i < len(factors) - 1, i > 0
            if (inner_cols and cols) or (inner_rows and rows):
                # only a contracted axis is expanded: an outer axis that repeats stays size 1, as the
                # product's layout (``product_layout``) says the result has it
                extent = (1 if rows and not inner_rows else f.shape[0], 1 if cols and not inner_cols else f.shape[1])
                code = self.full_code(self._print(f), layout, extent)
            else:
                code = self.matrix(f)
            codes.append(self.heads_axis(code, f, heads))
        code, batched = paren(codes[0]), self.is_batched(factors[0])
        for f, operand in zip(factors[1:], codes[1:]):
            if batched and not self.is_batched(f) and self.flatten_products and not heads:
                self.helpers_used.add("rows_matmul")
                code = f"_rows_matmul({code}, {operand})"
            else:
                code = f"{code} @ {paren(operand)}"
            batched = batched or self.is_batched(f)
        return code

    flatten_products = True

    def _print_SideBySide(self, expr):
        self.helpers_used.add("side_by_side")
        return f"_side_by_side({', '.join(self._print(f) for f in expr.args)})"

    def _print_ColumnBlock(self, expr):
        arg, start, stop = expr.args
        return f"{paren(self._print(arg))}[..., {self.size(start)}:{self.size(stop)}]"

    def _print_Chain(self, expr):
        self.helpers_used.add("chain")
        heads = any(self.has_heads(f) for f in expr.args)  # a batched factor without heads gets their axis
        return f"_chain({', '.join(self.heads_axis(self.full(f), f, heads) for f in expr.args)})"

    def is_batched(self, e) -> bool:
        return carries_batch(e, self.ctx.batched)

    def _print_HadamardProduct(self, expr):
        heads = self.has_heads(expr)
        return " * ".join(paren(self.with_heads(f, heads)) for f in expr.args)

    def _print_Elementwise(self, expr):
        arg = self._print(expr.arg)
        fn = expr.fn
        if isinstance(fn, ChoiceFunction):
            self.choices_used[fn.table] = fn
            self.symbols_used.add(fn.config)
            for option in fn.options:
                self.functions_used[option.name] = option
            return self.choice_call(fn, arg)
        if fn.name:
            self.functions_used[fn.name] = fn
            return f"_{fn.name}({arg})"
        (x,), body = fn.body.signature, fn.body.expr
        return self._entrywise(to_floats(body.xreplace({x: sp.Symbol(paren(arg))})), paren(arg))

    def _entrywise(self, body: sp.Expr, argument: str) -> str:
        """A scalar function's body over arrays; ``argument`` is the array it is applied to."""
        outer, self._entrywise_argument = self._entrywise_argument, argument
        try:
            return self._print(body)
        finally:
            self._entrywise_argument = outer

    def _print_BatchSum(self, expr):
        # The sweep keeps scalar and shared factors outside the sum (reverse.batch_sum).
        if not self.is_batched(expr.arg):  # the same value for every sequence: n_batch times it
            n_batch = sp.Symbol("n_batch", positive=True, integer=True)
            return f"{self.scalar(n_batch)} * {paren(self._print(expr.arg))}"
        if self.has_heads(expr.arg):  # summed over the batch axes, the heads axis kept
            return self.sum_batch_axes(self.full(expr.arg), 3)
        if not all(sp.sympify(n).is_positive for n in expr.arg.shape):
            # a size such as n_T - 1 may be 0, and a reshape to (-1, 0, d) has no answer
            return self.sum_batch_axes(self.full(expr.arg), 2)
        return self.batch_sum(list(expr.arg.args) if isinstance(expr.arg, MatMul) else [expr.arg])

    def sum_batch_axes(self, code: str, kept: int) -> str:
        self.helpers_used |= {"sum_batch_axes", "math"}
        return f"_sum_batch_axes({code}, {kept})"

    def batch_sum(self, factors: list[MatrixExpr]) -> str:
        """Σ_batch of a product of batched factors (the sweep moved shared factors out).

        Σ_b P_bᵀ Q_b is one contraction over batch × tokens, and Σ_b 1ᵀ E_b one
        sum over them; anything else is summed over the batch axes.
        """
        if len(factors) == 1 and isinstance(factors[0], ScatterAdd):
            return self.scatter_add(factors[0])
        if len(factors) == 2 and isinstance(factors[0], Transpose) and all(self.is_batched(f) for f in factors):
            P, Q = factors[0].arg, factors[1]
            return (f"{self.flat_transpose(self.flatten_batch(self.full(P), self.dim(P.shape[1])))}"
                    f" @ {self.flatten_batch(self.full(Q), self.dim(Q.shape[1]))}")
        if len(factors) == 2 and isinstance(factors[0], OneMatrix) and factors[0].shape[0] == 1 \
                and self.is_batched(factors[1]):
            E = factors[1]
            if pair := self.entrywise_pair([E]):
                return self.column_dot(*pair)
            layout = self.layout(E)
            if layout.repeats(E.shape)[0]:  # every row the same: n times the one row (its columns full), summed over the batch
                one_row = self.full_code(self._print(E), layout, (1, E.shape[1]))
                code = f"{paren(self.scalar(E.shape[0]))} * {paren(one_row)}"
                return self.sum_leading(self.flatten_batch(code, self.dim(E.shape[1])))
            return self.sum_leading(self.flatten_batch(self.full(E), self.dim(E.shape[1])))
        M = factors[0] if len(factors) == 1 else MatMul(*factors)
        return self.sum_batch(self.full(M), self.dim(M.shape[0]), self.dim(M.shape[1]))

    def dim(self, d) -> str:
        return self.size(d)

    def _print_OneMatrix(self, expr):
        raise UnprintableNode(f"a bare all-ones matrix {expr.shape} would be materialised")

    def _print_ZeroMatrix(self, expr):
        raise UnprintableNode("a zero matrix must be folded away by the simplifier")

    def _print_Identity(self, expr):
        raise UnprintableNode("an identity matrix would be materialised")

    def emptyPrinter(self, expr):
        raise UnprintableNode(f"no printer for {type(expr).__name__}: {expr}")

    # -- module-level scalar functions

    inplace_functions = True
    overwrite_free_arrays = True  # statements may update arrays no longer needed (codegen/overwrite.py)

    def inplace_guard(self, body):
        """When the in-place form must not run (NumPy: never)."""
        return None

    def function_definition(self, fn: ScalarFunction) -> str:
        """``def _name(x): …`` for a named scalar function, common subexpressions hoisted."""
        (var,), body = fn.body.signature, fn.body.expr
        body = to_floats(body.xreplace({var: sp.Symbol("x")}))  # the parameter is always ``x``
        if self.inplace_functions:
            from .inplace import InplaceFunction

            code = InplaceFunction(lambda e: self._entrywise(e, "x"), self.array).define(
                fn.name, body, self.inplace_guard(body))
            if "_scratch(" in code:
                self.helpers_used.add("scratch")
            return code
        temps, (reduced,) = sp.cse(body, symbols=sp.numbered_symbols("t"), optimizations="basic")
        lines = [f"def _{fn.name}(x):"]
        lines += [f"    {t} = {self._entrywise(v, 'x')}" for t, v in temps]
        lines.append(f"    return {self._entrywise(reduced, 'x')}")
        return "\n".join(lines)


#: Scalar functions torch computes with one fused kernel, by their definition (not their name): the
#: activations' own definitions (derive.activations), and the logistic function and tanh.
FUSED_KERNELS = (
    (ACTIVATIONS["gelu_tanh"].body.expr, 'torch.nn.functional.gelu(x, approximate="tanh")'),
    (ACTIVATIONS["gelu"].body.expr, "torch.nn.functional.gelu(x)"),
    (ACTIVATIONS["relu"].body.expr, "torch.relu(x)"),
    (ACTIVATIONS["silu"].body.expr, "torch.nn.functional.silu(x)"),
    (1 / (1 + sp.exp(-X_SCALAR)), "torch.sigmoid(x)"),
    (sp.tanh(X_SCALAR), "torch.tanh(x)"),
)


def fused_kernel(body: sp.Expr) -> str | None:
    """The fused torch call that computes exactly ``body`` (a function of x), or None."""
    functions = {type(f) for f in body.atoms(sp.Function)}
    for known, code in FUSED_KERNELS:
        if functions != {type(f) for f in known.atoms(sp.Function)}:
            continue  # different functions: not the same definition
        if body == known or sp.expand(to_floats(body) - to_floats(known)) == 0:
            return code
    return None


def _is_sum(code: str) -> bool:
    node = ast.parse(code, mode="eval").body
    return isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)) or isinstance(
        node, ast.UnaryOp)


class TorchMatrixPrinter(NumPyMatrixPrinter):
    """The same expressions as PyTorch code: ``.mT``, ``.sum(dim, keepdim=True)``."""

    array = "torch"
    backend = "torch"
    printmethod = "_torchmatrixcode"
    flatten_products = False  # torch.matmul already folds the batch into one 2-D product

    def inplace_guard(self, body):
        # Recording a graph (a double backward): out= operations cannot be differentiated.
        # Under a torch.func transform likewise: an out= operation cannot be functionalised.
        return "torch.is_grad_enabled() or _transformed(x)", self._entrywise(body, "x")

    def transpose(self, code: str) -> str:
        return f"{paren(code)}.mT"

    def reciprocal(self, code: str) -> str:
        # ``1/x`` on a tensor is reciprocal and then a multiplication by 1 (with the 1 cast first)
        return f"1/{code}" if self._scalar_depth else f"torch.reciprocal({code})"

    def reduce(self, code: str, axis: int) -> str:
        return f"{paren(code)}.sum({axis}, keepdim=True)"

    def sum_leading(self, code: str) -> str:
        return f"{paren(code)}.sum(0)"

    def sum_batch(self, code: str, rows: str, cols: str) -> str:
        return f"{paren(code)}.reshape(-1, {rows}, {cols}).sum(0)"

    def flat_transpose(self, code: str) -> str:
        return f"{paren(code)}.mT"

    def _print_Heaviside(self, expr):
        arg, value = expr.args
        arg = paren(self._print(arg))
        if value == 0:
            return f"({arg} > 0).to({arg}.dtype)"
        return f"torch.heaviside({arg}, {arg}.new_tensor({self._print(value)}))"

    def _extremum(self, expr, how: str) -> str:
        """Tensors pairwise (``torch.maximum``), then the constants as one clamp: no scalar tensor made."""
        numbers = [a for a in expr.args if a.is_number]
        *rest, last = [a for a in expr.args if not a.is_number]
        code = self._print(last)
        for a in reversed(rest):
            code = f"torch.{how}({self._print(a)}, {code})"
        if numbers:
            bound, value = ("min", sp.Max(*numbers)) if how == "maximum" else ("max", sp.Min(*numbers))
            code = f"{paren(code)}.clamp({bound}={self._print(value)})"
        return code

    def _print_erf(self, expr):
        return f"torch.erf({self._print(expr.args[0])})"

    def biased_terms(self, expr):
        """(X W, 1 bᵀ): a batched value times a weight, both arrays at their full (rows, cols), and a
        vector bias broadcast over its rows."""
        product = bias = None
        for t in expr.args:
            if isinstance(t, MatMul) and len(t.args) == 2 and all(isinstance(a, MatrixExpr) for a in t.args) \
                    and not any(isinstance(a, OneMatrix) for a in t.args) and product is None \
                    and self.is_batched(t.args[0]) and not self.is_batched(t.args[1]) \
                    and all(self.layout(a).full for a in t.args):  # F.linear reads both at full size
                product = t
            elif isinstance(t, MatMul) and len(t.args) == 2 and isinstance(t.args[0], OneMatrix) \
                    and t.args[0].shape[1] == 1 and t.args[1] in self.ctx.vectors and bias is None:
                bias = t
        return None if product is None or bias is None else (product, bias)

    def biased_product(self, expr) -> str | None:
        """X W + 1 bᵀ as ``torch.nn.functional.linear(X, Wᵀ, b)``: the bias added inside the product (addmm)."""
        terms = self.biased_terms(expr)
        if terms is None:
            return None
        product, bias = terms
        X, W = product.args
        weight = self._print(W.arg) if isinstance(W, Transpose) else self.transpose(self._print(W))
        code = f"torch.nn.functional.linear({self._print(X)}, {weight}, {self._print(bias.args[1])})"
        rest = [t for t in expr.args if t not in (product, bias)]
        if not rest:
            return code
        return self._print(MatAdd(*rest)) + " + " + code

    def function_definition(self, fn: ScalarFunction) -> str:
        """A scalar function that is exactly one of torch's fused forward kernels calls it."""
        (var,), body = fn.body.signature, fn.body.expr
        kernel = fused_kernel(body.xreplace({var: X_SCALAR}))
        if kernel is not None and self.inplace_functions:
            from .inplace import times_form

            return times_form(fn.name, kernel, "Exactly the defined function, as torch's fused kernel.")
        if kernel is not None:
            return (f"def _{fn.name}(x):\n    \"\"\"Exactly the defined function, as torch's fused kernel.\"\"\"\n"
                    f"    return {kernel}")
        return super().function_definition(fn)

    def pick(self, values: str, targets: str) -> str:
        return f"{paren(values)}.gather(-1, {paren(targets)}.unsqueeze(-1))"
