# GENERATED FILE: DO NOT EDIT.
# Derived by pedestrian-backprop from the forward definition in derive/components/rmsnorm.py.
# Regenerate with: backprop generate --target numba
"""RMS normalisation (`rmsnorm`): forward pass and derived backward pass.

Forward definition (one sequence; inputs may carry leading batch dimensions):
    ms = (1/d) (X ∘ X) 1
    r = 1/sqrt(eps + ms)
    Y = (r 1ᵀ) ∘ X ∘ (1 wᵀ)

Gradients, as derived:
    ∂L/∂X = Δ_Y ∘ (r 1ᵀ) ∘ (1 wᵀ) + (2/d) ((Δ_ms 1ᵀ) ∘ X)
    ∂L/∂w = Σ_batch (1ᵀ (Δ_Y ∘ (r 1ᵀ) ∘ X))

Optimisations (each keeps the values within rounding):
    - read-forward-values: the backward reads ms through other forward values, so the cache does not hold it
    - fused: 2 runs of entrywise statements and row reductions, each one Numba kernel making one pass over the rows (_forward_2, _backward_1)
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


def _row_dot(A, B):
    """(A ∘ B) 1, (..., n, 1): each row's dot product, contracted by ``einsum`` without the product
    array (about four times faster than multiplying and summing)."""
    return np.einsum("...i,...i->...", A, B)[..., None]


def _column_dot(A, B):
    """Σ_batch 1ᵀ (A ∘ B), (d,): each column's dot product over every row of the batch."""
    return np.einsum("ij,ij->j", A.reshape(-1, A.shape[-1]), B.reshape(-1, B.shape[-1]))


@_kernel
def _backward_1_rows(a_grad_out, a_X, a_w, a_r, o_dX, o_dw, n_d):
    """dr, dms, dX, dw: row by row."""
    T = a_grad_out.dtype.type
    t_d = T(n_d)
    k1 = T(-1/2)
    k2 = T(2)/t_d
    for r in range(a_grad_out.shape[0]):
        # grad of r, used in: Y = (r 1ᵀ) ∘ X ∘ (1 wᵀ)
        s1 = 0.0
        for j in range(n_d):
            s1 += (a_grad_out[r, j] * a_X[r, j] * a_w[j])
        v_dr = T(s1)
        # grad of ms, used in: r = 1/sqrt(eps + ms)
        x2 = a_r[r, 0]
        v_dms = (k1 * (v_dr * ((x2 * x2 * x2))))
        # grad of X, used in: ms = (1/d) (X ∘ X) 1; Y = (r 1ᵀ) ∘ X ∘ (1 wᵀ)
        for j in range(n_d):
            o_dX[r, j] = ((a_grad_out[r, j] * a_r[r, 0] * a_w[j]) + (k2 * (v_dms * a_X[r, j])))
        # grad of w, used in: Y = (r 1ᵀ) ∘ X ∘ (1 wᵀ)
        for j in range(n_d):
            o_dw[j] += (a_grad_out[r, j] * a_r[r, 0] * a_X[r, j])


def _backward_1(grad_out, X, w, r, d):
    """dX, dw: one pass over the rows of grad_out (``_backward_1_rows``)."""
    lead = grad_out.shape[:-1]
    o_dX = np.empty(lead + (d,), grad_out.dtype)
    o_dw = np.zeros(d, np.float64)
    _launch(_backward_1_rows, grad_out.reshape(math.prod(grad_out.shape[:-1]), grad_out.shape[-1]), X.reshape(math.prod(X.shape[:-1]), X.shape[-1]), w, r.reshape(math.prod(r.shape[:-1]), r.shape[-1]), o_dX.reshape(math.prod(o_dX.shape[:-1]), o_dX.shape[-1]), o_dw, d)
    return o_dX, o_dw.astype(grad_out.dtype)


@_kernel
def _forward_2_rows(a_X, a_w, o_r, o_Y, n_d, n_eps):
    """ms, r, Y: row by row."""
    T = a_X.dtype.type
    t_d = T(n_d)
    t_eps = T(n_eps)
    k1 = (T(1) / (t_d))
    for r in range(a_X.shape[0]):
        # per-token mean square
        s1 = 0.0
        for j in range(n_d):
            s1 += (a_X[r, j] * a_X[r, j])
        v_ms = (k1 * T(s1))
        # per-token reciprocal root mean square
        x2 = v_ms
        v_r = ((T(1) / math.sqrt(t_eps + x2)))
        o_r[r, 0] = v_r
        for j in range(n_d):
            o_Y[r, j] = (v_r * a_X[r, j] * a_w[j])


