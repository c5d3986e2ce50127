# GENERATED FILE: DO NOT EDIT.
# Derived by pedestrian-backprop from the forward definition in derive/components/mlp.py.
# Regenerate with: backprop generate --target numba
"""Multi-layer perceptron (`mlp`): forward pass and derived backward pass.

Forward definition (one sequence; inputs may carry leading batch dimensions):
    H = X W_1 + 1 b_1ᵀ
    A = activation(H)
    Y = A W_2 + 1 b_2ᵀ

Gradients, as derived:
    ∂L/∂X = Δ_H W_1ᵀ
    ∂L/∂W_1 = Σ_batch (Xᵀ Δ_H)
    ∂L/∂b_1 = Σ_batch (1ᵀ Δ_H)
    ∂L/∂W_2 = Σ_batch (Aᵀ Δ_Y)
    ∂L/∂b_2 = Σ_batch (1ᵀ Δ_Y)

Optimisations (each keeps the values within rounding):
    - fused: 2 runs of entrywise statements and row reductions, each one Numba kernel making one pass over the rows (_backward_1, _backward_2)
    - overwrite: H, Y, dH updated in place (+=, *=) in the array the statement made or in one no longer needed, not a new array per operation
    - rows-matmul: a batched value times a weight is one 2-D product over all its rows
    - in-place functions: each scalar function computes in buffers of its own (kept between calls)
    - liveness: every array is released after its last use (del); the backward drops its cache
"""
import math
import threading
import time

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


def _erf(x):
    """The error function, entrywise, in ``x``'s dtype."""
    return np.vectorize(math.erf, otypes=[x.dtype])(x)


#: A fused kernel is compiled on its first call for its arrays' dtype and layout, and kept on disk beside
#: this module (``cache=True``, when the module is a file), so another process loads it instead.  Sums may
#: be reassociated and a product added in one step (``reassoc``, ``contract``: within rounding, so the loops
#: vectorise); NaN and infinity keep their IEEE meaning, and a division by zero gives inf, as in NumPy.
_kernel = numba.njit(cache="__file__" in globals(), nogil=True, error_model="numpy",
                     fastmath={"reassoc", "contract"})
_COMPILE_SECONDS = [0.0]


def _launch(kernel, *args):
    """Run ``kernel``; a call that compiled it (or loaded it from the cache) adds its time to
    ``compile_seconds()``."""
    known = len(kernel.signatures)
    start = time.perf_counter()
    kernel(*args)
    if len(kernel.signatures) > known:
        _COMPILE_SECONDS[0] += time.perf_counter() - start


def compile_seconds():
    """Seconds this process has spent compiling the fused kernels (or loading them from the cache)."""
    return _COMPILE_SECONDS[0]


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


def _side_by_side(*blocks):
    """The blocks side by side along the last axis: the array they are adjacent column blocks of when
    they are (a fused weight given in parts, as GPT-2's c_attn), else a new array."""
    first, widths = blocks[0], [b.shape[-1] for b in blocks]
    total = sum(widths)
    if first.ndim == 2 and all(b.ndim == 2 and b.shape[0] == first.shape[0] and b.strides == first.strides
                               for b in blocks) and first.strides[0] == total * first.itemsize \
            and first.strides[1] == first.itemsize and first.base is not None:
        start = first.__array_interface__["data"][0]
        offsets = [b.__array_interface__["data"][0] - start for b in blocks]
        if offsets == [sum(widths[:i]) * first.itemsize for i in range(len(blocks))]:
            return np.lib.stride_tricks.as_strided(first, (first.shape[0], total), first.strides, writeable=False)
    return np.concatenate(blocks, axis=-1)


def _gelu(x, times=None):
    """Computed in buffers of its own, each operation in place; ``times``: multiplied into it."""
    b1 = _erf(0.7071067811865476*x)
    b1 += 1.0
    np.multiply(b1, x, out=b1)
    b1 *= 0.5
    if times is None:
        return b1
    times *= b1
    return times


def _gelu_grad(x, times=None):
    """Computed in buffers of its own, each operation in place; ``times``: multiplied into it."""
    b1 = np.square(x, out=None if times is None else _scratch("gelu_grad.b1", x))
    b1 *= -0.5
    np.exp(b1, out=b1)
    np.multiply(b1, x, out=b1)
    b1 *= 0.7978845608028654
    b2 = _erf(0.7071067811865476*x)
    np.add(b1, b2, out=b1)
    b1 += 1.0
    b1 *= 0.5
    if times is None:
        return b1
    times *= b1
    return times


