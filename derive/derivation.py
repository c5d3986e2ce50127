"""The recorded derivation, printed as text or LaTeX.

``render(derivation)`` gives what ``backprop show`` prints: the forward
definition, then for every value the Frobenius-product steps from each
consumer, the simplified cotangent with the facts used, and finally the
gradients of the arguments in index-free notation.
"""
from __future__ import annotations

import re

import sympy as sp
from sympy import MatrixExpr, MatrixSymbol
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.str import StrPrinter

from .declare import Declared
from .families.normalisers import Softmax
from .primitives import (
    BatchSum,
    ChoiceFunction,
    Cotangent,
    Elementwise,
    IndexSlice,
    Pick,
    Repeat,
    RepeatBackward,
    ScatterAdd,
    RotaryAngles,
    TargetScatter,
    index_base,
)
from .reverse import Adjoint, Derivation
from .simplify import split_coefficient, sum_in

SUPERSCRIPT_T = "ᵀ"


_SUPERSCRIPTS = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


class TextPrinter(StrPrinter):
    """Index-free notation in plain text: ``X W + 1 bᵀ``, ``Δ_Y ∘ (1 wᵀ)``; scalars as a person writes
    them, ``−1/sigma²``, ``1/(2 sqrt(eps + var))``: powers as superscripts, products side by side."""

    def _print_Pow(self, e, rational=False):
        base, exponent = e.as_base_exp()
        if exponent.is_Integer and exponent > 1:
            return self.parenthesize(base, PRECEDENCE["Pow"], strict=True) + str(exponent).translate(_SUPERSCRIPTS)
        if exponent.is_Integer and exponent < -1:
            return "1/" + self._print(sp.Pow(base, -exponent, evaluate=False))
        return super()._print_Pow(e, rational)

    def _print_Mul(self, e):
        code = re.sub(r"(?<![*])[*](?![*])", " ", super()._print_Mul(e))
        return "−" + code[1:] if code.startswith("-") else code

    def _print_Add(self, e, order=None):
        code = super()._print_Add(e, order).replace(" - ", " − ")
        return "−" + code[1:] if code.startswith("-") else code

    def _print_MatrixSymbol(self, e):
        # A row (1, d) is the paper's bᵀ for the vector b.
        return f"{e.name}{SUPERSCRIPT_T}" if e.shape[0] == 1 and e.shape[1] != 1 else e.name

    def _print_Cotangent(self, e):
        return f"Δ_{e.name}"

    def _print_Upstream(self, e):
        return f"Ḡ_{e.name}"

    def _print_OneMatrix(self, e):
        rows, cols = (d != 1 for d in e.shape)
        return {(True, False): "1", (False, True): f"1{SUPERSCRIPT_T}"}.get((rows, cols), f"(1 1{SUPERSCRIPT_T})")

    def _print_ZeroMatrix(self, e):
        return "0"

    def _operand(self, e, code: str | None = None) -> str:
        """``e`` as an operand: its text (``code``, when already printed), in parentheses unless atomic."""
        code = self._print(e) if code is None else code
        simple = isinstance(e, (MatrixSymbol, sp.OneMatrix, sp.ZeroMatrix, sp.Transpose, BatchSum,
                                RotaryAngles, Pick,
                                IndexSlice, Repeat, RepeatBackward))
        if isinstance(e, Elementwise):
            simple = re.fullmatch(r"[\w′]+(\(.*\))?", code) is not None
        if isinstance(e, Declared):
            simple = _is_call(code) or code.isidentifier()
        return code if simple else f"({code})"

    def _print_Transpose(self, e):
        if isinstance(e.arg, sp.OneMatrix):  # (1ᵀ)ᵀ = 1
            return self._print(sp.OneMatrix(e.arg.shape[1], e.arg.shape[0]))
        if isinstance(e.arg, sp.Transpose):  # (Aᵀ)ᵀ = A
            return self._print(e.arg.arg)
        if isinstance(e.arg, MatrixSymbol) and e.arg.shape[0] == 1 and e.arg.shape[1] != 1:
            return e.arg.name  # (bᵀ)ᵀ = b
        return f"{self._operand(e.arg)}{SUPERSCRIPT_T}"

    def _print_MatMul(self, e):
        c, body = split_coefficient(e)
        factors = body.args if isinstance(body, sp.MatMul) else (body,)
        text = " ".join(self._operand(f) for f in factors)
        if c == 1:
            return text
        if c == -1:
            return f"−{text}"
        cs = self._print(c)
        return f"({cs}) {text}" if not cs.isidentifier() and not cs.isdigit() else f"{cs} {text}"

    def _print_MatAdd(self, e):
        factored = _factor_one_hot(e)
        if factored is not None:
            common, dense, targets = factored
            return f"({self._print(common)}) ∘ ({self._print(dense)} − ohe({self._print(targets)}))"
        out = []
        for i, t in enumerate(e.args):
            c, body = split_coefficient(t)
            if i and c.could_extract_minus_sign():
                out.append(f" − {self._print(sp.MatMul(-c, body) if -c != 1 else body)}")
            else:
                out.append(("" if i == 0 else " + ") + self._print(t))
        return "".join(out)

    def _print_HadamardProduct(self, e):
        return " ∘ ".join(self._operand(f) for f in e.args)

    def _print_Elementwise(self, e):
        fn, arg = e.fn, self._print(e.arg)
        if isinstance(fn, ChoiceFunction):
            return f"{_function_name(fn)}({arg})"
        if fn.name:
            return f"{_function_name(fn)}({arg})"
        (x,), body = fn.body.signature, fn.body.expr
        return self._print(body.xreplace({x: sp.Symbol(arg if isinstance(e.arg, MatrixSymbol) or _is_call(arg)
                                                      else f"({arg})")}))

    def _print_BatchSum(self, e):
        return f"Σ_batch {self._operand(e.arg)}"

    def _print_Gather(self, e):
        return f"ohe({e.index.name}) {self._operand(e.table)}"

    def _print_IndexSlice(self, e):
        return f"{index_base(e).name}[{self._print(e.start)}:]"

    def _print_Repeat(self, e):
        return f"{e.stack}({self._print(e.arg)})"

    def _print_RepeatBackward(self, e):
        return f"{e.stack}ᵀ({self._print(e.cotangent)})"

    def _print_Pick(self, e):
        return f"pick({self._print(e.arg)}, {self._print(e.targets)})"

    def _print_TargetScatter(self, e):
        return f"({self._operand(e.values)} 1ᵀ) ∘ ohe({self._print(e.targets)})"

    def _print_ScatterAdd(self, e):
        return f"ohe({e.index.name})ᵀ {self._operand(e.values)}"

    def _print_Declared(self, e):
        """A declared primitive in its declaration's notation (an operand inside an expression in parentheses)."""
        codes = [self._print(a) for a in e.operands]  # each operand printed once
        wrapped = {code: self._operand(a, code) for a, code in zip(e.operands, codes)}
        return e.primitive.text(codes, [self._print(p) for p in e.params], wrap=lambda code: wrapped.get(code, code))

    def _print_RotaryAngles(self, e):
        return f"Θ_{self._print(e.theta)}({self._print(e.rows)}, {self._print(e.cols)})"


