"""Every primitive rule against central finite differences.

Each case is a one-primitive component compiled through the whole pipeline
(reverse sweep, simplifier, lowering, printer); its backward pass must match
finite differences of its own forward pass.
"""
import numpy as np
import pytest
import sympy as sp

from codegen.render import compile_component
from derive import (
    causal_zero,
    prefix_sum,
    row_contract,
    row_outer,
    Component,
    T,
    add,
    batch_sum,
    cols,
    elementwise,
    first_rows,
    gather,
    hadamard,
    index_slice,
    logsumexp,
    matmul,
    merge_heads,
    pick,
    pointwise,
    rotary_angles,
    rotate_half,
    row_sum,
    rows,
    scale,
    share_heads,
    softmax,
    split_heads,
    sub,
    x,
)
from derive.activations import ACTIVATIONS
from derive.declare import PRIMITIVES
from derive.rules import RULES


def _fd_check(component, batch=(2,), seed=0, h=1e-6, **config):
    module = compile_component(component)
    rng = np.random.default_rng(seed)
    sizes = {"n": 3, "d": 4, "k": 2}
    arrays = []
    for a in component.tensor_arguments:
        values = {sp.Symbol(k, positive=True, integer=True): v for k, v in {**sizes, **config}.items()
                  if isinstance(v, int)}
        shape = tuple(int(sp.sympify(d).xreplace(values)) for d in a.dims)  # n_heads*d_h too
        shape = (batch + shape) if a.batched else shape
        # Integer inputs are indices into a k-row table, with repeats.
        arrays.append(rng.integers(0, sizes["k"], shape) if a.dtype == "int" else rng.standard_normal(shape))
    out, cache = module.forward(*arrays, **config)
    G = rng.standard_normal(out.shape)
    grads = module.backward(G, cache)
    loss = lambda: float(np.sum(G * module.forward(*arrays, **config)[0]))  # noqa: E731
    for a, arr in zip(component.tensor_arguments, arrays):
        if not a.receives_gradient:
            assert a.name not in grads
            continue
        numeric = np.zeros_like(arr)
        for i in np.ndindex(arr.shape):
            old = arr[i]
            arr[i] = old + h
            up = loss()
            arr[i] = old - h
            down = loss()
            arr[i] = old
            numeric[i] = (up - down) / (2 * h)
        np.testing.assert_allclose(grads[a.name], numeric, rtol=1e-6, atol=1e-7, err_msg=a.name)


def _component(name):
    c = Component(name, name)
    n, d, k = c.dims("n d k")
    return c, n, d, k


def matmul_case():
    c, n, d, k = _component("matmul")
    X = c.input("X", n, d)
    A = c.param("A", d, k)
    B = c.param("B", k, d)
    c.output("Y", scale(3, matmul(X, A, B)))
    return c


def add_case():
    c, n, d, k = _component("add")
    X = c.input("X", n, d)
    Z = c.input("Z", n, d)
    c.output("Y", add(X, Z, sub(X, Z), X))
    return c


def transpose_case():
    c, n, d, k = _component("transpose")
    X = c.input("X", n, d)
    W = c.param("W", n, d)
    c.output("Y", matmul(T(X), W))
    return c


def hadamard_case():
    c, n, d, k = _component("hadamard")
    X = c.input("X", n, d)
    w = c.param("w", d)
    # Y = X ∘ X ∘ (1 wᵀ) ∘ ((X w) 1ᵀ): repeated operands and both broadcasts.
    c.output("Y", hadamard(X, X, rows(w, n), cols(matmul(X, T(w)), d)))
    return c


def elementwise_case(fn):
    def build():
        c, n, d, k = _component(f"elementwise_{fn.name}")
        X = c.input("X", n, d)
        c.output("Y", elementwise(fn, X))
        return c
    return build


def pointwise_case():
    c, n, d, k = _component("pointwise")
    X = c.input("X", n, d)
    eps = c.config("eps", 0.5)
    c.output("Y", pointwise(1 / sp.sqrt(x**2 + eps), X))
    return c


def softmax_case():
    c, n, d, k = _component("softmax")
    X = c.input("X", n, d)
    W = c.param("W", d, d)
    causal = c.flag("causal", True)
    c.output("Y", softmax(matmul(X, W, T(X)), causal))
    return c


def causal_zero_case():
    c, n, d, k = _component("causal_zero")
    X = c.input("X", n, d)
    W = c.param("W", d, d)
    causal = c.flag("causal", True)
    c.output("Y", causal_zero(pointwise(sp.tanh(x), matmul(X, W, T(X))), causal))
    return c


def prefix_sum_case():
    c, n, d, k = _component("prefix_sum")
    X = c.input("X", n, d)
    W = c.param("W", d, k)
    c.output("Y", pointwise(sp.tanh(x), prefix_sum(matmul(X, W))))
    return c


