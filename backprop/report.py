"""The derivation report: one page per component, in Markdown and in self-contained HTML.

A page shows what ``backprop show`` shows, laid out as the paper lays it out:
the forward definition with shapes, the reverse sweep step by step (each
Frobenius-product step with the rule that justifies it), the results and the
facts the engine proved, every gradient in closed form, and the generated code
of each backend, folded.  Formulas are LaTeX in the Markdown (``$…$``) and
MathML in the HTML (converted with ``latex2mathml``), so the HTML needs no
script and no network to show them; its CSS is inline.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path

from sympy import MatrixSymbol

from derive.closed_form import closed_forms
from derive.derivation import _facts, _paths, latex, latex_delta, results_data
from derive.reverse import Derivation

from codegen.atomic import write_text

MARK_HTML = '<meta name="generator" content="pedestrian-backprop report">'
MARK_MD = "<!-- written by `backprop report` -->"


# ------------------------------------------------------------------ a page, format-free


@dataclass
class M:
    """Inline math (LaTeX)."""

    tex: str


@dataclass
class Para:
    parts: list  # str (text) and M (inline math)


@dataclass
class Display:
    tex: str
    note: str = ""  # text after the formula (a shape, the rules behind it)


@dataclass
class Table:
    header: list[str]
    rows: list[list]  # cells: str or M


@dataclass
class Code:
    summary: str
    code: str


@dataclass
class Section:
    heading: str
    blocks: list = field(default_factory=list)
    level: int = 2
    tex: str = ""  # the heading as the formulas write it (X̄ for Xbar), when it names a value


@dataclass
class Page:
    name: str
    title: str
    intro: list
    sections: list[Section]


def _partial(name: str) -> str:
    return rf"\frac{{\partial L}}{{\partial {latex_name(name)}}}"


def latex_name(name: str) -> str:
    """A value's name in LaTeX, as the formulas print it (``Xbar`` → ``\\bar{X}``)."""
    return latex(MatrixSymbol(name, 2, 2))


def _shape(a) -> str:
    dims = (["…"] if a.batched else []) + [str(d) for d in a.dims]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def page(derivation: Derivation, code: dict[str, str], source: str) -> Page:
    """The page of one derived component; ``code`` maps a backend to its generated module text."""
    c = derivation.component
    intro = [Para([f"{c.description}" if c.description else c.title]),
             Para([f"Forward definition in {source}; every gradient below is derived by the engine's "
                   "per-primitive rules and one reverse sweep, then simplified with stated facts."])]

    forward = Section("Forward definition")
    rows = []
    for a in c.arguments:
        if a.role == "config":
            extra = f"one of {', '.join(map(repr, a.choices))}" if a.choices else "scalar"
            default = "required" if a.required else f"default {a.default!r}"
            rows.append([a.name, "configuration", f"{default} ({extra})"])
        else:
            role = {"input": "input", "param": "parameter"}[a.role] + (", frozen" if a.frozen else "")
            role += ", integer" if a.dtype == "int" else ""
            rows.append([M(latex_name(a.name)), role, _shape(a)])
    forward.blocks.append(Table(["argument", "role", "shape"], rows))
    for symbol, config, options in c.scalars:
        parts = [M(latex_name(str(symbol))), " = "]
        for i, (key, value) in enumerate(options.items()):
            parts += [M(_tex(value)), f" if {config} = {key!r}" + ("; " if i < len(options) - 1 else "")]
        forward.blocks.append(Para(parts))
    for d in c.definitions:
        forward.blocks.append(Display(f"{latex_name(d.name)} = {latex(d.expr)}",
                                      f"({d.symbol.shape[0]}, {d.symbol.shape[1]})"))

    sweep = Section("Reverse sweep")
    given = derivation.upstream
    verb = " is the upstream gradient " if len(given) == 1 else " are the upstream gradients "
    sweep.blocks.append(Para([M(", ".join(latex(g) for g in given.values())),
                              verb + ", ".join(f"∂L/∂{o.name}" for o in given) + ". Each step moves one factor "
                              "across a Frobenius product A · B = Tr(Aᵀ B) by the rule named in brackets."]))
    swept = [a for a in derivation.adjoints if not derivation.is_given(a)]
    for adj in swept + list(derivation.gradients.values()):
        sweep.blocks += _adjoint_blocks(adj, c)

    results = Section("Results and facts")
    for formula, note in results_data(derivation):
        results.blocks.append(Display(formula, note))
    facts = _facts(derivation)
    if facts:
        results.blocks.append(Table(["fact", "statement"], [[f.name, f.statement] for f in facts]))

    closed = Section("Closed forms")
    forms = closed_forms(derivation)
    closed.blocks.append(Para(["Every gradient from ", M(", ".join(latex(g) for g in given.values())),
                               " and forward values only: the cotangents "
                               "of the sweep substituted back and simplified; a cotangent shared by several "
                               "gradients stays a named subexpression."]))
    for symbol, expr in forms.named:
        closed.blocks.append(Display(f"{latex_delta(symbol)} = {latex(expr)}", "named subexpression"))
    for name in derivation.gradients:
        rhs = latex(forms.gradients[name].expr) if name in forms.gradients else "0"
        closed.blocks.append(Display(f"{_partial(name)} = {rhs}"))
    if forms.facts:
        closed.blocks.append(Table(["fact", "statement"], [[f.name, f.statement] for f in forms.facts]))

    generated = Section("Generated code")
    for backend, text in code.items():
        generated.blocks.append(Code(f"{backend} module", text))
    return Page(c.name, c.title, intro, [forward, sweep, results, closed, generated])


