# GENERATED FILE: DO NOT EDIT.
# Derived by pedestrian-backprop from the forward definition in derive/components/swiglu.py.
# Regenerate with: backprop generate --target numba
"""SwiGLU feed-forward layer (`swiglu`): forward pass and derived backward pass.

Forward definition (one sequence; inputs may carry leading batch dimensions):
    gate = X W_gateᵀ
    up = X W_upᵀ
    H = silu(gate) ∘ up
    Y = H W_downᵀ

Gradients, as derived:
    ∂L/∂X = Δ_up W_up + Δ_gate W_gate
    ∂L/∂W_gate = Σ_batch (Δ_gateᵀ X)
    ∂L/∂W_up = Σ_batch (Δ_upᵀ X)
    ∂L/∂W_down = Σ_batch (Δ_Yᵀ H)

Optimisations (each keeps the values within rounding):
    - overwrite: dgate, dX updated in place (+=, *=) in the array the statement made or in one no longer needed, not a new array per operation
    - rows-matmul: a batched value times a weight is one 2-D product over all its rows
    - in-place functions: each scalar function computes in buffers of its own (kept between calls)
    - liveness: every array is released after its last use (del); the backward drops its cache
"""
import threading

import numba
import numpy as np


def _broadcast_batches(arrays, cores, dims):
    """Frozen inputs (masks, tables) that carry fewer batch axes than the other inputs, or axes of size
    1, broadcast over theirs as views (nothing is copied); with no other batched input, over each
    other's.  ``cores``: each array's number of axes after the batch axes."""
    batches = {name: tuple(array.shape[: len(array.shape) - cores[name]]) for name, array in arrays.items()}
    full = dims.get("...")
    if full is None:
        try:
            full = tuple(np.broadcast_shapes(*batches.values()))
        except (ValueError, RuntimeError):
            raise ValueError("frozen inputs with leading batch dimensions that do not broadcast: " + ", ".join(
                f"{n} {b}" for n, b in batches.items())) from None
        dims["..."] = full
    out = []
    for name, array in arrays.items():
        core = cores[name]
        try:
            fits = tuple(np.broadcast_shapes(batches[name], full)) == tuple(full)
        except (ValueError, RuntimeError):
            fits = False
        if not fits:
            raise ValueError(f"{name}: leading batch dimensions {batches[name]} do not broadcast to the other "
                             f"inputs' {tuple(full)}")
        out.append(np.broadcast_to(array, tuple(full) + tuple(array.shape[len(array.shape) - core:])))
    return out


def _check_dtypes(floating, integer):
    """One floating-point dtype for every float argument (float32 and float64 are not mixed, as torch's
    layers refuse to), and integer indices that are integers. Returns ``(dtype, compute)``: the arguments'
    dtype, and the one to compute in, float32 for float16
    (whose sums overflow or drop their small terms), as torch's layers accumulate in float32."""
    dtypes = {}
    for name, a in floating.items():
        if not np.issubdtype(a.dtype, np.floating):
            raise ValueError(f"{name}: expected a floating-point array, got dtype {a.dtype}")
        dtypes.setdefault(a.dtype, name)
    if len(dtypes) > 1:
        raise ValueError("arguments of different dtypes: " + ", ".join(f"{n} {d}" for d, n in dtypes.items())
                         + "; convert them to one")
    for name, a in integer.items():
        if not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"{name}: expected integer indices, got dtype {a.dtype}")
    dtype = next(iter(dtypes), None)
    return dtype, (np.dtype(np.float32) if dtype == np.float16 else dtype)


