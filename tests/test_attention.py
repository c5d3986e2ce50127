"""Attention: the paper's results as the engine derives them, and what they imply numerically."""
import numpy as np
import pytest
import sympy as sp

from derive.components import build
from derive.derivation import render
from derive.families.normalisers import Softmax
from derive.primitives import BatchSum, Cotangent
from derive.reverse import derive
from generated.numpy import attention


@pytest.fixture(scope="module")
def derivation():
    return derive(build("attention"))


def _contains_attention_matrix(expr, derivation) -> bool:
    P = derivation.component.definition("P").symbol
    return expr.has(P) or any(isinstance(e, Softmax) for e in sp.preorder_traversal(expr))


def test_key_bias_gradient_is_identically_zero(derivation):
    grad = derivation.gradients["b_k"]
    assert isinstance(grad.expr, sp.ZeroMatrix)
    names = {f.name for f in grad.facts}
    assert "softmax-rows" in names and "like-terms" in names  # from softmax's row-shift invariance
    assert "∂L/∂b_k = 0 identically" in render(derivation)


def test_value_bias_gradient_is_the_token_sum_of_the_upstream_gradient(derivation):
    expr = derivation.gradients["b_v"].expr
    A = derivation.component.output_symbol
    assert expr == BatchSum(sp.MatMul(sp.OneMatrix(1, A.shape[0]), Cotangent(A.name, *A.shape)))
    assert not _contains_attention_matrix(expr, derivation)
    assert "softmax-rows" in {f.name for f in derivation.gradients["b_v"].facts}


def test_generated_backward_computes_nothing_for_the_key_bias():
    from pathlib import Path

    source = Path(attention.__file__).read_text()
    body = source[source.index("def backward"):]
    body = body[:body.index("\ndef ", 1)]  # the backward alone (the forward mode follows it)
    assert "db_k" not in body and '"b_k": np.zeros_like(b_k)' in body
    assert "db_v = grad_out.reshape(-1, d).sum(axis=0)" in body


def _run(X, params, G, **config):
    out, cache = attention.forward(X, *params, **config)
    return out, attention.backward(G, cache)


def _params(rng, d):
    return [rng.standard_normal((d, d)) if i % 2 == 0 else rng.standard_normal(d) for i in range(6)]


@pytest.mark.parametrize("causal", [False, True])
def test_key_bias_has_no_effect_on_the_output(causal):
    rng = np.random.default_rng(0)
    X, params = rng.standard_normal((5, 4)), _params(rng, 4)
    out, _ = attention.forward(X, *params, n_heads=2, causal=causal)
    params[3] = params[3] + 10.0 * rng.standard_normal(4)
    np.testing.assert_allclose(attention.forward(X, *params, n_heads=2, causal=causal)[0], out, rtol=1e-12)


def test_non_causal_attention_is_permutation_equivariant():
    rng = np.random.default_rng(1)
    X, params, G = rng.standard_normal((6, 4)), _params(rng, 4), rng.standard_normal((6, 4))
    perm = rng.permutation(6)
    out, grads = _run(X, params, G, n_heads=2, causal=False)
    out_p, grads_p = _run(X[perm], params, G[perm], n_heads=2, causal=False)
    np.testing.assert_allclose(out_p, out[perm], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grads_p["X"], grads["X"][perm], rtol=1e-10, atol=1e-12)


def test_causal_attention_is_not_permutation_equivariant():
    rng = np.random.default_rng(2)
    X, params = rng.standard_normal((6, 4)), _params(rng, 4)
    perm = np.array([5, 4, 3, 2, 1, 0])
    out, _ = attention.forward(X, *params, n_heads=2, causal=True)
    out_p, _ = attention.forward(X[perm], *params, n_heads=2, causal=True)
    assert not np.allclose(out_p, out[perm])


def test_causal_output_row_depends_only_on_earlier_rows():
    rng = np.random.default_rng(3)
    X, params = rng.standard_normal((6, 4)), _params(rng, 4)
    _, cache = attention.forward(X, *params, n_heads=2, causal=True)
    assert np.all(cache["P"][..., np.triu_indices(6, 1)[0], np.triu_indices(6, 1)[1]] == 0.0)  # exactly 0
    for t in range(6):
        G = np.zeros((6, 4))
        G[t] = rng.standard_normal(4)
        dX = attention.backward(G, cache)["X"]
        assert np.all(dX[t + 1:] == 0.0), t
        assert not np.allclose(dX[: t + 1], 0.0)


def test_heads_must_divide_the_width():
    with pytest.raises(ValueError, match="d must be divisible by n_heads; got d=6, n_heads=4"):
        attention.forward(np.ones((2, 6)), *_params(np.random.default_rng(0), 6), n_heads=4)
    with pytest.raises(ValueError, match="n_heads must be a positive integer"):
        attention.forward(np.ones((2, 6)), *_params(np.random.default_rng(0), 6), n_heads=0)


def test_torch_module():
    import torch

    from generated.torch.attention import Attention

    layer = Attention(8, 2)
    X = torch.randn(3, 5, 8, requires_grad=True)
    layer(X).square().sum().backward()
    assert torch.equal(layer.b_k.grad, torch.zeros(8)) and X.grad.shape == X.shape


@pytest.mark.parametrize("name, function", [("sigmoid_attention", "1/(1 + exp(−S))"), ("relu_attention", "Max(0, S)")])
def test_key_bias_is_not_redundant_without_softmax(name, function, capsys):
    """The paper's second open question, answered by the derivation: with an entrywise
    normalisation the rows of P no longer sum to a constant, and ∂L/∂b_k is not zero."""
    from backprop.cli import main
    from backprop.verify import generated, random_arguments

    assert main(["show", name]) == 0
    results = capsys.readouterr().out.split("\nResults\n")[1]
    assert "∂L/∂b_k = Σ_batch (1ᵀ Δ_K)" in results
    assert (f"∂L/∂b_k ≠ 0: 1ᵀ Δ_K, 1ᵀ Δ_K_h, Δ_S 1 ≠ 0: the rows of P = mask[causal]({function}) do not sum "
            "to a constant, so the fact softmax-rows (softmax(S) 1 = 1) does not apply") in results
    sizes = {"n_T": 5, "d": 4}
    arrays = random_arguments(name, np.random.default_rng(0), sizes, (2,))
    out, cache = generated(name).forward(*arrays.values(), n_heads=2)
    assert np.abs(generated(name).backward(np.ones_like(out), cache)["b_k"]).max() > 1e-3


@pytest.mark.parametrize("name", ["linear_attention", "causal_linear_attention"])
def test_linear_attention_never_builds_the_token_by_token_matrix(name):
    """The paper's third open question: the derived forward and backward of linear attention stay
    linear in n_T (an n_T × n_T float64 array at n_T = 4096 would take 134 MB)."""
    import tracemalloc

    from backprop.verify import generated, random_arguments

    arrays = random_arguments(name, np.random.default_rng(0), {"n_T": 4096, "d": 4}, ())
    module = generated(name)
    tracemalloc.start()
    out, cache = module.forward(*arrays.values(), n_heads=2)
    module.backward(np.ones_like(out), cache)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 8 * 2**20, peak


def test_linear_attention_orders_its_chains_by_cost():
    from codegen.lower import lower
    from codegen.render import describe

    plan = lower(derive(build("linear_attention")))
    assert "order-chains: phi_Q phi_Kᵀ V_h: ordered at run time by cost" in plan.notes
    assert "  den = phi_Q (phi_Kᵀ 1)" in describe(plan)  # a row sum first, never φ(Q) φ(K)ᵀ
