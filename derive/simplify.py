"""Rewriting driven by stated algebraic facts.

Each ``Fact`` is one identity, applied bottom-up until nothing changes.  The
facts marked ``shown`` are the ones ``backprop show`` reports when they fire:
they carry the mathematics (``x − x = 0``, ``zero propagates``…).  The others
only keep expressions in a normal form (flat products, transposes on leaves).
"""
from __future__ import annotations

from dataclasses import dataclass
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

from .primitives import BatchSum, Elementwise


@dataclass(frozen=True)
class Fact:
    name: str
    statement: str
    rewrite: Callable[[MatrixExpr], MatrixExpr | None]
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
def _flatten_matmul(e):
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
def _flatten_matadd(e):
    if isinstance(e, MatAdd) and any(isinstance(a, MatAdd) for a in e.args):
        terms = []
        for a in e.args:
            terms.extend(a.args if isinstance(a, MatAdd) else [a])
        return MatAdd(*terms)
    return None


@fact("flatten-hadamard", "(A ∘ B) ∘ C = A ∘ B ∘ C; scalars move out: (c A) ∘ B = c (A ∘ B)", shown=False)
def _flatten_hadamard(e):
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
def _push_transpose(e):
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


@fact("unit", "1 A = A, A ∘ 1 = A (1 the all-ones matrix of A's shape)", shown=False)
def _units(e):
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


@fact("zero", "zero propagates: 0 A = A 0 = A ∘ 0 = 0ᵀ = Σ 0 = 0, A + 0 = A")
def _zero(e):
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
    if isinstance(e, BatchSum) and is_zero(e.arg):
        return e.arg
    return None


@fact("like-terms", "a A + b A = (a + b) A; in particular x − x = 0")
def _collect(e):
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
def _ones_product(e):
    if not isinstance(e, MatMul):
        return None
    args = list(e.args)
    for j in range(len(args) - 1):
        a, b = args[j], args[j + 1]
        if is_ones(a) and is_ones(b):
            merged = [a.shape[1], OneMatrix(a.shape[0], b.shape[1])]
            return MatMul(*(args[:j] + merged + args[j + 2:]))
    return None


# ---------------------------------------------------------------- driver


def _rebuild(e: MatrixExpr, args) -> MatrixExpr:
    return e if tuple(args) == e.args else e.func(*args)


def simplify(expr: MatrixExpr) -> tuple[MatrixExpr, list[Fact]]:
    """Rewrite ``expr`` bottom-up with ``FACTS`` to a fixed point.

    Returns the simplified expression and the shown facts that fired, in order
    of first use.
    """
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
            for f in FACTS:
                r = f.rewrite(e)
                if r is not None and r != e:
                    if f.shown and f not in used:
                        used.append(f)
                    e = r if not isinstance(r, MatrixExpr) or r == e else _rebuild(r, [visit(a) for a in r.args])
                    break
            else:
                break
        memo[original] = e
        return e

    return visit(expr), used
