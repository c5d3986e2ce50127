"""The simplifier's facts and the sweep's sums over the batch, as properties of random expressions.

Each fact is an identity; a rewrite must keep the value of every expression it applies to, under the
batch semantics (``derive/batch.py``): a value shared by the batch meeting a batched one is the same
for every sequence, and Σ_batch of it is n_batch times it.  The expressions are drawn from the
primitives over batched inputs and shared parameters (a matrix, a vector used as a row, a per-position
table), mixing them in sums, products and batch sums, and evaluated by the reference semantics.
"""
import numpy as np
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sympy import OneMatrix

import derive as D
from derive.batch import carries_batch
from derive.primitives import BatchSum
from derive.reverse import batch_sums_inward
from derive.simplify import simplify
from reference.semantics import evaluate

SIZES = {"n_T": 3, "d": 2}


def _arguments():
    c = D.Component("prop", "a random expression")
    n, d = c.dims("n_T d")
    symbols = {
        "X": c.input("X", n, d), "Y": c.input("Y", n, d),
        "W": c.param("W", d, d), "b": c.param("b", d), "S": c.param("S", n, n), "P": c.param("P", n, d),
    }
    return c, n, d, symbols


def expression(draw, n, d, s, depth):
    """A random (n, d) expression."""
    if depth == 0:
        return s[draw(st.sampled_from(["X", "Y", "P"]))]
    sub = lambda: expression(draw, n, d, s, depth - 1)  # noqa: E731
    op = draw(st.sampled_from(["leaf", "add", "sub", "hadamard", "scale", "right", "left", "rows", "cols",
                               "tokens", "batch_sum", "transpose", "softmax", "ones"]))
    if op == "leaf":
        return s[draw(st.sampled_from(["X", "Y", "P"]))]
    if op in ("add", "sub", "hadamard"):
        return {"add": D.add, "sub": D.sub, "hadamard": D.hadamard}[op](sub(), sub())
    if op == "scale":
        return D.scale(draw(st.sampled_from([sp.Rational(1, 2), -3, n])), sub())
    if op == "right":
        return D.matmul(sub(), s["W"])
    if op == "left":
        return D.matmul(s["S"], sub())
    if op == "rows":  # 1 bᵀ or 1 (1ᵀ A): a row repeated
        row = s["b"] if draw(st.booleans()) else D.token_sum(sub())
        return D.rows(row, n)
    if op == "cols":  # (A 1) 1ᵀ: a column repeated
        return D.cols(D.row_sum(sub()), d)
    if op == "tokens":  # 1ₙ 1ₙᵀ A: every row the column sums
        return D.matmul(OneMatrix(n, n), sub())
    if op == "batch_sum":
        return D.batch_sum(sub())
    if op == "transpose":
        return D.T(D.T(sub()))
    if op == "softmax":
        return D.softmax(sub())
    return D.matmul(OneMatrix(n, 1), OneMatrix(1, n), sub())  # "ones": 1 1ᵀ A


def value(c, expr, arrays):
    """``expr`` evaluated by the reference semantics as the output of a component with ``c``'s arguments."""
    out = D.Component("value", "an expression's value")
    n, d = out.dims("n_T d")
    for a in c.tensor_arguments:
        if a.role == "input":
            out.input(a.name, *a.dims)
        else:
            out.param(a.name, *a.dims)
    out.output("V", expr)
    return evaluate(out, arrays, {})


def assert_same(got, expected):
    """Equal values; one shared by the batch (X − X = 0) stands for the same value in every sequence."""
    got, expected = np.broadcast_arrays(np.asarray(got), np.asarray(expected))
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)


def arrays_for(c, rng, batch=(2, 3)):
    out = {}
    for a in c.tensor_arguments:
        shape = tuple(SIZES[str(s)] for s in a.dims)
        out[a.name] = rng.standard_normal((batch + shape) if a.role == "input" else shape)
    return out


@settings(max_examples=60)
@given(st.data())
def test_every_fact_keeps_the_value_of_a_random_expression(data):
    c, n, d, s = _arguments()
    expr = expression(data.draw, n, d, s, depth=data.draw(st.integers(1, 4)))
    simplified, _ = simplify(expr)
    arrays = arrays_for(c, np.random.default_rng(data.draw(st.integers(0, 2**16))))
    assert_same(value(c, simplified, arrays), value(c, expr, arrays))


@settings(max_examples=60)
@given(st.data())
def test_a_sum_over_the_batch_taken_inward_keeps_n_batch_on_terms_no_batch_axis_reaches(data):
    """Σ_batch E, with E simplified first (its sums distributed, its terms collected) and the sum then
    taken as far in as it goes, is still Σ_batch E: a term of E that no batch axis reaches is counted
    n_batch times, never once."""
    c, n, d, s = _arguments()
    expr = expression(data.draw, n, d, s, depth=data.draw(st.integers(1, 4)))
    batched = {s["X"], s["Y"]}
    simplified, _ = simplify(BatchSum(expr))
    inward = batch_sums_inward(simplified, lambda e: carries_batch(e, batched), c.batch_size())
    arrays = arrays_for(c, np.random.default_rng(data.draw(st.integers(0, 2**16))),
                        batch=data.draw(st.sampled_from([(), (1,), (3,), (2, 2)])))
    assert_same(value(c, inward, arrays), value(c, BatchSum(expr), arrays))
