# GENERATED FILE: DO NOT EDIT.
# Derived by pedestrian-backprop from the forward definition in derive/components/lora_linear.py.
# Regenerate with: backprop generate --target numpy
"""Fully connected layer with a LoRA branch (`lora_linear`): forward pass and derived backward pass.

Forward definition (one sequence; inputs may carry leading batch dimensions):
    Y = X W + 1 bᵀ + (alpha/r) X A B

Gradients, as derived:
    ∂L/∂X = (alpha/r) Δ_Y Bᵀ Aᵀ + Δ_Y Wᵀ
    ∂L/∂A = (alpha/r) Σ_batch (Xᵀ Δ_Y) Bᵀ
    ∂L/∂B = (alpha/r) Aᵀ Σ_batch (Xᵀ Δ_Y)
"""
import numpy as np


def _check_number(name, value):
    """A finite real number (a Python, NumPy or 0-d tensor number); returns a float."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = None
    if isinstance(value, bool) or number is None or number != number or abs(number) == float("inf"):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return number


def _check_shape(name, array, expected, dims, batched):
    """Check ``array``'s shape against dimension names, binding new names in ``dims``."""
    shape = tuple(array.shape)
    names = (["..."] if batched else []) + [str(dims.get(d, d)) for d in expected]
    wanted = "(" + ", ".join(names) + ("," if len(names) == 1 else "") + ")"
    if len(shape) < len(expected) or (not batched and len(shape) != len(expected)):
        raise ValueError(f"{name}: expected shape {wanted}, got {shape}")
    batch, core = shape[: len(shape) - len(expected)], shape[len(shape) - len(expected):]
    for dim, size in zip(expected, core):
        if dims.setdefault(dim, size) != size:
            raise ValueError(f"{name}: expected shape {wanted}, got {shape}")
        if size < 1:
            raise ValueError(f"{name}: dimension {dim} has size 0 in shape {shape}; sizes must be at least 1")
    if batched and dims.setdefault("...", batch) != batch:
        raise ValueError(f"{name}: leading batch dimensions {batch} differ from the other inputs' {dims['...']}")


def forward(X, W, b, A, B, *, alpha):
    """Fully connected layer with a LoRA branch: returns ``(out, cache)``.

    X: input (..., n_T, d_in)
    W: parameter, frozen (d_in, d_out): frozen pretrained weights
    b: parameter, frozen (d_out,): frozen pretrained bias
    A: parameter (d_in, r): the paper's "down" projection D
    B: parameter (r, d_out): the paper's "up" projection U; zero at start
    alpha: configuration, required: LoRA scale numerator: the branch is multiplied by alpha / r
    """
    X = np.asarray(X)
    W = np.asarray(W)
    b = np.asarray(b)
    A = np.asarray(A)
    B = np.asarray(B)
    dims = {}
    _check_shape("X", X, ("n_T", "d_in"), dims, batched=True)
    _check_shape("W", W, ("d_in", "d_out"), dims, batched=False)
    _check_shape("b", b, ("d_out",), dims, batched=False)
    _check_shape("A", A, ("d_in", "r"), dims, batched=False)
    _check_shape("B", B, ("r", "d_out"), dims, batched=False)
    alpha = _check_number("alpha", alpha)
    d_in, d_out, r = dims["d_in"], dims["d_out"], dims["r"]
    Y = X @ W + b + alpha/r * (X @ A @ B)  # (..., n_T, d_out)
    cache = {"X": X, "W": W, "A": A, "B": B, "alpha": alpha, "d_in": d_in, "d_out": d_out, "r": r, "out_shape": Y.shape}
    return Y, cache


def backward(grad_out, cache):
    """Gradients of the loss given ``grad_out`` = ∂L/∂Y: a dict keyed by argument name."""
    X = cache["X"]
    W = cache["W"]
    A = cache["A"]
    B = cache["B"]
    alpha = cache["alpha"]
    d_in = cache["d_in"]
    d_out = cache["d_out"]
    r = cache["r"]
    if grad_out.shape != cache["out_shape"]:
        raise ValueError(f"grad_out: expected shape {cache['out_shape']}, got {grad_out.shape}")
    # grad of X, used in: Y = X W + 1 bᵀ + (alpha/r) X A B
    dX = alpha/r * (grad_out @ B.swapaxes(-1, -2) @ A.swapaxes(-1, -2)) + grad_out @ W.swapaxes(-1, -2)  # (..., n_T, d_in)
    # common subexpression
    t1 = X.reshape(-1, d_in).T @ grad_out.reshape(-1, d_out)  # (d_in, d_out)
    # grad of A, used in: Y = X W + 1 bᵀ + (alpha/r) X A B
    dA = alpha/r * (t1 @ B.swapaxes(-1, -2))  # (d_in, r)
    # grad of B, used in: Y = X W + 1 bᵀ + (alpha/r) X A B
    dB = alpha/r * (A.swapaxes(-1, -2) @ t1)  # (r, d_out)
    return {
        "X": dX,
        "A": dA,
        "B": dB,
    }