def _gelu_tanh(x, times=None):
    """Computed in buffers of its own, each operation in place; ``times``: multiplied into it."""
    b1 = np.square(x, out=None if times is None else _scratch("gelu_tanh.b1", x))
    b1 *= 0.035677408136300125
    b1 += 0.7978845608028654
    np.multiply(b1, x, out=b1)
    np.tanh(b1, out=b1)
    b1 += 1.0
    np.multiply(b1, x, out=b1)
    b1 *= 0.5
    if times is None:
        return b1
    times *= b1
    return times


def _gelu_tanh_grad(x, times=None):
    """Computed in buffers of its own, each operation in place; ``times``: multiplied into it."""
    t0 = np.square(x, out=_scratch("gelu_tanh_grad.t0", x))
    t1 = np.multiply(t0, 0.035677408136300125, out=_scratch("gelu_tanh_grad.t1", x))
    t1 += 0.7978845608028654
    np.multiply(t1, x, out=t1)
    np.tanh(t1, out=t1)
    b3 = np.multiply(t1, 0.5, out=None if times is None else _scratch("gelu_tanh_grad.b3", x))
    np.multiply(t0, 0.134145, out=t0)
    t0 += 1.0
    np.square(t1, out=t1)
    t1 += -1.0
    np.multiply(t0, t1, out=t0)
    np.multiply(t0, x, out=t0)
    t0 *= 0.3989422804014327
    np.subtract(b3, t0, out=b3)
    b3 += 0.5
    if times is None:
        return b3
    times *= b3
    return times


def _relu(x, times=None):
    if times is None:
        return np.maximum(x, 0)
    times *= np.maximum(x, 0)
    return times


def _relu_grad(x, times=None):
    if times is None:
        return np.heaviside(x, 0)
    times *= np.heaviside(x, 0)
    return times


_ACTIVATION = {"gelu_tanh": _gelu_tanh, "gelu": _gelu, "relu": _relu}


_ACTIVATION_GRAD = {"gelu_tanh": _gelu_tanh_grad, "gelu": _gelu_grad, "relu": _relu_grad}


@_kernel
def _backward_1_rows(a_dH, o_db_1, n_d_ff):
    """db_1: row by row."""
    T = a_dH.dtype.type
    t_d_ff = T(n_d_ff)
    for r in range(a_dH.shape[0]):
        # grad of b_1, used in: H = X W_1 + 1 b_1ᵀ
        for j in range(n_d_ff):
            o_db_1[j] += a_dH[r, j]


def _backward_1(dH, d_ff):
    """db_1: one pass over the rows of dH (``_backward_1_rows``)."""
    lead = dH.shape[:-1]
    o_db_1 = np.zeros(d_ff, np.float64)
    _launch(_backward_1_rows, dH.reshape(math.prod(dH.shape[:-1]), dH.shape[-1]), o_db_1, d_ff)
    return o_db_1.astype(dH.dtype)


@_kernel
def _backward_2_rows(a_grad_out, o_db_2, n_d):
    """db_2: row by row."""
    T = a_grad_out.dtype.type
    t_d = T(n_d)
    for r in range(a_grad_out.shape[0]):
        # grad of b_2, used in: Y = A W_2 + 1 b_2ᵀ
        for j in range(n_d):
            o_db_2[j] += a_grad_out[r, j]


def _backward_2(grad_out, d):
    """db_2: one pass over the rows of grad_out (``_backward_2_rows``)."""
    lead = grad_out.shape[:-1]
    o_db_2 = np.zeros(d, np.float64)
    _launch(_backward_2_rows, grad_out.reshape(math.prod(grad_out.shape[:-1]), grad_out.shape[-1]), o_db_2, d)
    return o_db_2.astype(grad_out.dtype)


def forward(X, W_1, b_1, W_2, b_2, *, activation='gelu_tanh'):
    """Multi-layer perceptron: returns ``(out, cache)``.

    X: input (..., n_T, d)
    W_1: parameter (d, d_ff): expand weights
    b_1: parameter (d_ff,): expand bias
    W_2: parameter (d_ff, d): contract weights
    b_2: parameter (d,): contract bias
    activation: configuration, default 'gelu_tanh' (one of 'gelu_tanh', 'gelu', 'relu'): elementwise activation between the two layers
    """
    X = np.asarray(X)
    W_1 = np.asarray(W_1)
    b_1 = np.asarray(b_1)
    W_2 = np.asarray(W_2)
    b_2 = np.asarray(b_2)
    dtype, compute_dtype = _check_dtypes({"X": X, "W_1": W_1, "b_1": b_1, "W_2": W_2, "b_2": b_2}, {})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        X = X.astype(compute_dtype, copy=False)
        W_1 = W_1.astype(compute_dtype, copy=False)
        b_1 = b_1.astype(compute_dtype, copy=False)
        W_2 = W_2.astype(compute_dtype, copy=False)
        b_2 = b_2.astype(compute_dtype, copy=False)
    if activation not in ('gelu_tanh', 'gelu', 'relu'):
        raise ValueError("activation must be one of ('gelu_tanh', 'gelu', 'relu'), got " + repr(activation))
    dims = {}
    _check_shape("X", X, ("n_T", "d"), dims, batched=True)
    _check_shape("W_1", W_1, ("d", "d_ff"), dims, batched=False)
    _check_shape("b_1", b_1, ("d_ff",), dims, batched=False)
    _check_shape("W_2", W_2, ("d_ff", "d"), dims, batched=False)
    _check_shape("b_2", b_2, ("d",), dims, batched=False)
    d, d_ff = dims["d"], dims["d_ff"]
    H = _rows_matmul(X, W_1)  # (..., n_T, d_ff), updated in place
    H += b_1
    A = _ACTIVATION[activation](H)  # (..., n_T, d_ff)
    Y = _rows_matmul(A, W_2)  # (..., n_T, d), updated in place
    Y += b_2
    cache = {"X": X, "W_1": W_1, "W_2": W_2, "H": H, "A": A, "activation": activation, "d": d, "d_ff": d_ff, "out_shape": Y.shape, "out_dtype": Y.dtype, "dtype": dtype}
    return Y.astype(dtype, copy=False), cache


