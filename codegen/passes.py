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
* ``reuse_log_sum_exp``: the forward keeps softmax(Z) for the backward instead of the logits
  and reads lse(Z) = max(Z) − log(max(softmax(Z))) off it, so the exponentials are computed
  once; where the backward reads Z besides, softmax(Z) = exp(Z − lse(Z) 1ᵀ) with the
  forward's log-sum-exp kept, instead of normalising again.
* ``order_chains``: a chain of three or more matrices is multiplied in the order
  of least cost over the symbolic sizes, or, where that depends on sizes left
  open, in the order the sizes at run time make cheapest.
* ``fuse_shared_operand``: products of one operand with several weights are one
  product with the weights side by side, forward and backward.
* ``recompute_affine_values``: a forward value that is an entrywise affine map of one
  array the backward keeps anyway (Y = X̄ ∘ (1 wᵀ) + 1 bᵀ) is recomputed where the
  backward first reads it, one pass, instead of held from the forward to the backward.
* liveness (at printing): every array is released after its last use (``del``),
  in the forward as in the backward, and the backward drops its cache once unpacked.
"""
from __future__ import annotations

import copy
import dataclasses

import sympy as sp
from sympy import Basic, MatAdd, MatMul, MatrixExpr, MatrixSymbol, OneMatrix

from derive.closed_form import forward_value_rewriting, rewrite_through_forward_values
from derive.derivation import text
from derive.families.normalisers import LogSumExp, Softmax
from derive.primitives import X_SCALAR, BatchSum, Elementwise, Node, ScalarFunction, cotangent
from derive.simplify import split_coefficient, with_coefficient

from derive.batch import carries_batch, heads_axis

from .plan import Statement, fresh_name
from .shapes import Shape



def introduce(plan, symbol: MatrixSymbol, expr: MatrixExpr) -> str:
    """A value a pass introduces takes its batch and heads axes from its definition ``expr`` (as the
    lowering gives them to the component's own values); returns its shape."""
    ctx = plan.context
    if carries_batch(expr, ctx.batched):
        ctx.batched.add(symbol)
    heads = heads_axis(expr, ctx.headed)
    if heads is not None:
        ctx.headed[symbol] = heads
    return Shape.of(symbol.shape, symbol in ctx.batched, heads=heads)


def read_forward_values(plan) -> None:
    """Rewrite backward statements through forward values when that shrinks what the backward reads
    (the same rewriting as the closed forms, ``derive.closed_form``)."""
    ctx, rewriter, _ = forward_value_rewriting(plan.derivation)
    definitions = {d.symbol for d in plan.component.definitions}
    before = _forward_reads(plan.backward, definitions)
    originals = [st.expr for st in plan.backward]
    for st in plan.backward:
        st.expr, _ = rewrite_through_forward_values(st.expr, ctx, rewriter)
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
        for name in st.outputs or [st.target]:
            last.setdefault(name, i)  # a value never read again is released where it is made
    for i, st in enumerate(statements):
        st.release = sorted(n for n, j in last.items() if j == i and n not in keep)


def _bottom_up(e, rewrite):
    """``e`` with ``rewrite`` applied to every matrix node, operands first (leaves left as they are)."""
    if not isinstance(e, MatrixExpr) or isinstance(e, MatrixSymbol):
        return e
    args = [_bottom_up(a, rewrite) for a in e.args]
    return rewrite(e if tuple(args) == e.args else e.func(*args))


class LogSumExpOfSoftmax(Node):
    """``lse(Z) = max(Z) − log(max(softmax(Z)))`` row by row: the largest entry of a row's softmax is
    exp(0)/Σ exp(Z − max Z), so the log-sum-exp is read off a softmax the forward keeps, without
    the exponentials again."""

    fields = ("arg", "softmax")

    @property
    def shape(self):
        return (self.arg.shape[0], 1)

    def _sympystr(self, printer):  # as ``backprop show --plan`` prints it: row by row
        return f"rowmax({printer._print(self.arg)}) − log(rowmax({printer._print(self.softmax)}))"


def reuse_log_sum_exp(plan) -> None:
    """A backward softmax of logits Z whose log-sum-exp the forward computes shares the forward's work.

    When the backward reads Z only through softmax(Z), the forward keeps softmax(Z) instead of Z
    (the same size) and reads lse(Z) off it (``LogSumExpOfSoftmax``): the exponentials are
    computed once per step.  Otherwise softmax(Z) = exp(Z − lse(Z) 1ᵀ) with lse(Z) kept from the
    forward (one number per row), instead of normalising again.
    """
    found = {}
    for st in plan.forward:
        for node in sp.preorder_traversal(st.expr):
            if isinstance(node, LogSumExp):
                found.setdefault(node.arg, node)
    if not found:
        return
    kept = {}

    def keep_softmax(e):
        if isinstance(e, Softmax) and e.causal == sp.false and e.arg in found:
            if e.arg not in kept:
                kept[e.arg] = MatrixSymbol(_fresh(f"softmax_{text(e.arg)}", plan.taken), *e.shape)
            return kept[e.arg]
        return e

    originals = [st.expr for st in plan.backward]
    for st in plan.backward:
        st.expr = _bottom_up(st.expr, keep_softmax)
    if any(st.expr.has(arg) for arg in kept for st in plan.backward):  # Z is read besides: keep lse only
        for st, expr in zip(plan.backward, originals):
            st.expr = expr
        _through_kept_log_sum_exp(plan, found)
        return
    for arg, softmax in sorted(kept.items(), key=lambda item: _outermost_first(found[item[0]])):
        node = found[arg]
        first = next(i for i, st in enumerate(plan.forward) if st.expr.has(node))
        lse = MatrixSymbol(_fresh(f"lse_{text(arg)}", plan.taken), *node.shape)
        for st in plan.forward:
            st.expr = st.expr.xreplace({node: lse})
        plan.forward[first:first] = [
            Statement(softmax.name, Softmax(arg, sp.false), introduce(plan, softmax, Softmax(arg, sp.false)),
                      "kept for the backward, instead of the logits"),
            Statement(lse.name, LogSumExpOfSoftmax(arg, softmax), introduce(plan, lse, node),
                      "read off the softmax"),
        ]
        plan.notes.append(f"reuse-log-sum-exp: softmax({text(arg)}) kept from the forward for the backward, and "
                          f"lse({text(arg)}) = max({text(arg)}) − log(max(softmax({text(arg)}))) read off it: "
                          f"the exponentials once per step")


def _through_kept_log_sum_exp(plan, found) -> None:
    """softmax(Z) = exp(Z − lse(Z) 1ᵀ) in the backward, with lse(Z) kept from the forward."""
    hoisted = {}

    def through_lse(e):
        if isinstance(e, Softmax) and e.causal == sp.false and e.arg in found:
            if e.arg not in hoisted:
                hoisted[e.arg] = MatrixSymbol(_fresh(f"lse_{text(e.arg)}", plan.taken), *found[e.arg].shape)
            return Elementwise(EXP, MatAdd(e.arg, MatMul(-1, hoisted[e.arg], OneMatrix(1, e.shape[1]))))
        return e

    for st in plan.backward:
        st.expr = _bottom_up(st.expr, through_lse)
    for arg, symbol in sorted(hoisted.items(), key=lambda item: _outermost_first(found[item[0]])):
        node = found[arg]
        first = next(i for i, st in enumerate(plan.forward) if st.expr.has(node))
        for st in plan.forward:
            st.expr = st.expr.xreplace({node: symbol})
        plan.forward.insert(first, Statement(symbol.name, node, introduce(plan, symbol, node),
                                             "kept for the backward's softmax"))
        plan.notes.append(f"reuse-log-sum-exp: softmax({text(arg)}) = exp({text(arg)} − lse({text(arg)}) 1ᵀ) "
                          f"with lse({text(arg)}) kept from the forward")


def _outermost_first(node) -> int:
    """A sort key putting lse(lse(Z)) before lse(Z): replacing the inner one first would leave no
    forward statement that reads the outer one as it was found."""
    return -sum(1 for _ in sp.preorder_traversal(node))


def _fresh(name: str, taken: set) -> str:
    """A code name for a value a pass introduces, made of ``name``'s identifier characters and
    free of every name the module uses (its own, the user's, the reserved ones)."""
    return fresh_name("".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name), taken)