def row_outer_case():
    c, n, d, k = _component("row_outer")
    X = c.input("X", n, d)
    Z = c.input("Z", n, k)
    c.output("Y", pointwise(sp.sin(x), row_outer(X, Z)))
    return c


def row_contract_case():
    c, n, d, k = _component("row_contract")
    X = c.input("X", n, d)
    Z = c.input("Z", n, k)
    c.output("Y", pointwise(sp.sin(x), row_contract(X, row_outer(X, Z))))
    return c


def row_transpose_case():
    from derive.families.rows import row_transpose

    c, n, d, k = _component("row_transpose")
    X = c.input("X", n, d)
    Z = c.input("Z", n, k)
    c.output("Y", pointwise(sp.sin(x), row_transpose(row_outer(X, Z), d)))
    return c


def heads_case():
    c, n, d, k = _component("heads")
    X = c.input("X", n, d)
    Z = c.input("Z", n, d)
    H = c.integer_config("H")
    c.output("Y", merge_heads(hadamard(split_heads(X, H), split_heads(Z, H)), H))
    return c


def merge_case():
    c, n, d, k = _component("merge")
    X = c.input("X", n, d)
    H = c.integer_config("H")
    Xh = split_heads(X, H)
    c.output("Y", merge_heads(matmul(Xh, T(Xh), Xh), H))  # heads mixed by a per-head product
    return c


def share_heads_case():
    c, n, d, k = _component("share_heads")
    G, H = c.integer_config("G"), c.integer_config("H")
    X = c.input("X", n, G * k)
    Z = c.input("Z", n, H * k)
    # G heads of X, each shared by H / G heads of Z (grouped-query keys); the products mix each group
    Xs = share_heads(split_heads(X, G), G, H)
    c.output("Y", merge_heads(matmul(split_heads(Z, H), T(Xs), Xs), H))
    return c


def sum_groups_case():
    from derive.families.heads import sum_groups

    c, n, d, k = _component("sum_groups")
    X = c.input("X", n, d)
    G, H = c.integer_config("G"), c.integer_config("H")
    Xh = split_heads(X, H)
    summed = sum_groups(hadamard(Xh, Xh), H, G)
    c.output("Y", merge_heads(pointwise(sp.sin(x), summed), G))
    return c


def top_k_mask_case():
    """Mixtral's gates: the two largest probabilities of each row renormalised; the choice itself is never
    differentiated, the gradient flows through the values it selects."""
    from derive import top_k_mask

    c, n, d, k = _component("top_k_mask")
    X = c.input("X", n, d)
    W = c.param("W", d, d)
    P = softmax(matmul(X, W))
    chosen = hadamard(top_k_mask(P, 2), P)
    c.output("Y", hadamard(cols(pointwise(1 / x, row_sum(chosen)), d), chosen))
    return c


def rotate_half_case():
    c, n, d, k = _component("rotate_half")
    X = c.input("X", n, d)
    W = c.param("W", d, d)
    theta = c.config("theta", 10.0)
    angles = rotary_angles(n, d, theta)  # a constant: its sizes and θ only
    rotated = add(hadamard(X, pointwise(sp.cos(x), angles)), hadamard(rotate_half(X), pointwise(sp.sin(x), angles)))
    c.output("Y", pointwise(sp.tanh(x), matmul(rotated, W, T(rotate_half(matmul(X, W))))))
    return c


def gather_case():
    c, n, d, k = _component("gather")
    idx = c.input("idx", n, dtype="int")
    W = c.param("W", k, d)
    R = c.input("R", k, d)  # each sequence's own table
    # a repeated gather (contributions add), and rows of a batched value at each sequence's indices
    c.output("Y", add(hadamard(gather(W, idx), gather(W, idx)), hadamard(gather(R, idx), gather(R, idx))))
    return c


def first_rows_case():
    c, n, d, k = _component("first_rows")
    X = c.input("X", n, d)
    W = c.param("W", n, d)
    c.output("Y", hadamard(first_rows(X, n - 1), first_rows(W, n - 1)))
    return c


def pad_rows_case():
    from derive.families.tokens import pad_rows

    c, n, d, k = _component("pad_rows")
    X = c.input("X", n, d)
    W = c.param("W", n, d)
    # the last row of each sequence replaced by zeros, a value shared by the batch beside them
    c.output("Y", hadamard(pointwise(sp.sin(x), pad_rows(first_rows(X, n - 1), n)), W))
    return c


def logsumexp_case():
    c, n, d, k = _component("logsumexp")
    X = c.input("X", n, d)
    c.output("Y", logsumexp(hadamard(X, X)))
    return c


def pick_case():
    c, n, d, k = _component("pick")
    X = c.input("X", n, k)
    idx = c.input("idx", n, dtype="int")
    c.output("Y", hadamard(pick(X, index_slice(idx, 0)), pick(X, index_slice(idx, 0))))
    return c


