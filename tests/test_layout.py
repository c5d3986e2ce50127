"""One layout analysis (``codegen.layout``): every statement is laid out once, after the passes, and
each generated array has the shape its statement states, which the gate and the fuzzer probe."""
import dataclasses
import re

import pytest
import sympy as sp
from sympy import MatMul, MatrixSymbol, OneMatrix, Transpose

import derive as D
from codegen.backends import BACKENDS
from codegen.layout import FULL, ROW, Layout, layout_of
from codegen.lower import lower
from codegen.plan import PrintContext, Statement
from codegen.render import render_plan
from codegen.validate import EngineDefect, shape_probed, validated
from derive.components import build
from derive.reverse import derive

n, d = sp.symbols("n_T d", positive=True, integer=True)
X, W = MatrixSymbol("X", n, d), MatrixSymbol("W", d, d)
b = MatrixSymbol("b", 1, d)  # a declared vector: the row bᵀ


def _context():
    return PrintContext(names={X: "X", W: "W", b: "b"}, vectors={b}, batched={X})


def test_the_analysis_says_which_axes_repeat():
    ctx = _context()
    assert layout_of(X, ctx) == FULL
    assert layout_of(b, ctx) == ROW  # a declared 1-D argument is its (d,) vector
    assert layout_of(Transpose(b), ctx) == FULL  # the column b[:, None], (d, 1) as declared
    bias = MatMul(OneMatrix(n, 1), b)  # 1 bᵀ: one row, repeated
    assert layout_of(bias, ctx).repeats(bias.shape) == (True, False)
    sums = MatMul(X, OneMatrix(d, 1), OneMatrix(1, d))  # X 1 1ᵀ: the row sums, repeated over the columns
    assert layout_of(sums, ctx) == Layout(2, rows=False, cols=True)
    assert layout_of(X + bias, ctx) == FULL  # an axis repeats only where every term repeats it
    assert layout_of(MatMul(X, W), ctx) == FULL


def test_lowering_lays_out_every_statement_once_and_printing_writes_nothing_back():
    plan = lower(derive(build("layernorm")))
    statements = plan.forward + plan.backward
    assert {f.name for f in dataclasses.fields(Statement)} == {"target", "expr", "shape", "comment"}
    assert all(st.target in plan.context.layouts for st in statements)
    before = [dataclasses.astuple(st) for st in statements], dict(plan.context.layouts)
    for target in BACKENDS:
        render_plan(plan, BACKENDS[target])
    assert ([dataclasses.astuple(st) for st in statements], dict(plan.context.layouts)) == before


def test_each_statement_of_a_forward_and_backward_is_probed():
    text = render_plan(lower(derive(build("layernorm"))), BACKENDS["numpy"])
    probed = shape_probed(text)
    statements = re.findall(r"^    (\w+) = .*  # \(", text, flags=re.M)
    assert statements and probed.count("_probe(") == len(statements)
    assert "def _probe" not in probed and "_probe(" not in text


@pytest.mark.parametrize("target", ["numpy", "torch"])
def test_the_gate_refuses_an_array_whose_statement_states_another_shape(target):
    c = build("layernorm")
    text = render_plan(lower(derive(c)), BACKENDS[target])
    assert validated(c, text, target) == text
    line = next(line for line in text.splitlines() if re.match(r"\s+Xc = .*  # \(\.\.\., n_T, d\)$", line))
    wrong = text.replace(line, line.replace("(..., n_T, d)", "(..., n_T, 1)"))
    with pytest.raises(EngineDefect, match=r"WrongLayout: Xc is an array of shape .* where its statement states "
                                           r"\(\.\.\., n_T, 1\)") as refusal:
        validated(c, wrong, target)
    assert "\n" not in str(refusal.value)


def test_a_gradient_is_laid_out_at_its_arguments_shape_even_where_its_expression_has_no_batch():
    # ∂L/∂X of Σ_batch 1ᵀ cumsum(X) 1 is the same for every sequence, and given the batch axes of X
    c = D.Component("no_batch_gradient", "a loss whose gradient is the same for every sequence")
    n_T, dim = c.dims("n_T d")
    x = c.input("X", n_T, dim)
    c.output("L", D.batch_sum(D.token_sum(D.row_sum(D.prefix_sum(x)))))
    plan = lower(derive(c))
    dX = dict(plan.gradients)["X"]
    assert str(dX.shape) == "(..., n_T, d)"
    for target in ("numpy", "torch"):
        validated(c, render_plan(plan, BACKENDS[target]), target)


def test_indices_keep_their_layout_through_a_slice():
    # an integer input (n,) is 1-D per sequence; idx[1:] is too, and a value reading it twice is hoisted
    c = D.Component("sliced_indices", "the same slice of indices read twice")
    n_T, k = c.dims("n_T k")
    x = c.input("X", n_T, k)
    idx = c.input("idx", n_T, dtype="int")
    picked = D.pick(x, D.index_slice(idx, 0))
    c.output("Y", D.hadamard(picked, picked))
    plan = lower(derive(c))
    hoisted = [st for st in plan.backward if st.comment == "common subexpression"]
    assert hoisted and str(hoisted[0].shape) == "(..., n_T)"
    for target in ("numpy", "torch"):
        validated(c, render_plan(plan, BACKENDS[target]), target)
