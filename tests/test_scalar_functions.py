"""Elementwise functions: each one works in both backends, or is refused when defined or compiled."""
import numpy as np
import pytest
import sympy as sp
import torch

from codegen.render import GenerationError, compile_component
from derive import Component, UnsupportedFunction, elementwise, pointwise, x

#: (SymPy definition, the same function written with torch operations for autograd).
FUNCTIONS = {
    "min": (sp.Min(x, 0), lambda t: torch.clamp(t, max=0)),
    "max3": (sp.Max(x, 0, -x / 3), lambda t: torch.maximum(torch.maximum(t, torch.zeros_like(t)), -t / 3)),
    "leaky_piecewise": (sp.Piecewise((x, x > 0), (x / 10, True)), lambda t: torch.where(t > 0, t, t / 10)),
    "piecewise_and": (sp.Piecewise((x**2, (x > -1) & (x < 1)), (sp.Abs(x), True)),
                      lambda t: torch.where((t > -1) & (t < 1), t**2, t.abs())),
    "floor": (sp.floor(x) + x, lambda t: torch.floor(t) + t),
    "ceiling": (sp.ceiling(x) * 2 + x, lambda t: torch.ceil(t) * 2 + t),
    "sign": (sp.sign(x) * x**2, lambda t: torch.sign(t) * t**2),
    "heaviside": (sp.Heaviside(x) * x, lambda t: (t > 0).to(t.dtype) * t),  # autograd: no heaviside rule
    "abs": (sp.Abs(x), torch.abs),
    "softplus": (sp.log(1 + sp.exp(x)), torch.nn.functional.softplus),
    "atan": (sp.atan(x), torch.atan),
    "sigmoid": (1 / (1 + sp.exp(-x)), torch.sigmoid),
}


def _unary(expr, name="f"):
    c = Component("unary", "one elementwise function")
    n, d = c.dims("n d")
    X = c.input("X", n, d)
    c.output("Y", pointwise(expr, X) if name == "" else elementwise(sp.Lambda(x, expr), X))
    return c


@pytest.mark.parametrize("target", ["numpy", "torch"])
@pytest.mark.parametrize("key", sorted(FUNCTIONS))
def test_function_matches_autograd_in_both_backends(key, target):
    expr, reference = FUNCTIONS[key]
    module = compile_component(_unary(expr), target)
    rng = np.random.default_rng(1)
    X = 3 * rng.standard_normal((2, 5, 4))
    X[np.abs(X - np.round(X)) < 1e-3] += 0.01  # keep away from floor's jumps
    G = rng.standard_normal(X.shape)
    wrap = torch.from_numpy if target == "torch" else np.asarray
    out, cache = module.forward(wrap(X))
    grad = module.backward(wrap(G), cache)["X"]
    t = torch.from_numpy(X).requires_grad_()
    ref = reference(t)
    ref.backward(torch.from_numpy(G))
    np.testing.assert_allclose(np.asarray(out), ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.asarray(grad), t.grad.numpy(), rtol=1e-12, atol=1e-12)
    out32, cache32 = module.forward(wrap(X.astype(np.float32)))  # float32 in, float32 out
    assert out32.dtype in (np.float32, torch.float32)
    assert module.backward(wrap(G.astype(np.float32)), cache32)["X"].dtype in (np.float32, torch.float32)


def test_a_free_symbol_other_than_x_is_refused_at_definition():
    with pytest.raises(UnsupportedFunction, match=r"unary: f\(x\) = a\*x: unknown symbol\(s\) a"):
        _unary(x * sp.Symbol("a"), name="")


def test_a_plain_sympy_x_is_refused_with_a_hint():
    with pytest.raises(UnsupportedFunction, match="derive.x"):
        _unary(sp.exp(sp.Symbol("x")), name="")


def test_configuration_is_allowed_in_an_inline_function():
    c = Component("shifted", "shifted square root")
    n, d = c.dims("n d")
    X = c.input("X", n, d)
    eps = c.config("eps", 1.0)
    c.output("Y", pointwise(sp.sqrt(x**2 + eps), X))
    module = compile_component(c)
    out, _ = module.forward(np.zeros((1, 2)), eps=4.0)
    np.testing.assert_allclose(out, 2.0)


def test_a_function_sympy_cannot_differentiate_is_refused_at_definition():
    with pytest.raises(UnsupportedFunction, match="cannot differentiate"):
        _unary(sp.Function("g")(x), name="")


@pytest.mark.parametrize("target", ["numpy", "torch"])
@pytest.mark.parametrize("expr", [sp.gamma(x), sp.besselj(0, x)], ids=["gamma", "besselj"])
def test_a_function_without_array_code_is_refused_when_compiled(expr, target):
    with pytest.raises(GenerationError, match="unary: no (np|torch) code for") as error:
        compile_component(_unary(expr, name=""), target)
    assert "\n" not in str(error.value)


def test_a_component_without_parameters_has_a_working_module():
    c = _unary(sp.tanh(x))
    module = compile_component(c, "torch")
    layer = module.Unary()
    X = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    layer(X).sum().backward()
    torch.testing.assert_close(X.grad, 1 - torch.tanh(X.detach()) ** 2)