def _is_call(code: str) -> bool:
    """Is ``code`` one call, ``name(…)`` or ``name[…](…)`` with its parentheses closing at the end (needs
    none around it)?"""
    name = re.match(r"[\w′]+(\[[^\[\]()]*\])?\(", code)  # softmax(…), softmax[causal](…)
    if not name or not code.endswith(")"):
        return False
    depth = 0
    for i, ch in enumerate(code[name.end() - 1:], name.end() - 1):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0:
            return i == len(code) - 1
    return False


def _factor_one_hot(e):
    """(G ∘ S) − (g 1ᵀ) ∘ ohe(t) with G = g 1ᵀ → (G, S, t): shown as G ∘ (S − ohe(t))."""
    if len(e.args) != 2:
        return None
    for first, second in (e.args, e.args[::-1]):
        c, scatter = split_coefficient(second)
        if c != -1 or not isinstance(scatter, TargetScatter) or not isinstance(first, sp.HadamardProduct):
            continue
        values = scatter.values.args if isinstance(scatter.values, sp.MatMul) else (scatter.values,)
        common = sp.MatMul(*values, sp.OneMatrix(1, scatter.shape[1]))
        if len(first.args) == 2 and common in first.args:
            dense = first.args[1] if first.args[0] == common else first.args[0]
            return common, dense, scatter.targets
    return None


def _function_name(fn) -> str:
    name = fn.table if isinstance(fn, ChoiceFunction) else fn.name
    return name.replace("_grad", "′")