EXP = ScalarFunction("", sp.Lambda(X_SCALAR, sp.exp(X_SCALAR)))


def _passes():
    return (read_forward_values, reuse_log_sum_exp, order_chains, fuse_shared_operand, recompute_affine_values)


def recompute_affine_values(plan) -> None:
    """Recompute in the backward, where first read, each forward value that is an entrywise affine
    map of one batched array the backward reads anyway (and of parameters): it costs one pass and
    takes one array out of the cache, so out of the step's peak."""
    definitions = {d.symbol: d for d in plan.component.definitions}
    reads = _forward_reads(plan.backward, set(definitions))
    batched = plan.context.batched
    done = []
    for symbol in sorted(reads, key=lambda s: s.name):
        expr = definitions[symbol].expr
        arrays = {s for s in expr.free_symbols if isinstance(s, MatrixSymbol) and s in batched}
        if symbol not in batched or len(arrays) != 1 or not arrays <= reads or not _entrywise_affine(expr):
            continue
        first = next(i for i, st in enumerate(plan.backward) if symbol in st.expr.free_symbols)
        kept = next(st for st in plan.forward if st.target == plan.context.names.get(symbol, symbol.name))
        plan.backward.insert(first, Statement(kept.target, expr, kept.shape,
                                              "recomputed: one pass, cheaper than keeping it"))
        done.append(f"{text(symbol)} = {text(expr)}")
    if done:
        plan.notes.append(f"recompute-affine-values: {'; '.join(done)} recomputed in the backward, "
                          f"not kept in the cache")


