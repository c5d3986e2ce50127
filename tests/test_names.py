"""Generated names never collide with a component's own; names code cannot use are refused early."""
import numpy as np
import pytest
import torch

from codegen.render import compile_component
from derive import Component, DefinitionError, hadamard, matmul


def _squared_product(weight="W", input_="X", name="sq"):
    """Y = (X W W) ∘ (X W W), with the weight and the input named as given."""
    c = Component(name, "squared product")
    n, d = c.dims("n d")
    X = c.input(input_, n, d)
    W = c.param(weight, d, d)
    c.output("Y", hadamard(matmul(X, W, W), matmul(X, W, W)))
    return c


@pytest.mark.parametrize("weight", ["dX", "t1", "t2", "d_X", "dY"])
@pytest.mark.parametrize("target", ["numpy", "torch"])
def test_user_names_that_look_generated_get_correct_gradients(weight, target):
    rng = np.random.default_rng(0)
    X, W, G = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 4)), rng.standard_normal((2, 3, 4))
    module = compile_component(_squared_product(weight), target)
    wrap = torch.from_numpy if target == "torch" else np.asarray
    out, cache = module.forward(wrap(X), wrap(W))
    grads = module.backward(wrap(G), cache)
    tX, tW = torch.from_numpy(X).requires_grad_(), torch.from_numpy(W).requires_grad_()
    ((tX @ tW @ tW) ** 2).backward(torch.from_numpy(G))
    np.testing.assert_allclose(np.asarray(grads["X"]), tX.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(grads[weight]), tW.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("weight, why", [
    ("np", "reserved"), ("torch", "reserved"), ("cache", "reserved"), ("dims", "reserved"),
    ("math", "reserved"), ("grad_out", "reserved"), ("self", "reserved"), ("out", "reserved"),
    ("lambda", "keyword"), ("class", "keyword"), ("_W", "reserved for generated helpers"),
    ("sum", "builtin"), ("2W", "not a valid Python identifier"), ("W-1", "not a valid Python identifier"),
    ("d", "defined twice"),  # a dimension's name
])
def test_names_generated_code_cannot_use_are_refused_at_definition(weight, why):
    with pytest.raises(DefinitionError, match=why) as error:
        _squared_product(weight)
    assert repr(weight) in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("name", ["my-layer", "class", "_private", "torch", ""])
def test_component_names_must_be_identifiers(name):
    with pytest.raises(DefinitionError, match="component name"):
        _squared_product(name=name)


def test_a_dimension_cannot_take_an_arguments_name():
    c = Component("dimclash", "dimension clash")
    (n,) = c.dims("n")
    c.input("X", n, n)
    with pytest.raises(DefinitionError, match="'X' is defined twice"):
        c.dims("X")
