# GENERATED FILE: DO NOT EDIT.
# Derived by pedestrian-backprop from the forward definition in derive/components/layernorm.py.
# Regenerate with: backprop generate --target numba
"""Layer normalisation (`layernorm`): forward pass and derived backward pass.

Forward definition (one sequence; inputs may carry leading batch dimensions):
    mu = (1/d) X 1
    Xc = X − mu 1ᵀ
    var = (1/d) (Xc ∘ Xc) 1
    sigma = sqrt(eps + var)
    Xbar = ((1/sigma) 1ᵀ) ∘ Xc
    Y = Xbar ∘ (1 wᵀ) + 1 bᵀ

Gradients, as derived:
    ∂L/∂X = Δ_Xc + (1/d) Δ_mu 1ᵀ
    ∂L/∂w = Σ_batch (1ᵀ (Δ_Y ∘ Xbar))
    ∂L/∂b = Σ_batch (1ᵀ Δ_Y)

Optimisations (each keeps the values within rounding):
    - read-forward-values: the backward reads Xc, var through other forward values, so the cache does not hold them
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
def _backward_1_rows(a_grad_out, a_w, a_sigma, a_Xbar, o_dX, o_dw, o_db, n_d):
    """dXbar, t1, dsigma, dvar, dXc, dmu, dX, dw, db: row by row."""
    T = a_grad_out.dtype.type
    t_d = T(n_d)
    k1 = T(0.5)
    k2 = T(2)/t_d
    k3 = (T(1) / (t_d))
    b_dXbar = np.empty(n_d, a_grad_out.dtype)
    b_dXc = np.empty(n_d, a_grad_out.dtype)
    for r in range(a_grad_out.shape[0]):
        # grad of Xbar, used in: Y = Xbar ∘ (1 wᵀ) + 1 bᵀ
        for j in range(n_d):
            b_dXbar[j] = (a_grad_out[r, j] * a_w[j])
        # common subexpression
        x1 = a_sigma[r, 0]
        v_t1 = ((T(1) / (x1)))
        # grad of sigma, used in: Xbar = ((1/sigma) 1ᵀ) ∘ Xc
        s2 = 0.0
        for j in range(n_d):
            s2 += (b_dXbar[j] * a_Xbar[r, j])
        v_dsigma = (-(v_t1 * T(s2)))
        # grad of var, used in: sigma = sqrt(eps + var)
        v_dvar = (k1 * (v_dsigma * v_t1))
        # grad of Xc, used in: var = (1/d) (Xc ∘ Xc) 1; Xbar = ((1/sigma) 1ᵀ) ∘ Xc
        for j in range(n_d):
            b_dXc[j] = ((b_dXbar[j] * v_t1) + (k2 * ((v_dvar * a_sigma[r, 0]) * a_Xbar[r, j])))
        # grad of mu, used in: Xc = X − mu 1ᵀ
        s3 = 0.0
        for j in range(n_d):
            s3 += b_dXc[j]
        v_dmu = (-T(s3))
        # grad of X, used in: mu = (1/d) X 1; Xc = X − mu 1ᵀ
        for j in range(n_d):
            o_dX[r, j] = (b_dXc[j] + (k3 * v_dmu))
        # grad of w, used in: Y = Xbar ∘ (1 wᵀ) + 1 bᵀ
        for j in range(n_d):
            o_dw[j] += (a_grad_out[r, j] * a_Xbar[r, j])
        # grad of b, used in: Y = Xbar ∘ (1 wᵀ) + 1 bᵀ
        for j in range(n_d):
            o_db[j] += a_grad_out[r, j]


def _backward_1(grad_out, w, sigma, Xbar, d):
    """dX, dw, db: one pass over the rows of grad_out (``_backward_1_rows``)."""
    lead = grad_out.shape[:-1]
    o_dX = np.empty(lead + (d,), grad_out.dtype)
    o_dw = np.zeros(d, np.float64)
    o_db = np.zeros(d, np.float64)
    _launch(_backward_1_rows, grad_out.reshape(math.prod(grad_out.shape[:-1]), grad_out.shape[-1]), w, sigma.reshape(math.prod(sigma.shape[:-1]), sigma.shape[-1]), Xbar.reshape(math.prod(Xbar.shape[:-1]), Xbar.shape[-1]), o_dX.reshape(math.prod(o_dX.shape[:-1]), o_dX.shape[-1]), o_dw, o_db, d)
    return o_dX, o_dw.astype(grad_out.dtype), o_db.astype(grad_out.dtype)


@_kernel
def _forward_2_rows(a_X, a_w, a_b, o_sigma, o_Xbar, o_Y, n_d, n_eps):
    """mu, Xc, var, sigma, Xbar, Y: row by row."""
    T = a_X.dtype.type
    t_d = T(n_d)
    t_eps = T(n_eps)
    k1 = (T(1) / (t_d))
    k2 = (T(1) / (t_d))
    b_Xc = np.empty(n_d, a_X.dtype)
    for r in range(a_X.shape[0]):
        # per-token mean
        s1 = 0.0
        for j in range(n_d):
            s1 += a_X[r, j]
        v_mu = (k1 * T(s1))
        # centred input
        for j in range(n_d):
            b_Xc[j] = (a_X[r, j] + (-v_mu))
        # per-token variance
        s2 = 0.0
        for j in range(n_d):
            s2 += (b_Xc[j] * b_Xc[j])
        v_var = (k2 * T(s2))
        # per-token standard deviation
        x3 = v_var
        v_sigma = (math.sqrt(t_eps + x3))
        o_sigma[r, 0] = v_sigma
        # normalised input
        x4 = v_sigma
        for j in range(n_d):
            o_Xbar[r, j] = (((T(1) / (x4))) * b_Xc[j])
        for j in range(n_d):
            o_Y[r, j] = ((o_Xbar[r, j] * a_w[j]) + a_b[j])


def _forward_2(X, w, b, d, eps):
    """sigma, Xbar, Y: one pass over the rows of X (``_forward_2_rows``)."""
    lead = X.shape[:-1]
    o_sigma = np.empty(lead + (1,), X.dtype)
    o_Xbar = np.empty(lead + (d,), X.dtype)
    o_Y = np.empty(lead + (d,), X.dtype)
    _launch(_forward_2_rows, X.reshape(math.prod(X.shape[:-1]), X.shape[-1]), w, b, o_sigma.reshape(math.prod(o_sigma.shape[:-1]), o_sigma.shape[-1]), o_Xbar.reshape(math.prod(o_Xbar.shape[:-1]), o_Xbar.shape[-1]), o_Y.reshape(math.prod(o_Y.shape[:-1]), o_Y.shape[-1]), d, eps)
    return o_sigma, o_Xbar, o_Y


@_kernel
def _jvp_forward_3_rows(a_X, a_dX, a_w, a_dw, a_db, o_dY, n_d, n_eps):
    """mu, Xc, var, sigma, Xbar, dmu, dXc, dvar, dsigma, dXbar, dY: row by row."""
    T = a_X.dtype.type
    t_d = T(n_d)
    t_eps = T(n_eps)
    k1 = (T(1) / (t_d))
    k2 = (T(1) / (t_d))
    k3 = (T(1) / (t_d))
    k4 = (T(1) / (t_d))
    b_Xc = np.empty(n_d, a_X.dtype)
    b_Xbar = np.empty(n_d, a_X.dtype)
    b_dXc = np.empty(n_d, a_X.dtype)
    b_dXbar = np.empty(n_d, a_X.dtype)
    for r in range(a_X.shape[0]):
        # per-token mean
        s1 = 0.0
        for j in range(n_d):
            s1 += a_X[r, j]
        v_mu = (k1 * T(s1))
        # centred input
        for j in range(n_d):
            b_Xc[j] = (a_X[r, j] + (-v_mu))
        # per-token variance
        s2 = 0.0
        for j in range(n_d):
            s2 += (b_Xc[j] * b_Xc[j])
        v_var = (k2 * T(s2))
        # per-token standard deviation
        x3 = v_var
        v_sigma = (math.sqrt(t_eps + x3))
        # normalised input
        x4 = v_sigma
        for j in range(n_d):
            b_Xbar[j] = (((T(1) / (x4))) * b_Xc[j])
        # the tangent of mu
        s5 = 0.0
        for j in range(n_d):
            s5 += a_dX[r, j]
        v_dmu = (k3 * T(s5))
        # the tangent of Xc
        for j in range(n_d):
            b_dXc[j] = (a_dX[r, j] + (-v_dmu))
        # the tangent of var
        s6 = 0.0
        for j in range(n_d):
            s6 += (b_dXc[j] * b_Xc[j])
        s7 = 0.0
        for j in range(n_d):
            s7 += (b_Xc[j] * b_dXc[j])
        v_dvar = (k4 * (T(s6) + T(s7)))
        # the tangent of sigma
        x8 = v_var
        v_dsigma = (((T(0.5))/math.sqrt(t_eps + x8)) * v_dvar)
        # the tangent of Xbar
        x9 = v_sigma
        x10 = v_sigma
        for j in range(n_d):
            b_dXbar[j] = ((((-T(1)/(x9 * x9)) * v_dsigma) * b_Xc[j]) + (((T(1) / (x10))) * b_dXc[j]))
        # the tangent of Y
        for j in range(n_d):
            o_dY[r, j] = ((b_dXbar[j] * a_w[j]) + (b_Xbar[j] * a_dw[j]) + a_db[j])


def _jvp_forward_3(X, dX, w, dw, db, d, eps):
    """dY: one pass over the rows of X (``_jvp_forward_3_rows``)."""
    lead = X.shape[:-1]
    o_dY = np.empty(lead + (d,), X.dtype)
    _launch(_jvp_forward_3_rows, X.reshape(math.prod(X.shape[:-1]), X.shape[-1]), dX.reshape(math.prod(dX.shape[:-1]), dX.shape[-1]), w, dw, db, o_dY.reshape(math.prod(o_dY.shape[:-1]), o_dY.shape[-1]), d, eps)
    return o_dY


def forward(X, w, b, *, eps=1e-05):
    """Layer normalisation: returns ``(out, cache)``.

    X: input (..., n_T, d)
    w: parameter (d,): scale
    b: parameter (d,): shift
    eps: configuration, default 1e-05: added to the variance; 0 reproduces the paper
    """
    X = np.asarray(X)
    w = np.asarray(w)
    b = np.asarray(b)
    dtype, compute_dtype = _check_dtypes({"X": X, "w": w, "b": b}, {})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        X = X.astype(compute_dtype, copy=False)
        w = w.astype(compute_dtype, copy=False)
        b = b.astype(compute_dtype, copy=False)
    eps = _check_number("eps", eps)
    dims = {}
    _check_shape("X", X, ("n_T", "d"), dims, batched=True)
    _check_shape("w", w, ("d",), dims, batched=False)
    _check_shape("b", b, ("d",), dims, batched=False)
    d = dims["d"]
    sigma, Xbar, Y = _forward_2(X, w, b, d, eps)  # (..., n_T, 1), (..., n_T, d), (..., n_T, d)
    cache = {"w": w, "sigma": sigma, "Xbar": Xbar, "d": d, "out_shape": Y.shape, "out_dtype": Y.dtype, "dtype": dtype}
    return Y.astype(dtype, copy=False), cache


def backward(grad_out, cache):
    """Gradients of the loss given ``grad_out`` = ∂L/∂Y: a dict keyed by argument name."""
    w = cache["w"]
    sigma = cache["sigma"]
    Xbar = cache["Xbar"]
    d = cache["d"]
    dtype = cache["dtype"]
    if grad_out.shape != cache["out_shape"]:
        raise ValueError(f"grad_out: expected shape {cache['out_shape']}, got {grad_out.shape}")
    grad_out = grad_out.astype(cache["out_dtype"], copy=False)  # the dtype the forward computed in
    del cache  # each array is released after its last use below
    # fused: dXbar, t1, dsigma, dvar, dXc, dmu, dX, dw, db (one pass over the rows, _backward_1_rows)
    dX, dw, db = _backward_1(grad_out, w, sigma, Xbar, d)  # (..., n_T, d), (d,), (d,)
    del Xbar, sigma
    return {
        "X": dX.astype(dtype, copy=False),
        "w": dw.astype(dtype, copy=False),
        "b": db.astype(dtype, copy=False),
    }


def _jvp_forward(X, w, b, dX, dw, db, *, eps=1e-05):
    """Layer normalisation: returns ``(out, cache)``.

    X: input, frozen (..., n_T, d)
    w: parameter, frozen (d,): scale
    b: parameter, frozen (d,): shift
    eps: configuration, default 1e-05: added to the variance; 0 reproduces the paper
    dX: input, frozen (..., n_T, d): the tangent of X
    dw: parameter, frozen (d,): the tangent of w
    db: parameter, frozen (d,): the tangent of b
    """
    X = np.asarray(X)
    w = np.asarray(w)
    b = np.asarray(b)
    dX = np.asarray(dX)
    dw = np.asarray(dw)
    db = np.asarray(db)
    dtype, compute_dtype = _check_dtypes({"X": X, "w": w, "b": b, "dX": dX, "dw": dw, "db": db}, {})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        X = X.astype(compute_dtype, copy=False)
        w = w.astype(compute_dtype, copy=False)
        b = b.astype(compute_dtype, copy=False)
        dX = dX.astype(compute_dtype, copy=False)
        dw = dw.astype(compute_dtype, copy=False)
        db = db.astype(compute_dtype, copy=False)
    eps = _check_number("eps", eps)
    dims = {}
    _check_shape("X", X, ("n_T", "d"), dims, batched="shared")
    _check_shape("w", w, ("d",), dims, batched=False)
    _check_shape("b", b, ("d",), dims, batched=False)
    _check_shape("dX", dX, ("n_T", "d"), dims, batched="shared")
    _check_shape("dw", dw, ("d",), dims, batched=False)
    _check_shape("db", db, ("d",), dims, batched=False)
    X, dX = _broadcast_batches({"X": X, "dX": dX}, {"X": 2, "dX": 2}, dims)
    d = dims["d"]
    dY = _jvp_forward_3(X, dX, w, dw, db, d, eps)  # (..., n_T, d)
    cache = {"out_shape": dY.shape, "out_dtype": dY.dtype, "dtype": dtype}
    return dY.astype(dtype, copy=False), cache


def jvp(X, w, b, dX=None, dw=None, db=None, *, eps=1e-05):
    """The tangent of Y for the arguments' tangents: forward mode, pushed forward from each
    primitive's differential (``backprop show layernorm --jvp``).

    dX: the tangent of X (its shape; None for zero)
    dw: the tangent of w (its shape; None for zero)
    db: the tangent of b (its shape; None for zero)
    """
    if dX is None:  # no tangent: zero
        dX = np.zeros_like(np.asarray(X))
    if dw is None:  # no tangent: zero
        dw = np.zeros_like(np.asarray(w))
    if db is None:  # no tangent: zero
        db = np.zeros_like(np.asarray(b))
    return _jvp_forward(X, w, b, dX, dw, db, eps=eps)[0]
