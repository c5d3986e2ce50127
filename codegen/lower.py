"""Lowering: a derivation → the straight-line statements of one module.

* forward: one statement per definition, in order;
* backward: one statement per non-zero cotangent, in sweep order, then one per
  gradient; subexpressions used more than once become temporaries (CSE);
  statements no gradient needs are dropped;
* cache: exactly the forward values, configuration and dimensions that the
  backward statements read.
"""
from __future__ import annotations

from collections import Counter

from sympy import MatMul, MatrixExpr, MatrixSymbol, OneMatrix, Transpose

from derive.api import Component
from derive.primitives import Repeat, RepeatBackward, cotangent, matrix_children, upstream_gradients
from derive.reverse import Adjoint, Derivation
from derive.derivation import text
from derive.simplify import split_coefficient

from derive.batch import carries_batch, heads_axis

from .passes import optimise as run_passes
from .layout import lay_out
from .plan import ModulePlan, PrintContext, Statement, fresh_name, symbols_read, user_names
from .shapes import Shape


def _code_names(component: Component, taken: set[str]) -> dict[MatrixSymbol, str]:
    """Code names: the user's own for forward values, ``d<name>`` for cotangents, never colliding."""
    names: dict[MatrixSymbol, str] = {}
    values = [a.symbol for a in component.tensor_arguments] + [d.symbol for d in component.definitions]
    for symbol in values:
        names[symbol] = symbol.name
    given = upstream_gradients(component)
    for symbol in values:
        if len(given) > 1 or symbol not in given:
            names[cotangent(symbol)] = fresh_name(f"d{symbol.name}", taken)
    if len(given) == 1:
        names[cotangent(component.output_symbol)] = "grad_out"
    else:  # several outputs: the upstream gradient of output Q is grad_Q
        for symbol, gradient in given.items():
            names[gradient] = fresh_name(f"grad_{symbol.name}", taken)
    return names


def _subexpressions(e: MatrixExpr):
    yield e
    for c in matrix_children(e):
        yield from _subexpressions(c)


def _worth_naming(e: MatrixExpr) -> bool:
    """Cheap views and broadcasts are not worth a temporary."""
    if isinstance(e, (MatrixSymbol, OneMatrix)) or not matrix_children(e):
        return False
    if isinstance(e, Transpose) and isinstance(e.arg, MatrixSymbol):
        return False
    if isinstance(e, MatMul) and sum(not isinstance(f, OneMatrix) for f in e.args) == 1 and (
            isinstance(e.args[0], OneMatrix) and e.args[0].shape[1] == 1
            or isinstance(e.args[-1], OneMatrix) and e.args[-1].shape[0] == 1):
        return _worth_naming(next(f for f in e.args if not isinstance(f, OneMatrix)))  # a broadcast
    c, body = split_coefficient(e)
    if c != 1 and isinstance(body, MatrixSymbol):
        return False
    return True


def _substitute(e: MatrixExpr, table: dict) -> MatrixExpr:
    return e.xreplace(table) if table else e


def eliminate_common_subexpressions(statements: list[Statement], batched: set, headed: dict,
                                    taken: set[str] | None = None) -> list[Statement]:
    """Hoist every subexpression that occurs twice or more into a temporary ``t<k>``, whose batch
    and heads axes (added to ``batched`` and ``headed``) are its expression's.

    ``taken``: names in use, which a temporary skips (and to which it is added).
    """
    taken = set() if taken is None else taken
    k = 0
    while True:
        counts = Counter(s for st in statements for s in _subexpressions(st.expr) if _worth_naming(s))
        repeated = [s for s, n in counts.items() if n > 1]
        if not repeated:
            return statements
        # The largest first: its own subexpressions are then counted once.
        target = max(repeated, key=lambda s: (sum(1 for _ in _subexpressions(s)), text(s)))
        k += 1
        while f"t{k}" in taken:
            k += 1
        taken.add(f"t{k}")
        temp = MatrixSymbol(f"t{k}", *target.shape)
        if carries_batch(target, batched):
            batched.add(temp)
        if (heads := heads_axis(target, headed)) is not None:
            headed[temp] = heads
        first = next(i for i, st in enumerate(statements) if target in set(_subexpressions(st.expr)))
        for st in statements:
            st.expr = _substitute(st.expr, {target: temp})
        shape = Shape.of(target.shape, temp in batched, heads=heads)
        statements.insert(first, Statement(temp.name, target, shape, "common subexpression"))


