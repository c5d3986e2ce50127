"""The public API for writing a component's forward pass.

A component is a short program in the paper's notation::

    c = Component("linear", "Fully connected layer")
    n_T, d_in, d_out = c.dims("n_T d_in d_out")
    X = c.input("X", n_T, d_in)
    W = c.param("W", d_in, d_out)
    b = c.param("b", d_out)                      # a vector: the row bᵀ
    c.output("Y", X @ W + rows(b, n_T))          # Y = X W + 1 bᵀ

Inputs carry any number of leading batch dimensions; parameters and
configuration do not.  Shapes are checked as the expression is built: a
mismatch raises ``ShapeMismatch`` naming the operation and both shapes.
"""
from __future__ import annotations

import builtins
import keyword
from dataclasses import dataclass, field
from typing import Any

import sympy as sp
from sympy import (
    HadamardProduct,
    Lambda,
    MatAdd,
    MatMul,
    MatrixExpr,
    MatrixSymbol,
    OneMatrix,
    Transpose,
)

from .activations import activation_choice
from .declare import primitive_of
from .errors import DefinitionError, ShapeMismatch
from .families.masks import causal_zero  # noqa: F401
from .families.normalisers import logsumexp, softmax  # noqa: F401
from .families.heads import merge_heads, share_heads, split_heads, sum_groups  # noqa: F401  (the API's, declared in their family)
from .families.rotary import rotate_half  # noqa: F401
from .families.routing import top_k_mask  # noqa: F401
from .families.rows import row_contract, row_outer  # noqa: F401
from .families.tokens import first_rows, prefix_sum  # noqa: F401
from .primitives import (
    X_SCALAR,
    BatchSum,
    RotaryAngles,
    ChoiceFunction,
    Elementwise,
    Gather,
    IndexSlice,
    Pick,
    Repeat,
    ScalarFunction,
    UnsupportedFunction,
)