def backward(grad_out, cache):
    """Gradients of the loss given ``grad_out`` = ∂L/∂Y: a dict keyed by argument name."""
    X = cache["X"]
    W_1 = cache["W_1"]
    W_2 = cache["W_2"]
    H = cache["H"]
    A = cache["A"]
    activation = cache["activation"]
    d = cache["d"]
    d_ff = cache["d_ff"]
    dtype = cache["dtype"]
    if grad_out.shape != cache["out_shape"]:
        raise ValueError(f"grad_out: expected shape {cache['out_shape']}, got {grad_out.shape}")
    grad_out = grad_out.astype(cache["out_dtype"], copy=False)  # the dtype the forward computed in
    del cache  # each array is released after its last use below
    # grad of A, used in: Y = A W_2 + 1 b_2ᵀ
    dA = _rows_matmul(grad_out, W_2.swapaxes(-1, -2))  # (..., n_T, d_ff)
    # grad of H, used in: A = activation(H)
    dH = dA  # (..., n_T, d_ff), dA's array, updated in place
    dH = _ACTIVATION_GRAD[activation](H, times=dH)
    del H, dA
    # grad of X, used in: H = X W_1 + 1 b_1ᵀ
    dX = _rows_matmul(dH, W_1.swapaxes(-1, -2))  # (..., n_T, d)
    # grad of W_1, used in: H = X W_1 + 1 b_1ᵀ
    dW_1 = X.reshape(-1, d).T @ dH.reshape(-1, d_ff)  # (d, d_ff)
    del X
    # fused: db_1 (one pass over the rows, _backward_1_rows)
    db_1 = _backward_1(dH, d_ff)  # (d_ff,)
    del dH
    # grad of W_2, used in: Y = A W_2 + 1 b_2ᵀ
    dW_2 = A.reshape(-1, d_ff).T @ grad_out.reshape(-1, d)  # (d_ff, d)
    del A
    # fused: db_2 (one pass over the rows, _backward_2_rows)
    db_2 = _backward_2(grad_out, d)  # (d,)
    return {
        "X": dX.astype(dtype, copy=False),
        "W_1": dW_1.astype(dtype, copy=False),
        "b_1": db_1.astype(dtype, copy=False),
        "W_2": dW_2.astype(dtype, copy=False),
        "b_2": db_2.astype(dtype, copy=False),
    }