def lower(derivation: Derivation, optimise: bool = True, passes=None) -> ModulePlan:
    """The statements of one module; with ``optimise``, after the passes of ``codegen.passes``
    (or only those in ``passes``)."""
    c = derivation.component
    taken = user_names(c)
    ctx = PrintContext(names=_code_names(c, taken))
    ctx.vectors = {a.symbol for a in c.tensor_arguments if a.is_vector}
    ctx.batched = {a.symbol for a in c.inputs}
    for d in c.definitions:  # in dependency order
        if carries_batch(d.expr, ctx.batched):
            ctx.batched.add(d.symbol)
    given = derivation.upstream
    ctx.batched |= {cotangent(s) for s in set(ctx.batched)} | {g for o, g in given.items() if o in ctx.batched}

    headed: dict = {}
    for a in c.tensor_arguments:  # arguments declared (count, rows, cols): one matrix per head
        if a.heads is not None:
            headed[a.symbol] = headed[cotangent(a.symbol)] = a.heads
    for d in c.definitions:
        if (h := heads_axis(d.expr, headed)) is not None:
            headed[d.symbol] = headed[cotangent(d.symbol)] = h
            if d.symbol in given:
                headed[given[d.symbol]] = h
    ctx.headed = headed
    forward = [
        Statement(d.name, d.expr, Shape.of(d.symbol.shape, d.symbol in ctx.batched, heads=headed.get(d.symbol)),
                  d.doc)
        for d in c.definitions
    ]
    consumers = _consumers(c)
    backward: list[Statement] = []
    for adj in derivation.adjoints:
        if derivation.is_given(adj) or adj.is_zero:
            continue  # an output's given gradient is read as it is
        backward.append(_statement(adj, ctx, consumers, c, headed))
    gradient_statements: list[tuple[str, Statement | None]] = []
    for name, adj in derivation.gradients.items():
        if adj.is_zero:
            gradient_statements.append((name, None))
            continue
        st = _statement(adj, ctx, consumers, c, headed)
        backward.append(st)
        gradient_statements.append((name, st))
    # A forward value the backward needs is read from the cache, not recomputed.
    forward_values = {d.expr: d.symbol for d in c.definitions}
    for st in backward:
        st.expr = st.expr.xreplace(forward_values)
    plan = ModulePlan(c, derivation, ctx, forward, [o.name for o in c.output_symbols], backward,
                      gradient_statements, taken=taken, given=[ctx.names[g] for g in given.values()])
    if optimise:
        run_passes(plan, passes)
        forward, backward, gradient_statements = plan.forward, plan.backward, plan.gradients
    # Gradients are live, and so is a stack's backward pass: it computes its blocks' gradients.
    roots = [st for _, st in gradient_statements if st is not None]
    roots += [st for st in backward if st.expr.has(RepeatBackward)]
    backward = _live(backward, roots, ctx.names)
    # A cotangent carries the batch only if its expression does (Δ of a loss term does not).
    symbol_of = {name: symbol for symbol, name in ctx.names.items()}
    for st in backward:
        symbol = symbol_of.get(st.target)
        if symbol is not None and not carries_batch(st.expr, ctx.batched):
            ctx.batched.discard(symbol)
            st.shape = st.shape.without_batch()
    backward = eliminate_common_subexpressions(backward, ctx.batched, headed, taken)
    plan.backward = backward
    plan.defined = list(plan.forward)
    plan.forward, unread = _live_forward(plan.forward, plan.outputs, backward, ctx.names)
    if unread:
        plan.notes.append(f"unread-values: {', '.join(unread)} not computed: neither the output nor the backward "
                          "reads them")
    lay_out(plan)
    return plan