class _Required:
    """The default of a configuration value that callers must always give."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED = _Required()


#: Names the generated code uses for itself (modules, locals of its functions, classes and
#: methods); a component's own names may not take them.  Names with a leading underscore are
#: reserved for the generated helpers, and Python's builtins stay unshadowed.
RESERVED_NAMES = frozenset({
    "np", "torch", "math", "dims", "cache", "grad_out", "grads", "out", "n_batch",
    "forward", "backward", "ctx", "self", "factory", "device", "dtype", "tensors",
    "arguments", "cached", "needs", "compute_dtype",
})


def check_name(name: Any, what: str) -> None:
    """Refuse a name generated code cannot use as its own identifier, naming it and why."""
    if not isinstance(name, str) or not name.isidentifier():
        raise DefinitionError(f"{what} {name!r} is not a valid Python identifier")
    if keyword.iskeyword(name):
        raise DefinitionError(f"{what} {name!r} is a Python keyword")
    if name.startswith("_"):
        raise DefinitionError(f"{what} {name!r}: names starting with '_' are reserved for generated helpers")
    if name in RESERVED_NAMES:
        raise DefinitionError(f"{what} {name!r} is reserved: generated code uses it for itself")
    if hasattr(builtins, name):
        raise DefinitionError(f"{what} {name!r} would shadow Python's builtin {name}")


def split_size(size: Any, dimensions) -> tuple[sp.Symbol | None, sp.Expr]:
    """A declared size as (dimension, factor): d → (d, 1), n_heads·d_h → (d_h, n_heads), 3 → (None, 3).

    A size is a fixed number, a dimension, a count (integer configuration values: ``n_experts``, one
    slope per head), or a dimension times a count (a concatenation of heads: ``n_heads*d_h``); a call
    binds the dimension to the size divided by the factor.  ``dimensions``: the component's dimension
    symbols.
    """
    size = sp.sympify(size)
    if size.is_Integer:
        return None, size
    found = [f for f in sp.Mul.make_args(size) if f in dimensions]
    if not found and all(f.is_Symbol or f.is_Integer for f in sp.Mul.make_args(size)):
        return None, size  # a count: integer configuration values (n_experts), checked by the caller
    if len(found) != 1:
        raise DefinitionError(f"size {size}: a size is a number, a dimension, a count (integer configuration "
                              "values), or one dimension times a count (n_heads*d_h)")
    return found[0], sp.cancel(size / found[0])


def _shape(expr: MatrixExpr) -> str:
    return "(" + ", ".join(str(s) for s in expr.shape) + ")"


def _mismatch(op: str, a: MatrixExpr, b: MatrixExpr) -> ShapeMismatch:
    return ShapeMismatch(f"{op}: {a} has shape {_shape(a)} but {b} has shape {_shape(b)}")


# ---------------------------------------------------------------- primitives


def matmul(*factors: MatrixExpr) -> MatrixExpr:
    """A₁ A₂ … Aₖ, the matrix product."""
    for a, b in zip(factors, factors[1:]):
        if a.shape[1] != b.shape[0]:
            raise _mismatch("matmul", a, b)
    return MatMul(*factors)


def add(*terms: MatrixExpr) -> MatrixExpr:
    """A + B + …, all of one shape."""
    for t in terms[1:]:
        if t.shape != terms[0].shape:
            raise _mismatch("add", terms[0], t)
    return MatAdd(*terms)


def sub(a: MatrixExpr, b: MatrixExpr) -> MatrixExpr:
    """A − B."""
    if a.shape != b.shape:
        raise _mismatch("sub", a, b)
    return MatAdd(a, MatMul(-1, b))


def scale(c: Any, a: MatrixExpr) -> MatrixExpr:
    """c A for a scalar c (a number, a dimension or a configuration symbol), or for a 1 × 1 value c (a
    number parameter or input, or any 1 × 1 expression): then (1 c 1ᵀ) ∘ A."""
    if isinstance(c, MatrixExpr):
        if tuple(c.shape) != (1, 1):
            raise ShapeMismatch(f"scale: {c} has shape {_shape(c)}: the factor is a number, or a 1 × 1 value")
        return HadamardProduct(spread(c, *a.shape), a) if tuple(a.shape) != (1, 1) else HadamardProduct(c, a)
    return MatMul(sp.sympify(c), a)


def spread(c: MatrixExpr, n: Any, d: Any) -> MatrixExpr:
    """1 c 1ᵀ: a 1 × 1 value ``c`` repeated over (n, d)."""
    factors = ([OneMatrix(n, 1)] if n != 1 else []) + [c] + ([OneMatrix(1, d)] if d != 1 else [])
    return factors[0] if len(factors) == 1 else MatMul(*factors)


def hadamard(*factors: MatrixExpr) -> MatrixExpr:
    """A ∘ B ∘ …, the entrywise product; a 1 × 1 factor among larger ones is a number (1 c 1ᵀ)."""
    shapes = {tuple(f.shape) for f in factors if tuple(f.shape) != (1, 1)}
    if len(shapes) == 1:
        (n, d), = shapes
        factors = tuple(spread(f, n, d) if tuple(f.shape) == (1, 1) else f for f in factors)
    for f in factors[1:]:
        if f.shape != factors[0].shape:
            raise _mismatch("hadamard", factors[0], f)
    return HadamardProduct(*factors)


def T(a: MatrixExpr) -> MatrixExpr:
    """Aᵀ."""
    return Transpose(a)


def rows(v: MatrixExpr, n: sp.Expr) -> MatrixExpr:
    """1 vᵀ: the row vector ``v`` (1, d) repeated over ``n`` rows."""
    if v.shape[0] != 1:
        raise ShapeMismatch(f"rows: {v} must be a row vector (1, d), got shape {_shape(v)}")
    return MatMul(OneMatrix(n, 1), v)


def cols(c: MatrixExpr, d: sp.Expr) -> MatrixExpr:
    """c 1ᵀ: the column ``c`` (n, 1) repeated over ``d`` columns (diag(c) scaling)."""
    if c.shape[1] != 1:
        raise ShapeMismatch(f"cols: {c} must be a column (n, 1), got shape {_shape(c)}")
    return MatMul(c, OneMatrix(1, d))


def row_sum(a: MatrixExpr) -> MatrixExpr:
    """A 1: the sum over each row (over features), shape (n, 1)."""
    return MatMul(a, OneMatrix(a.shape[1], 1))


def token_sum(a: MatrixExpr) -> MatrixExpr:
    """1ᵀ A: the sum over tokens (rows), shape (1, d)."""
    return MatMul(OneMatrix(1, a.shape[0]), a)


def row_mean(a: MatrixExpr) -> MatrixExpr:
    """mean_f(A) = (1/d) A 1: the mean over each row's d features, shape (n, 1)."""
    return scale(1 / a.shape[1], row_sum(a))


