# GENERATED FILE: DO NOT EDIT.
# Derived by pedestrian-backprop from the forward definition in derive/components/lora_linear.py.
# Regenerate with: backprop generate --target numba
"""Fully connected layer with a LoRA branch (`lora_linear`): forward pass and derived backward pass.

Forward definition (one sequence; inputs may carry leading batch dimensions):
    Y = X W + 1 bᵀ + (alpha/r) X A B

Gradients, as derived:
    ∂L/∂X = (alpha/r) Δ_Y Bᵀ Aᵀ + Δ_Y Wᵀ
    ∂L/∂A = (alpha/r) Σ_batch (Xᵀ Δ_Y) Bᵀ
    ∂L/∂B = (alpha/r) Aᵀ Σ_batch (Xᵀ Δ_Y)

Optimisations (each keeps the values within rounding):
    - order-chains: X A B: ordered at run time by cost
    - order-chains: Δ_Y Bᵀ Aᵀ: ordered at run time by cost
    - overwrite: dA, dB updated in place (+=, *=) in the array the statement made or in one no longer needed, not a new array per operation
    - rows-matmul: a batched value times a weight is one 2-D product over all its rows
    - liveness: every array is released after its last use (del); the backward drops its cache
"""
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


def _chain(*factors):
    """A₁ @ A₂ @ … in the order that needs the fewest multiplications for these sizes (matrix-chain order)."""
    n = len(factors)
    dims = [factors[0].shape[-2]] + [f.shape[-1] for f in factors]
    cost, split = {}, {}
    for i in range(n):
        cost[i, i] = 0
    for length in range(2, n + 1):
        for i in range(n - length + 1):
            j = i + length - 1
            cost[i, j], split[i, j] = min((cost[i, k] + cost[k + 1, j] + dims[i] * dims[k + 1] * dims[j + 1], k)
                                          for k in range(i, j))

    def product(i, j):
        if i == j:
            return factors[i]
        k = split[i, j]
        return product(i, k) @ product(k + 1, j)

    return product(0, n - 1)


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


def _rows_matmul(A, W):
    """A (..., n, k) @ W (k, m) as one 2-D product over every row of A (one GEMM, not one per sequence)."""
    return (A.reshape(-1, A.shape[-1]) @ W).reshape(A.shape[:-1] + (W.shape[-1],))


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
    dtype, compute_dtype = _check_dtypes({"X": X, "W": W, "b": b, "A": A, "B": B}, {})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        X = X.astype(compute_dtype, copy=False)
        W = W.astype(compute_dtype, copy=False)
        b = b.astype(compute_dtype, copy=False)
        A = A.astype(compute_dtype, copy=False)
        B = B.astype(compute_dtype, copy=False)
    alpha = _check_number("alpha", alpha)
    dims = {}
    _check_shape("X", X, ("n_T", "d_in"), dims, batched=True)
    _check_shape("W", W, ("d_in", "d_out"), dims, batched=False)
    _check_shape("b", b, ("d_out",), dims, batched=False)
    _check_shape("A", A, ("d_in", "r"), dims, batched=False)
    _check_shape("B", B, ("r", "d_out"), dims, batched=False)
    d_in, d_out, r = dims["d_in"], dims["d_out"], dims["r"]
    Y = _rows_matmul(X, W) + b + alpha/r * _chain(X, A, B)  # (..., n_T, d_out)
    cache = {"X": X, "W": W, "A": A, "B": B, "alpha": alpha, "d_in": d_in, "d_out": d_out, "r": r, "out_shape": Y.shape, "out_dtype": Y.dtype, "dtype": dtype}
    return Y.astype(dtype, copy=False), cache


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
    dtype = cache["dtype"]
    if grad_out.shape != cache["out_shape"]:
        raise ValueError(f"grad_out: expected shape {cache['out_shape']}, got {grad_out.shape}")
    grad_out = grad_out.astype(cache["out_dtype"], copy=False)  # the dtype the forward computed in
    del cache  # each array is released after its last use below
    # grad of X, used in: Y = X W + 1 bᵀ + (alpha/r) X A B
    dX = alpha/r * _chain(grad_out, B.swapaxes(-1, -2), A.swapaxes(-1, -2)) + _rows_matmul(grad_out, W.swapaxes(-1, -2))  # (..., n_T, d_in)
    # common subexpression
    t1 = X.reshape(-1, d_in).T @ grad_out.reshape(-1, d_out)  # (d_in, d_out)
    del X
    # grad of A, used in: Y = X W + 1 bᵀ + (alpha/r) X A B
    dA = t1 @ B.swapaxes(-1, -2)  # (d_in, r), updated in place
    dA *= alpha/r
    # grad of B, used in: Y = X W + 1 bᵀ + (alpha/r) X A B
    dB = A.swapaxes(-1, -2) @ t1  # (r, d_out), updated in place
    dB *= alpha/r
    del t1
    return {
        "X": dX.astype(dtype, copy=False),
        "A": dA.astype(dtype, copy=False),
        "B": dB.astype(dtype, copy=False),
    }


