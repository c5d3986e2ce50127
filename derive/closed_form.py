"""Closed forms: each gradient in terms of the upstream gradient and forward values only.

The reverse sweep leaves a gradient in terms of other cotangents (∂L/∂X = Δ_Xc + …).
The paper states its results closed: the cotangents substituted back until only
the upstream gradient and forward values remain, then simplified.  This module
does that for any derivation:

1. every intermediate cotangent is substituted by its expression, except one used
   by two or more values where keeping it as a named subexpression (the paper's
   G = Δ diag(w), or Δ_S in attention) gives the shorter result;
2. the result is simplified with the engine's facts, plus the facts below that
   rewrite through forward values: sums of forward values proved zero from their
   definitions (X_c 1 = 0), a derivative written through the value the forward
   computed (f′(var) = 1/(2σ) for σ = √(var + ε)), a value written through the
   one it was normalised into (X_c = (σ 1ᵀ) ∘ X̄ for X̄ = ((1/σ) 1ᵀ) ∘ X_c),
   entrywise functions of one argument multiplied into one, and subexpressions
   that are forward values named as such.

Every rewrite is an identity, so a closed form equals the sweep's gradient; the
tests evaluate both.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp
from sympy import HadamardProduct, Lambda, MatMul, MatrixExpr, MatrixSymbol, OneMatrix, Transpose

from .families.normalisers import Softmax
from .primitives import X_SCALAR, Cotangent, Elementwise, ScalarFunction
from .reverse import Derivation
from .simplify import FACTS, Context, Fact, derived_sums, is_ones, is_zero, simplify


@dataclass
class ClosedForm:
    """One gradient, closed: ``expr`` reads the upstream gradient, forward values and ``named``."""

    argument: str
    expr: MatrixExpr
    facts: list[Fact] = field(default_factory=list)


@dataclass
class ClosedForms:
    """The closed form of every gradient of a derivation, with the named subexpressions they share."""

    gradients: dict[str, ClosedForm]
    named: list[tuple[Cotangent, MatrixExpr]]  # Δ_v = closed expression, in sweep order
    forward_facts: list[Fact]  # sums of forward values proved zero

    @property
    def facts(self) -> list[Fact]:
        seen: list[Fact] = []
        for f in self.forward_facts + [f for g in self.gradients.values() for f in g.facts]:
            if f not in seen:
                seen.append(f)
        return seen


# ------------------------------------------------------------------ rewrites through forward values


def _size(e) -> int:
    return sum(1 for n in sp.preorder_traversal(e) if isinstance(n, MatrixExpr))


def _function_of(fn: ScalarFunction) -> sp.Expr:
    (x,), body = fn.body.signature, fn.body.expr
    return body.xreplace({x: X_SCALAR})


def _elementwise(body: sp.Expr, arg: MatrixExpr) -> MatrixExpr:
    """f(arg) for the scalar body f of x; a constant factor of f moves in front: (c f)(A) = c f(A)."""
    try:
        body = sp.simplify(body)
    except (TypeError, ValueError):  # SymPy cannot simplify every body (a Min over a NaN it made): keep it
        pass
    coefficient, rest = body.as_coeff_Mul() if body.is_Mul else (sp.Integer(1), body)
    if rest == X_SCALAR:
        inner = arg
    else:
        inner = Elementwise(ScalarFunction("", Lambda(X_SCALAR, rest)), arg)
    return inner if coefficient == 1 else MatMul(coefficient, inner)


class ForwardValueRewriter:
    """The rewrites through forward values for one component."""

    def __init__(self, derivation: Derivation):
        c = derivation.component
        self.definitions = {d.symbol: d.expr for d in c.definitions}
        self.named_values = {d.expr: d.symbol for d in c.definitions}
        self.named_values.update({Transpose(d.expr): Transpose(d.symbol) for d in c.definitions})
        # f(A) computed by the forward as the value B: (A, f) → B.
        self.values_of = {}
        for d in c.definitions:
            if isinstance(d.expr, Elementwise) and isinstance(d.expr.fn, ScalarFunction):
                self.values_of[(d.expr.arg, _function_of(d.expr.fn))] = d.symbol
        # B = (c 1ᵀ) ∘ A: A = ((1/c) 1ᵀ) ∘ B, A a named value.
        self.inverse = {}
        for d in c.definitions:
            e = d.expr
            if isinstance(e, HadamardProduct) and len(e.args) == 2:
                for scale, value in (e.args, e.args[::-1]):
                    column = _column_broadcast(scale)
                    if column is not None and isinstance(value, MatrixSymbol) and value in self.definitions:
                        self.inverse[value] = HadamardProduct(
                            MatMul(_reciprocal(column), OneMatrix(1, value.shape[1])), d.symbol)
        self.used: list[Fact] = []

    def _note(self, fact: Fact):
        if fact not in self.used:
            self.used.append(fact)

    def rewrite(self, e):
        """One bottom-up pass of the forward-value rewrites; returns the new expression."""
        if not isinstance(e, MatrixExpr) or isinstance(e, MatrixSymbol):
            if isinstance(e, MatrixSymbol) and e in self.inverse:
                self._note(INVERSE)
                return self.inverse[e]
            return e
        args = [self.rewrite(a) if isinstance(a, MatrixExpr) else a for a in e.args]
        e = e if tuple(args) == e.args else e.func(*args)
        if e in self.named_values:
            self._note(NAMED)
            return self.named_values[e]
        if isinstance(e, Elementwise) and isinstance(e.fn, ScalarFunction):
            body = _function_of(e.fn)
            if body.is_Mul and body.as_coeff_Mul()[0] != 1:
                self._note(SAME_ARGUMENT)
                return _elementwise(body, e.arg)
            through = self._through_value(e)
            if through is not None:
                self._note(THROUGH)
                return through
            if isinstance(e.arg, Elementwise) and isinstance(e.arg.fn, ScalarFunction):
                self._note(SAME_ARGUMENT)
                return _elementwise(_function_of(e.fn).xreplace({X_SCALAR: _function_of(e.arg.fn)}), e.arg.arg)
        if isinstance(e, HadamardProduct):
            merged = _merge_same_argument(e)
            if merged is not None:
                self._note(SAME_ARGUMENT)
                return merged
        return e

    def _through_value(self, e: Elementwise):
        """f′(A) → g(B) when the forward computed B = f(A) and f′ = g ∘ f."""
        body = _function_of(e.fn)
        y = sp.Dummy("y")
        for (arg, f), value in self.values_of.items():
            if arg != e.arg or f == body:
                continue
            g = body.subs(f, y)
            if X_SCALAR not in g.free_symbols and g != body:
                return _elementwise(g.xreplace({y: X_SCALAR}), value)
        return None


def _column_broadcast(e):
    """c for c 1ᵀ (a column repeated over columns), else None."""
    if isinstance(e, MatMul) and len(e.args) == 2 and is_ones(e.args[1]) and e.args[1].shape[0] == 1:
        return e.args[0]
    return None


def _reciprocal(c: MatrixExpr) -> MatrixExpr:
    if isinstance(c, Elementwise) and isinstance(c.fn, ScalarFunction):
        return _elementwise(1 / _function_of(c.fn), c.arg)
    return _elementwise(1 / X_SCALAR, c)


def _factor(f):
    """(argument, scalar function of x) for an entrywise function of a value, or the value itself."""
    if isinstance(f, Elementwise) and isinstance(f.fn, ScalarFunction):
        return f.arg, _function_of(f.fn)
    return f, X_SCALAR


def _merge_same_argument(e: HadamardProduct):
    """f(A) ∘ g(A) = (f g)(A); (a 1ᵀ) ∘ (b 1ᵀ) = (a ∘ b) 1ᵀ."""
    columns = [(i, _column_broadcast(f)) for i, f in enumerate(e.args)]
    columns = [(i, c) for i, c in columns if c is not None]
    if len(columns) > 1:
        rest = [f for i, f in enumerate(e.args) if i not in {i for i, _ in columns}]
        merged = MatMul(HadamardProduct(*[c for _, c in columns]), OneMatrix(1, e.shape[1]))
        return merged if not rest else HadamardProduct(merged, *rest)
    groups: dict = {}
    for f in e.args:
        arg, body = _factor(f)
        groups.setdefault(arg, []).append(body)
    if all(len(v) == 1 for v in groups.values()):
        return None
    factors = [_elementwise(sp.Mul(*bodies), arg) for arg, bodies in groups.items()]
    return factors[0] if len(factors) == 1 else HadamardProduct(*factors)


NAMED = Fact("forward-values", "a subexpression the forward computed is that value (sqrt(ε + var) = σ)",
             lambda e, ctx=None: None)
THROUGH = Fact("derivative-through-value", "f′(A) = g(B) when the forward computed B = f(A) and f′ = g ∘ f",
               lambda e, ctx=None: None)
INVERSE = Fact("normalised-value", "B = (c 1ᵀ) ∘ A gives A = ((1/c) 1ᵀ) ∘ B: a value through its normalisation",
               lambda e, ctx=None: None)
SAME_ARGUMENT = Fact("same-argument", "f(A) ∘ g(A) = (f g)(A), f(g(A)) = (f ∘ g)(A), (a 1ᵀ) ∘ (b 1ᵀ) = (a ∘ b) 1ᵀ",
                     lambda e, ctx=None: None)


# ------------------------------------------------------------------ sums of forward values


def forward_sums(derivation: Derivation, ctx: Context) -> list[Fact]:
    """Row and token sums of forward values that their definitions make zero (X_c 1 = 0).

    Each definition is tried as it stands (with the sums already proved), then with the
    definitions it reads substituted in, one level deep.
    """
    c = derivation.component
    definitions = {d.symbol: d.expr for d in c.definitions}
    facts = []
    for d in c.definitions:
        if isinstance(d.expr, Softmax):
            continue
        n, m = d.symbol.shape
        one_level = d.expr.xreplace(definitions)
        for table, text in ((ctx.row_sums, f"{d.name} 1"), (ctx.token_sums, f"1ᵀ {d.name}")):
            if (table is ctx.row_sums and m == 1) or (table is ctx.token_sums and n == 1):
                continue
            for expr in (d.expr, one_level):
                naive = MatMul(expr, OneMatrix(m, 1)) if table is ctx.row_sums else MatMul(OneMatrix(1, n), expr)
                result, used = simplify(naive, ctx)
                if is_zero(result):
                    why = ", ".join(f.name for f in used) or "the definition"
                    fact = Fact(f"sum of {d.name}", f"{text} = 0 (by its definition; {why})",
                                lambda e, ctx=None: None)
                    table[d.symbol] = (result, fact, tuple(used))
                    facts.append(fact)
                    break
    return facts


# ------------------------------------------------------------------ driver

def forward_value_rewriting(derivation: Derivation) -> tuple[Context, "ForwardValueRewriter", list[Fact]]:
    """What rewriting through forward values needs: a simplifier context that knows the sums of
    forward values proved zero (and which values are softmaxes), the rewriter, and those sums' facts."""
    c = derivation.component
    ctx = Context(softmax={d.symbol for d in c.definitions if isinstance(d.expr, Softmax)})
    facts = forward_sums(derivation, ctx)
    return ctx, ForwardValueRewriter(derivation), facts


