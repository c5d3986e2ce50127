"""Rewriting driven by stated algebraic facts.

Each ``Fact`` is one identity, applied bottom-up until nothing changes.  The
facts marked ``shown`` are the ones ``backprop show`` reports when they fire:
they carry the mathematics (``x − x = 0``, ``zero propagates``…).  The others
only keep expressions in a normal form (flat products, transposes on leaves).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import sympy as sp
from sympy import (
    HadamardProduct,
    MatAdd,
    MatMul,
    MatrixExpr,
    MatrixSymbol,
    OneMatrix,
    Transpose,
    ZeroMatrix,
)

from .families.heads import MergeHeads, SplitHeads
from .families.normalisers import Softmax
from .primitives import BatchSum, Elementwise, TargetScatter


@dataclass(frozen=True)
class Fact:
    name: str
    statement: str
    rewrite: Callable[..., MatrixExpr | None]  # (expr, context) → rewritten or None
    shown: bool = True

    def __repr__(self) -> str:
        return f"Fact({self.name})"


FACTS: list[Fact] = []


def fact(name: str, statement: str, shown: bool = True):
    def register(fn):
        FACTS.append(Fact(name, statement, fn, shown))
        return fn

    return register


# ----------------------------------------------------------------- helpers


def split_coefficient(e: MatrixExpr) -> tuple[sp.Expr, MatrixExpr]:
    """``c A`` → (c, A); anything else → (1, e)."""
    if isinstance(e, MatMul):
        scalars = [a for a in e.args if not isinstance(a, MatrixExpr)]
        if scalars:
            mats = [a for a in e.args if isinstance(a, MatrixExpr)]
            return sp.Mul(*scalars), (mats[0] if len(mats) == 1 else MatMul(*mats))
    return sp.Integer(1), e


def with_coefficient(c: sp.Expr, e: MatrixExpr) -> MatrixExpr:
    if c == 1:
        return e
    if c == 0:
        return ZeroMatrix(*e.shape)
    if isinstance(e, MatMul):
        return MatMul(c, *e.args)
    return MatMul(c, e)


def is_zero(e) -> bool:
    return isinstance(e, ZeroMatrix)


def is_ones(e) -> bool:
    return isinstance(e, OneMatrix)


# ----------------------------------------------------- normal-form rewrites


@fact("flatten", "(A B) C = A B C; scalars collect in front", shown=False)
def _flatten_matmul(e, ctx=None):
    if not isinstance(e, MatMul):
        return None
    scalars, mats, changed = [], [], False
    for a in e.args:
        if isinstance(a, MatMul):
            changed = True
            c, inner = split_coefficient(a)
            scalars.append(c)
            mats.extend(inner.args if isinstance(inner, MatMul) else [inner])
        elif isinstance(a, MatrixExpr):
            mats.append(a)
        else:
            scalars.append(a)
    coeff = sp.Mul(*scalars)
    if len([a for a in e.args if not isinstance(a, MatrixExpr)]) > 1 or (scalars and coeff == 1):
        changed = True
    if not changed:
        return None
    body = mats[0] if len(mats) == 1 else MatMul(*mats)
    return with_coefficient(coeff, body)


@fact("flatten-sum", "(A + B) + C = A + B + C", shown=False)
def _flatten_matadd(e, ctx=None):
    if isinstance(e, MatAdd) and any(isinstance(a, MatAdd) for a in e.args):
        terms = []
        for a in e.args:
            terms.extend(a.args if isinstance(a, MatAdd) else [a])
        return MatAdd(*terms)
    return None


@fact("flatten-hadamard", "(A ∘ B) ∘ C = A ∘ B ∘ C; scalars move out: (c A) ∘ B = c (A ∘ B)", shown=False)
def _flatten_hadamard(e, ctx=None):
    if not isinstance(e, HadamardProduct):
        return None
    factors, coeff, changed = [], sp.Integer(1), False
    for a in e.args:
        c, a = split_coefficient(a)
        if c != 1:
            coeff, changed = coeff * c, True
        if isinstance(a, HadamardProduct):
            factors.extend(a.args)
            changed = True
        else:
            factors.append(a)
    if not changed:
        return None
    body = factors[0] if len(factors) == 1 else HadamardProduct(*factors)
    return with_coefficient(coeff, body)


@fact("transpose", "(Aᵀ)ᵀ = A, (A B)ᵀ = Bᵀ Aᵀ, (A + B)ᵀ = Aᵀ + Bᵀ, (A ∘ B)ᵀ = Aᵀ ∘ Bᵀ", shown=False)
def _push_transpose(e, ctx=None):
    if not isinstance(e, Transpose):
        return None
    a = e.arg
    if isinstance(a, Transpose):
        return a.arg
    if isinstance(a, (OneMatrix, ZeroMatrix)):
        return type(a)(a.shape[1], a.shape[0])
    if isinstance(a, MatMul):
        c, body = split_coefficient(a)
        if isinstance(body, MatMul):
            return with_coefficient(c, MatMul(*[Transpose(f) for f in reversed(body.args)]))
        return with_coefficient(c, Transpose(body))
    if isinstance(a, MatAdd):
        return MatAdd(*[Transpose(t) for t in a.args])
    if isinstance(a, HadamardProduct):
        return HadamardProduct(*[Transpose(f) for f in a.args])
    if isinstance(a, Elementwise):
        return Elementwise(a.fn, Transpose(a.arg))
    if isinstance(a, BatchSum):
        return BatchSum(Transpose(a.arg))
    return None


@fact("unit", "1 A = A, A ∘ 1 = A (1 the all-ones matrix of A's shape, or 1×1)", shown=False)
def _units(e, ctx=None):
    if isinstance(e, MatMul):
        mats = [a for a in e.args if isinstance(a, MatrixExpr)]
        kept = [a for a in e.args if not (is_ones(a) and a.shape == (1, 1))]
        if len(kept) < len(e.args) and any(isinstance(a, MatrixExpr) for a in kept) and len(mats) > 1:
            return MatMul(*kept)
    if isinstance(e, HadamardProduct):
        rest = [a for a in e.args if not (is_ones(a) and a.shape == e.shape)]
        if len(rest) < len(e.args):
            if not rest:
                return OneMatrix(*e.shape)
            return rest[0] if len(rest) == 1 else HadamardProduct(*rest)
    if isinstance(e, (MatMul, MatAdd, HadamardProduct)) and len(e.args) == 1:
        return e.args[0]
    return None


# ------------------------------------------------------------ stated facts


@fact("zero", "zero propagates: 0 A = A 0 = A ∘ 0 = 0ᵀ = f(0) = 0 for a linear f (Σ, split…), A + 0 = A")
def _zero(e, ctx=None):
    if isinstance(e, (MatMul, HadamardProduct)):
        c, _ = split_coefficient(e)
        if c == 0 or any(is_zero(a) for a in e.args):
            return ZeroMatrix(*e.shape)
    if isinstance(e, MatAdd):
        rest = [a for a in e.args if not is_zero(a)]
        if len(rest) < len(e.args):
            if not rest:
                return ZeroMatrix(*e.shape)
            return rest[0] if len(rest) == 1 else MatAdd(*rest)
    if any(is_zero(a) for a in linear_operands(e)):
        return ZeroMatrix(*e.shape)
    return None


def linear_positions(e) -> list[int]:
    """Where among ``e``'s args are the operands it is linear in, as its primitive declares (``Node.linear``)."""
    linear = getattr(type(e), "linear", ())
    return [i for i, name in enumerate(getattr(type(e), "fields", ())) if name in linear]