def elementwise(fn: ScalarFunction | ChoiceFunction | sp.Lambda, a: MatrixExpr) -> MatrixExpr:
    """f(A) entrywise; ``fn`` may be a ``sympy.Lambda`` of one variable."""
    if isinstance(fn, sp.Lambda):
        fn = ScalarFunction("", fn)
    return Elementwise(fn, a)


def pointwise(expr_of_x: sp.Expr, a: MatrixExpr) -> MatrixExpr:
    """f(A) entrywise for a scalar expression of ``x`` (``X_SCALAR``)."""
    return elementwise(Lambda(X_SCALAR, expr_of_x), a)


def rotary_angles(n: Any, d: Any, theta: Any) -> MatrixExpr:
    """The (n, d) rotary angles t · θ^(−2 (j mod d/2) / d) at positions t = 0 … n − 1: a constant.

    Rotary embeddings of a head-split Q_h (n, d_h): ``Q_h ∘ cos(Θ) + rotate_half(Q_h) ∘ sin(Θ)``
    with ``Θ = rotary_angles(n_T, d_h, rope_theta)`` (``pointwise(sp.cos(x), Θ)``).
    """
    return RotaryAngles(sp.sympify(n), sp.sympify(d), sp.sympify(theta))


def gather(table: MatrixExpr, index: MatrixExpr) -> MatrixExpr:
    """ohe(idx) W: rows of ``table`` at the integer indices ``index`` (an integer input)."""
    if index.shape[0] != 1:
        raise ShapeMismatch(f"gather: indices {index} must be a row of integers, got shape {_shape(index)}")
    return Gather(table, index)


def index_slice(index: MatrixExpr, start: Any) -> MatrixExpr:
    """idx[start:] of an integer input: ``index_slice(idx, 1)`` are the next-token targets."""
    return IndexSlice(index, sp.sympify(start))


def pick(z: MatrixExpr, targets: MatrixExpr) -> MatrixExpr:
    """Entry targets[i] of row i of Z, shape (n, 1)."""
    if targets.shape[1] != z.shape[0]:
        raise ShapeMismatch(f"pick: {z} has shape {_shape(z)} but targets {targets} have shape {_shape(targets)}")
    return Pick(z, targets)


def head_sum(a: MatrixExpr, heads: Any) -> MatrixExpr:
    """Σ_h A_h: the sum over the heads axis of a value split into ``heads`` (the experts' outputs
    combined), shape (rows, cols) without heads."""
    return merge_heads(sum_groups(a, heads, 1), 1)


def batch_sum(a: MatrixExpr) -> MatrixExpr:
    """Σ over the leading batch dimensions (a per-sequence value summed over the batch)."""
    return BatchSum(a)


x = X_SCALAR


# ---------------------------------------------------------------- component