class MathLatexPrinter(LatexPrinter):
    """The same notation in LaTeX."""

    def _split_super_sub(self, name: str):
        # A name of several letters (Xc, var, eps, attn) is one italic word, not a product of letters.
        base, supers, subs = super()._split_super_sub(name)
        word = lambda t: rf"\mathit{{{t}}}" if len(t) > 1 and t.isalnum() else t  # noqa: E731
        return word(base), [word(t) for t in supers], [word(t) for t in subs]

    def _print_MatrixSymbol(self, e):
        # A row (1, d) is the paper's bᵀ for the vector b.
        name = super()._print_MatrixSymbol(e)
        return f"{name}^{{T}}" if e.shape[0] == 1 and e.shape[1] != 1 else name

    def _print_MatAdd(self, e):
        out = []
        for i, t in enumerate(e.args):
            c, body = split_coefficient(t)
            if i and c.could_extract_minus_sign():
                term = self._print(sp.MatMul(-c, body) if -c != 1 else body)
                out.append(f" - {term}" if not isinstance(body, sp.MatAdd) else rf" - \left({term}\right)")
            else:
                out.append(("" if i == 0 else " + ") + self._print(t))
        return "".join(out)

    def _print_Cotangent(self, e):
        return rf"\Delta_{{{LatexPrinter._print_MatrixSymbol(self, MatrixSymbol(e.name, *e.shape))}}}"

    def _print_Upstream(self, e):
        return rf"\bar{{G}}_{{{LatexPrinter._print_MatrixSymbol(self, MatrixSymbol(e.name, *e.shape))}}}"

    def _print_HadamardProduct(self, e):
        """A ∘ B with a sum or a negated operand in parentheses: (Δ 1) ∘ (−1/σ²)."""
        parts = []
        for a in e.args:
            code = self._print(a)
            scalar = a.fn.body.expr if isinstance(a, Elementwise) and not isinstance(a.fn, ChoiceFunction) \
                and not a.fn.name else None
            if isinstance(a, (sp.MatMul, sp.MatAdd, sp.HadamardProduct)) or code.startswith("-") or (
                    scalar is not None and (scalar.is_Add or scalar.could_extract_minus_sign())):
                code = rf"\left({code}\right)"
            parts.append(code)
        return r" \circ ".join(parts)

    def _print_OneMatrix(self, e):
        return r"\mathbf{1}^{T}" if e.shape[0] == 1 and e.shape[1] != 1 else r"\mathbf{1}"

    def _print_Transpose(self, e):
        if isinstance(e.arg, sp.OneMatrix):
            return self._print(sp.OneMatrix(e.arg.shape[1], e.arg.shape[0]))
        if isinstance(e.arg, MatrixSymbol) and e.arg.shape[0] == 1 and e.arg.shape[1] != 1:
            return super()._print_MatrixSymbol(e.arg)  # (bᵀ)ᵀ = b
        return super()._print_Transpose(e)

    def _print_Elementwise(self, e):
        fn, arg = e.fn, self._print(e.arg)
        if isinstance(fn, ChoiceFunction) or fn.name:
            name = _function_name(fn).replace("′", "'").replace("_", r"\_")
            return rf"\operatorname{{{name}}}\left({arg}\right)"
        (x,), body = fn.body.signature, fn.body.expr
        return self._print(body.xreplace({x: sp.Symbol(arg)}))

    def _print_BatchSum(self, e):
        return rf"\sum_{{\text{{batch}}}} \left({self._print(e.arg)}\right)"

    def _print_IndexSlice(self, e):
        return rf"{{{self._print(MatrixSymbol(index_base(e).name, 1, 1))}}}_{{[{self._print(e.start)}:]}}"

    def _print_Pick(self, e):
        return rf"\operatorname{{pick}}\left({self._print(e.arg)}, {self._print(e.targets)}\right)"

    def _print_TargetScatter(self, e):
        values, targets = self._print(e.values), self._print(e.targets)
        return rf"\left({values} \mathbf{{1}}^{{T}}\right) \circ \operatorname{{ohe}}\left({targets}\right)"

    def _print_Gather(self, e):
        return rf"\operatorname{{ohe}}({self._print(MatrixSymbol(e.index.name, 1, 1))}) {self._print(e.table)}"

    def _print_ScatterAdd(self, e):
        return rf"\operatorname{{ohe}}({self._print(MatrixSymbol(e.index.name, 1, 1))})^{{T}} {self._print(e.values)}"

    def _print_Declared(self, e):
        def wrap(code):
            return code if re.fullmatch(r"[\w\\{}^]+", code) else rf"\left({code}\right)"

        return e.primitive.latex_text([self._print(a) for a in e.operands], [self._print(p) for p in e.params],
                                      wrap=wrap)

    def _print_RotaryAngles(self, e):
        return rf"\Theta_{{{self._print(e.theta)}}}\left({self._print(e.rows)}, {self._print(e.cols)}\right)"