def _entrywise_affine(e) -> bool:
    """Sums and entrywise products of arrays, broadcast vectors (1 wᵀ, v 1ᵀ) and numbers: no
    matrix product, no function."""
    if isinstance(e, MatrixSymbol) or not isinstance(e, MatrixExpr):
        return isinstance(e, MatrixSymbol) or e.is_number or e.is_Symbol
    if isinstance(e, MatMul):
        c, body = split_coefficient(e)
        factors = list(body.args) if isinstance(body, MatMul) else [body]
        if len(factors) == 1:
            return _entrywise_affine(factors[0])
        return len(factors) == 2 and any(isinstance(f, OneMatrix) for f in factors) and all(
            isinstance(f, (OneMatrix, MatrixSymbol)) or isinstance(f, sp.Transpose) and isinstance(f.arg, MatrixSymbol)
            for f in factors)
    if isinstance(e, (MatAdd, sp.HadamardProduct)):
        return all(_entrywise_affine(a) for a in e.args)
    return False


def optimise(plan, passes=None):
    """Run every pass (or those in ``passes``) over ``plan``, in place, and return it.

    A pass proves its precondition or leaves the plan alone; a pass that stops on something it did
    not expect (an exception of any kind) leaves it alone too: the plan is restored to what it was
    before the pass, and a note says so (``show --plan``).  A pass is an optimisation, never a
    reason to refuse a definition, and whatever it produced is validated against the reference
    semantics afterwards (``codegen.validate``).
    """
    for run in _passes() if passes is None else passes:
        before = _snapshot(plan)
        try:
            run(plan)
        except Exception as e:  # noqa: BLE001 - a pass that cannot apply leaves the plan as it was
            _restore(plan, before)
            plan.notes.append(f"{run.__name__.replace('_', '-')}: not applied ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else 'its pattern did not hold'})")
    return plan


