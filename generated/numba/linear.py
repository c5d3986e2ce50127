# GENERATED FILE: DO NOT EDIT.
# Derived by pedestrian-backprop from the forward definition in derive/components/linear.py.
# Regenerate with: backprop generate --target numba
"""Fully connected layer (`linear`): forward pass and derived backward pass.

Forward definition (one sequence; inputs may carry leading batch dimensions):
    Y = X W + 1 bᵀ

Gradients, as derived:
    ∂L/∂X = Δ_Y Wᵀ
    ∂L/∂W = Σ_batch (Xᵀ Δ_Y)
    ∂L/∂b = Σ_batch (1ᵀ Δ_Y)

Optimisations (each keeps the values within rounding):
    - fused: 1 runs of entrywise statements and row reductions, each one Numba kernel making one pass over the rows (_backward_1)
    - overwrite: Y updated in place (+=, *=) in the array the statement made or in one no longer needed, not a new array per operation
    - rows-matmul: a batched value times a weight is one 2-D product over all its rows
    - liveness: every array is released after its last use (del); the backward drops its cache
"""
import math
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


@_kernel
def _backward_1_rows(a_grad_out, o_db, n_d_out):
    """db: row by row."""
    T = a_grad_out.dtype.type
    t_d_out = T(n_d_out)
    for r in range(a_grad_out.shape[0]):
        # grad of b, used in: Y = X W + 1 bᵀ
        for j in range(n_d_out):
            o_db[j] += a_grad_out[r, j]


def _backward_1(grad_out, d_out):
    """db: one pass over the rows of grad_out (``_backward_1_rows``)."""
    lead = grad_out.shape[:-1]
    o_db = np.zeros(d_out, np.float64)
    _launch(_backward_1_rows, grad_out.reshape(math.prod(grad_out.shape[:-1]), grad_out.shape[-1]), o_db, d_out)
    return o_db.astype(grad_out.dtype)


def forward(X, W, b):
    """Fully connected layer: returns ``(out, cache)``.

    X: input (..., n_T, d_in): one row per token
    W: parameter (d_in, d_out): weights
    b: parameter (d_out,): bias, broadcast over tokens
    """
    X = np.asarray(X)
    W = np.asarray(W)
    b = np.asarray(b)
    dtype, compute_dtype = _check_dtypes({"X": X, "W": W, "b": b}, {})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        X = X.astype(compute_dtype, copy=False)
        W = W.astype(compute_dtype, copy=False)
        b = b.astype(compute_dtype, copy=False)
    dims = {}
    _check_shape("X", X, ("n_T", "d_in"), dims, batched=True)
    _check_shape("W", W, ("d_in", "d_out"), dims, batched=False)
    _check_shape("b", b, ("d_out",), dims, batched=False)
    d_in, d_out = dims["d_in"], dims["d_out"]
    Y = _rows_matmul(X, W)  # (..., n_T, d_out), updated in place
    Y += b
    cache = {"X": X, "W": W, "d_in": d_in, "d_out": d_out, "out_shape": Y.shape, "out_dtype": Y.dtype, "dtype": dtype}
    return Y.astype(dtype, copy=False), cache


def backward(grad_out, cache):
    """Gradients of the loss given ``grad_out`` = ∂L/∂Y: a dict keyed by argument name."""
    X = cache["X"]
    W = cache["W"]
    d_in = cache["d_in"]
    d_out = cache["d_out"]
    dtype = cache["dtype"]
    if grad_out.shape != cache["out_shape"]:
        raise ValueError(f"grad_out: expected shape {cache['out_shape']}, got {grad_out.shape}")
    grad_out = grad_out.astype(cache["out_dtype"], copy=False)  # the dtype the forward computed in
    del cache  # each array is released after its last use below
    # grad of X, used in: Y = X W + 1 bᵀ
    dX = _rows_matmul(grad_out, W.swapaxes(-1, -2))  # (..., n_T, d_in)
    # grad of W, used in: Y = X W + 1 bᵀ
    dW = X.reshape(-1, d_in).T @ grad_out.reshape(-1, d_out)  # (d_in, d_out)
    del X
    # fused: db (one pass over the rows, _backward_1_rows)
    db = _backward_1(grad_out, d_out)  # (d_out,)
    return {
        "X": dX.astype(dtype, copy=False),
        "W": dW.astype(dtype, copy=False),
        "b": db.astype(dtype, copy=False),
    }


def _jvp_forward(X, W, b, dX, dW, db):
    """Fully connected layer: returns ``(out, cache)``.

    X: input, frozen (..., n_T, d_in): one row per token
    W: parameter, frozen (d_in, d_out): weights
    b: parameter, frozen (d_out,): bias, broadcast over tokens
    dX: input, frozen (..., n_T, d_in): the tangent of X
    dW: parameter, frozen (d_in, d_out): the tangent of W
    db: parameter, frozen (d_out,): the tangent of b
    """
    X = np.asarray(X)
    W = np.asarray(W)
    b = np.asarray(b)
    dX = np.asarray(dX)
    dW = np.asarray(dW)
    db = np.asarray(db)
    dtype, compute_dtype = _check_dtypes({"X": X, "W": W, "b": b, "dX": dX, "dW": dW, "db": db}, {})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        X = X.astype(compute_dtype, copy=False)
        W = W.astype(compute_dtype, copy=False)
        b = b.astype(compute_dtype, copy=False)
        dX = dX.astype(compute_dtype, copy=False)
        dW = dW.astype(compute_dtype, copy=False)
        db = db.astype(compute_dtype, copy=False)
    dims = {}
    _check_shape("X", X, ("n_T", "d_in"), dims, batched="shared")
    _check_shape("W", W, ("d_in", "d_out"), dims, batched=False)
    _check_shape("b", b, ("d_out",), dims, batched=False)
    _check_shape("dX", dX, ("n_T", "d_in"), dims, batched="shared")
    _check_shape("dW", dW, ("d_in", "d_out"), dims, batched=False)
    _check_shape("db", db, ("d_out",), dims, batched=False)
    X, dX = _broadcast_batches({"X": X, "dX": dX}, {"X": 2, "dX": 2}, dims)
    dY = _rows_matmul(dX, W)  # (..., n_T, d_out), updated in place
    dY += _rows_matmul(X, dW)
    dY += db
    cache = {"out_shape": dY.shape, "out_dtype": dY.dtype, "dtype": dtype}
    return dY.astype(dtype, copy=False), cache


def jvp(X, W, b, dX=None, dW=None, db=None):
    """The tangent of Y for the arguments' tangents: forward mode, pushed forward from each
    primitive's differential (``backprop show linear --jvp``).

    dX: the tangent of X (its shape; None for zero)
    dW: the tangent of W (its shape; None for zero)
    db: the tangent of b (its shape; None for zero)
    """
    if dX is None:  # no tangent: zero
        dX = np.zeros_like(np.asarray(X))
    if dW is None:  # no tangent: zero
        dW = np.zeros_like(np.asarray(W))
    if db is None:  # no tangent: zero
        db = np.zeros_like(np.asarray(b))
    return _jvp_forward(X, W, b, dX, dW, db)[0]