def text(e: MatrixExpr) -> str:
    return TextPrinter().doprint(e)


def latex(e: MatrixExpr) -> str:
    return MathLatexPrinter().doprint(e)


def upstream_text(derivation: Derivation, fmt) -> str:
    """What the sweep starts from: "Δ_Y is the upstream gradient ∂L/∂Y", or each of several outputs'."""
    given = derivation.upstream
    if len(given) == 1:
        (out, g), = given.items()
        return f"{fmt(g)} is the upstream gradient ∂L/∂{out.name}"
    return (f"{', '.join(fmt(g) for g in given.values())} are the upstream gradients "
            f"{', '.join(f'∂L/∂{o.name}' for o in given)}, one per output")


def latex_delta(symbol: MatrixSymbol) -> str:
    """Δ_name, the cotangent of the value ``symbol``, in LaTeX."""
    return latex(Cotangent(symbol.name, *symbol.shape))


def latex_partial(adj: Adjoint) -> str:
    """∂L/∂name of an argument in LaTeX; a vector argument by its column b, not the row bᵀ."""
    symbol = adj.symbol.T if adj.symbol.shape[0] == 1 else adj.symbol
    return rf"\frac{{\partial L}}{{\partial {latex(symbol)}}}"


def shape_text(symbol: MatrixSymbol, vector: bool = False) -> str:
    if vector:
        return f"({symbol.shape[1]},)"
    return f"({symbol.shape[0]}, {symbol.shape[1]})"


def render(derivation: Derivation, closed: bool = False) -> str:
    """The whole derivation as text; with ``closed``, the closed forms too (LaTeX: ``latex_document``)."""
    fmt = text
    delta = lambda s: f"Δ_{s.name}"  # noqa: E731
    c = derivation.component
    lines = [f"{c.name}: {c.title}", f"  {c.description}", "", "Forward definition"]
    width = max([8] + [len(a.name) for a in c.arguments])
    for a in c.arguments:
        if a.role == "config":
            extra = f"one of {', '.join(map(repr, a.choices))}" if a.choices else "scalar"
            default = "required" if a.required else f"default {a.default!r}"
            lines.append(f"  {a.name:<{width}} configuration  {default} ({extra})")
        else:
            batch = "..., " if a.batched else ""
            dims = ", ".join(str(d) for d in a.dims) + ("," if len(a.dims) == 1 and not a.batched else "")
            role = {"input": "input", "param": "parameter"}[a.role] + (", frozen" if a.frozen else "")
            role += ", integer" if a.dtype == "int" else ""
            lines.append(f"  {a.name:<{width}} {role:<14} ({batch}{dims})")
    for symbol, config, options in c.scalars:
        cases = "; ".join(f"{sp.sstr(v)} if {config} = {k!r}" for k, v in options.items())
        lines.append(f"  {symbol} = {cases}")
    for d in c.definitions:
        lines.append(f"  {d.name} = {fmt(d.expr)}    {shape_text(d.symbol)}")
    lines += ["", f"Reverse sweep ({upstream_text(derivation, fmt)})"]
    swept = [a for a in derivation.adjoints if not derivation.is_given(a)]
    for adj in swept + list(derivation.gradients.values()):
        lines += _adjoint_lines(adj, fmt, delta, c)
    lines += ["", "Gradients"]
    for name, adj in derivation.gradients.items():
        lines.append(f"  ∂L/∂{name} = {fmt(adj.expr)}")
    facts = _facts(derivation)
    results = _results(derivation, fmt, delta)
    if results:
        lines += ["", "Results"] + [f"  {r}" for r in results]
    if facts:
        lines += ["", "Facts used"] + [f"  {f.name}: {f.statement}" for f in facts]
    if closed:
        lines += [""] + closed_lines(derivation)
    return "\n".join(lines) + "\n"