def rewrite_through_forward_values(expr: MatrixExpr, ctx: Context,
                                   rewriter: "ForwardValueRewriter") -> tuple[MatrixExpr, list[Fact]]:
    """Simplify and rewrite through forward values to a fixed point; the shown facts that fired."""
    used: list[Fact] = []
    for _ in range(50):
        rewriter.used = []
        rewritten = rewriter.rewrite(expr)
        new, facts = simplify(rewritten, ctx)
        for f in rewriter.used + facts:
            if f not in used:
                used.append(f)
        if new == expr:
            break
        expr = new
    return expr, used


def closed_forms(derivation: Derivation) -> ClosedForms:
    """The closed form of every non-zero gradient of ``derivation``."""
    ctx, rewriter, forward_facts = forward_value_rewriting(derivation)
    intermediate = [a for a in derivation.adjoints if not derivation.is_given(a) and not a.is_zero]
    expressions = {a.cotangent: a.expr for a in intermediate}
    uses = {s: sum(s in e.free_symbols for e in list(expressions.values())
                   + [g.expr for g in derivation.gradients.values()]) for s in expressions}

    def close_all(keep: set) -> tuple[dict, list, int]:
        closed: dict = {}
        for a in intermediate:  # sweep order: a value's consumers come first
            e = a.expr.xreplace({s: closed[s][0] for s in closed if s not in keep})
            closed[a.cotangent] = rewrite_through_forward_values(e, ctx, rewriter)
        named = [(s, closed[s]) for s in expressions if s in keep]
        grads = {}
        for name, adj in derivation.gradients.items():
            if adj.is_zero:
                continue
            inlined = [s for s in closed if s not in keep and s in adj.expr.free_symbols]
            e, facts = rewrite_through_forward_values(adj.expr.xreplace({s: closed[s][0] for s in inlined}), ctx, rewriter)
            behind = [f for s in inlined for f in closed[s][1]]  # what closed the inlined cotangents
            grads[name] = (e, [f for f in dict.fromkeys(behind + facts)])
        still = {s for e, _ in grads.values() for s in e.free_symbols} | {
            s for s, (e, _) in named for s in e.free_symbols}
        named = [(s, e) for s, e in named if s in still]
        size = sum(_size(e) for e, _ in grads.values()) + sum(_size(e) for _, (e, _) in named)
        return grads, named, size

    normal_form = [f for f in FACTS if not f.shown]

    def substituted_size(result, s) -> int:
        """The size of ``result`` with ``s`` replaced by its definition and nothing simplified."""
        grads, named, _ = result
        definition = next(e for t, (e, _) in named if t == s)
        exprs = [e for e, _ in grads.values()] + [e for t, (e, _) in named if t != s]
        return sum(_size(simplify(e.xreplace({s: definition}), ctx, normal_form)[0]) for e in exprs)

    keep = {s for s, n in uses.items() if n >= 2 and not isinstance(expressions[s], MatrixSymbol)}
    best = close_all(keep)
    for s in [a.cotangent for a in reversed(intermediate) if a.cotangent in keep]:
        # A shared cotangent stays a named subexpression unless inlining it lets facts remove terms.
        if not any(t == s for t, _ in best[1]):
            continue
        trial = close_all(keep - {s})
        if trial[2] < substituted_size(best, s):
            keep, best = keep - {s}, trial
    grads, named, _ = best
    for s, (e, _) in named:
        derived_sums(s, e, ctx)
    return ClosedForms(
        {name: ClosedForm(name, e, facts) for name, (e, facts) in grads.items()},
        [(s, e) for s, (e, _) in named],
        forward_facts,
    )