def _snapshot(plan):
    """A copy of everything a pass may change (the component and the derivation it never does)."""
    return copy.deepcopy(plan, {id(plan.component): plan.component, id(plan.derivation): plan.derivation})


def _restore(plan, snapshot) -> None:
    """``plan`` as ``snapshot`` holds it, in place: a list, set, dict or context that the lowering
    still holds gets its contents back, not a new object beside it."""
    for f in dataclasses.fields(plan):
        now, before = getattr(plan, f.name), getattr(snapshot, f.name)
        if isinstance(now, list):
            now[:] = before
        elif isinstance(now, (set, dict)):
            now.clear()
            now.update(before)
        elif f.name == "context":
            now.__dict__.clear()
            now.__dict__.update(before.__dict__)
        else:
            setattr(plan, f.name, before)


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
        if not isinstance(e, MatMul):
            return e
        c, body = split_coefficient(e)
        factors = tuple(body.args) if isinstance(body, MatMul) else (body,)
        if len(factors) >= 3 and isinstance(factors[-1], OneMatrix) and factors[-1].shape[1] == 1 \
                and not any(isinstance(f, (OneMatrix, BatchSum)) for f in factors[:-1]):
            # A chain ending in a vector: matrix-vector products from that end are never dearer
            # than an order that multiplies two matrices (L₁ (L₂ (… (Lₖ 1)))): row sums first.
            tree = factors[-1]
            for f in reversed(factors[:-1]):
                tree = MatMul(f, tree)
            done.append(f"{text(body)}: sums first, as {text(tree)}")
            return with_coefficient(c, tree)
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
        st.expr = _bottom_up(st.expr, visit)
    for line in dict.fromkeys(done):
        plan.notes.append(f"order-chains: {line}")


def _no_larger(cost, other) -> bool:
    difference = sp.expand(other - cost)
    return difference == 0 or bool(difference.is_nonnegative)


# ------------------------------------------------------------------ products sharing an operand


class SideBySide(MatrixExpr):
    """[A₁ A₂ … Aₖ]: blocks of equal rows side by side (the columns of one wider matrix)."""

    def __new__(cls, *blocks):
        return Basic.__new__(cls, *blocks)

    @property
    def shape(self):
        return (self.args[0].shape[0], sp.Add(*(b.shape[1] for b in self.args)))

    def _sympystr(self, printer):
        return "[" + " | ".join(printer._print(a) for a in self.args) + "]"


class ColumnBlock(MatrixExpr):
    """A[:, start:stop]: a block of columns."""

    def __new__(cls, arg, start, stop):
        return Basic.__new__(cls, arg, sp.sympify(start), sp.sympify(stop))

    @property
    def shape(self):
        return (self.args[0].shape[0], self.args[2] - self.args[1])

    def _sympystr(self, printer):
        return f"{printer._print(self.args[0])}[:, {printer._print(self.args[1])}:{printer._print(self.args[2])}]"


def _product_terms(e):
    """(term, left, right) for each term of ``e`` that is a plain product of two matrices."""
    terms = e.args if isinstance(e, MatAdd) else (e,)
    for t in terms:
        if isinstance(t, MatMul) and len(t.args) == 2 and all(isinstance(a, MatrixExpr) for a in t.args):
            yield t, t.args[0], t.args[1]


