"""A derivation as a LaTeX fragment to paste into a document (``backprop show NAME --latex``).

The same sections as the text (``derivation.render``): the forward definition, every
Frobenius-product step of the reverse sweep with its rule, the gradients, the results and the
facts.  Every formula is display math (``align*``), every name is the one the formulas use
(X̄ is ``\\bar{X}`` in a heading too), the rules' identities are translated from their notation,
and the text is ASCII: it compiles with ``\\usepackage{amsmath}`` and nothing else.
"""
from __future__ import annotations

import re

from sympy import MatrixSymbol

from .derivation import _facts, _paths, latex, latex_delta, latex_partial, results_data
from .reverse import Derivation

#: The notation of the rules' identities and of the facts, in LaTeX (math mode).
_SYMBOLS = {
    "Ḡ": r"\bar{G}", "·": r"\cdot ", "∘": r"\circ ", "ᵀ": "^{T}", "′": "'", "Σ": r"\Sigma", "→": r"\to ",
    "Δ": r"\Delta ", "∂": r"\partial ", "−": "-", "≠": r"\neq ", "⋯": r"\cdots ", "…": r"\ldots ",
    "×": r"\times ", "√": r"\surd ", "≤": r"\leq ", "≥": r"\geq ", "∞": r"\infty ", "⊙": r"\odot ",
    "σ": r"\sigma ", "μ": r"\mu ", "ε": r"\epsilon ", "τ": r"\tau ", "θ": r"\theta ", "α": r"\alpha ",
    "¹": "^{1}", "²": "^{2}", "³": "^{3}", "ⁿ": "^{n}",
}
#: Words of prose among the notation: set upright, with the spaces around them kept.
_WORD = re.compile(r"(?<![\\A-Za-z_])([A-Za-z][a-z]{2,}(?:[ .,;:]+[a-z]{2,})*)(?![A-Za-z(])")
_FUNCTION = re.compile(r"(?<![\\A-Za-z])([a-z]{2,})\(")


def notation(statement: str) -> str:
    """A rule's identity or a fact's statement, written in the engine's notation, as LaTeX math:
    its symbols translated, function names upright, words of prose as text."""
    out = re.sub("(\\w)\u0304", r"\\bar{\1}", statement)  # X̄
    out = _FUNCTION.sub(r"\\operatorname{\1}(", out)
    out = _WORD.sub(lambda m: r"\text{ " + m.group(1) + " }", out)
    out = "".join(_SYMBOLS.get(ch, ch) for ch in out)
    out = out.replace("_", r"\_").replace(r"\_{", "_{")
    out = re.sub(r"(?<=[A-Za-z0-9)}])\\_(?=[A-Za-z0-9])", "_", out)  # G_t, Σ_b: subscripts
    return "".join(ch if ord(ch) < 128 else "?" for ch in out)


def _ascii(prose: str) -> str:
    """Plain text for LaTeX: special characters escaped, anything beyond ASCII in notation."""
    escaped = re.sub(r"([#$%&_{}])", r"\\\1", prose).replace("~", r"\textasciitilde{}")
    escaped = re.sub("(\\w)\u0304", lambda m: f"${notation(m.group(0))}$", escaped)
    return "".join(ch if ord(ch) < 128 else f"${notation(ch)}$" for ch in escaped)


def _align(rows: list[str]) -> list[str]:
    if not rows:
        return []
    return [r"\begin{align*}"] + [f"  {r} \\\\" for r in rows[:-1]] + [f"  {rows[-1]}", r"\end{align*}"]


def _shape(shape, batched: bool) -> str:
    axes = ([r"\ldots"] if batched else []) + [latex(MatrixSymbol(str(d), 1, 1)) if not str(d).isdigit() else str(d)
                                              for d in shape]
    return "(" + ", ".join(axes) + ("," if len(axes) == 1 else "") + ")"


