# GENERATED FILE: DO NOT EDIT.
# Derived by pedestrian-backprop from the forward definition in derive/components/layernorm.py.
# Regenerate with: backprop generate --target numpy
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
    - overwrite: mu, var, sigma, Xbar, Y, dvar, dXc, dX updated in place (+=, *=) in the array the statement made or in one no longer needed, not a new array per operation
    - liveness: every array is released after its last use (del); the backward drops its cache
"""
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


def _row_dot(A, B):
    """(A ∘ B) 1, (..., n, 1): each row's dot product, contracted by ``einsum`` without the product
    array (about four times faster than multiplying and summing)."""
    return np.einsum("...i,...i->...", A, B)[..., None]


def _column_dot(A, B):
    """Σ_batch 1ᵀ (A ∘ B), (d,): each column's dot product over every row of the batch."""
    return np.einsum("ij,ij->j", A.reshape(-1, A.shape[-1]), B.reshape(-1, B.shape[-1]))


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
    mu = X.sum(axis=-1, keepdims=True)  # (..., n_T, 1), updated in place
    mu *= 1/d
    Xc = X - mu  # (..., n_T, d)
    del mu
    var = _row_dot(Xc, Xc)  # (..., n_T, 1), updated in place
    var *= 1/d
    sigma = var  # (..., n_T, 1), var's array, updated in place
    sigma += eps
    np.sqrt(sigma, out=sigma)
    del var
    Xbar = Xc  # (..., n_T, d), Xc's array, updated in place
    Xbar *= 1/sigma
    del Xc
    Y = Xbar * w  # (..., n_T, d), updated in place
    Y += b
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
    # grad of Xbar, used in: Y = Xbar ∘ (1 wᵀ) + 1 bᵀ
    dXbar = grad_out * w  # (..., n_T, d)
    # common subexpression
    t1 = 1/sigma  # (..., n_T, 1)
    # grad of sigma, used in: Xbar = ((1/sigma) 1ᵀ) ∘ Xc
    dsigma = -(t1 * _row_dot(dXbar, Xbar))  # (..., n_T, 1)
    # grad of var, used in: sigma = sqrt(eps + var)
    dvar = dsigma  # (..., n_T, 1), dsigma's array, updated in place
    dvar *= t1
    dvar *= 1/2
    del dsigma
    # grad of Xc, used in: var = (1/d) (Xc ∘ Xc) 1; Xbar = ((1/sigma) 1ᵀ) ∘ Xc
    dXc = dXbar  # (..., n_T, d), dXbar's array, updated in place
    dXc *= t1
    dXc += 2/d * ((dvar * sigma) * Xbar)
    del dXbar, dvar, sigma, t1
    # grad of mu, used in: Xc = X − mu 1ᵀ
    dmu = -dXc.sum(axis=-1, keepdims=True)  # (..., n_T, 1)
    # grad of X, used in: mu = (1/d) X 1; Xc = X − mu 1ᵀ
    dX = dXc  # (..., n_T, d), dXc's array, updated in place
    dX += 1/d * dmu
    del dXc, dmu
    # grad of w, used in: Y = Xbar ∘ (1 wᵀ) + 1 bᵀ
    dw = _column_dot(grad_out, Xbar)  # (d,)
    del Xbar
    # grad of b, used in: Y = Xbar ∘ (1 wᵀ) + 1 bᵀ
    db = grad_out.reshape(-1, d).sum(axis=0)  # (d,)
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
    mu = X.sum(axis=-1, keepdims=True)  # (..., n_T, 1), updated in place
    mu *= 1/d
    Xc = X - mu  # (..., n_T, d)
    del mu
    var = _row_dot(Xc, Xc)  # (..., n_T, 1), updated in place
    var *= 1/d
    sigma = eps + var  # (..., n_T, 1), updated in place
    np.sqrt(sigma, out=sigma)
    Xbar = (1/sigma) * Xc  # (..., n_T, d)
    dmu = dX.sum(axis=-1, keepdims=True)  # (..., n_T, 1), updated in place
    dmu *= 1/d
    dXc = dX - dmu  # (..., n_T, d)
    del dmu
    dvar = _row_dot(dXc, Xc)  # (..., n_T, 1), updated in place
    dvar += _row_dot(Xc, dXc)
    dvar *= 1/d
    dsigma = dvar  # (..., n_T, 1), dvar's array, updated in place
    dsigma *= (1/2)/np.sqrt(eps + var)
    del dvar, var
    dXbar = Xc  # (..., n_T, d), Xc's array, updated in place
    dXbar *= (-1/sigma**2) * dsigma
    dXbar += (1/sigma) * dXc
    del Xc, dXc, dsigma, sigma
    dY = dXbar  # (..., n_T, d), dXbar's array, updated in place
    dY *= w
    dY += Xbar * dw
    dY += db
    del Xbar, dXbar
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