@dataclass(frozen=True)
class Argument:
    """An input, parameter or configuration value of a component."""

    name: str
    role: str  # "input" | "param" | "config"
    symbol: Any  # MatrixSymbol, sympy Symbol (numeric config) or None (choice)
    dims: tuple = ()  # declared dimensions, in order
    dtype: str = "float"  # "float" | "int"
    frozen: bool = False
    default: Any = None
    choices: tuple = ()
    doc: str = ""
    init: str = ""  # "normal" (N(0, 0.02), GPT-2's), "zeros" or "ones"; parameters only

    @property
    def required(self) -> bool:
        return self.role == "config" and self.default is REQUIRED

    def keyword(self) -> str:
        """``name=default`` in a signature, or ``name`` when it is required."""
        return self.name if self.required else f"{self.name}={self.default!r}"

    @property
    def is_vector(self) -> bool:
        return self.role != "config" and len(self.dims) == 1

    @property
    def heads(self):
        """The count of matrices of an argument declared (count, rows, cols), or None."""
        return self.dims[0] if self.role != "config" and len(self.dims) == 3 else None

    @property
    def is_scalar(self) -> bool:
        """A number: declared with no dimension, shape () (per sequence for an input); a 1 × 1 value in
        expressions, usable wherever a number is (``scale``, entrywise products, ``pointwise``)."""
        return self.role != "config" and len(self.dims) == 0

    @property
    def batched(self) -> bool:
        return self.role == "input"

    @property
    def receives_gradient(self) -> bool:
        return self.role in ("input", "param") and self.dtype == "float" and not self.frozen


@dataclass(frozen=True)
class Definition:
    """``name = expr``: one named value of the forward pass."""

    symbol: MatrixSymbol
    expr: MatrixExpr
    doc: str = ""

    @property
    def name(self) -> str:
        return self.symbol.name