def _jvp_forward(X, W_1, b_1, W_2, b_2, dX, dW_1, db_1, dW_2, db_2, *, activation='gelu_tanh'):
    """Multi-layer perceptron: returns ``(out, cache)``.

    X: input, frozen (..., n_T, d)
    W_1: parameter, frozen (d, d_ff): expand weights
    b_1: parameter, frozen (d_ff,): expand bias
    W_2: parameter, frozen (d_ff, d): contract weights
    b_2: parameter, frozen (d,): contract bias
    activation: configuration, default 'gelu_tanh' (one of 'gelu_tanh', 'gelu', 'relu'): elementwise activation between the two layers
    dX: input, frozen (..., n_T, d): the tangent of X
    dW_1: parameter, frozen (d, d_ff): the tangent of W_1
    db_1: parameter, frozen (d_ff,): the tangent of b_1
    dW_2: parameter, frozen (d_ff, d): the tangent of W_2
    db_2: parameter, frozen (d,): the tangent of b_2
    """
    X = np.asarray(X)
    W_1 = np.asarray(W_1)
    b_1 = np.asarray(b_1)
    W_2 = np.asarray(W_2)
    b_2 = np.asarray(b_2)
    dX = np.asarray(dX)
    dW_1 = np.asarray(dW_1)
    db_1 = np.asarray(db_1)
    dW_2 = np.asarray(dW_2)
    db_2 = np.asarray(db_2)
    dtype, compute_dtype = _check_dtypes({"X": X, "W_1": W_1, "b_1": b_1, "W_2": W_2, "b_2": b_2, "dX": dX, "dW_1": dW_1, "db_1": db_1, "dW_2": dW_2, "db_2": db_2}, {})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        X = X.astype(compute_dtype, copy=False)
        W_1 = W_1.astype(compute_dtype, copy=False)
        b_1 = b_1.astype(compute_dtype, copy=False)
        W_2 = W_2.astype(compute_dtype, copy=False)
        b_2 = b_2.astype(compute_dtype, copy=False)
        dX = dX.astype(compute_dtype, copy=False)
        dW_1 = dW_1.astype(compute_dtype, copy=False)
        db_1 = db_1.astype(compute_dtype, copy=False)
        dW_2 = dW_2.astype(compute_dtype, copy=False)
        db_2 = db_2.astype(compute_dtype, copy=False)
    if activation not in ('gelu_tanh', 'gelu', 'relu'):
        raise ValueError("activation must be one of ('gelu_tanh', 'gelu', 'relu'), got " + repr(activation))
    dims = {}
    _check_shape("X", X, ("n_T", "d"), dims, batched="shared")
    _check_shape("W_1", W_1, ("d", "d_ff"), dims, batched=False)
    _check_shape("b_1", b_1, ("d_ff",), dims, batched=False)
    _check_shape("W_2", W_2, ("d_ff", "d"), dims, batched=False)
    _check_shape("b_2", b_2, ("d",), dims, batched=False)
    _check_shape("dX", dX, ("n_T", "d"), dims, batched="shared")
    _check_shape("dW_1", dW_1, ("d", "d_ff"), dims, batched=False)
    _check_shape("db_1", db_1, ("d_ff",), dims, batched=False)
    _check_shape("dW_2", dW_2, ("d_ff", "d"), dims, batched=False)
    _check_shape("db_2", db_2, ("d",), dims, batched=False)
    X, dX = _broadcast_batches({"X": X, "dX": dX}, {"X": 2, "dX": 2}, dims)
    d_ff = dims["d_ff"]
    W_1_dW_1 = _side_by_side(W_1, dW_1)  # (d, 2*d_ff)
    X_W_1_dW_1 = _rows_matmul(X, W_1_dW_1)  # (..., n_T, 2*d_ff)
    del W_1_dW_1
    H = X_W_1_dW_1[..., 0:d_ff] + b_1  # (..., n_T, d_ff)
    A = _ACTIVATION[activation](H)  # (..., n_T, d_ff)
    dH = _rows_matmul(dX, W_1) + X_W_1_dW_1[..., d_ff:2*d_ff] + db_1  # (..., n_T, d_ff)
    del X_W_1_dW_1
    dA = dH  # (..., n_T, d_ff), dH's array, updated in place
    dA = _ACTIVATION_GRAD[activation](H, times=dA)
    del H, dH
    dY = _rows_matmul(dA, W_2)  # (..., n_T, d), updated in place
    dY += _rows_matmul(A, dW_2)
    dY += db_2
    del A, dA
    cache = {"out_shape": dY.shape, "out_dtype": dY.dtype, "dtype": dtype}
    return dY.astype(dtype, copy=False), cache


def jvp(X, W_1, b_1, W_2, b_2, dX=None, dW_1=None, db_1=None, dW_2=None, db_2=None, *, activation='gelu_tanh'):
    """The tangent of Y for the arguments' tangents: forward mode, pushed forward from each
    primitive's differential (``backprop show mlp --jvp``).

    dX: the tangent of X (its shape; None for zero)
    dW_1: the tangent of W_1 (its shape; None for zero)
    db_1: the tangent of b_1 (its shape; None for zero)
    dW_2: the tangent of W_2 (its shape; None for zero)
    db_2: the tangent of b_2 (its shape; None for zero)
    """
    if dX is None:  # no tangent: zero
        dX = np.zeros_like(np.asarray(X))
    if dW_1 is None:  # no tangent: zero
        dW_1 = np.zeros_like(np.asarray(W_1))
    if db_1 is None:  # no tangent: zero
        db_1 = np.zeros_like(np.asarray(b_1))
    if dW_2 is None:  # no tangent: zero
        dW_2 = np.zeros_like(np.asarray(W_2))
    if db_2 is None:  # no tangent: zero
        db_2 = np.zeros_like(np.asarray(b_2))
    return _jvp_forward(X, W_1, b_1, W_2, b_2, dX, dW_1, db_1, dW_2, db_2, activation=activation)[0]
