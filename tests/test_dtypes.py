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


# Low precision: float16 (and, in torch, bfloat16) arguments are computed in float32 and rounded back,
# as torch's normalisation and loss layers accumulate. Inputs of a few hundred make float16's sums of
# squares and of exponentials overflow (65504) when they are not.

def _layernorm_arguments():
    rng = np.random.default_rng(1)
    return (rng.standard_normal((2, 5, 64)) * 300, rng.standard_normal(64), rng.standard_normal(64))


def _cross_entropy_arguments():
    rng = np.random.default_rng(2)
    return (rng.standard_normal((2, 6, 16)) * 4, rng.standard_normal((16, 11)) * 4, rng.standard_normal(11),
            rng.integers(0, 11, (2, 6)))


def _torch_layernorm(X, w, b):
    import torch
    return torch.nn.functional.layer_norm(X, (X.shape[-1],), w, b)


def _torch_cross_entropy(X, W, b, idx):
    import torch
    logits = X[..., :-1, :] @ W + b
    return torch.nn.functional.cross_entropy(logits.reshape(-1, W.shape[1]), idx[..., 1:].reshape(-1))


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("name, arguments, layer", [
    ("layernorm", _layernorm_arguments, _torch_layernorm),
    ("cross_entropy", _cross_entropy_arguments, _torch_cross_entropy),
])
def test_low_precision_agrees_with_torchs_layers(backend, dtype, name, arguments, layer):
    torch = pytest.importorskip("torch")
    import importlib

    if backend == "numpy" and dtype == "bfloat16":
        pytest.skip("NumPy has no bfloat16")
    module = importlib.import_module(f"generated.{backend}.{name}")
    low = getattr(torch, dtype)
    exact = [torch.tensor(a) for a in arguments()]
    floats = [a.to(low).requires_grad_() if a.is_floating_point() else a for a in exact]
    expected = layer(*floats)  # torch's layer in the low dtype
    G = torch.ones_like(expected) if expected.ndim == 0 else torch.randn(expected.shape).to(low)
    expected.backward(G)
    given = [a.detach() for a in floats]
    if backend == "numpy":
        given = [a.numpy() for a in given]
    out, cache = module.forward(*given)
    grads = module.backward(G if backend == "torch" else G.numpy(), cache)
    out = torch.as_tensor(out)
    assert out.dtype == low and torch.isfinite(out).all()
    resolution = torch.finfo(low).eps
    scale = expected.detach().float().abs().max()
    assert (out.float() - expected.detach().float()).abs().max() <= 2 * resolution * scale
    for (key, g), a in zip(grads.items(), floats):
        if a.grad is None:
            continue
        g = torch.as_tensor(g)
        assert g.dtype == low and torch.isfinite(g).all(), key
        difference = (g.float() - a.grad.float()).abs().max()
        assert difference <= 4 * resolution * a.grad.float().abs().max(), key