def _check_shape(name, array, expected, dims, batched):
    """Check ``array``'s shape against dimension names (or fixed sizes), binding new names in ``dims``;
    ``(name, k, label)`` is a dimension times a count k (n_heads*d_h: the heads side by side).
    ``batched="shared"``: leading axes that need not be the other inputs' (a frozen input, broadcast
    over them afterwards by ``_broadcast_batches``)."""
    shape = tuple(array.shape)
    names = (["..."] if batched else []) + [
        f"{d[2]}*{d[0]} = {d[1]}*{dims.get(d[0], d[0])}" if isinstance(d, tuple) else str(dims.get(d, d))
        for d in expected]
    wanted = "(" + ", ".join(names) + ("," if len(names) == 1 else "") + ")"
    if len(shape) < len(expected) or (not batched and len(shape) != len(expected)):
        raise ValueError(f"{name}: expected shape {wanted}, got {shape}")
    batch, core = shape[: len(shape) - len(expected)], shape[len(shape) - len(expected):]
    for dim, size in zip(expected, core):
        if isinstance(dim, tuple):  # a dimension times a count: the count must divide the size
            if size % dim[1]:
                raise ValueError(f"{name}: expected shape {wanted}, got {shape}: {size} is not a multiple of {dim[1]}")
            dim, size = dim[0], size // dim[1]
        if (dim if isinstance(dim, int) else dims.setdefault(dim, size)) != size:
            raise ValueError(f"{name}: expected shape {wanted}, got {shape}")
        if size < 1:
            raise ValueError(f"{name}: dimension {dim} has size 0 in shape {shape}; sizes must be at least 1")
    if batched and batched != "shared" and dims.setdefault("...", batch) != batch:
        raise ValueError(f"{name}: leading batch dimensions {batch} differ from the other inputs' {dims['...']}")


def _rows_matmul(A, W):
    """A (..., n, k) @ W (k, m) as one 2-D product over every row of A (one GEMM, not one per sequence)."""
    return (A.reshape(-1, A.shape[-1]) @ W).reshape(A.shape[:-1] + (W.shape[-1],))


_SCRATCH = threading.local()


def _scratch(slot, like):
    """A buffer shaped like ``like`` for a function's intermediate values, kept between calls (one
    per slot and thread, for the last shape seen), so a training step does not fault in fresh pages
    for them; None (make a new array) for an array that is not floating point."""
    if like.dtype.kind != "f":
        return None
    kept = _SCRATCH.__dict__
    buffer = kept.get(slot)
    if buffer is None or buffer.shape != like.shape or buffer.dtype != like.dtype:
        buffer = kept[slot] = np.empty(like.shape, dtype=like.dtype)
    return buffer


def _silu(x, times=None):
    """Computed in buffers of its own, each operation in place; ``times``: multiplied into it."""
    b1 = np.multiply(x, -1.0, out=None if times is None else _scratch("silu.b1", x))
    np.exp(b1, out=b1)
    b1 += 1.0
    np.reciprocal(b1, out=b1)
    np.multiply(b1, x, out=b1)
    if times is None:
        return b1
    times *= b1
    return times


def _silu_grad(x, times=None):
    """Computed in buffers of its own, each operation in place; ``times``: multiplied into it."""
    t0 = np.multiply(x, -1.0, out=None if times is None else _scratch("silu_grad.t0", x))
    np.exp(t0, out=t0)
    t1 = t0.copy()
    t1 += 1.0
    np.reciprocal(t1, out=t1)
    np.multiply(t0, t1, out=t0)
    np.multiply(t0, x, out=t0)
    t0 += 1.0
    np.multiply(t0, t1, out=t0)
    if times is None:
        return t0
    times *= t0
    return times


def forward(X, W_gate, W_up, W_down):
    """SwiGLU feed-forward layer: returns ``(out, cache)``.

    X: input (..., n_T, d)
    W_gate: parameter (d_ff, d): gate_proj
    W_up: parameter (d_ff, d): up_proj
    W_down: parameter (d, d_ff): down_proj
    """
    X = np.asarray(X)
    W_gate = np.asarray(W_gate)
    W_up = np.asarray(W_up)
    W_down = np.asarray(W_down)
    dtype, compute_dtype = _check_dtypes({"X": X, "W_gate": W_gate, "W_up": W_up, "W_down": W_down}, {})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        X = X.astype(compute_dtype, copy=False)
        W_gate = W_gate.astype(compute_dtype, copy=False)
        W_up = W_up.astype(compute_dtype, copy=False)
        W_down = W_down.astype(compute_dtype, copy=False)
    dims = {}
    _check_shape("X", X, ("n_T", "d"), dims, batched=True)
    _check_shape("W_gate", W_gate, ("d_ff", "d"), dims, batched=False)
    _check_shape("W_up", W_up, ("d_ff", "d"), dims, batched=False)
    _check_shape("W_down", W_down, ("d", "d_ff"), dims, batched=False)
    d, d_ff = dims["d"], dims["d_ff"]
    gate = _rows_matmul(X, W_gate.swapaxes(-1, -2))  # (..., n_T, d_ff)
    up = _rows_matmul(X, W_up.swapaxes(-1, -2))  # (..., n_T, d_ff)
    H = _silu(gate) * up  # (..., n_T, d_ff)
    Y = _rows_matmul(H, W_down.swapaxes(-1, -2))  # (..., n_T, d)
    cache = {"X": X, "W_gate": W_gate, "W_up": W_up, "W_down": W_down, "gate": gate, "up": up, "H": H, "d": d, "d_ff": d_ff, "out_shape": Y.shape, "out_dtype": Y.dtype, "dtype": dtype}
    return Y.astype(dtype, copy=False), cache