def fuse_shared_operand(plan) -> None:
    """X W₁, X W₂, … (one operand, weights shared by the batch) become one product X [W₁ W₂ …];
    in the backward, Δ₁ W₁ᵀ + Δ₂ W₂ᵀ + … is one product [Δ₁ Δ₂ …] [W₁ W₂ …]ᵀ and the
    Σ Xᵀ Δᵢ are one Σ Xᵀ [Δ₁ Δ₂ …], split into the weights' gradients."""
    # Precondition: each weight is a matrix parameter, an array at its full declared size (a value
    # defined as a broadcast, b 1ᵀ, is printed at size 1 along the axis it repeats and cannot be
    # placed side by side with full ones).
    parameters = {a.symbol for a in plan.component.params if not a.is_vector}
    groups: dict = {}
    for st in plan.forward:
        for term in sp.preorder_traversal(st.expr):
            if not (isinstance(term, MatMul) and len(term.args) == 2
                    and all(isinstance(a, MatrixExpr) for a in term.args)):
                continue
            left, right = term.args
            if right in parameters and not isinstance(left, OneMatrix) \
                    and (st, term, right) not in groups.get(left, []):
                groups.setdefault(left, []).append((st, term, right))
    taken = plan.taken
    for operand, members in groups.items():
        weights = list(dict.fromkeys(w for _, _, w in members))
        if len(weights) < 2 or len(weights) != len(members):
            continue
        bounds, start = {}, sp.Integer(0)
        for w in weights:
            bounds[w] = (start, start + w.shape[1])
            start = start + w.shape[1]
        fused = MatrixSymbol(_fresh(f"{text(operand)}_{'_'.join(w.name for w in weights)}", taken),
                             operand.shape[0], start)
        # The weights side by side once per step, named, so the backward reads them from the cache.
        together = MatrixSymbol(_fresh("_".join(w.name for w in weights), taken), weights[0].shape[0], start)
        first = min(plan.forward.index(st) for st, _, _ in members)
        plan.forward[first:first] = [
            Statement(together.name, SideBySide(*weights), introduce(plan, together, SideBySide(*weights)),
                      "the weights side by side"),
            Statement(fused.name, MatMul(operand, together), introduce(plan, fused, MatMul(operand, together)),
                      "one product, weights side by side")]
        for st, term, w in members:
            st.expr = st.expr.xreplace({term: ColumnBlock(fused, *bounds[w])})
        _fuse_backward(plan, operand, weights, bounds, together, taken)
        plan.notes.append(f"fuse-shared-operand: {', '.join(f'{text(operand)} {w.name}' for w in weights)} "
                          f"as one product with the weights side by side, forward and backward")


def _fuse_backward(plan, operand, weights, bounds, together, taken) -> None:
    order = {w: i for i, w in enumerate(weights)}
    for st in plan.backward:  # Δ₁ W₁ᵀ + Δ₂ W₂ᵀ + … → [Δ₁ Δ₂ …] [W₁ W₂ …]ᵀ
        terms = {}
        for term, left, right in _product_terms(st.expr):
            if isinstance(right, sp.Transpose) and right.arg in order:
                terms[right.arg] = (term, left)
        if set(terms) == set(weights):
            blocks = SideBySide(*(terms[w][1] for w in weights))
            rest = [t for t in (st.expr.args if isinstance(st.expr, MatAdd) else (st.expr,))
                    if t not in {term for term, _ in terms.values()}]
            product = MatMul(blocks, sp.Transpose(together))
            st.expr = MatAdd(product, *rest) if rest else product
    gradients = {}  # Σ Xᵀ Δᵢ for each weight
    names = {plan.context.names[cotangent(w)]: w for w in weights if cotangent(w) in plan.context.names}
    for st in plan.backward:
        w = names.get(st.target)
        e = st.expr
        if w is not None and isinstance(e, BatchSum) and isinstance(e.arg, MatMul) and len(e.arg.args) == 2 \
                and e.arg.args[0] == sp.Transpose(operand):
            gradients[w] = (st, e.arg.args[1])
    if set(gradients) != set(weights):
        return
    total = MatrixSymbol(_fresh("d" + "_".join(w.name for w in weights), taken), operand.shape[1],
                         sp.Add(*(w.shape[1] for w in weights)))
    first = min(plan.backward.index(st) for st, _ in gradients.values())
    summed = BatchSum(MatMul(sp.Transpose(operand), SideBySide(*(gradients[w][1] for w in weights))))
    plan.backward.insert(first, Statement(total.name, summed, Shape.of(total.shape, False),
                                          "the weights' gradients as one product"))
    for w, (st, _) in gradients.items():
        st.expr = ColumnBlock(total, *bounds[w])
