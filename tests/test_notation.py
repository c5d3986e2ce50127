"""``backprop show`` and the report pages speak one notation: the paper's, never SymPy's syntax.

Powers as superscripts and products side by side in the text; ``(1ᵀ)ᵀ`` printed as 1; a path through
a value that occurs twice in a definition labelled; the plan in the code's names; ``--latex`` a
fragment that compiles with amsmath (ASCII, balanced, every formula parsed); MathML with one
identifier per name and headings that name values as the formulas do.
"""
import re

import pytest

from backprop.cli import main
from derive.components import build
from derive.reverse import derive


def _show(capsys, *args):
    assert main(["show", *args]) == 0
    return capsys.readouterr().out


def test_text_has_no_sympy_syntax_and_no_double_transposes(capsys):
    out = _show(capsys, "layernorm")
    assert "1ᵀᵀ" not in out and "**" not in out
    assert not re.search(r"\w\*\w", out), "a product printed with *"
    assert "−1/sigma²" in out and "1/(2 sqrt(eps + var))" in out


def test_a_value_used_twice_in_one_definition_has_each_path_labelled(capsys):
    out = _show(capsys, "layernorm")
    sweep = out[out.index("  Δ_Xc\n"):out.index("  Δ_mu\n")]
    assert "path 1 of 2:" in sweep and "path 2 of 2:" in sweep
    assert "(operand 1 of 2, Xc)" in sweep and "(operand 2 of 2, Xc)" in sweep


def test_the_plan_names_every_value_as_the_code_does(capsys):
    out = _show(capsys, "layernorm", "--plan")
    backward = out[out.index("backward"):out.index("passes")]
    assert "Δ_" not in backward
    assert "dXbar = grad_out ∘ (1 wᵀ)" in backward and "dsigma = −(t1 ∘ ((dXbar ∘ Xbar) 1))" in backward


def test_a_cotangent_prints_as_a_cotangent():
    assert "Δ_Y" in str(derive(build("linear")).gradients["W"].expr)


@pytest.mark.parametrize("name", ["layernorm", "attention", "cross_entropy"])
def test_latex_is_a_fragment_that_compiles_with_amsmath(capsys, name):
    from latex2mathml.converter import convert

    out = _show(capsys, name, "--latex", "--closed")
    assert out.isascii()
    assert out.count(r"\begin{align*}") == out.count(r"\end{align*}") > 3
    assert out.count("{") - out.count(r"\{") == out.count("}") - out.count(r"\}")
    rows = []
    for block in re.findall(r"\\begin\{align\*\}\n(.*?)\n\\end\{align\*\}", out, re.S):
        rows += [cell for row in block.split("\\\\\n") for cell in row.split("&")]
    rows += re.findall(r"\$([^$]+)\$", out)
    for formula in rows:  # every formula parses as LaTeX math
        convert(formula.strip().replace(r"\quad", " ") or "x")
    assert not re.search(r"(^|[^\\])mu = ", out) and "∂L/∂" not in out  # left sides are LaTeX too


def test_html_names_are_one_identifier_and_headings_name_values_as_formulas_do(tmp_path):
    assert main(["report", "layernorm", "--out", str(tmp_path)]) == 0
    page = (tmp_path / "layernorm.html").read_text()
    assert not re.search(r'<mi mathvariant="italic">\w</mi><mi mathvariant="italic">\w</mi>', page)
    assert '<mi mathvariant="italic">var</mi>' in page
    heading = re.search(r'<h3 id="xbar">(.*?)</h3>', page).group(1)
    assert "<math" in heading and "&#x000AF;" in heading  # X̄, not "Xbar"
    markdown = (tmp_path / "layernorm.md").read_text()
    assert "### $\\bar{X}$" in markdown