def _forward_2(X, w, d, eps):
    """r, Y: one pass over the rows of X (``_forward_2_rows``)."""
    lead = X.shape[:-1]
    o_r = np.empty(lead + (1,), X.dtype)
    o_Y = np.empty(lead + (d,), X.dtype)
    _launch(_forward_2_rows, X.reshape(math.prod(X.shape[:-1]), X.shape[-1]), w, o_r.reshape(math.prod(o_r.shape[:-1]), o_r.shape[-1]), o_Y.reshape(math.prod(o_Y.shape[:-1]), o_Y.shape[-1]), d, eps)
    return o_r, o_Y


@_kernel
def _jvp_forward_3_rows(a_X, a_dX, o_ms, o_r, o_dms, n_d, n_eps):
    """ms, r, dms: row by row."""
    T = a_X.dtype.type
    t_d = T(n_d)
    t_eps = T(n_eps)
    k1 = (T(1) / (t_d))
    k2 = (T(1) / (t_d))
    for r in range(a_X.shape[0]):
        # per-token mean square
        s1 = 0.0
        for j in range(n_d):
            s1 += (a_X[r, j] * a_X[r, j])
        v_ms = (k1 * T(s1))
        o_ms[r, 0] = v_ms
        # per-token reciprocal root mean square
        x2 = v_ms
        v_r = ((T(1) / math.sqrt(t_eps + x2)))
        o_r[r, 0] = v_r
        # the tangent of ms
        s3 = 0.0
        for j in range(n_d):
            s3 += (a_dX[r, j] * a_X[r, j])
        s4 = 0.0
        for j in range(n_d):
            s4 += (a_X[r, j] * a_dX[r, j])
        v_dms = (k2 * (T(s3) + T(s4)))
        o_dms[r, 0] = v_dms


def _jvp_forward_3(X, dX, d, eps):
    """ms, r, dms: one pass over the rows of X (``_jvp_forward_3_rows``)."""
    lead = X.shape[:-1]
    o_ms = np.empty(lead + (1,), X.dtype)
    o_r = np.empty(lead + (1,), X.dtype)
    o_dms = np.empty(lead + (1,), X.dtype)
    _launch(_jvp_forward_3_rows, X.reshape(math.prod(X.shape[:-1]), X.shape[-1]), dX.reshape(math.prod(dX.shape[:-1]), dX.shape[-1]), o_ms.reshape(math.prod(o_ms.shape[:-1]), o_ms.shape[-1]), o_r.reshape(math.prod(o_r.shape[:-1]), o_r.shape[-1]), o_dms.reshape(math.prod(o_dms.shape[:-1]), o_dms.shape[-1]), d, eps)
    return o_ms, o_r, o_dms


@_kernel
def _jvp_forward_4_rows(a_dr, a_X, a_w, a_r, a_dX, a_dw, o_dY, n_d):
    """dY: row by row."""
    T = a_dr.dtype.type
    t_d = T(n_d)
    for r in range(a_dr.shape[0]):
        # the tangent of Y
        for j in range(n_d):
            o_dY[r, j] = ((a_dr[r, 0] * a_X[r, j] * a_w[j]) + (a_r[r, 0] * a_dX[r, j] * a_w[j]) + (a_r[r, 0] * a_X[r, j] * a_dw[j]))


def _jvp_forward_4(dr, X, w, r, dX, dw, d):
    """dY: one pass over the rows of dr (``_jvp_forward_4_rows``)."""
    lead = dr.shape[:-1]
    o_dY = np.empty(lead + (d,), dr.dtype)
    _launch(_jvp_forward_4_rows, dr.reshape(math.prod(dr.shape[:-1]), dr.shape[-1]), X.reshape(math.prod(X.shape[:-1]), X.shape[-1]), w, r.reshape(math.prod(r.shape[:-1]), r.shape[-1]), dX.reshape(math.prod(dX.shape[:-1]), dX.shape[-1]), dw, o_dY.reshape(math.prod(o_dY.shape[:-1]), o_dY.shape[-1]), d)
    return o_dY


