"""Second derivatives through the generated autograd Functions are exact, never first-order only."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from backprop.verify import configurations, random_arguments, uniform_sizes
from derive.components import NAMES, build
from generated.torch.layernorm import LayerNormFunction
from generated.torch.linear import LinearFunction


def _function_and_arguments(name, config, n=3):
    c = build(name)
    sizes = uniform_sizes(name, n)
    config = {**configurations(name, sizes)[0], **config}
    arrays = random_arguments(name, np.random.default_rng(5), sizes, (2,), config=config)
    tensors = [torch.from_numpy(v).requires_grad_(c.argument(k).receives_gradient) for k, v in arrays.items()]
    function = getattr(__import__(f"generated.torch.{name}", fromlist=["_"]), f"{c.module_class}Function")
    return function, tensors, [config.get(a.name, a.default) for a in c.configs]


@pytest.mark.parametrize("name", NAMES)
def test_gradgradcheck_on_every_function(name):
    """Every component, the GPT-2 block included, in every configuration."""
    n = 3 if name != "layernorm" else 4
    for config in configurations(name, {"d": n}):
        function, tensors, values = _function_and_arguments(name, config, n)
        assert torch.autograd.gradgradcheck(lambda *t, f=function, v=values: f.apply(*t, *v), tensors)


def _gradient_penalty(linear, X, W, b):
    y = linear(X, W, b)
    (gX,) = torch.autograd.grad((y ** 2).sum(), X, create_graph=True)
    return y.sum() + (gX ** 2).sum()


def test_gradient_penalty_through_linear_matches_autograd():
    torch.manual_seed(0)
    X, W, b = (torch.randn(*s, dtype=torch.float64, requires_grad=True) for s in ((5, 4), (4, 3), (3,)))
    _gradient_penalty(LinearFunction.apply, X, W, b).backward()
    ours = [t.grad.clone() for t in (X, W, b)]
    for t in (X, W, b):
        t.grad = None
    _gradient_penalty(lambda X, W, b: X @ W + b, X, W, b).backward()
    for mine, theirs in zip(ours, (X.grad, W.grad, b.grad)):
        torch.testing.assert_close(mine, theirs, rtol=1e-12, atol=1e-12)


def test_hessian_vector_product_through_layernorm_matches_autograd():
    torch.manual_seed(1)
    X = torch.randn(2, 5, 6, dtype=torch.float64, requires_grad=True)
    w, b = torch.randn(6, dtype=torch.float64), torch.randn(6, dtype=torch.float64)
    v = torch.randn_like(X)

    def hvp(layernorm):
        loss = (layernorm(X) ** 3).sum()
        (g,) = torch.autograd.grad(loss, X, create_graph=True)
        (h,) = torch.autograd.grad((g * v).sum(), X)
        return h

    ours = hvp(lambda X: LayerNormFunction.apply(X, w, b, 1e-5))
    theirs = hvp(lambda X: F.layer_norm(X, (6,), w, b, 1e-5))
    assert float(theirs.abs().max()) > 1.0
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-10)