def render_latex(derivation: Derivation, closed: bool = False) -> str:
    """The whole derivation as a LaTeX fragment (``\\usepackage{amsmath}``); with ``closed``, the closed
    forms too."""
    c = derivation.component
    lines = [f"% {_ascii(c.name)}: {_ascii(c.title)} (derived by pedestrian-backprop; needs amsmath)",
             rf"\paragraph{{{_ascii(c.title)}}} {_ascii(c.description)}", "", r"\paragraph{Forward definition}"]
    arguments = []
    for a in c.arguments:
        if a.role == "config":
            arguments.append(rf"\text{{{_ascii(a.name)}: configuration, default {_ascii(repr(a.default))}}}")
        else:
            role = {"input": "input", "param": "parameter"}[a.role] + (", frozen" if a.frozen else "")
            arguments.append(rf"{latex(a.symbol.T if a.is_vector else a.symbol)} &\quad \text{{{role}}} "
                             rf"\ {_shape(a.dims, a.batched)}")
    lines += _align(arguments)
    lines += _align([rf"{latex(d.symbol)} &= {latex(d.expr)}" for d in c.definitions])
    given = derivation.upstream
    gradients = ", ".join(r"\partial L / \partial " + latex(o) for o in given)
    verb = "is the upstream gradient" if len(given) == 1 else "are the upstream gradients"
    lines += ["", rf"\paragraph{{Reverse sweep}} ${', '.join(latex(g) for g in given.values())}$ {verb} "
                  rf"${gradients}$."]
    swept = [a for a in derivation.adjoints if not derivation.is_given(a)]
    for adj in swept + list(derivation.gradients.values()):
        lines += ["", rf"\subparagraph{{${latex_delta(adj.symbol)}$}}"]
        if not adj.contributions:
            lines += _align([rf"{latex_delta(adj.symbol)} &= 0 &&\text{{(it does not reach the output)}}"])
            continue
        rows = []
        for contribution in adj.contributions:
            if contribution.consumer == "upstream":  # an output that later definitions read as well
                rows.append(rf"&\text{{given: }} {latex(contribution.expr)}")
                continue
            source = c.definition(contribution.consumer)
            rows.append(rf"&\text{{from }} {latex(source.symbol)} = {latex(source.expr)}:")
            paths = _paths(contribution.steps, source.expr)
            for k, path in enumerate(paths, 1):
                label = rf"\text{{path {k} of {len(paths)}}}" if len(paths) > 1 else ""
                rows.append(rf"{label} &\quad {latex_delta(source.symbol)} \cdot \mathrm{{d}}{latex(source.symbol)}")
                for step in path:
                    rows.append(rf"\text{{{step.rule.primitive}}} &\quad {notation(step.rule.identity)}")
                    rows.append(rf"&\quad \to \left({latex(step.result)}\right) \cdot "
                                rf"\mathrm{{d}}\left({latex(step.operand)}\right)")
        if len(adj.contributions) > 1:
            rows.append(rf"\text{{sum}} &\quad {latex(adj.total)}")
        rows.append(rf"{latex_delta(adj.symbol)} &= {latex(adj.expr)}")
        lines += _align(rows)
    lines += ["", r"\paragraph{Gradients}"]
    lines += _align([rf"{latex_partial(adj)} &= {latex(adj.expr)}" for adj in derivation.gradients.values()])
    results = results_data(derivation)
    if results:
        lines += ["", r"\paragraph{Results}"] + _align(
            [formula.replace(" = ", " &= ", 1) + (rf" &&\text{{{_ascii(note)}}}" if note else "")
             for formula, note in results])
    facts = _facts(derivation)
    if facts:
        lines += ["", r"\paragraph{Facts used}", r"\begin{itemize}"]
        lines += [rf"  \item \textbf{{{_ascii(f.name)}}}: {_ascii(f.statement)}" for f in facts]
        lines.append(r"\end{itemize}")
    if closed:
        from .closed_form import closed_forms

        forms = closed_forms(derivation)
        rows = [rf"\text{{where}} &\quad {latex_delta(s)} = {latex(e)}" for s, e in forms.named]
        for name, adj in derivation.gradients.items():
            rows.append(rf"{latex_partial(adj)} &= {latex(forms.gradients[name].expr) if name in forms.gradients else '0'}")
        lines += ["", rf"\paragraph{{Closed forms}} From ${', '.join(latex(g) for g in given.values())}$ and "
                      "forward values."] + _align(rows)
    return "\n".join(lines) + "\n"
