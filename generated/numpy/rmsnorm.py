# GENERATED FILE: DO NOT EDIT.
# Derived by pedestrian-backprop from the forward definition in derive/components/rmsnorm.py.
# Regenerate with: backprop generate --target numpy
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
    - overwrite: ms, Y, dms, dX updated in place (+=, *=) in the array the statement made or in one no longer needed, not a new array per operation
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
    ms = _row_dot(X, X)  # (..., n_T, 1), updated in place
    ms *= 1/d
    r = 1/np.sqrt(eps + ms)  # (..., n_T, 1)
    del ms
    Y = r * X  # (..., n_T, d), updated in place
    Y *= w
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
    # grad of r, used in: Y = (r 1ᵀ) ∘ X ∘ (1 wᵀ)
    dr = (grad_out * X * w).sum(axis=-1, keepdims=True)  # (..., n_T, 1)
    # grad of ms, used in: r = 1/sqrt(eps + ms)
    dms = dr  # (..., n_T, 1), dr's array, updated in place
    dms *= r**3
    dms *= -1/2
    del dr
    # grad of X, used in: ms = (1/d) (X ∘ X) 1; Y = (r 1ᵀ) ∘ X ∘ (1 wᵀ)
    dX = grad_out * r  # (..., n_T, d), updated in place
    dX *= w
    dX += 2/d * (dms * X)
    del dms
    # grad of w, used in: Y = (r 1ᵀ) ∘ X ∘ (1 wᵀ)
    dw = (grad_out * r * X).reshape(-1, d).sum(axis=0)  # (d,)
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
    ms = _row_dot(X, X)  # (..., n_T, 1), updated in place
    ms *= 1/d
    r = 1/np.sqrt(eps + ms)  # (..., n_T, 1)
    dms = _row_dot(dX, X)  # (..., n_T, 1), updated in place
    dms += _row_dot(X, dX)
    dms *= 1/d
    dr = dms  # (..., n_T, 1), dms's array, updated in place
    dr *= -(1/2)/(eps + ms)**(3/2)
    del dms, ms
    dY = dr * X  # (..., n_T, d), updated in place
    dY *= w
    dY += r * dX * w
    dY += r * X * dw
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