def _tex(value) -> str:
    import sympy as sp

    return sp.latex(value)


def _adjoint_blocks(adj, component) -> list:
    blocks: list = [Section(f"{adj.name}", level=3, tex=latex_name(adj.name))]
    if not adj.contributions:
        blocks.append(Para([f"{adj.name} does not reach the output: ", M(f"{latex_delta(adj.symbol)} = 0")]))
        return blocks
    for contribution in adj.contributions:
        if contribution.consumer == "upstream":  # an output that later definitions read as well
            blocks.append(Para(["given: ", M(latex(contribution.expr)), f", the upstream gradient of {adj.name}"]))
            continue
        source = component.definition(contribution.consumer)
        blocks.append(Para(["from ", M(f"{latex_name(source.name)} = {latex(source.expr)}"), ":"]))
        rows = []
        paths = _paths(contribution.steps, source.expr)
        for k, path in enumerate(paths, 1):
            label = f"path {k} of {len(paths)}" if len(paths) > 1 else ""  # the value occurs more than once
            rows.append([label, M(rf"{latex_delta(source.symbol)} \cdot d{latex_name(source.name)}")])
            for step in path:
                operand = latex(step.operand)
                rows.append([f"[{step.rule.primitive}] {step.rule.identity}",
                             M(rf"= \left({latex(step.result)}\right) \cdot d\left({operand}\right)")])
        blocks.append(Table(["rule", "step"], rows))
    if len(adj.contributions) > 1:
        blocks.append(Para(["sum over consumers: ", M(latex(adj.total))]))
    if adj.facts:
        blocks.append(Para([f"simplified with {', '.join(f.name for f in adj.facts)}"]))
    if adj.batch_summed:
        blocks.append(Para([f"{adj.name} is shared by every sequence of a batch: summed over the batch"]))
    blocks.append(Display(f"{latex_delta(adj.symbol)} = {latex(adj.expr)}"))
    return blocks


# ------------------------------------------------------------------ Markdown


def md_text(text: str) -> str:
    """User or engine text as Markdown shows it literally: HTML's special characters as entities and
    Markdown's markup characters backslash-escaped, so a title like ``<script>`` or ``[x](javascript:…)``
    is text, never markup."""
    escaped = html.escape(str(text), quote=False)
    escaped = re.sub(r"([\\`*\[\]|$])", r"\\\1", escaped)
    escaped = re.sub(r"(?<!\w)_|_(?!\w)", r"\\_", escaped)  # an underscore inside a word (Q_h) marks nothing
    return re.sub(r"^([#+-])", r"\\\1", escaped)  # nor can the text start a heading or a list


def markdown(p: Page) -> str:
    lines = [MARK_MD, f"# {md_text(p.title)} (`{p.name}`)", ""]
    for block in p.intro:
        lines += [_md_inline(block.parts), ""]
    for section in p.sections:
        lines += _md_section(section)
    return "\n".join(lines).rstrip() + "\n"


def _md_inline(parts) -> str:
    return "".join(f"${x.tex}$" if isinstance(x, M) else md_text(x) for x in parts)


def _md_cell(x) -> str:
    return f"${x.tex}$".replace("|", r"\|") if isinstance(x, M) else md_text(x)