def backward(grad_out, cache):
    """Gradients of the loss given ``grad_out`` = ∂L/∂Y: a dict keyed by argument name."""
    X = cache["X"]
    W_gate = cache["W_gate"]
    W_up = cache["W_up"]
    W_down = cache["W_down"]
    gate = cache["gate"]
    up = cache["up"]
    H = cache["H"]
    d = cache["d"]
    d_ff = cache["d_ff"]
    dtype = cache["dtype"]
    if grad_out.shape != cache["out_shape"]:
        raise ValueError(f"grad_out: expected shape {cache['out_shape']}, got {grad_out.shape}")
    grad_out = grad_out.astype(cache["out_dtype"], copy=False)  # the dtype the forward computed in
    del cache  # each array is released after its last use below
    # grad of H, used in: Y = H W_downᵀ
    dH = _rows_matmul(grad_out, W_down)  # (..., n_T, d_ff)
    # grad of up, used in: H = silu(gate) ∘ up
    dup = dH * _silu(gate)  # (..., n_T, d_ff)
    # grad of gate, used in: H = silu(gate) ∘ up
    dgate = dH  # (..., n_T, d_ff), dH's array, updated in place
    dgate *= up
    dgate = _silu_grad(gate, times=dgate)
    del dH, gate, up
    # grad of X, used in: gate = X W_gateᵀ; up = X W_upᵀ
    dX = _rows_matmul(dup, W_up)  # (..., n_T, d), updated in place
    dX += _rows_matmul(dgate, W_gate)
    # grad of W_gate, used in: gate = X W_gateᵀ
    dW_gate = dgate.reshape(-1, d_ff).T @ X.reshape(-1, d)  # (d_ff, d)
    del dgate
    # grad of W_up, used in: up = X W_upᵀ
    dW_up = dup.reshape(-1, d_ff).T @ X.reshape(-1, d)  # (d_ff, d)
    del X, dup
    # grad of W_down, used in: Y = H W_downᵀ
    dW_down = grad_out.reshape(-1, d).T @ H.reshape(-1, d_ff)  # (d, d_ff)
    del H
    return {
        "X": dX.astype(dtype, copy=False),
        "W_gate": dW_gate.astype(dtype, copy=False),
        "W_up": dW_up.astype(dtype, copy=False),
        "W_down": dW_down.astype(dtype, copy=False),
    }


