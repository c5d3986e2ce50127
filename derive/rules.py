"""Vector-Jacobian rules, one per primitive.

A rule receives a node ``y = op(a₁, …, aₖ)``, the index ``i`` of one operand
and the cotangent ``Ḡ = ∂L/∂y``, and returns the cotangent contribution
``∂L/∂aᵢ``.  Each docstring states the Frobenius-product identity the rule
implements: the coefficient of ``d aᵢ`` in ``Ḡ · d y``.

Rules are registered per primitive type with ``@rule(Type)``, like JAX's
``primitive_transposes`` table; a node whose type has no rule raises
``MissingRule`` naming the primitive: never a silent zero.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sympy as sp
from sympy import HadamardProduct, MatAdd, MatMul, MatrixExpr, OneMatrix, Transpose

from .declare import PRIMITIVES, primitive_of
from .primitives import (
    BatchSum,
    Elementwise,
    Gather,
    Pick,
    Repeat,
    RepeatBackward,
    ScatterAdd,
    TargetScatter,
)


class MissingRule(NotImplementedError):
    """The reverse sweep met a primitive with no vector-Jacobian rule."""


@dataclass(frozen=True)
class Rule:
    primitive: str
    identity: str
    vjp: Callable[[MatrixExpr, int, MatrixExpr], MatrixExpr]


RULES: dict[type, Rule] = {}


def rule(primitive: type, name: str | None = None):
    """Register ``fn(node, i, G)`` as the rule for ``primitive``."""

    def register(fn):
        doc = (fn.__doc__ or "").strip()
        if not doc:
            raise ValueError(f"rule for {primitive.__name__} needs a docstring stating its identity")
        identity = doc.splitlines()[0].rstrip(".")
        RULES[primitive] = Rule(name or primitive.__name__, identity, fn)
        return fn

    return register


def rule_for(node: MatrixExpr) -> Rule:
    """The rule of ``node``'s primitive: a declared primitive's own (``derive.declare``), else the
    table's."""
    declared = primitive_of(node)
    if declared is not None:
        return Rule(declared.name, declared.identity, _declared_vjp())
    for cls in type(node).__mro__:
        if cls in RULES:
            return RULES[cls]
    raise MissingRule(
        f"no vector-Jacobian rule for primitive {type(node).__name__} (in {node}); "
        f"known primitives: {', '.join(sorted([r.primitive for r in RULES.values()] + list(PRIMITIVES)))}"
    )


def _declared_vjp():
    """The rule of a declared primitive: the cotangent of operand ``i`` from its ``vjp(G, *operands,
    *params)`` (a tuple, one per operand, for several), built once for every operand the sweep asks for."""
    built: dict = {}

    def vjp(node: MatrixExpr, i: int, G: MatrixExpr) -> MatrixExpr:
        if (node, G) not in built:
            cotangents = primitive_of(node).vjp(G, *node.args)
            built[node, G] = cotangents if isinstance(cotangents, (tuple, list)) else (cotangents,)
        return built[node, G][i]

    return vjp


def _product(factors) -> MatrixExpr | None:
    factors = list(factors)
    if not factors:
        return None
    return factors[0] if len(factors) == 1 else MatMul(*factors)


@rule(MatMul, "matmul")
def matmul_vjp(node: MatMul, i: int, G: MatrixExpr) -> MatrixExpr:
    """Ḡ · (c L A R) = c (Lᵀ Ḡ Rᵀ) · A   (A · (B C) = (Bᵀ A) · C = (A Cᵀ) · B)."""
    coeff = sp.Mul(*[a for a in node.args if not isinstance(a, MatrixExpr)])
    matrices = [a for a in node.args if isinstance(a, MatrixExpr)]
    k = sum(isinstance(a, MatrixExpr) for a in node.args[:i])  # position among the matrices
    left, right = _product(matrices[:k]), _product(matrices[k + 1:])
    factors = ([Transpose(left)] if left is not None else []) + [G]
    factors += [Transpose(right)] if right is not None else []
    if coeff != 1:
        factors.insert(0, coeff)
    return factors[0] if len(factors) == 1 else MatMul(*factors)


@rule(MatAdd, "add")
def add_vjp(node: MatAdd, i: int, G: MatrixExpr) -> MatrixExpr:
    """Ḡ · (A + B) = Ḡ · A + Ḡ · B."""
    return G


@rule(Transpose, "transpose")
def transpose_vjp(node: Transpose, i: int, G: MatrixExpr) -> MatrixExpr:
    """Ḡ · Aᵀ = Ḡᵀ · A."""
    return Transpose(G)


@rule(HadamardProduct, "hadamard")
def hadamard_vjp(node: HadamardProduct, i: int, G: MatrixExpr) -> MatrixExpr:
    """Ḡ · (A ∘ B) = (Ḡ ∘ B) · A."""
    others = [a for j, a in enumerate(node.args) if j != i]
    return HadamardProduct(G, *others)


@rule(Elementwise, "elementwise")
def elementwise_vjp(node: Elementwise, i: int, G: MatrixExpr) -> MatrixExpr:
    """Ḡ · d f(A) = (Ḡ ∘ f′(A)) · dA, f′ from sympy.diff of the scalar f."""
    return HadamardProduct(G, Elementwise(node.fn.derivative(), node.arg))


@rule(Gather, "gather")
def gather_vjp(node: Gather, i: int, G: MatrixExpr) -> MatrixExpr:
    """Ḡ · (ohe(idx) dW) = (ohe(idx)ᵀ Ḡ) · dW: a scatter-add of Ḡ's rows (integer idx takes none)."""
    return ScatterAdd(G, node.index, node.table.shape[0])


@rule(Pick, "pick")
def pick_vjp(node: Pick, i: int, G: MatrixExpr) -> MatrixExpr:
    """Ḡ · d((ohe(t) ∘ Z) 1) = ((Ḡ 1ᵀ) ∘ ohe(t)) · dZ: Ḡ at the target entries."""
    return TargetScatter(G, node.targets, node.arg.shape[1])


@rule(BatchSum, "batch_sum")
def batch_sum_vjp(node: BatchSum, i: int, G: MatrixExpr) -> MatrixExpr:
    """Ḡ · d(Σ_b A_b) = Σ_b Ḡ · dA_b: every sequence receives the same Ḡ."""
    return G


@rule(Repeat, "repeat")
def repeat_vjp(node: Repeat, i: int, G: MatrixExpr) -> MatrixExpr:
    """Ḡ · d(f_L ∘ … ∘ f_1)(X) = (J_1ᵀ ⋯ J_Lᵀ Ḡ) · dX: each block's own derived VJP, last block first."""
    return RepeatBackward(G, node.stack)
