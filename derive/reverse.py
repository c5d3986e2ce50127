"""The joint reverse sweep.

One pass over the forward definitions in reverse order.  Every named value
(definition or argument) gets one cotangent ``Δ_name``: the sum of the
contributions of all its consumers, simplified.  Inside one definition the
expression tree is walked from the root down, each node's cotangent passed to
its operands through the node's vector-Jacobian rule (``rules.py``); shared
subexpressions accumulate before they are passed on.

A value shared by every sequence of a batch (a parameter, or anything computed
from parameters alone) receives per-sequence contributions from batched
values; their sum over the batch is marked with ``BatchSum``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sympy import MatAdd, MatMul, MatrixExpr, MatrixSymbol, OneMatrix, ZeroMatrix

from .api import Component
from .batch import carries_batch
from .primitives import BatchSum, Cotangent, PadRows, Repeat, Softmax, cotangent, matrix_children
from .rules import Rule, rule_for
from .simplify import Context, Fact, derived_sums, simplify, split_coefficient, with_coefficient


@dataclass(frozen=True)
class Step:
    """One rule application: ``Ḡ · d(node) → result · d(operand)``."""

    rule: Rule
    node: MatrixExpr
    operand: MatrixExpr
    result: MatrixExpr
    index: int = 0  # which of node's operands: the same value may be several (Xc ∘ Xc)


@dataclass
class Contribution:
    """What one consumer passes to a value's cotangent."""

    consumer: str  # the definition whose expression uses the value
    expr: MatrixExpr
    steps: list[Step]


@dataclass
class Adjoint:
    """The cotangent of one named value, with how it was obtained."""

    symbol: MatrixSymbol  # the value: a definition's symbol or an argument's
    contributions: list[Contribution]
    total: MatrixExpr  # the sum of contributions, before simplification
    expr: MatrixExpr  # simplified
    facts: list[Fact]
    batched: bool
    batch_summed: bool = False

    @property
    def name(self) -> str:
        return self.symbol.name

    @property
    def cotangent(self) -> Cotangent:
        return cotangent(self.symbol)

    @property
    def is_zero(self) -> bool:
        return isinstance(self.expr, ZeroMatrix)


@dataclass
class Derivation:
    """The result of the reverse sweep over one component."""

    component: Component
    adjoints: list[Adjoint] = field(default_factory=list)  # definitions, in sweep order
    gradients: dict[str, Adjoint] = field(default_factory=dict)  # arguments, declaration order
    unproven: dict = field(default_factory=dict)  # (cotangent, "row" | "token") → a sum no fact made zero

    def adjoint(self, name: str) -> Adjoint:
        for a in self.adjoints:
            if a.name == name:
                return a
        return self.gradients[name]


def _topological(root: MatrixExpr) -> list[MatrixExpr]:
    """Operands before the nodes that use them (post-order), each node once."""
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if node in seen:
            continue
        seen.add(node)
        stack.append((node, True))
        for child in reversed(matrix_children(node)):
            if child not in seen:
                stack.append((child, False))
    return order


def _depends(expr: MatrixExpr, symbols: set, memo: dict, stacks: bool = False) -> bool:
    """Does ``expr`` read one of ``symbols``?  With ``stacks``, a ``Repeat`` counts as reading
    one: its blocks hold parameters of their own."""
    if expr in memo:
        return memo[expr]
    if isinstance(expr, MatrixSymbol):
        result = expr in symbols
    elif stacks and isinstance(expr, Repeat):
        result = True
    else:
        result = any(_depends(c, symbols, memo, stacks) for c in matrix_children(expr))
    memo[expr] = result
    return result


def _sum(exprs: list[MatrixExpr]) -> MatrixExpr:
    return exprs[0] if len(exprs) == 1 else MatAdd(*exprs)


def batch_sum(expr: MatrixExpr, is_batched) -> MatrixExpr:
    """Σ_batch expr, taken as far in as it goes.

    Σ (A + B) = Σ A + Σ B, Σ pad(A) = pad(Σ A) and Σ (c L M R) = c L (Σ M) R for L, R shared by the
    batch: only the factors that carry the batch are summed, and a sum shared
    by several gradients (Σ Xᵀ Δ) is one subexpression.
    """
    if not is_batched(expr):
        return expr  # already shared by the batch: a contribution through a parameter-only value
    if isinstance(expr, MatAdd):
        return MatAdd(*[batch_sum(t, is_batched) for t in expr.args])
    c, body = split_coefficient(expr)
    if isinstance(body, PadRows):  # Σ pad(A) = pad(Σ A)
        return with_coefficient(c, PadRows(batch_sum(body.arg, is_batched), body.rows))
    if not isinstance(body, MatMul):
        return with_coefficient(c, BatchSum(body))
    factors = list(body.args)
    flags = [is_batched(f) for f in factors]
    first, last = flags.index(True), len(flags) - 1 - flags[::-1].index(True)
    if first > 0 and isinstance(factors[first - 1], OneMatrix):
        first -= 1  # a token sum 1ᵀ stays with what it sums
    inner = factors[first:last + 1]
    summed = BatchSum(inner[0] if len(inner) == 1 else MatMul(*inner))
    outer = factors[:first] + [summed] + factors[last + 1:]
    return with_coefficient(c, outer[0] if len(outer) == 1 else MatMul(*outer))