def forward(X, w, *, eps=1e-06):
    """RMS normalisation: returns ``(out, cache)``.

    X: input (..., n_T, d)
    w: parameter (d,): scale
    eps: configuration, default 1e-06: added to the mean square
    """
    X = np.asarray(X)
    w = np.asarray(w)
    dtype, compute_dtype = _check_dtypes({"X": X, "w": w}, {})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        X = X.astype(compute_dtype, copy=False)
        w = w.astype(compute_dtype, copy=False)
    eps = _check_number("eps", eps)
    dims = {}
    _check_shape("X", X, ("n_T", "d"), dims, batched=True)
    _check_shape("w", w, ("d",), dims, batched=False)
    d = dims["d"]
    r, Y = _forward_2(X, w, d, eps)  # (..., n_T, 1), (..., n_T, d)
    cache = {"X": X, "w": w, "r": r, "d": d, "out_shape": Y.shape, "out_dtype": Y.dtype, "dtype": dtype}
    return Y.astype(dtype, copy=False), cache


def backward(grad_out, cache):
    """Gradients of the loss given ``grad_out`` = ∂L/∂Y: a dict keyed by argument name."""
    X = cache["X"]
    w = cache["w"]
    r = cache["r"]
    d = cache["d"]
    dtype = cache["dtype"]
    if grad_out.shape != cache["out_shape"]:
        raise ValueError(f"grad_out: expected shape {cache['out_shape']}, got {grad_out.shape}")
    grad_out = grad_out.astype(cache["out_dtype"], copy=False)  # the dtype the forward computed in
    del cache  # each array is released after its last use below
    # fused: dr, dms, dX, dw (one pass over the rows, _backward_1_rows)
    dX, dw = _backward_1(grad_out, X, w, r, d)  # (..., n_T, d), (d,)
    del X, r
    return {
        "X": dX.astype(dtype, copy=False),
        "w": dw.astype(dtype, copy=False),
    }


def _jvp_forward(X, w, dX, dw, *, eps=1e-06):
    """RMS normalisation: returns ``(out, cache)``.

    X: input, frozen (..., n_T, d)
    w: parameter, frozen (d,): scale
    eps: configuration, default 1e-06: added to the mean square
    dX: input, frozen (..., n_T, d): the tangent of X
    dw: parameter, frozen (d,): the tangent of w
    """
    X = np.asarray(X)
    w = np.asarray(w)
    dX = np.asarray(dX)
    dw = np.asarray(dw)
    dtype, compute_dtype = _check_dtypes({"X": X, "w": w, "dX": dX, "dw": dw}, {})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        X = X.astype(compute_dtype, copy=False)
        w = w.astype(compute_dtype, copy=False)
        dX = dX.astype(compute_dtype, copy=False)
        dw = dw.astype(compute_dtype, copy=False)
    eps = _check_number("eps", eps)
    dims = {}
    _check_shape("X", X, ("n_T", "d"), dims, batched="shared")
    _check_shape("w", w, ("d",), dims, batched=False)
    _check_shape("dX", dX, ("n_T", "d"), dims, batched="shared")
    _check_shape("dw", dw, ("d",), dims, batched=False)
    X, dX = _broadcast_batches({"X": X, "dX": dX}, {"X": 2, "dX": 2}, dims)
    d = dims["d"]
    ms, r, dms = _jvp_forward_3(X, dX, d, eps)  # (..., n_T, 1), (..., n_T, 1), (..., n_T, 1)
    dr = (-(1/2)/(eps + ms)**(3/2)) * dms  # (..., n_T, 1)
    del dms, ms
    dY = _jvp_forward_4(dr, X, w, r, dX, dw, d)  # (..., n_T, d)
    del dr, r
    cache = {"out_shape": dY.shape, "out_dtype": dY.dtype, "dtype": dtype}
    return dY.astype(dtype, copy=False), cache


def jvp(X, w, dX=None, dw=None, *, eps=1e-06):
    """The tangent of Y for the arguments' tangents: forward mode, pushed forward from each
    primitive's differential (``backprop show rmsnorm --jvp``).

    dX: the tangent of X (its shape; None for zero)
    dw: the tangent of w (its shape; None for zero)
    """
    if dX is None:  # no tangent: zero
        dX = np.zeros_like(np.asarray(X))
    if dw is None:  # no tangent: zero
        dw = np.zeros_like(np.asarray(w))
    return _jvp_forward(X, w, dX, dw, eps=eps)[0]