def _jvp_forward(X, W_gate, W_up, W_down, dX, dW_gate, dW_up, dW_down):
    """SwiGLU feed-forward layer: returns ``(out, cache)``.

    X: input, frozen (..., n_T, d)
    W_gate: parameter, frozen (d_ff, d): gate_proj
    W_up: parameter, frozen (d_ff, d): up_proj
    W_down: parameter, frozen (d, d_ff): down_proj
    dX: input, frozen (..., n_T, d): the tangent of X
    dW_gate: parameter, frozen (d_ff, d): the tangent of W_gate
    dW_up: parameter, frozen (d_ff, d): the tangent of W_up
    dW_down: parameter, frozen (d, d_ff): the tangent of W_down
    """
    X = np.asarray(X)
    W_gate = np.asarray(W_gate)
    W_up = np.asarray(W_up)
    W_down = np.asarray(W_down)
    dX = np.asarray(dX)
    dW_gate = np.asarray(dW_gate)
    dW_up = np.asarray(dW_up)
    dW_down = np.asarray(dW_down)
    dtype, compute_dtype = _check_dtypes({"X": X, "W_gate": W_gate, "W_up": W_up, "W_down": W_down, "dX": dX, "dW_gate": dW_gate, "dW_up": dW_up, "dW_down": dW_down}, {})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        X = X.astype(compute_dtype, copy=False)
        W_gate = W_gate.astype(compute_dtype, copy=False)
        W_up = W_up.astype(compute_dtype, copy=False)
        W_down = W_down.astype(compute_dtype, copy=False)
        dX = dX.astype(compute_dtype, copy=False)
        dW_gate = dW_gate.astype(compute_dtype, copy=False)
        dW_up = dW_up.astype(compute_dtype, copy=False)
        dW_down = dW_down.astype(compute_dtype, copy=False)
    dims = {}
    _check_shape("X", X, ("n_T", "d"), dims, batched="shared")
    _check_shape("W_gate", W_gate, ("d_ff", "d"), dims, batched=False)
    _check_shape("W_up", W_up, ("d_ff", "d"), dims, batched=False)
    _check_shape("W_down", W_down, ("d", "d_ff"), dims, batched=False)
    _check_shape("dX", dX, ("n_T", "d"), dims, batched="shared")
    _check_shape("dW_gate", dW_gate, ("d_ff", "d"), dims, batched=False)
    _check_shape("dW_up", dW_up, ("d_ff", "d"), dims, batched=False)
    _check_shape("dW_down", dW_down, ("d", "d_ff"), dims, batched=False)
    X, dX = _broadcast_batches({"X": X, "dX": dX}, {"X": 2, "dX": 2}, dims)
    gate = _rows_matmul(X, W_gate.swapaxes(-1, -2))  # (..., n_T, d_ff)
    up = _rows_matmul(X, W_up.swapaxes(-1, -2))  # (..., n_T, d_ff)
    H = _silu(gate) * up  # (..., n_T, d_ff)
    dgate = _rows_matmul(dX, W_gate.swapaxes(-1, -2))  # (..., n_T, d_ff), updated in place
    dgate += _rows_matmul(X, dW_gate.swapaxes(-1, -2))
    dup = _rows_matmul(dX, W_up.swapaxes(-1, -2))  # (..., n_T, d_ff), updated in place
    dup += _rows_matmul(X, dW_up.swapaxes(-1, -2))
    dH = dgate  # (..., n_T, d_ff), dgate's array, updated in place
    dH = _silu_grad(gate, times=dH)
    dH *= up
    dH += _silu(gate) * dup
    del dgate, dup, gate, up
    dY = _rows_matmul(dH, W_down.swapaxes(-1, -2))  # (..., n_T, d), updated in place
    dY += _rows_matmul(H, dW_down.swapaxes(-1, -2))
    del H, dH
    cache = {"out_shape": dY.shape, "out_dtype": dY.dtype, "dtype": dtype}
    return dY.astype(dtype, copy=False), cache


def jvp(X, W_gate, W_up, W_down, dX=None, dW_gate=None, dW_up=None, dW_down=None):
    """The tangent of Y for the arguments' tangents: forward mode, pushed forward from each
    primitive's differential (``backprop show swiglu --jvp``).

    dX: the tangent of X (its shape; None for zero)
    dW_gate: the tangent of W_gate (its shape; None for zero)
    dW_up: the tangent of W_up (its shape; None for zero)
    dW_down: the tangent of W_down (its shape; None for zero)
    """
    if dX is None:  # no tangent: zero
        dX = np.zeros_like(np.asarray(X))
    if dW_gate is None:  # no tangent: zero
        dW_gate = np.zeros_like(np.asarray(W_gate))
    if dW_up is None:  # no tangent: zero
        dW_up = np.zeros_like(np.asarray(W_up))
    if dW_down is None:  # no tangent: zero
        dW_down = np.zeros_like(np.asarray(W_down))
    return _jvp_forward(X, W_gate, W_up, W_down, dX, dW_gate, dW_up, dW_down)[0]
