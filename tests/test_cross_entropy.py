"""Next-token cross-entropy: the logits gradient the engine derives, and its numerics."""
import numpy as np
import pytest
import sympy as sp
import torch

from backprop.verify import autograd, relative_error
from derive.components import build
from derive.families.normalisers import Softmax
from derive.primitives import Cotangent, TargetScatter
from derive.reverse import derive
from derive.simplify import split_coefficient
from generated.numpy import cross_entropy


def test_logits_gradient_is_softmax_minus_one_hot_scaled_by_the_weight():
    c = build("cross_entropy")
    derivation = derive(c)
    Z = c.definition("Z").symbol
    dZ = derivation.adjoint("Z").expr
    assert isinstance(dZ, sp.MatAdd) and len(dZ.args) == 2
    (c1, soft), (c2, onehot) = sorted((split_coefficient(t) for t in dZ.args), key=lambda p: str(p[0]))
    assert (c1, c2) == (-1, 1) or (c2, c1) == (-1, 1)
    soft, onehot = (soft, onehot) if isinstance(onehot, TargetScatter) else (onehot, soft)
    assert isinstance(onehot, TargetScatter) and soft.has(Softmax(Z, sp.false))
    # Both terms carry the same per-row factor, Δ_ell, and Δ_ell = weight Δ_loss.
    ell = Cotangent("ell", 1, 1)
    assert onehot.values.has(ell) and soft.has(ell)
    weight = sp.Symbol("weight", positive=True)
    assert derivation.adjoint("ell").expr == sp.MatMul(weight, Cotangent("loss", 1, 1))
    n_batch, n_T = sp.Symbol("n_batch", positive=True, integer=True), sp.Symbol("n_T", positive=True, integer=True)
    (_, _, options), = c.scalars
    assert options == {"mean": 1 / (n_batch * (n_T - 1)), "sum": 1}


def _case(rng, batch, n_T, d, V, scale=1.0):
    X = scale * rng.standard_normal(batch + (n_T, d))
    W, b = rng.standard_normal((d, V)), rng.standard_normal(V)
    idx = rng.integers(0, V, batch + (n_T,))
    return {"X": X, "W": W, "b": b, "idx": idx}


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("V", [2, 3000])
def test_matches_autograd_for_small_and_large_vocabularies(reduction, V):
    rng = np.random.default_rng(V)
    arrays = _case(rng, (2,), 5, 4, V)
    loss, cache = cross_entropy.forward(*arrays.values(), reduction=reduction)
    assert loss.shape == ()
    grads = cross_entropy.backward(1.0, cache)
    ref_loss, ref_grads = autograd("cross_entropy", arrays, np.array(1.0), {"reduction": reduction})
    assert relative_error(loss, ref_loss) <= 1e-12
    for key in ("X", "W", "b"):
        assert relative_error(grads[key], ref_grads[key]) <= 1e-10, key


def test_stable_for_logits_of_magnitude_1e4():
    rng = np.random.default_rng(0)
    arrays = _case(rng, (), 6, 3, 7)
    arrays["W"] *= 1e4 / np.abs(arrays["X"][:-1] @ arrays["W"]).max()
    loss, cache = cross_entropy.forward(*arrays.values())
    grads = cross_entropy.backward(1.0, cache)
    assert np.isfinite(loss) and all(np.all(np.isfinite(g)) for g in grads.values())
    ref_loss, ref_grads = autograd("cross_entropy", arrays, np.array(1.0), {"reduction": "mean"})
    assert relative_error(loss, ref_loss) <= 1e-12
    for key in ("X", "W", "b"):
        assert relative_error(grads[key], ref_grads[key]) <= 1e-10, key


def test_last_position_takes_no_gradient_and_sum_is_mean_times_terms():
    rng = np.random.default_rng(1)
    arrays = _case(rng, (3,), 4, 2, 5)
    mean, cache_mean = cross_entropy.forward(*arrays.values())
    total, cache_sum = cross_entropy.forward(*arrays.values(), reduction="sum")
    np.testing.assert_allclose(total, mean * 3 * (4 - 1), rtol=1e-13)
    grads = cross_entropy.backward(1.0, cache_mean)
    assert np.all(grads["X"][..., -1, :] == 0.0)
    np.testing.assert_allclose(cross_entropy.backward(1.0, cache_sum)["W"], grads["W"] * 9, rtol=1e-12)


def test_bad_input():
    arrays = _case(np.random.default_rng(2), (), 1, 2, 3)
    with pytest.raises(ValueError, match="n_T must be at least 2"):
        cross_entropy.forward(*arrays.values())
    arrays = _case(np.random.default_rng(2), (), 3, 2, 3)
    arrays["idx"][1] = 3
    with pytest.raises(ValueError, match=r"idx: index 3 outside \[0, 3\)"):
        cross_entropy.forward(*arrays.values())
    with pytest.raises(ValueError, match="reduction must be one of"):
        cross_entropy.forward(*_case(np.random.default_rng(2), (), 3, 2, 3).values(), reduction="avg")


def test_torch_module_trains_a_bigram_model():
    from generated.torch.cross_entropy import CrossEntropy
    from generated.torch.embedding import Embedding

    torch.manual_seed(0)
    embed, head = Embedding(8, 16, 12), CrossEntropy(16, 8)
    optimizer = torch.optim.AdamW([*embed.parameters(), *head.parameters()], lr=3e-2)
    idx = torch.tensor([[0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3]] * 4)
    losses = []
    for _ in range(50):
        optimizer.zero_grad()
        loss = head(embed(idx), idx)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]