def derive(component: Component) -> Derivation:
    """Differentiate ``component``'s output with respect to every argument that takes a gradient."""
    component.validate()
    derivation = Derivation(component)
    defs = component.definitions

    # Which values depend on a differentiable argument, and which carry a batch.
    differentiable = {a.symbol for a in component.tensor_arguments if a.receives_gradient}
    batched = {a.symbol for a in component.inputs}
    for d in defs:  # definitions are in dependency order
        if _depends(d.expr, differentiable, {}, stacks=True):
            differentiable.add(d.symbol)
        if carries_batch(d.expr, batched):
            batched.add(d.symbol)
    batched |= {cotangent(s) for s in set(batched)}
    needs_memo: dict = {}

    def needs(e):
        return _depends(e, differentiable, needs_memo, stacks=True)

    def is_batched(e):
        return carries_batch(e, batched)

    context = Context(softmax={d.symbol for d in defs if isinstance(d.expr, Softmax)})
    derivation.unproven = context.unproven
    pending: dict[MatrixSymbol, list[Contribution]] = {}
    out = component.output_symbol
    pending[out] = [Contribution("upstream", cotangent(out), [])]

    def finish(symbol: MatrixSymbol, contributions: list[Contribution]) -> Adjoint:
        total = _sum([c.expr for c in contributions])
        expr, facts = simplify(total, context)
        summed = symbol not in batched and is_batched(expr)
        if summed:
            expr = batch_sum(expr, is_batched)
        return Adjoint(symbol, contributions, total, expr, facts, symbol in batched, summed)

    for d in reversed(defs):
        contributions = pending.pop(d.symbol, [])
        if not contributions:
            continue  # the output does not depend on this value
        adjoint = finish(d.symbol, contributions)
        derivation.adjoints.append(adjoint)
        if adjoint.is_zero:
            continue  # nothing flows further down
        if d.symbol != out:
            derived_sums(adjoint.cotangent, adjoint.expr, context)  # facts for later gradients
        G = adjoint.cotangent if d.symbol != out else adjoint.expr
        local: dict[MatrixExpr, list[tuple[MatrixExpr, list[Step]]]] = {d.expr: [(G, [])]}
        for node in reversed(_topological(d.expr)):
            incoming = local.pop(node, [])
            if not incoming:
                continue
            node_cot = _sum([c for c, _ in incoming])
            if isinstance(node, BatchSum) and is_batched(node_cot):
                # Σ_batch A met batched values: its cotangent is their sum over the batch before it is
                # passed to every sequence (every other rule is linear in the cotangent, so its
                # contributions are summed where they reach a value shared by the batch, in ``finish``)
                node_cot = batch_sum(node_cot, is_batched)
            trail = [s for _, steps in incoming for s in steps]
            if isinstance(node, MatrixSymbol):
                pending.setdefault(node, []).append(Contribution(d.name, node_cot, trail))
                continue
            rule = None
            for i, operand in enumerate(node.args):
                # A stack's backward runs for its blocks' parameters even when its input is frozen.
                if not isinstance(operand, MatrixExpr) or not (needs(operand) or isinstance(node, Repeat)):
                    continue
                rule = rule or rule_for(node)
                result = rule.vjp(node, i, node_cot)
                if isinstance(node, BatchSum) and not is_batched(operand):
                    # Σ_batch of a value shared by the batch is n_batch times it (derive/batch.py)
                    result = MatMul(component.batch_size(), result)
                local.setdefault(operand, []).append((result, trail + [Step(rule, node, operand, result, i)]))

    for arg in component.tensor_arguments:
        if not arg.receives_gradient:
            continue
        contributions = pending.pop(arg.symbol, [])
        if contributions:
            derivation.gradients[arg.name] = finish(arg.symbol, contributions)
        else:
            zero = ZeroMatrix(*arg.symbol.shape)
            derivation.gradients[arg.name] = Adjoint(arg.symbol, [], zero, zero, [], arg.batched)
    return derivation