def _live_forward(forward: list[Statement], outputs: list[str], backward: list[Statement], names: dict):
    """(the forward statements the outputs or the backward read, the names of those dropped).

    Precondition: a forward statement has no effect beyond its value, which holds for every primitive
    but a stack of blocks (``Repeat``), whose forward keeps the caches its backward reads: always kept.
    Dropping a value nothing reads leaves every other value bit for bit as it was."""
    needed = set(outputs) | {n for st in backward for n in symbols_read(st.expr, names)}
    kept = []
    for st in reversed(forward):
        if st.target in needed or st.expr.has(Repeat):
            kept.append(st)
            needed |= symbols_read(st.expr, names)
    kept.reverse()
    ids = {id(st) for st in kept}
    return kept, [st.target for st in forward if id(st) not in ids]


def lower_closed_forms(derivation: Derivation, closed) -> ModulePlan:
    """The plan whose backward computes each gradient from its closed form (``derive.closed_form``):
    the named subexpressions first, then the gradients.  Used to check closed forms numerically."""
    plan = lower(derivation)
    c, ctx = plan.component, plan.context
    forward_values = {d.expr: d.symbol for d in c.definitions}
    statements = []
    for symbol, expr in closed.named:
        ctx.batched.add(symbol)
        statements.append(Statement(ctx.names[symbol], expr.xreplace(forward_values),
                                    Shape.of(symbol.shape, True), "named subexpression"))
    gradients = []
    for name, adj in derivation.gradients.items():
        if name not in closed.gradients:
            gradients.append((name, None))
            continue
        st = Statement(ctx.names[adj.cotangent], closed.gradients[name].expr.xreplace(forward_values),
                       Shape.of(adj.symbol.shape, adj.symbol in ctx.batched, adj.symbol in ctx.vectors),
                       "closed form")
        statements.append(st)
        gradients.append((name, st))
    plan.backward, plan.gradients = statements, gradients
    plan.forward, _ = _live_forward(plan.defined, plan.outputs, statements, ctx.names)  # what the closed forms read
    lay_out(plan)
    return plan


def _consumers(c: Component) -> dict[MatrixSymbol, list[str]]:
    used: dict[MatrixSymbol, list[str]] = {}
    for d in c.definitions:
        for s in sorted(d.expr.free_symbols, key=str):
            if isinstance(s, MatrixSymbol):
                used.setdefault(s, []).append(d.name)
    return used


def _statement(adj: Adjoint, ctx: PrintContext, consumers, c: Component, headed: dict) -> Statement:
    target = ctx.names[adj.cotangent]
    uses = consumers.get(adj.symbol, [])
    comment = "grad of " + adj.name + (", used in: " + "; ".join(
        f"{u} = {text(c.definition(u).expr)}" for u in uses) if uses else "")
    batched = adj.symbol in ctx.batched
    vector = adj.symbol in ctx.vectors
    return Statement(target, adj.expr, Shape.of(adj.symbol.shape, batched, vector,
                                                     heads=headed.get(adj.symbol)), comment)


def _live(statements: list[Statement], roots: list[Statement], names: dict) -> list[Statement]:
    """Drop statements that no gradient reads (dead code)."""
    by_name = {st.target: st for st in statements}
    needed, stack = set(), [st.target for st in roots]
    while stack:
        name = stack.pop()
        if name in needed or name not in by_name:
            continue
        needed.add(name)
        stack.extend(symbols_read(by_name[name].expr, names))
    return [st for st in statements if st.target in needed]