def linear_operands(e) -> list:
    """The operands ``e`` is linear in."""
    return [e.args[i] for i in linear_positions(e)]


@fact("like-terms", "a A + b A = (a + b) A; in particular x − x = 0")
def _collect(e, ctx=None):
    if not isinstance(e, MatAdd):
        return None
    coeffs: dict[MatrixExpr, sp.Expr] = {}
    for t in e.args:
        c, body = split_coefficient(t)
        coeffs[body] = coeffs.get(body, 0) + c
    if len(coeffs) == len(e.args):
        return None
    terms = [with_coefficient(c, b) for b, c in coeffs.items() if c != 0]
    if not terms:
        return ZeroMatrix(*e.shape)
    return terms[0] if len(terms) == 1 else MatAdd(*terms)


@fact("ones-product", "1ₘₖ 1ₖₙ = k 1ₘₙ: a sum of k ones")
def _ones_product(e, ctx=None):
    if not isinstance(e, MatMul):
        return None
    args = list(e.args)
    for j in range(len(args) - 1):
        a, b = args[j], args[j + 1]
        if is_ones(a) and is_ones(b) and a.shape[1] != 1:  # 1ₘ 1ₙᵀ stays an outer product
            merged = [a.shape[1], OneMatrix(a.shape[0], b.shape[1])]
            return MatMul(*(args[:j] + merged + args[j + 2:]))
    return None