def closed_lines(derivation: Derivation) -> list[str]:
    """The "Closed forms" section: each gradient from the upstream gradient and forward values."""
    from .closed_form import closed_forms

    fmt = text
    delta = lambda s: f"Δ_{s.name}"  # noqa: E731
    forms = closed_forms(derivation)
    lines = [f"Closed forms (from {', '.join(fmt(g) for g in derivation.upstream.values())} and forward values)"]
    for symbol, expr in forms.named:
        lines.append(f"  where {delta(symbol)} = {fmt(expr)}")
    for name, adj in derivation.gradients.items():
        if name in forms.gradients:
            lines.append(f"  ∂L/∂{name} = {fmt(forms.gradients[name].expr)}")
        else:
            lines.append(f"  ∂L/∂{name} = 0")
    facts = forms.facts
    if facts:
        lines += ["", "Facts behind the closed forms"] + [f"  {f.name}: {f.statement}" for f in facts]
    return lines


def _adjoint_lines(adj: Adjoint, fmt, delta, component) -> list[str]:
    lines = ["", f"  {delta(adj.symbol)}"]
    if not adj.contributions:
        lines.append(f"    {adj.name} does not reach the output: {delta(adj.symbol)} = 0")
        return lines
    for contrib in adj.contributions:
        if contrib.consumer == "upstream":  # an output that later definitions read as well
            lines.append(f"    given: {fmt(contrib.expr)}, the upstream gradient of the output {adj.name}")
            continue
        source = component.definition(contrib.consumer)
        lines.append(f"    from {source.name} = {fmt(source.expr)}:")
        G = delta(source.symbol)
        paths = _paths(contrib.steps, source.expr)
        for k, path in enumerate(paths, 1):
            indent = "      " if len(paths) == 1 else "        "
            if len(paths) > 1:  # the value occurs more than once in the definition: one path each, summed
                lines.append(f"      path {k} of {len(paths)}:")
            lines.append(f"{indent}{G} · d{source.name}")
            for step in path:
                args = [a for a in step.node.args if isinstance(a, MatrixExpr)]
                which = (f"   (operand {step.index + 1} of {len(step.node.args)}, {fmt(step.operand)})"
                         if args.count(step.operand) > 1 else "")
                lines.append(f"{indent}[{step.rule.primitive}] {step.rule.identity}{which}")
                lines.append(f"{indent}  → ({fmt(step.result)}) · d{_operand_text(step.operand, fmt)}")
    if len(adj.contributions) > 1:
        lines.append(f"    sum over consumers: {fmt(adj.total)}")
    if adj.facts:
        lines.append(f"    simplified with {', '.join(f.name for f in adj.facts)}")
    if adj.batch_summed:
        lines.append(f"    {adj.name} is shared by every sequence of a batch: summed over the batch")
    lines.append(f"    {delta(adj.symbol)} = {fmt(adj.expr)}")
    return lines


def _paths(steps: list, top) -> list[list]:
    """One consumer's steps, one list per path from the top of its definition to the value (the sweep
    records the paths one after the other, each starting at the top)."""
    paths: list[list] = []
    for step in steps:
        if not paths or step.node == top:
            paths.append([])
        paths[-1].append(step)
    return paths


def _operand_text(e, fmt) -> str:
    s = fmt(e)
    return s if isinstance(e, MatrixSymbol) else f"({s})"


def _facts(derivation: Derivation):
    seen = []
    for adj in derivation.adjoints + list(derivation.gradients.values()):
        for f in adj.facts:
            if f not in seen:
                seen.append(f)
    return seen


def _rules_used(adj: Adjoint) -> list[str]:
    names = []
    for contribution in adj.contributions:
        for step in contribution.steps:
            if step.rule.primitive not in names:
                names.append(step.rule.primitive)
    return names


