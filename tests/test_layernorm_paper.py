"""The gradients `backprop show layernorm` ends with equal the paper's closed form.

The engine's symbolic gradients are evaluated numerically (each cotangent in
sweep order) and compared with PAPER.md's LayerNorm result, typed here as an
oracle:  G = Δ diag(w),  Δ_X = diag(1/σ)(G − mean_f(G) 1ᵀ − X̄ ∘ (mean_f(G ∘ X̄) 1ᵀ)),
∂L/∂w = Σ_tokens X̄ ∘ Δ,  ∂L/∂b = Σ_tokens Δ.
"""
import numpy as np
import pytest

from codegen.lower import lower
from codegen.printers import NumPyMatrixPrinter
from derive.components import build
from derive.derivation import render, text
from derive.reverse import derive


def evaluate_gradients(derivation, env):
    """Evaluate every forward definition, then every cotangent, from the symbolic expressions."""
    plan = lower(derivation)
    printer = NumPyMatrixPrinter(plan.context)
    names = plan.context.names
    env = dict(env, np=np)
    for d in derivation.component.definitions:
        env[d.name] = eval(printer.doprint(d.expr), env)
    for adj in derivation.adjoints[1:] + list(derivation.gradients.values()):
        env[names[adj.cotangent]] = eval(printer.doprint(adj.expr), env)
    return {k: env[names[a.cotangent]] for k, a in derivation.gradients.items()}


@pytest.mark.parametrize("eps", [0.0, 1e-5, 0.3])
def test_show_gradients_equal_the_paper(eps):
    derivation = derive(build("layernorm"))
    shown = render(derivation)
    for name, adj in derivation.gradients.items():
        assert f"∂L/∂{name} = {text(adj.expr)}" in shown
    rng = np.random.default_rng(7)
    n_T, d = 5, 6
    X, w, b = rng.standard_normal((n_T, d)), rng.standard_normal(d), rng.standard_normal(d)
    D = rng.standard_normal((n_T, d))
    grads = evaluate_gradients(derivation, {"X": X, "w": w, "b": b, "eps": eps, "n_T": n_T, "d": d,
                                            "grad_out": D})
    # The paper's closed form (oracle).
    mu = X.mean(axis=1, keepdims=True)
    sigma = np.sqrt(((X - mu) ** 2).mean(axis=1, keepdims=True) + eps)
    Xbar = (X - mu) / sigma
    G = D * w
    dX = (G - G.mean(axis=1, keepdims=True) - Xbar * (G * Xbar).mean(axis=1, keepdims=True)) / sigma
    np.testing.assert_allclose(grads["X"], dX, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.ravel(grads["w"]), (Xbar * D).sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(np.ravel(grads["b"]), D.sum(axis=0), rtol=1e-12)


def test_layernorm_jacobian_is_block_diagonal_over_tokens():
    """Changing one token's upstream gradient changes only that token's input gradient."""
    from generated.numpy import layernorm

    rng = np.random.default_rng(0)
    X = rng.standard_normal((4, 5))
    _, cache = layernorm.forward(X, np.ones(5), np.zeros(5))
    D = rng.standard_normal((4, 5))
    D2 = D.copy()
    D2[2] += rng.standard_normal(5)
    diff = layernorm.backward(D2, cache)["X"] - layernorm.backward(D, cache)["X"]
    assert np.allclose(np.delete(diff, 2, axis=0), 0.0) and not np.allclose(diff[2], 0.0)