@dataclass
class Context:
    """What the simplifier knows about named values beyond their structure.

    ``softmax``: symbols defined as a row softmax.  ``token_sums`` and
    ``row_sums``: rewrites 1ᵀ X → … and X 1 → … proved for a cotangent X from
    its definition (``derived_sums``), each with the fact that records it.
    """

    softmax: set = field(default_factory=set)
    token_sums: dict = field(default_factory=dict)
    row_sums: dict = field(default_factory=dict)
    costs: dict = field(default_factory=dict)  # cotangent → matrix products behind it
    unproven: dict = field(default_factory=dict)  # (cotangent, "row" | "token") → a sum no fact made zero


def _is_softmax(e, ctx) -> bool:
    return isinstance(e, Softmax) or (ctx is not None and e in ctx.softmax)


def _adjacent(e: MatMul):
    """(j, left, right) for each adjacent pair of factors of a product."""
    args = list(e.args)
    for j in range(len(args) - 1):
        yield j, args[j], args[j + 1]


def _replace_pair(e: MatMul, j: int, new) -> MatrixExpr:
    args = list(e.args)
    args[j:j + 2] = new if isinstance(new, list) else [new]
    mats = [a for a in args if isinstance(a, MatrixExpr)]
    return MatMul(*args) if len(args) > 1 else args[0] if mats else args[0]


@fact("softmax-rows", "softmax rows sum to one: softmax(S) 1 = 1 (causal too); 1ᵀ softmax(S)ᵀ = 1ᵀ")
def _softmax_rows(e, ctx=None):
    if not isinstance(e, MatMul):
        return None
    for j, a, b in _adjacent(e):
        if _is_softmax(a, ctx) and is_ones(b):
            return _replace_pair(e, j, OneMatrix(a.shape[0], b.shape[1]))
        if is_ones(a) and isinstance(b, Transpose) and _is_softmax(b.arg, ctx):
            return _replace_pair(e, j, OneMatrix(a.shape[0], b.shape[1]))
    return None


@fact("sum-distributes", "(A + B) 1 = A 1 + B 1 and (A ∘ (B + C)) 1 = (A ∘ B) 1 + (A ∘ C) 1 (also 1ᵀ …)")
def _distribute_sums(e, ctx=None):
    if not isinstance(e, MatMul):
        return None
    for j, a, b in _adjacent(e):
        for k, (x, y) in enumerate(((a, b), (b, a))):
            if not is_ones(y):
                continue
            if isinstance(x, HadamardProduct) and any(isinstance(f, MatAdd) for f in x.args):
                i = next(i for i, f in enumerate(x.args) if isinstance(f, MatAdd))
                rest = list(x.args[:i]) + list(x.args[i + 1:])
                x = MatAdd(*[HadamardProduct(*rest, t) for t in x.args[i].args])
            if isinstance(x, MatAdd):
                terms = [[t, y] if k == 0 else [y, t] for t in x.args]
                args = list(e.args)
                return MatAdd(*[MatMul(*(args[:j] + pair + args[j + 2:])) for pair in terms])
    return None


