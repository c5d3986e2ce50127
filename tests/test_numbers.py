"""Numbers as arguments: a parameter or input declared with no dimension has shape () (an input one number
per sequence), is usable wherever a number is (scale, entrywise products, pointwise), and its gradient
comes back at its shape."""
import numpy as np
import pytest
import sympy as sp
import torch

import derive as D
from codegen.render import compile_component
from derive import x


def gated_residual():
    """Y = X + tanh(α) tanh(X W) + t ∘ X: a tanh-gated residual with a number gate and a per-sequence
    number t."""
    c = D.Component("gated", "tanh-gated residual")
    n, d = c.dims("n_T d")
    X = c.input("X", n, d)
    W = c.param("W", d, d)
    alpha = c.param("alpha", doc="the gate")
    t = c.input("t", doc="one number per sequence")
    F = c.let("F", D.pointwise(sp.tanh(x), D.matmul(X, W)))
    c.output("Y", D.add(X, D.scale(D.pointwise(sp.tanh(x), alpha), F), D.hadamard(t, X)))
    return c


def reference(X, W, alpha, t):
    return X + torch.tanh(alpha) * torch.tanh(X @ W) + t[..., None, None] * X


@pytest.mark.parametrize("target", ["numpy", "torch", "numba"])
@pytest.mark.parametrize("batch", [(), (2,), (2, 3)])
def test_number_arguments_and_their_gradients(target, batch):
    module = compile_component(gated_residual(), target)
    g = torch.Generator().manual_seed(len(batch))
    X, W = torch.randn(*batch, 3, 4, generator=g, dtype=torch.float64), torch.randn(4, 4, generator=g, dtype=torch.float64)
    alpha, t = torch.tensor(0.3, dtype=torch.float64), torch.randn(batch, generator=g, dtype=torch.float64)
    leaves = [a.clone().requires_grad_() for a in (X, W, alpha, t)]
    expected = reference(*leaves)
    G = torch.randn(expected.shape, generator=g, dtype=torch.float64)
    expected.backward(G)
    as_library = (lambda v: v) if target == "torch" else (lambda v: v.numpy())
    Y, cache = module.forward(*(as_library(v) for v in (X, W, alpha, t)))
    np.testing.assert_allclose(np.asarray(Y), expected.detach().numpy(), rtol=1e-12)
    grads = module.backward(as_library(G), cache)
    for name, leaf in zip(("X", "W", "alpha", "t"), leaves):
        assert tuple(np.shape(grads[name])) == tuple(leaf.shape), name
        np.testing.assert_allclose(np.asarray(grads[name]), leaf.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_a_number_parameter_is_a_module_parameter_of_shape_nothing():
    module = compile_component(gated_residual(), "torch")
    layer = module.Gated(4, dtype=torch.float64)
    assert layer.alpha.shape == () and float(layer.alpha) == 0.0
    X = torch.randn(2, 3, 4, dtype=torch.float64)
    layer(X, torch.ones(2, dtype=torch.float64)).sum().backward()
    assert layer.alpha.grad.shape == ()


def test_scale_by_a_one_by_one_value_and_the_refusal_of_a_larger_one():
    c = D.Component("scaled", "x")
    n, d = c.dims("n_T d")
    X = c.input("X", n, d)
    k = c.let("k", D.token_sum(D.row_sum(X)))  # a 1 × 1 value
    assert D.scale(k, X).shape == X.shape
    with pytest.raises(D.ShapeMismatch, match="scale: .* the factor is a number, or a 1 × 1 value"):
        D.scale(X, X)
