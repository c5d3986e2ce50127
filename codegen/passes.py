"""Optimising passes over a lowered plan.

Each pass is one general rewrite of the statements that ``lower`` produced; none
looks at a component's name.  Each keeps values bit for bit or within rounding
(the tests run every plan with and without its passes) and records what it did
in ``plan.notes``, which the generated module states in a comment and
``backprop show NAME --plan`` prints.

* ``read_forward_values``: the backward reads the values the forward already
  has, in the fewest arrays: a derivative through the value the forward computed
  (f′(var) = 1/(2σ) for σ = √(var + ε)), a value through the one it was
  normalised into (X_c = (σ 1ᵀ) ∘ X̄), and then the cache holds only what is read.
* ``order_chains``: a chain of three or more matrices is multiplied in the order
  of least cost over the symbolic sizes, or, where that depends on sizes left
  open, in the order the sizes at run time make cheapest.
* liveness (at printing): every array is released after its last use (``del``),
  in the forward as in the backward, and the backward drops its cache once unpacked.
"""
from __future__ import annotations

import sympy as sp
from sympy import Basic, MatMul, MatrixExpr, MatrixSymbol, OneMatrix

from derive.closed_form import _Rewriter, forward_sums
from derive.derivation import text
from derive.primitives import BatchSum, Softmax
from derive.simplify import Context, simplify, split_coefficient, with_coefficient


def read_forward_values(plan) -> None:
    """Rewrite backward statements through forward values when that shrinks what the backward reads."""
    c = plan.component
    ctx = Context(softmax={d.symbol for d in c.definitions if isinstance(d.expr, Softmax)})
    forward_sums(plan.derivation, ctx)
    rewriter = _Rewriter(plan.derivation)
    definitions = {d.symbol for d in c.definitions}
    before = _forward_reads(plan.backward, definitions)
    originals = [st.expr for st in plan.backward]
    for st in plan.backward:
        expr = st.expr
        for _ in range(20):
            new, _ = simplify(rewriter.rewrite(expr), ctx)
            if new == expr:
                break
            expr = new
        st.expr = expr
    after = _forward_reads(plan.backward, definitions)
    if not after < before:  # nothing dropped from the cache: keep the sweep's statements
        for st, expr in zip(plan.backward, originals):
            st.expr = expr
        return
    dropped = ", ".join(sorted(s.name for s in before - after))
    plan.notes.append(f"read-forward-values: the backward reads {dropped} through other forward values, "
                      f"so the cache does not hold {'it' if len(before - after) == 1 else 'them'}")


def _forward_reads(statements, definitions) -> set:
    return {s for st in statements for s in st.expr.free_symbols if isinstance(s, MatrixSymbol) and s in definitions}


def release_after_last_use(statements, keep: set[str]) -> None:
    """Set ``st.release``: the names whose last read is ``st`` (those in ``keep`` are never released)."""
    last: dict[str, int] = {}
    for i, st in enumerate(statements):
        for name in st.reads:
            last[name] = i
        last.setdefault(st.target, i)  # a value never read again is released where it is made
    for i, st in enumerate(statements):
        st.release = sorted(n for n, j in last.items() if j == i and n not in keep)


def _passes():
    return (read_forward_values, order_chains)


def optimise(plan, passes=None):
    """Run every pass (or those in ``passes``) over ``plan``, in place, and return it."""
    for run in _passes() if passes is None else passes:
        run(plan)
    return plan


def describe(plan) -> str:
    """The lowered plan as text: forward, cache, backward, and what the passes did."""
    lines = [f"{plan.component.name}: lowered plan", "", "forward"]
    lines += [f"  {st.target} = {text(st.expr)}    {st.shape}" for st in plan.forward]
    lines += ["", "backward"]
    for st in plan.backward:
        lines.append(f"  {st.target} = {text(st.expr)}    {st.shape}")
    lines += ["", "passes"] + [f"  {n}" for n in plan.notes or ["(none applied)"]]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ matrix chains by cost


class Chain(MatrixExpr):
    """A₁ A₂ … Aₖ multiplied in the order that is cheapest for the sizes met at run time.

    Left for chains whose best order depends on sizes the definition leaves open
    (X A B with a rank r against d, φ(Q) φ(K)ᵀ V with n_T against d).
    """

    def __new__(cls, *factors):
        return Basic.__new__(cls, *factors)

    @property
    def shape(self):
        return (self.args[0].shape[0], self.args[-1].shape[1])

    def _sympystr(self, printer):
        return "⟨" + " ".join(printer._print(a) for a in self.args) + "⟩ (order by cost at run time)"


def _orders(factors: tuple):
    """Every full parenthesisation of ``factors`` as nested tuples, with its cost in multiplications."""
    if len(factors) == 1:
        yield factors[0], sp.Integer(0)
        return
    for split in range(1, len(factors)):
        for left, cost_left in _orders(factors[:split]):
            for right, cost_right in _orders(factors[split:]):
                shape_l = factors[0].shape[0], factors[split - 1].shape[1]
                flops = shape_l[0] * shape_l[1] * factors[-1].shape[1]
                yield (left, right), cost_left + cost_right + flops


def _as_product(tree) -> MatrixExpr:
    if isinstance(tree, tuple):
        return MatMul(*(_as_product(t) for t in tree))
    return tree


def _left_to_right(factors) -> tuple:
    tree = factors[0]
    for f in factors[1:]:
        tree = (tree, f)
    return tree


def order_chains(plan) -> None:
    """Multiply each chain of three or more matrices in its cheapest order.

    Every order's cost is a polynomial in the symbolic sizes; when one is no
    larger than every other for all positive sizes, the chain is written in that
    order, else it is left to a ``Chain`` that the generated code orders at run time.
    """
    done = []

    def visit(e):
        if not isinstance(e, MatrixExpr) or isinstance(e, MatrixSymbol):
            return e
        args = [visit(a) for a in e.args]
        e = e if tuple(args) == e.args else e.func(*args)
        if not isinstance(e, MatMul):
            return e
        c, body = split_coefficient(e)
        factors = tuple(body.args) if isinstance(body, MatMul) else (body,)
        if len(factors) < 3 or any(isinstance(f, (OneMatrix, BatchSum)) for f in factors):
            return e
        orders = list(_orders(factors))
        best = [t for t, cost in orders if all(_no_larger(cost, other) for _, other in orders)]
        default = _left_to_right(factors)
        if best and default in best:
            return e
        chain = _as_product(best[0]) if best else Chain(*factors)
        done.append(f"{text(body)}: " + ("reordered as " + text(chain) if best else "ordered at run time by cost"))
        return with_coefficient(c, chain)

    for st in plan.forward + plan.backward:
        st.expr = visit(st.expr)
    for line in dict.fromkeys(done):
        plan.notes.append(f"order-chains: {line}")


def _no_larger(cost, other) -> bool:
    difference = sp.expand(other - cost)
    return difference == 0 or bool(difference.is_nonnegative)