@fact("broadcast-sum", "(A ∘ (c 1ᵀ)) 1 = c ∘ (A 1) and 1ᵀ (A ∘ (1 rᵀ)) = rᵀ ∘ (1ᵀ A)")
def _broadcast_sum(e, ctx=None):
    if not isinstance(e, MatMul):
        return None
    for j, a, b in _adjacent(e):
        if isinstance(a, HadamardProduct) and is_ones(b) and b.shape[1] == 1:
            for i, f in enumerate(a.args):
                if isinstance(f, MatMul) and is_ones(f.args[-1]) and f.args[-1].shape[0] == 1:
                    c = f.args[0] if len(f.args) == 2 else MatMul(*f.args[:-1])
                    rest = list(a.args[:i]) + list(a.args[i + 1:])
                    inner = rest[0] if len(rest) == 1 else HadamardProduct(*rest)
                    return _replace_pair(e, j, HadamardProduct(c, MatMul(inner, b)))
        if is_ones(a) and a.shape[0] == 1 and isinstance(b, HadamardProduct):
            for i, f in enumerate(b.args):
                if isinstance(f, MatMul) and is_ones(f.args[0]) and f.args[0].shape[1] == 1:
                    r = f.args[1] if len(f.args) == 2 else MatMul(*f.args[1:])
                    rest = list(b.args[:i]) + list(b.args[i + 1:])
                    inner = rest[0] if len(rest) == 1 else HadamardProduct(*rest)
                    return _replace_pair(e, j, HadamardProduct(r, MatMul(a, inner)))
    return None


@fact("heads", "merge(split(A)) = split(merge(A)) = A; 1ᵀ merge(A) = merge(1ᵀ A), 1ᵀ split(A) = split(1ᵀ A)")
def _heads(e, ctx=None):
    if isinstance(e, MergeHeads) and isinstance(e.arg, SplitHeads) or (
            isinstance(e, SplitHeads) and isinstance(e.arg, MergeHeads)):
        return e.arg.arg
    if isinstance(e, MatMul):
        for j, a, b in _adjacent(e):
            if is_ones(a) and a.shape[0] == 1 and isinstance(b, (MergeHeads, SplitHeads)):
                ones = OneMatrix(1, b.arg.shape[0])
                return _replace_pair(e, j, b.func(MatMul(ones, b.arg), b.heads))
    return None


@fact("linear", "a number comes out of a linear map: f(c A) = c f(A)", shown=False)
def _linear_nodes(e, ctx=None):
    for i in linear_positions(e):
        c, body = split_coefficient(e.args[i])
        if c != 1:
            return with_coefficient(c, e.func(*e.args[:i], body, *e.args[i + 1:]))
    return None


@fact("one-hot-rows", "one-hot rows sum to one: ((g 1ᵀ) ∘ ohe(t)) 1 = g")
def _one_hot_rows(e, ctx=None):
    if not isinstance(e, MatMul):
        return None
    for j, a, b in _adjacent(e):
        if isinstance(a, TargetScatter) and is_ones(b) and b.shape[1] == 1:
            return _replace_pair(e, j, a.values)
    return None


@fact("derived-sums", "token and row sums of cotangents, proved from their definitions", shown=False)
def _derived_sums(e, ctx=None):
    if ctx is None or not isinstance(e, MatMul):
        return None
    for j, a, b in _adjacent(e):
        found = sum_in(a, b)
        if found is None:
            continue
        value, kind, transposed = found
        table = ctx.token_sums if kind == "token" else ctx.row_sums
        if value in table:
            result = table[value][0]
            return _replace_pair(e, j, Transpose(result) if transposed else result)
    return None


def sum_in(a, b):
    """The sum that the adjacent factors ``a b`` take, as (X, "token" | "row", transposed):
    1ᵀ X is X's token sum, 1ᵀ Xᵀ = (X 1)ᵀ its row sum transposed, X 1 its row sum and
    Xᵀ 1 = (1ᵀ X)ᵀ its token sum transposed; None when ``a b`` is no such sum."""
    if is_ones(a) and a.shape[0] == 1:
        return (b.arg, "row", True) if isinstance(b, Transpose) else (b, "token", False)
    if is_ones(b) and b.shape[1] == 1:
        return (a.arg, "token", True) if isinstance(a, Transpose) else (a, "row", False)
    return None