def result_entries(derivation: Derivation, fmt, delta, partial) -> list[tuple[str, str, str, str]]:
    """What the engine proved, as (kind, left side, right side, detail), formulas printed by ``fmt``.

    Every intermediate cotangent that a stated fact simplified or that ends in a scatter (a
    one-hot term never built as a matrix), kind "value"; then every gradient of an argument:
    "value", "zero" (identically), "unreached", followed by "nonzero" with the reason when a
    bias gradient is not zero where a softmax would have made it so.  The detail is the rules
    and facts used.
    """
    out = []
    for adj in derivation.adjoints[1:]:
        special = any(isinstance(n, (TargetScatter, ScatterAdd)) for n in sp.preorder_traversal(adj.expr))
        if adj.facts or special:
            out.append(("value", delta(adj.symbol), fmt(adj.expr), _because(adj)))
    for name, adj in derivation.gradients.items():
        if adj.is_zero and not adj.contributions:
            out.append(("unreached", partial(name, adj), "0", f"{name} does not reach the output"))
        elif adj.is_zero:
            out.append(("zero", partial(name, adj), "0", _because(adj)))
        else:
            out.append(("value", partial(name, adj), fmt(adj.expr), _because(adj)))
            why = why_not_zero(derivation, adj)
            if why:
                out.append(("nonzero", partial(name, adj), "", why))
    return out


def _results(derivation: Derivation, fmt, delta) -> list[str]:
    """The Results section's lines."""
    lines = []
    for kind, lhs, rhs, detail in result_entries(derivation, fmt, delta, lambda name, adj: f"∂L/∂{name}"):
        bracket = f"   [{detail}]" if detail else ""
        lines.append({"value": f"{lhs} = {rhs}{bracket}", "zero": f"{lhs} = 0 identically{bracket}",
                      "unreached": f"{lhs} = 0: {detail}", "nonzero": f"{lhs} ≠ 0: {detail}"}[kind])
    return lines


def _sums_read(e) -> list[tuple]:
    """(cotangent symbol, "row" | "token") for each row sum Δ 1 (or 1ᵀ Δᵀ) and token sum 1ᵀ Δ in ``e``."""
    found = []
    for node in sp.preorder_traversal(e):
        if isinstance(node, sp.MatMul):
            args = [a for a in node.args if isinstance(a, MatrixExpr)]
            for a, b in zip(args, args[1:]):
                read = sum_in(a, b)
                if read is not None and isinstance(read[0], Cotangent):
                    found.append(read[:2])
    return found


def why_not_zero(derivation: Derivation, adj: Adjoint) -> str:
    """Why a gradient that is a token sum (a bias's) is not zero, when the chain of sums it reads
    reaches the row sum of a value that an entrywise function, not a softmax, normalises: the fact
    softmax-rows, which makes such a gradient vanish after a softmax, does not apply."""
    unproven = {(s.name, kind): e for (s, kind), e in derivation.unproven.items()}
    chain, todo, seen = [], [(s.name, k) for s, k in _sums_read(adj.expr)], set()
    reasons = []
    while todo:
        key = todo.pop(0)
        if key in seen or key not in unproven:
            continue
        seen.add(key)
        chain.append(f"1ᵀ Δ_{key[0]}" if key[1] == "token" else f"Δ_{key[0]} 1")
        if key[1] == "row":
            for d in derivation.component.definitions:
                normalises = any(isinstance(n, Elementwise) and isinstance(n.arg, MatrixSymbol) and n.arg.name == key[0]
                                 for n in sp.preorder_traversal(d.expr))
                if normalises and not isinstance(d.expr, Softmax):
                    reasons.append(f"the rows of {d.name} = {text(d.expr)} do not sum to a constant, so the fact "
                                   f"softmax-rows (softmax(S) 1 = 1) does not apply")
        todo += [(s.name, k) for s, k in _sums_read(unproven[key])]
    if not reasons:
        return ""
    return f"{', '.join(chain)} ≠ 0: " + "; ".join(dict.fromkeys(reasons))


def results_data(derivation: Derivation) -> list[tuple[str, str]]:
    """The results as (LaTeX formula, note) for the report."""
    out = []
    for kind, lhs, rhs, detail in result_entries(derivation, latex, latex_delta, lambda name, adj: latex_partial(adj)):
        formula = rf"{lhs} \neq 0" if kind == "nonzero" else f"{lhs} = {rhs}"
        out.append((formula, f"identically zero; {detail}" if kind == "zero" else detail))
    return out


def _because(adj: Adjoint) -> str:
    """The rules and facts behind a cotangent, e.g. "rules: add, matmul; facts: zero"."""
    parts = []
    rules = _rules_used(adj)
    if rules:
        parts.append("rules: " + ", ".join(rules))
    if adj.facts:
        parts.append("facts: " + ", ".join(f.name for f in adj.facts))
    return "; ".join(parts)