@dataclass
class Component:
    """A forward definition: arguments, named definitions, one output or several."""

    name: str
    title: str
    description: str = ""
    class_name: str = ""  # of the generated nn.Module; defaults to the capitalised name
    arguments: list[Argument] = field(default_factory=list)
    definitions: list[Definition] = field(default_factory=list)
    output_symbols: list[MatrixSymbol] = field(default_factory=list)  # in declaration order
    requirements: list[tuple[Any, str]] = field(default_factory=list)  # (condition, message)
    scalars: list[tuple[sp.Symbol, str, dict]] = field(default_factory=list)  # (symbol, config, options)
    _dims: dict[str, sp.Symbol] = field(default_factory=dict)
    _headed: dict = field(default_factory=dict)  # definitions split into heads → their head count

    def __post_init__(self):
        check_name(self.name, "component name")
        if self.class_name:
            check_name(self.class_name, f"{self.name}: class name")

    # -- declarations

    def dims(self, names: str) -> tuple[sp.Symbol, ...]:
        """Declare dimensions, e.g. ``c.dims("n_T d_in d_out")``."""
        out = []
        for n in names.split():
            if n not in self._dims:
                self._claim(n, "dimension")
            self._dims.setdefault(n, sp.Symbol(n, positive=True, integer=True))
            out.append(self._dims[n])
        return tuple(out)

    def input(self, name: str, *dims: sp.Symbol, dtype: str = "float", frozen: bool = False,
              doc: str = "") -> MatrixSymbol:
        """A batched input of shape (..., *dims); without dims, one number per sequence, shape (...).

        ``frozen``: a float input that is never differentiated (a mask, a table of positions, a
        routing decision): no cotangent flows to it and the backward returns no gradient for it.
        Integer inputs (indices) never receive one.
        """
        return self._matrix_argument(name, "input", dims, dtype=dtype, frozen=frozen, doc=doc)

    def param(self, name: str, *dims: sp.Symbol, frozen: bool = False, init: str = "",
              doc: str = "") -> MatrixSymbol:
        """A parameter of shape ``dims``; one dimension declares a vector (the row vᵀ), none a number
        (shape (), a 1 × 1 value in expressions: ``c.param("alpha")``).

        ``init`` is how a module initialises it, as GPT-2 does: "normal"
        (N(0, 0.02), the default for matrices), "zeros" (the default for
        vectors and numbers) or "ones".
        """
        if init not in ("", "normal", "zeros", "ones"):
            raise DefinitionError(f"{self.name}: unknown init {init!r} for {name}")
        init = init or ("zeros" if len(dims) <= 1 else "normal")
        return self._matrix_argument(name, "param", dims, frozen=frozen, init=init, doc=doc)

    def config(self, name: str, default: Any = REQUIRED, doc: str = "") -> sp.Symbol:
        """A numeric configuration value, a scalar symbol in expressions.

        Without a default, callers of the generated code must give it.
        """
        self._claim(name)
        symbol = sp.Symbol(name, positive=True)
        self.arguments.append(Argument(name, "config", symbol, default=default, doc=doc))
        return symbol

    def activation(self, name: str, default: str, choices: tuple[str, ...], doc: str = "") -> ChoiceFunction:
        """An elementwise activation chosen by the keyword ``name``."""
        if default not in choices:
            raise DefinitionError(f"{self.name}: default {default!r} not among {choices}")
        self._claim(name)
        fn = activation_choice(name, choices)
        self.arguments.append(
            Argument(name, "config", None, default=default, choices=tuple(choices), doc=doc)
        )
        return fn

    def integer_config(self, name: str, default: Any = REQUIRED, doc: str = "") -> sp.Symbol:
        """An integer configuration value (a count such as ``n_heads``)."""
        self._claim(name)
        symbol = sp.Symbol(name, positive=True, integer=True)
        self.arguments.append(Argument(name, "config", symbol, default=default, doc=doc))
        return symbol

    def flag(self, name: str, default: bool, doc: str = "") -> sp.Symbol:
        """A boolean configuration value."""
        self._claim(name)
        symbol = sp.Symbol(name)
        self.arguments.append(Argument(name, "config", symbol, default=default, doc=doc))
        return symbol

    def batch_size(self) -> sp.Symbol:
        """The number of sequences: the product of the leading batch dimensions."""
        return sp.Symbol("n_batch", positive=True, integer=True)

    def choice_scalar(self, name: str, options: dict, default: str, symbol: str, doc: str = "") -> sp.Symbol:
        """A configuration keyword ``name`` whose value selects a scalar expression ``symbol``."""
        if default not in options:
            raise DefinitionError(f"{self.name}: default {default!r} not among {tuple(options)}")
        self._claim(name)
        self._claim(symbol, "scalar")
        self.arguments.append(Argument(name, "config", None, default=default, choices=tuple(options), doc=doc))
        value = sp.Symbol(symbol, positive=True)
        self.scalars.append((value, name, {k: sp.sympify(v) for k, v in options.items()}))
        return value

    def stack(self, name: str, x: MatrixExpr, doc: str = "") -> MatrixExpr:
        """``x`` through a stack of blocks held by the runtime keyword ``name`` (``Repeat``)."""
        self._claim(name)
        symbol = sp.Symbol(name)
        self.arguments.append(Argument(name, "config", symbol, default=REQUIRED, doc=doc))
        return Repeat(x, symbol)

    def require(self, condition: Any, message: str) -> None:
        """A condition on sizes and configuration that the generated forward checks first."""
        self.requirements.append((condition, message))

    def let(self, name: str, expr: MatrixExpr, doc: str = "") -> MatrixSymbol:
        """Name an intermediate value: ``name = expr``."""
        self._claim(name)
        if not isinstance(expr, MatrixExpr):
            raise DefinitionError(f"{self.name}: {name}: {expr!r} is not a matrix expression")
        self._check_functions(expr)
        heads = self._check_wellformed(name, expr)
        self._require_implied(name, expr)
        symbol = MatrixSymbol(name, *expr.shape)
        self.definitions.append(Definition(symbol, expr, doc))
        if heads is not None:
            self._headed[symbol] = heads
        return symbol

    def _require_implied(self, name: str, expr: MatrixExpr) -> None:
        """The size conditions that ``expr``'s primitives need, checked by the generated forward:
        what each declared primitive ``requires`` (columns split into equal heads, heads shared in equal
        groups, halves of an even number of columns) and rotary angles of an even number of columns."""
        for node in sp.preorder_traversal(expr):
            declared = primitive_of(node)
            if declared is not None and declared.requires is not None:
                implied = declared.requires(*(a.shape for a in node.operands), *node.params)
            elif isinstance(node, RotaryAngles):
                implied = [(sp.Eq(sp.Mod(node.cols, 2), 0),
                            f"rotary angles need an even number of columns, {node.cols}")]
            else:
                continue
            for condition, message in implied:
                condition = sp.sympify(condition)
                if condition is not sp.true and all(str(c) != str(condition) for c, _ in self.requirements):
                    self.requirements.append((condition, f"{name}: {message}"))

    def _batched_symbols(self) -> set:
        """The inputs and the values defined so far that carry the batch (``derive.batch``)."""
        from .batch import carries_batch

        batched = {a.symbol for a in self.inputs}
        for d in self.definitions:
            if carries_batch(d.expr, batched):
                batched.add(d.symbol)
        return batched

    def _check_wellformed(self, name: str, expr: MatrixExpr):
        """Refuse, naming ``name``, what the expression may not say (``derive.wellformed``)."""
        from .rules import MissingRule
        from .wellformed import IllFormed, UnknownNode, check

        symbols = {a.symbol for a in self.tensor_arguments} | {d.symbol for d in self.definitions}
        scalars = {a.symbol for a in self.configs if a.symbol is not None} | set(self._dims.values())
        scalars |= {s for s, _, _ in self.scalars} | {self.batch_size()}
        try:
            return check(expr, symbols, scalars, self._batched_symbols(), self._headed)
        except UnknownNode as e:
            raise MissingRule(f"{self.name}: {name}: {e}") from None
        except IllFormed as e:
            raise DefinitionError(f"{self.name}: {name}: {e}") from None

    def include(self, other: "Component", prefix: str, bind: dict[str, Any], as_output: bool = False) -> MatrixSymbol:
        """Inline ``other``'s forward definition; returns its output, renamed.

        ``bind`` gives, for each input and parameter of ``other``, the
        expression of this component that takes its place, and for its
        configuration the symbol (or constant) to use; a choice-selected
        scalar is fixed by binding its keyword to one of its options.  Other's
        dimensions follow from the shapes of the bound expressions; its
        definitions become this component's, named ``prefix + name``, and are
        simplified (binding a bias to zero removes it).  With ``as_output``,
        other's output is this component's output.
        """
        from .simplify import simplify  # the simplifier imports this module's primitives

        dims: dict = {}  # other's dimensions → this component's sizes
        values: dict = {}  # other's arguments → this component's expressions
        for a in other.tensor_arguments:
            if a.name not in bind:
                raise DefinitionError(f"{self.name}: including {other.name} needs {a.name!r}")
            value = sp.sympify(bind[a.name])
            for mine, theirs in zip(a.symbol.shape, value.shape):
                if getattr(mine, "is_Symbol", False):
                    if dims.setdefault(mine, theirs) != theirs:
                        raise _mismatch(f"include {other.name}", a.symbol, value)
                elif mine != theirs:
                    raise _mismatch(f"include {other.name}", a.symbol, value)
            values[a.symbol] = value
        for a in other.configs:
            if a.symbol is not None:
                values[a.symbol] = sp.sympify(bind[a.name] if a.name in bind else self._config_symbol(a.name))
        for symbol, config, options in other.scalars:
            if bind.get(config) not in options:
                raise DefinitionError(f"{self.name}: including {other.name} needs {config!r} in {tuple(options)}")
            values[symbol] = options[bind[config]].xreplace(dims)
        # One simultaneous substitution: bound expressions are this component's and are not
        # substituted again (their symbols may share names with other's).
        table = {**dims, **values}
        for condition, message in other.requirements:
            condition = condition.xreplace(table)
            if condition is not sp.true:
                self.require(condition, f"{other.name}: {message}")
        result = None
        for d in other.definitions:
            expr, _ = simplify(d.expr.xreplace(table))
            result = self.let(prefix + d.name, expr, d.doc)
            table[d.symbol] = result
        if as_output:
            self._add_output(other.name, result)
        return result

    def _config_symbol(self, name: str):
        a = self.argument(name)
        if a.role != "config" or a.symbol is None:
            raise DefinitionError(f"{self.name}: cannot bind configuration {name!r}")
        return a.symbol

    def output(self, name: str, expr: MatrixExpr, doc: str = "") -> MatrixSymbol:
        """An output of the component: ``name = expr``.  Called again, a further output: ``forward``
        then returns them all, in this order, and ``backward`` takes one upstream gradient for each.
        ``c.output("Q", Q)`` of a value ``Q`` defined earlier (``c.let``) returns it as it is, whether or
        not later definitions read it."""
        from .batch import carries_batch, heads_axis

        if isinstance(expr, MatrixSymbol) and expr.name == name and any(d.symbol == expr for d in self.definitions):
            return self._add_output(name, expr)

        if isinstance(expr, MatrixExpr) and tuple(expr.shape) == (1, 1) \
                and heads_axis(expr, self._headed) is not None and not carries_batch(expr, self._batched_symbols()):
            raise DefinitionError(f"{self.name}: output {name} = {expr} is a number per head: a loss has no "
                                  "heads axis; merge the heads (merge_heads) before reducing")
        return self._add_output(name, self.let(name, expr, doc))

    def _add_output(self, name: str, symbol: MatrixSymbol) -> MatrixSymbol:
        if symbol in self.output_symbols:
            raise DefinitionError(f"{self.name}: {name} is an output already")
        self.output_symbols.append(symbol)
        return symbol

    @property
    def output_symbol(self) -> MatrixSymbol | None:
        """The output of a component with one (None before it is declared); refused for several, which
        ``output_symbols`` holds."""
        if len(self.output_symbols) > 1:
            raise DefinitionError(f"{self.name} has several outputs "
                                  f"({', '.join(s.name for s in self.output_symbols)}): read output_symbols")
        return self.output_symbols[0] if self.output_symbols else None

    # -- queries

    @property
    def inputs(self) -> list[Argument]:
        return [a for a in self.arguments if a.role == "input"]

    @property
    def params(self) -> list[Argument]:
        return [a for a in self.arguments if a.role == "param"]

    @property
    def configs(self) -> list[Argument]:
        return [a for a in self.arguments if a.role == "config"]

    @property
    def tensor_arguments(self) -> list[Argument]:
        """Inputs and parameters in declaration order: the forward's positional arguments."""
        return [a for a in self.arguments if a.role in ("input", "param")]

    def argument(self, name: str) -> Argument:
        for a in self.arguments:
            if a.name == name:
                return a
        raise KeyError(name)

    def definition(self, name: str) -> Definition:
        for d in self.definitions:
            if d.name == name:
                return d
        raise KeyError(name)

    @property
    def module_class(self) -> str:
        return self.class_name or self.name.title().replace("_", "")

    def validate(self) -> "Component":
        if not self.output_symbols:
            raise DefinitionError(f"{self.name}: no output defined")
        bound = {split_size(d, set(self._dims.values()))[0] for a in self.tensor_arguments for d in a.dims}
        dimensions = set(self._dims.values())
        for d in self.definitions:
            # every size the definition reads, inner ones included (cols(c, e) summed away again)
            sizes = set()
            for node in sp.preorder_traversal(d.expr):
                if isinstance(node, MatrixExpr):
                    sizes |= sp.sympify(node.shape[0]).free_symbols | sp.sympify(node.shape[1]).free_symbols
                elif isinstance(node, sp.Symbol):
                    sizes.add(node)
            unbound = sorted(str(s) for s in sizes if s in dimensions and s not in bound)
            if unbound:
                raise DefinitionError(f"{self.name}: {d.name}: dimension {', '.join(unbound)} is not the size of "
                                      f"any argument, so no call can give it a value")
        return self

    # -- helpers

    def _check_functions(self, expr: MatrixExpr) -> None:
        """Every elementwise function of ``expr`` uses only x and this component's configuration,
        and has a derivative (``UnsupportedFunction`` naming the function otherwise)."""
        allowed = {a.symbol for a in self.configs if a.symbol is not None} | set(self._dims.values())
        allowed |= {s for s, _, _ in self.scalars} | {self.batch_size()}
        for node in sp.preorder_traversal(expr):
            if isinstance(node, Elementwise):
                try:
                    node.fn.check(allowed)
                except UnsupportedFunction as e:
                    raise UnsupportedFunction(f"{self.name}: {e}") from None

    def _claim(self, name: str, what: str = "name") -> None:
        """Take ``name`` for this component: a valid, unreserved identifier not used yet.

        Arguments, definitions, dimensions and derived scalars share one namespace:
        each is a local variable of the generated functions.
        """
        check_name(name, f"{self.name}: {what}")
        taken = ({a.name for a in self.arguments} | {d.name for d in self.definitions} | set(self._dims)
                 | {str(s) for s, _, _ in self.scalars})
        if name in taken:
            raise DefinitionError(f"{self.name}: name {name!r} is defined twice")

    def _matrix_argument(self, name, role, dims, **kw) -> MatrixSymbol:
        self._claim(name)
        heads = None
        if len(dims) == 3:  # (count, rows, cols): one matrix per head (an expert's weights), the heads axis first
            heads, dims = sp.sympify(dims[0]), dims[1:]
            try:
                is_count = split_size(heads, set(self._dims.values()))[0] is None and not heads.is_Integer
            except DefinitionError:
                is_count = False
            if not is_count or any(f not in {a.symbol for a in self.configs if a.symbol is not None
                                             and a.symbol.is_integer} for f in sp.Mul.make_args(heads)):
                raise DefinitionError(f"{self.name}: {name}: the first of three sizes is a count of matrices "
                                      f"(an integer configuration value such as n_experts), got {heads}")
        elif len(dims) > 3:
            raise DefinitionError(f"{self.name}: {name} must have at most two dimensions (none: a number; a count "
                                  f"first: one matrix per head), got {dims}")
        if role == "input" and len(dims) == 1 and kw.get("dtype", "float") == "float":
            raise DefinitionError(f"{self.name}: input {name} must be (n_T, d)")
        dims = tuple(sp.sympify(d) for d in dims)  # a dimension symbol, or a fixed size such as 1
        integer_configs = {a.symbol for a in self.configs if a.symbol is not None and a.symbol.is_integer}
        for d in dims:
            try:
                dimension, factor = split_size(d, set(self._dims.values()))
            except DefinitionError as e:
                raise DefinitionError(f"{self.name}: {name}: {e}") from None
            if dimension is None and factor.is_Integer and int(factor) < 1:
                raise DefinitionError(f"{self.name}: {name}: a fixed size must be at least 1, got {d}")
            stray = [f for f in sp.Mul.make_args(factor) if not f.is_Integer and f not in integer_configs]
            if stray or (factor.is_Integer and factor < 1):
                raise DefinitionError(f"{self.name}: {name}: size {d}: a dimension's factor must be integer "
                                      f"configuration values declared before (c.integer_config), got {factor}")
        shape = (1, 1) if not dims else (1, dims[0]) if len(dims) == 1 else dims
        symbol = MatrixSymbol(name, *shape)
        self.arguments.append(Argument(name, role, symbol, dims if heads is None else (heads, *dims), **kw))
        if heads is not None:
            self._headed[symbol] = heads
        return symbol