def _real_products(e) -> int:
    """How many matrix products in ``e`` multiply two matrices that are not all-ones."""
    if not isinstance(e, MatrixExpr) or isinstance(e, MatrixSymbol):
        return 0
    own = isinstance(e, MatMul) and sum(isinstance(a, MatrixExpr) and not is_ones(a) for a in e.args) > 1
    return int(own) + sum(_real_products(a) for a in e.args)


def _cost(e, ctx: Context) -> int:
    """Matrix products needed for ``e``, counting those behind the cotangents it reads."""
    return _real_products(e) + sum(ctx.costs.get(s, 0) for s in e.free_symbols if isinstance(s, MatrixSymbol))


def derived_sums(symbol: MatrixSymbol, definition: MatrixExpr, ctx: Context) -> None:
    """Prove what 1ᵀ symbol and symbol 1 are, from ``definition``; remember useful results.

    A result is kept when it is zero, or needs fewer matrix products than the
    cotangent itself (counting those behind the cotangents it reads): then a
    later token or row sum of ``symbol`` is replaced by it.  This is how
    Δ_S 1 = 0 for softmax makes the key-bias gradient vanish, and how the
    value-bias gradient avoids the product with the attention matrix.
    """
    ctx.costs[symbol] = _cost(definition, ctx)
    n, m = definition.shape
    for table, naive, name in (
        (ctx.token_sums, MatMul(OneMatrix(1, n), definition), f"1ᵀ Δ_{symbol.name}"),
        (ctx.row_sums, MatMul(definition, OneMatrix(m, 1)), f"Δ_{symbol.name} 1"),
    ):
        result, used = simplify(naive, ctx)
        if not is_zero(result):
            ctx.unproven[(symbol, "token" if table is ctx.token_sums else "row")] = result
        if not is_zero(result) and _cost(result, ctx) >= _cost(naive, ctx):
            continue
        why = ", ".join(f.name for f in used) or "the definition"
        f = Fact(f"sum of Δ_{symbol.name}", f"{name} = {'0' if is_zero(result) else 'a product-free form'} (by {why})",
                 lambda e, ctx=None: None)
        table[symbol] = (result, f, tuple(used))


# ---------------------------------------------------------------- driver


def _rebuild(e: MatrixExpr, args) -> MatrixExpr:
    return e if tuple(args) == e.args else e.func(*args)


def simplify(expr: MatrixExpr, ctx: Context | None = None,
             facts: list[Fact] | None = None) -> tuple[MatrixExpr, list[Fact]]:
    """Rewrite ``expr`` bottom-up with ``facts`` (default: every fact) to a fixed point.

    Returns the simplified expression and the shown facts that fired, in order
    of first use.
    """
    facts = FACTS if facts is None else facts
    used: list[Fact] = []
    memo: dict[MatrixExpr, MatrixExpr] = {}

    def visit(e):
        if not isinstance(e, MatrixExpr) or isinstance(e, MatrixSymbol):
            return e
        if e in memo:
            return memo[e]
        original = e
        e = _rebuild(e, [visit(a) for a in e.args])
        for _ in range(10_000):
            for f in facts:
                r = f.rewrite(e, ctx)
                if r is not None and r != e:
                    for g in _facts_behind(f, e, r, ctx):
                        if g not in used:
                            used.append(g)
                    e = r if not isinstance(r, MatrixExpr) or r == e else _rebuild(r, [visit(a) for a in r.args])
                    break
            else:
                break
        memo[original] = e
        return e

    return visit(expr), used


def _facts_behind(f: Fact, before, after, ctx) -> list[Fact]:
    """The shown facts a rewrite stands for (a derived sum stands for the facts that proved it)."""
    if f.name != "derived-sums":
        return [f] if f.shown else []
    out = []
    for table in (ctx.token_sums, ctx.row_sums):
        for result, derived, used in table.values():
            if before != after and result in set(_subtrees(after)):
                out += [derived, *used]
    return out


def _subtrees(e):
    yield e
    for a in getattr(e, "args", ()):
        if isinstance(a, MatrixExpr):
            yield from _subtrees(a)
