"""Numbers as torch treats them: one floating dtype per call, gradients in their arguments' dtype,
integer indices that are integers, and a configuration refused when a module is built."""
import numpy as np
import pytest

from generated.numpy import embedding as np_embedding
from generated.numpy import linear as np_linear


def _arguments(dtype=np.float32):
    rng = np.random.default_rng(0)
    return rng.standard_normal((2, 3, 4)).astype(dtype), rng.standard_normal((4, 5)).astype(dtype), \
        np.zeros(5, dtype=dtype)


def test_mixed_float32_and_float64_are_refused_as_torch_refuses_them():
    X, W, b = _arguments()
    with pytest.raises(ValueError, match="arguments of different dtypes: X float32, W float64"):
        np_linear.forward(X, W.astype(np.float64), b)


def test_integer_data_for_a_float_argument_is_one_line():
    X, W, b = _arguments()
    with pytest.raises(ValueError, match="X: expected a floating-point array, got dtype int64"):
        np_linear.forward(X.astype(np.int64), W, b)


def test_float_indices_are_refused():
    with pytest.raises(ValueError, match="idx: expected integer indices"):
        np_embedding.forward(np.zeros((2, 3)), np.ones((5, 4), dtype=np.float32), np.ones((3, 4), dtype=np.float32))


def test_a_float64_upstream_gradient_gives_gradients_in_the_arguments_dtype():
    X, W, b = _arguments()
    Y, cache = np_linear.forward(X, W, b)
    grads = np_linear.backward(np.ones(Y.shape, dtype=np.float64), cache)
    assert {k: v.dtype for k, v in grads.items()} == {"X": np.float32, "W": np.float32, "b": np.float32}


def test_torch_follows_the_same_rules():
    torch = pytest.importorskip("torch")
    from generated.torch import linear, mlp

    X, W, b = (torch.from_numpy(a) for a in _arguments())
    with pytest.raises(ValueError, match="different dtypes"):
        linear.forward(X, W.double(), b)
    Y, cache = linear.forward(X, W, b)
    assert all(g.dtype == torch.float32 for g in linear.backward(torch.ones(Y.shape, dtype=torch.float64),
                                                                   cache).values())
    with pytest.raises(ValueError, match="activation must be one of"):
        mlp.MLP(4, 8, activation="silu")  # refused when built, not at the first call