def batch_sum_case():
    c, n, d, k = _component("batch_sum")
    X = c.input("X", n, d)
    c.output("Y", batch_sum(hadamard(X, X)))
    return c


class _Stack:
    """A runtime stack for ``Repeat``: a derived tanh layer applied twice with its own weights."""

    def __init__(self):
        c, n, d, k = _component("tanh_layer")
        X = c.input("X", n, d)
        W = c.param("W", d, d)
        c.output("Y", pointwise(sp.tanh(x), matmul(X, W)))
        self.module = compile_component(c)
        rng = np.random.default_rng(9)
        self.weights = [rng.standard_normal((4, 4)) for _ in range(2)]

    def forward(self, X):
        self.caches = []
        for W in self.weights:
            X, cache = self.module.forward(X, W)
            self.caches.append(cache)
        return X

    def backward(self, G):
        for cache in reversed(self.caches):
            G = self.module.backward(G, cache)["X"]
        return G


def repeat_case():
    c, n, d, k = _component("repeat")
    X = c.input("X", n, d)
    c.output("Y", hadamard(c.stack("blocks", X), X))
    return c


CASES = {
    "repeat": repeat_case,
    "logsumexp": logsumexp_case,
    "pick": pick_case,
    "batch_sum": batch_sum_case,
    "gather": gather_case,
    "first_rows": first_rows_case,
    "pad_rows": pad_rows_case,
    "softmax": softmax_case,
    "causal_zero": causal_zero_case,
    "prefix_sum": prefix_sum_case,
    "row_outer": row_outer_case,
    "row_contract": row_contract_case,
    "row_transpose": row_transpose_case,
    "split_heads": heads_case,
    "merge_heads": merge_case,
    "share_heads": share_heads_case,
    "sum_groups": sum_groups_case,
    "rotate_half": rotate_half_case,
    "top_k_mask": top_k_mask_case,
    "matmul": matmul_case,
    "add": add_case,
    "transpose": transpose_case,
    "hadamard": hadamard_case,
    "elementwise": pointwise_case,
}


def test_every_rule_has_a_case():
    """Each rule of the sweep's table and each primitive the engine declares (``derive/families``)."""
    declared = {p.name for p in PRIMITIVES.values() if p.builtin}
    assert {r.primitive for r in RULES.values()} | declared == set(CASES)


CONFIGS = {"repeat": [{"blocks": _Stack()}], "softmax": [{"causal": True}, {"causal": False}],
           "causal_zero": [{"causal": True}, {"causal": False}],
           "split_heads": [{"H": 2}, {"H": 4}], "merge_heads": [{"H": 1}, {"H": 2}],
           "share_heads": [{"G": 1, "H": 4}, {"G": 2, "H": 4}, {"G": 2, "H": 2}],
           "sum_groups": [{"G": 1, "H": 2}, {"G": 2, "H": 4}]}


@pytest.mark.parametrize("primitive", sorted(CASES))
@pytest.mark.parametrize("batch", [(), (2,)])
def test_rule_matches_finite_differences(primitive, batch):
    for config in CONFIGS.get(primitive, [{}]):
        _fd_check(CASES[primitive](), batch=batch, **config)


def test_parameter_used_directly_and_through_a_parameter_only_value():
    """W's cotangent sums a per-sequence term (summed over the batch) and a shared one (not)."""
    c, n, d, k = _component("shared")
    X = c.input("X", n, d)
    W = c.param("W", d, d)
    W2 = c.let("W2", matmul(W, W))
    c.output("Y", add(matmul(X, W2), matmul(X, W)))
    _fd_check(c, batch=(2,))


def test_fused_softmax_rule_equals_its_decomposition():
    """softmax(S) = (1 / (E 1)) 1ᵀ ∘ E with E = exp(S): the same gradients through either."""
    def build(fused):
        c, n, d, k = _component("fused" if fused else "decomposed")
        S = c.input("S", n, n)
        if fused:
            c.output("P", softmax(S))
        else:
            E = c.let("E", pointwise(sp.exp(x), S))
            c.output("P", hadamard(cols(pointwise(1 / x, row_sum(E)), n), E))
        return c

    fused, decomposed = compile_component(build(True)), compile_component(build(False))
    rng = np.random.default_rng(5)
    S, G = rng.standard_normal((2, 3, 3)), rng.standard_normal((2, 3, 3))
    (P1, c1), (P2, c2) = fused.forward(S), decomposed.forward(S)
    np.testing.assert_allclose(P1, P2, rtol=1e-13)
    np.testing.assert_allclose(fused.backward(G, c1)["S"], decomposed.backward(G, c2)["S"], rtol=1e-12)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_derivative_matches_finite_differences(name):
    _fd_check(elementwise_case(ACTIVATIONS[name])())