def _md_section(section: Section) -> list[str]:
    lines = ["#" * section.level + " " + (f"${section.tex}$" if section.tex else md_text(section.heading)), ""]
    for b in section.blocks:
        if isinstance(b, Section):
            lines += _md_section(b)
        elif isinstance(b, Para):
            lines += [_md_inline(b.parts), ""]
        elif isinstance(b, Display):
            lines += ["$$", b.tex, "$$", ""] + ([f"*{md_text(b.note)}*", ""] if b.note else [])
        elif isinstance(b, Table):
            lines.append("| " + " | ".join(md_text(h) for h in b.header) + " |")
            lines.append("|" + "---|" * len(b.header))
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows]
            lines.append("")
        elif isinstance(b, Code):
            fence = "`" * max(3, 1 + max(map(len, re.findall("`+", b.code)), default=0))  # longer than any inside
            lines += [f"<details><summary>{html.escape(b.summary)}</summary>", "", fence + "python", b.code.rstrip(),
                      fence, "", "</details>", ""]
    return lines


# ------------------------------------------------------------------ HTML with MathML

CSS = """
body { font: 16px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #1d1d1f; }
h1 { font-size: 1.7rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; } h3 { margin-top: 1.6rem; }
.display { overflow-x: auto; overflow-y: hidden; padding: .3rem 0; margin: .4rem 0 .1rem; }
.note { color: #555; font-size: .9rem; margin: 0 0 .8rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; }
td, th { border: 1px solid #ddd; padding: .25rem .5rem; text-align: left; vertical-align: top; }
td.rule { font-size: .85rem; color: #444; max-width: 24rem; }
details { margin: .6rem 0; } summary { cursor: pointer; font-weight: 600; }
pre { background: #f6f8fa; padding: .8rem; overflow-x: auto; font-size: .8rem; }
nav a { margin-right: 1rem; }
""".strip()


def _math(tex: str, display: bool) -> str:
    """MathML for ``tex``; a name of several letters (\\mathit{inv}) is one identifier, not a product of
    letters, as the LaTeX writes it."""
    from latex2mathml.converter import convert

    mathml = convert(tex, display="block" if display else "inline")
    return _ITALIC_WORD.sub(lambda m: '<mi mathvariant="italic">' + "".join(_ITALIC_LETTER.findall(m.group(1)))
                            + "</mi>", mathml)


#: latex2mathml's \mathit{inv}: a row of one-letter italic identifiers.
_ITALIC_LETTER = re.compile(r'<mi mathvariant="italic">(\w)</mi>')
_ITALIC_WORD = re.compile(r'<mrow>((?:<mi mathvariant="italic">\w</mi>){2,})</mrow>')


def _html_inline(parts) -> str:
    return "".join(_math(x.tex, False) if isinstance(x, M) else html.escape(x) for x in parts)


def _html_doc(title: str, body: list[str], meta: str = "") -> str:
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">', MARK_HTML, *([meta] if meta else []),
        f"<title>{html.escape(title)}</title>", f"<style>\n{CSS}\n</style>", "</head>", "<body>", *body,
        "</body>", "</html>", ""])


def html_page(p: Page) -> str:
    body = ['<nav><a href="index.html">all derivations</a></nav>',
            f"<h1>{html.escape(p.title)} (<code>{html.escape(p.name)}</code>)</h1>"]
    body += [f"<p>{_html_inline(b.parts)}</p>" for b in p.intro]
    for section in p.sections:
        body += _html_section(section)
    meta = f'<meta name="component" content="{html.escape(p.name)}" data-title="{html.escape(p.title)}">'
    return _html_doc(f"{p.title} ({p.name})", body, meta)


