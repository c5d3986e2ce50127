"""Every generated NumPy module against torch autograd (float64, rel. error ≤ 1e-10)."""
import numpy as np
import pytest
from hypothesis import given

from backprop.verify import (
    autograd,
    configurations,
    generated,
    gradient_floor,
    random_arguments,
    uniform_sizes,
    relative_error,
    smallest,
)
from derive.components import NAMES, build
from strategies import cases

TOL = 1e-10


def _compare(name, sizes, batch, config, seed):
    rng = np.random.default_rng(seed)
    module = generated(name)
    arrays = random_arguments(name, rng, sizes, batch, config=config)
    out, cache = module.forward(*arrays.values(), **config)
    grad_out = rng.standard_normal(out.shape)
    grads = module.backward(grad_out, cache)
    ref_out, ref_grads = autograd(name, arrays, grad_out, config)
    assert out.shape == ref_out.shape
    assert relative_error(out, ref_out) <= TOL
    assert set(grads) == set(ref_grads)
    for key, ref in ref_grads.items():
        assert grads[key].shape == arrays[key].shape, key
        error = relative_error(grads[key], ref, gradient_floor(ref_grads))
        assert error <= TOL, (key, error)


@pytest.mark.parametrize("name", NAMES)
def test_matches_autograd(name):
    @given(cases(name))
    def run(case):
        _compare(name, *case)

    run()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("batch", [(), (4,), (2, 3)])
def test_one_token_and_batches(name, batch):
    sizes = {**uniform_sizes(name, 4), "n_T": smallest(name, "n_T")}
    for config in configurations(name, sizes):
        _compare(name, sizes, batch, config, seed=len(batch))


@pytest.mark.parametrize("name", NAMES)
def test_float32_stays_float32(name):
    rng = np.random.default_rng(0)
    sizes = uniform_sizes(name, 5)
    module = generated(name)
    for config in configurations(name, sizes):
        arrays = random_arguments(name, rng, sizes, (2,), dtype=np.float32, config=config)
        out, cache = module.forward(*arrays.values(), **config)
        assert out.dtype == np.float32
        grad_out = rng.standard_normal(out.shape).astype(np.float32)
        grads = module.backward(grad_out, cache)
        as64 = {k: v.astype(np.float64) if v.dtype.kind == "f" else v for k, v in arrays.items()}
        ref_out, ref_grads = autograd(name, as64,
                                      grad_out.astype(np.float64), config)
        assert relative_error(out, ref_out) < 1e-5
        for key, g in grads.items():
            assert g.dtype == np.float32, key
            # float32 rounding of a gradient that cancels to zero in exact arithmetic (causal linear
            # attention with one feature per head: the output no longer depends on the queries) is
            # a few 1e-4 of the largest gradient; a wrong rule is off by far more.
            assert relative_error(g, ref_grads[key], gradient_floor(ref_grads)) < 5e-4, key


def test_parameter_gradients_sum_over_the_batch():
    rng = np.random.default_rng(1)
    module = generated("linear")
    X = rng.standard_normal((3, 4, 5))
    W, b = rng.standard_normal((5, 2)), rng.standard_normal(2)
    dY = rng.standard_normal((3, 4, 2))
    whole = module.backward(dY, module.forward(X, W, b)[1])
    parts = [module.backward(dY[i], module.forward(X[i], W, b)[1]) for i in range(3)]
    np.testing.assert_allclose(whole["W"], sum(p["W"] for p in parts), rtol=1e-12)
    np.testing.assert_allclose(whole["b"], sum(p["b"] for p in parts), rtol=1e-12)
    np.testing.assert_allclose(whole["X"], np.stack([p["X"] for p in parts]), rtol=1e-12)
