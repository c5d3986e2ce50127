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
from .declare import primitive_of
from .families.normalisers import Softmax
from .primitives import BatchSum, Cotangent, Repeat, cotangent, matrix_children, upstream_gradients
from .rules import Rule, rule_for
from .simplify import FACTS, Context, Fact, derived_sums, simplify, split_coefficient, with_coefficient


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
    owed: bool = False  # one sequence's contribution to a value shared by the batch (``derive``)


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
    upstream: dict = field(default_factory=dict)  # each output → its given gradient (``upstream_gradients``)

    def is_given(self, adjoint: "Adjoint") -> bool:
        """Whether ``adjoint`` is an output's given gradient itself (nothing else flows into it)."""
        return adjoint.symbol in self.upstream and adjoint.expr == self.upstream[adjoint.symbol]

    def adjoint(self, name: str) -> Adjoint:
        for a in self.adjoints:
            if a.name == name:
                return a
        return self.gradients[name]


#: The facts that only keep a normal form (flat products, scalars in front).
NORMAL_FORM = [f for f in FACTS if not f.shown]


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


def batch_sum(expr: MatrixExpr, is_batched, n_batch) -> MatrixExpr:
    """Σ_batch of the per-sequence value ``expr``, taken as far in as it goes.

    Σ (A + B) = Σ A + Σ B, Σ pad(A) = pad(Σ A) and Σ (c L M R) = c L (Σ M) R for L, R shared by the
    batch: only the factors that carry the batch are summed, and a sum shared by several gradients
    (Σ Xᵀ Δ) is one subexpression.  A term that carries no batch axis is the same for every
    sequence, so its sum is n_batch times it (``derive/batch.py``): the count is never lost when a
    sum is distributed over terms some of which no batch axis reaches.
    """
    if not is_batched(expr):
        c, body = split_coefficient(expr)
        return expr if isinstance(body, ZeroMatrix) else with_coefficient(n_batch * c, body)
    if isinstance(expr, MatAdd):
        return MatAdd(*[batch_sum(t, is_batched, n_batch) for t in expr.args])
    c, body = split_coefficient(expr)
    declared = primitive_of(body)
    if declared is not None and declared.linear and len(declared.operands) == 1:
        # Σ f(A) = f(Σ A) for a map linear in its one operand, the same for every sequence (pad, rotate…)
        return with_coefficient(c, body.func(batch_sum(body.operands[0], is_batched, n_batch), *body.params))
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


def batch_sums_inward(expr: MatrixExpr, is_batched, n_batch) -> MatrixExpr:
    """Every ``Σ_batch A`` of ``expr`` taken as far in as it goes (``batch_sum``), bottom-up."""
    if not isinstance(expr, MatrixExpr) or isinstance(expr, MatrixSymbol):
        return expr
    args = [batch_sums_inward(a, is_batched, n_batch) for a in expr.args]
    expr = expr if tuple(args) == expr.args else expr.func(*args)
    if isinstance(expr, BatchSum):
        return batch_sum(expr.arg, is_batched, n_batch)
    return expr


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
    seeds = upstream_gradients(component)
    batched |= {cotangent(s) for s in set(batched)} | {g for o, g in seeds.items() if o in batched}
    needs_memo: dict = {}

    def needs(e):
        return _depends(e, differentiable, needs_memo, stacks=True)

    def is_batched(e):
        return carries_batch(e, batched)

    n_batch = component.batch_size()
    context = Context(softmax={d.symbol for d in defs if isinstance(d.expr, Softmax)})
    derivation.unproven = context.unproven
    pending: dict[MatrixSymbol, list[Contribution]] = {}
    derivation.upstream = seeds
    for out, given in seeds.items():
        pending[out] = [Contribution("upstream", given, [])]

    def finish(symbol: MatrixSymbol, contributions: list[Contribution]) -> Adjoint:
        # A contribution that a value shared by the batch received from batched consumers is one
        # sequence's: the value's cotangent is their sum over the batch (``derive/batch.py``).
        owed = [c.expr for c in contributions if c.owed]
        totals = [c.expr for c in contributions if not c.owed]
        total = _sum(([BatchSum(_sum(owed))] if owed else []) + totals)
        expr, facts = simplify(total, context)
        inward = batch_sums_inward(expr, is_batched, n_batch)
        if inward != expr:
            expr, _ = simplify(inward, context, NORMAL_FORM)  # n_batch joins the coefficients
        return Adjoint(symbol, contributions, total, expr, facts, symbol in batched, bool(owed))

    for d in reversed(defs):
        contributions = pending.pop(d.symbol, [])
        if not contributions:
            continue  # the output does not depend on this value
        adjoint = finish(d.symbol, contributions)
        derivation.adjoints.append(adjoint)
        if adjoint.is_zero:
            continue  # nothing flows further down
        given = derivation.is_given(adjoint)
        if not given:
            derived_sums(adjoint.cotangent, adjoint.expr, context)  # facts for later gradients
        G = adjoint.expr if given else adjoint.cotangent
        # Each node's incoming cotangents: (cotangent, steps, owed).  ``owed``: a cotangent that a
        # value shared by the batch received from a batched consumer, one sequence's, whose sum over
        # the batch is still to be taken.  It is taken where the contributions reach a named value
        # (``finish``) or a Σ_batch node; the rules between are linear and their other factors
        # shared by the batch, so the sum commutes with them.
        local: dict[MatrixExpr, list[tuple[MatrixExpr, list[Step], bool]]] = {d.expr: [(G, [], False)]}
        for node in reversed(_topological(d.expr)):
            incoming = local.pop(node, [])
            if not incoming:
                continue
            owed = [c for c, _, o in incoming if o]
            totals = [c for c, _, o in incoming if not o]
            if owed and (totals or isinstance(node, BatchSum)):
                totals, owed = [BatchSum(_sum(owed))] + totals, []
            node_cot = _sum(owed or totals)
            node_owed = bool(owed)
            trail = [s for _, steps, _ in incoming for s in steps]
            if isinstance(node, MatrixSymbol):
                pending.setdefault(node, []).append(Contribution(d.name, node_cot, trail, node_owed))
                continue
            rule = None
            node_batched = is_batched(node)
            for i, operand in enumerate(node.args):
                # A stack's backward runs for its blocks' parameters even when its input is frozen.
                if not isinstance(operand, MatrixExpr) or not (needs(operand) or isinstance(node, Repeat)):
                    continue
                rule = rule or rule_for(node)
                result = rule.vjp(node, i, node_cot)
                operand_owed = node_owed
                if isinstance(node, BatchSum) and not is_batched(operand):
                    # Σ_batch of a value shared by the batch is n_batch times it (derive/batch.py)
                    result = MatMul(n_batch, result)
                elif node_batched and not is_batched(operand):
                    operand_owed = True  # a value shared by the batch met a batched one here
                local.setdefault(operand, []).append(
                    (result, trail + [Step(rule, node, operand, result, i)], operand_owed))

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