def _html_section(section: Section) -> list[str]:
    anchor = "-".join(section.heading.lower().split())
    heading = _math(section.tex, False) if section.tex else html.escape(section.heading)
    out = [f'<h{section.level} id="{html.escape(anchor)}">{heading}</h{section.level}>']
    for b in section.blocks:
        if isinstance(b, Section):
            out += _html_section(b)
        elif isinstance(b, Para):
            out.append(f"<p>{_html_inline(b.parts)}</p>")
        elif isinstance(b, Display):
            out.append(f'<div class="display">{_math(b.tex, True)}</div>')
            if b.note:
                out.append(f'<p class="note">{html.escape(b.note)}</p>')
        elif isinstance(b, Table):
            out.append("<table>")
            out.append("<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in b.header) + "</tr>")
            for row in b.rows:
                cells = []
                for i, cell in enumerate(row):
                    css = ' class="rule"' if b.header[0] == "rule" and i == 0 else ""
                    content = _math(cell.tex, False) if isinstance(cell, M) else html.escape(cell)
                    cells.append(f"<td{css}>{content}</td>")
                out.append("<tr>" + "".join(cells) + "</tr>")
            out.append("</table>")
        elif isinstance(b, Code):
            out.append(f"<details><summary>{html.escape(b.summary)}</summary>"
                       f"<pre><code>{html.escape(b.code)}</code></pre></details>")
    return out


def page_stem(name: str) -> str:
    """The file name (without suffix) of a component's pages: its name, except that a component
    named ``index`` must not replace the index (``index.component``: no identifier holds a dot)."""
    return "index.component" if name == "index" else name


@dataclass(frozen=True)
class Entry:
    """One line of the index: a page's file stem, component name and title."""

    stem: str
    name: str
    title: str


def index_html(entries: list[Entry]) -> str:
    items = [f'<li><a href="{html.escape(e.stem)}.html">{html.escape(e.title)}</a> '
             f'(<code>{html.escape(e.name)}</code>) · <a href="{html.escape(e.stem)}.md">Markdown</a></li>'
             for e in entries]
    body = ["<h1>Derivations</h1>",
            "<p>The backward pass of each component, derived from its forward definition by pedestrian-backprop: "
            "the reverse sweep step by step, the results and facts, the closed forms and the generated code.</p>",
            "<ul>", *items, "</ul>"]
    return _html_doc("Derivations", body)


def index_markdown(entries: list[Entry]) -> str:
    lines = [MARK_MD, "# Derivations", ""] + [f"- [{md_text(e.title)}](<{e.stem}.md>) (`{e.name}`)"
                                               for e in entries]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ writing


class ReportError(ValueError):
    """A report that would overwrite a file it did not write."""


def write_report(pages: list[Page], out: Path, force: bool = False) -> list[Path]:
    """Write every page (Markdown and HTML) and the index into ``out``, atomically.

    The index lists every page in ``out`` that a report wrote, this one's and earlier ones', so
    reports written one after another into the same folder add up.  A file of the same name that
    the report did not write is not overwritten without ``force``; the check is made for every
    file before anything is written.  Two components of the same name in one report are refused.
    """
    if out.exists() and not out.is_dir():
        raise ReportError(f"--out {out}: is a file, not a folder")
    seen: dict[str, Page] = {}
    for p in pages:
        if p.name in seen:
            raise ReportError(f"two components are named {p.name!r}; their pages would be one file: rename one")
        seen[p.name] = p
    files = {}
    for p in pages:
        files[out / f"{page_stem(p.name)}.md"] = markdown(p)
        files[out / f"{page_stem(p.name)}.html"] = html_page(p)
    entries = [Entry(page_stem(p.name), p.name, p.title) for p in pages]
    entries += sorted((e for e in earlier_entries(out) if e.name not in seen), key=lambda e: e.name)
    files[out / "index.html"] = index_html(entries)
    files[out / "index.md"] = index_markdown(entries)
    if not force:
        for path in files:
            if path.exists() and not _written_by_report(path):
                raise ReportError(f"{path} exists and was not written by `backprop report`; "
                                  "choose another --out or pass --force")
    for path, text in sorted(files.items()):
        write_text(path, text)
    return sorted(files)


_PAGE_META = re.compile(r'<meta name="component" content="(?P<name>[^"]*)" data-title="(?P<title>[^"]*)">')


def earlier_entries(out: Path) -> list[Entry]:
    """The pages an earlier report wrote into ``out``, read back from their HTML heads."""
    found = []
    if not out.is_dir():
        return found
    for path in sorted(out.glob("*.html")):
        head = _head(path)
        if path.name == "index.html" or MARK_HTML not in head:
            continue
        meta = _PAGE_META.search(head)
        if meta and (path.with_suffix(".md")).exists():
            found.append(Entry(path.stem, html.unescape(meta["name"]), html.unescape(meta["title"])))
    return found


def _head(path: Path) -> str:
    """The start of a file, where a report's page carries its mark ("" if it cannot be read)."""
    try:
        with open(path, "rb") as f:
            return f.read(4096).decode("utf-8", errors="replace")
    except OSError:
        return ""


def _written_by_report(path: Path) -> bool:
    head = _head(path)
    return MARK_HTML in head or head.startswith(MARK_MD)