def _jvp_forward(X, W, b, A, B, dX, dA, dB, *, alpha):
    """Fully connected layer with a LoRA branch: returns ``(out, cache)``.

    X: input, frozen (..., n_T, d_in)
    W: parameter, frozen (d_in, d_out): frozen pretrained weights
    b: parameter, frozen (d_out,): frozen pretrained bias
    A: parameter, frozen (d_in, r): the paper's "down" projection D
    B: parameter, frozen (r, d_out): the paper's "up" projection U; zero at start
    alpha: configuration, required: LoRA scale numerator: the branch is multiplied by alpha / r
    dX: input, frozen (..., n_T, d_in): the tangent of X
    dA: parameter, frozen (d_in, r): the tangent of A
    dB: parameter, frozen (r, d_out): the tangent of B
    """
    X = np.asarray(X)
    W = np.asarray(W)
    b = np.asarray(b)
    A = np.asarray(A)
    B = np.asarray(B)
    dX = np.asarray(dX)
    dA = np.asarray(dA)
    dB = np.asarray(dB)
    dtype, compute_dtype = _check_dtypes({"X": X, "W": W, "b": b, "A": A, "B": B, "dX": dX, "dA": dA, "dB": dB}, {})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        X = X.astype(compute_dtype, copy=False)
        W = W.astype(compute_dtype, copy=False)
        b = b.astype(compute_dtype, copy=False)
        A = A.astype(compute_dtype, copy=False)
        B = B.astype(compute_dtype, copy=False)
        dX = dX.astype(compute_dtype, copy=False)
        dA = dA.astype(compute_dtype, copy=False)
        dB = dB.astype(compute_dtype, copy=False)
    alpha = _check_number("alpha", alpha)
    dims = {}
    _check_shape("X", X, ("n_T", "d_in"), dims, batched="shared")
    _check_shape("W", W, ("d_in", "d_out"), dims, batched=False)
    _check_shape("b", b, ("d_out",), dims, batched=False)
    _check_shape("A", A, ("d_in", "r"), dims, batched=False)
    _check_shape("B", B, ("r", "d_out"), dims, batched=False)
    _check_shape("dX", dX, ("n_T", "d_in"), dims, batched="shared")
    _check_shape("dA", dA, ("d_in", "r"), dims, batched=False)
    _check_shape("dB", dB, ("r", "d_out"), dims, batched=False)
    X, dX = _broadcast_batches({"X": X, "dX": dX}, {"X": 2, "dX": 2}, dims)
    r = dims["r"]
    dY = _rows_matmul(dX, W) + alpha/r * (_chain(dX, A, B) + _chain(X, dA, B) + _chain(X, A, dB))  # (..., n_T, d_out)
    cache = {"out_shape": dY.shape, "out_dtype": dY.dtype, "dtype": dtype}
    return dY.astype(dtype, copy=False), cache


def jvp(X, W, b, A, B, dX=None, dA=None, dB=None, *, alpha):
    """The tangent of Y for the arguments' tangents: forward mode, pushed forward from each
    primitive's differential (``backprop show lora_linear --jvp``).

    dX: the tangent of X (its shape; None for zero)
    dA: the tangent of A (its shape; None for zero)
    dB: the tangent of B (its shape; None for zero)
    """
    if dX is None:  # no tangent: zero
        dX = np.zeros_like(np.asarray(X))
    if dA is None:  # no tangent: zero
        dA = np.zeros_like(np.asarray(A))
    if dB is None:  # no tangent: zero
        dB = np.zeros_like(np.asarray(B))
    return _jvp_forward(X, W, b, A, B, dX, dA, dB, alpha=alpha)[0]
