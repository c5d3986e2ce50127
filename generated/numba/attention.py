# GENERATED FILE: DO NOT EDIT.
# Derived by pedestrian-backprop from the forward definition in derive/components/attention.py.
# Regenerate with: backprop generate --target numba
"""Multi-head attention (`attention`): forward pass and derived backward pass.

Forward definition (one sequence; inputs may carry leading batch dimensions):
    Q = X W_q + 1 b_qᵀ
    K = X W_k + 1 b_kᵀ
    V = X W_v + 1 b_vᵀ
    Q_h = split_h(Q)
    K_h = split_h(K)
    V_h = split_h(V)
    S = (sqrt(n_heads)/sqrt(d)) Q_h K_hᵀ
    P = softmax[causal](S)
    A = merge_h(P V_h)

Gradients, as derived:
    ∂L/∂X = Δ_V W_vᵀ + Δ_K W_kᵀ + Δ_Q W_qᵀ
    ∂L/∂W_q = Σ_batch (Xᵀ Δ_Q)
    ∂L/∂b_q = Σ_batch (1ᵀ Δ_Q)
    ∂L/∂W_k = Σ_batch (Xᵀ Δ_K)
    ∂L/∂b_k = 0
    ∂L/∂W_v = Σ_batch (Xᵀ Δ_V)
    ∂L/∂b_v = Σ_batch (1ᵀ Δ_A)

Optimisations (each keeps the values within rounding):
    - fuse-shared-operand: X W_q, X W_k, X W_v as one product with the weights side by side, forward and backward
    - fused: 2 runs of entrywise statements and row reductions, each one Numba kernel making one pass over the rows (_backward_1, _backward_2)
    - overwrite: S, P, dS, dK_h, dQ_h updated in place (+=, *=) in the array the statement made or in one no longer needed, not a new array per operation
    - rows-matmul: a batched value times a weight is one 2-D product over all its rows
    - causal mask: made once per size and reused
    - liveness: every array is released after its last use (del); the backward drops its cache
"""
import functools
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


@functools.lru_cache(maxsize=8)
def _causal_mask(n):
    """(n, n), True above the diagonal (s > t): made once per size (the last few sizes are kept)."""
    mask = np.triu(np.ones((n, n), dtype=bool), 1)
    mask.flags.writeable = False
    return mask


def _check_count(name, value):
    """A count such as a number of heads: any integer type (NumPy's too), at least 1; returns an int."""
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if value.__index__() < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value.__index__()


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


def _check_flag(name, value):
    """A flag: True or False (NumPy's booleans too); returns a bool."""
    if value is True or value is False or type(value).__name__ in ("bool", "bool_"):
        return bool(value)
    raise ValueError(f"{name} must be True or False, got {value!r}")


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


def _merge_heads(A):
    """(..., n_heads, n_T, d_h) → (..., n_T, n_heads · d_h): the heads' blocks side by side."""
    A = A.swapaxes(-2, -3)
    return A.reshape(*A.shape[:-2], A.shape[-2] * A.shape[-1])


def _row_dot(A, B):
    """(A ∘ B) 1, (..., n, 1): each row's dot product, contracted by ``einsum`` without the product
    array (about four times faster than multiplying and summing)."""
    return np.einsum("...i,...i->...", A, B)[..., None]


def _column_dot(A, B):
    """Σ_batch 1ᵀ (A ∘ B), (d,): each column's dot product over every row of the batch."""
    return np.einsum("ij,ij->j", A.reshape(-1, A.shape[-1]), B.reshape(-1, B.shape[-1]))


def _rows_matmul(A, W):
    """A (..., n, k) @ W (k, m) as one 2-D product over every row of A (one GEMM, not one per sequence)."""
    return (A.reshape(-1, A.shape[-1]) @ W).reshape(A.shape[:-1] + (W.shape[-1],))


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


def _softmax(S, causal, fresh=False):
    """Softmax over the last axis; with ``causal``, entry (t, s > t) gets probability exactly 0.

    ``fresh``: ``S`` is a new array nothing else reads, and the softmax is computed in it.
    """
    if causal:
        if fresh:
            np.copyto(S, -np.inf, where=_causal_mask(S.shape[-1]))
        else:
            S, fresh = np.where(_causal_mask(S.shape[-1]), -np.inf, S), True
    if fresh:
        E = S
        E -= S.max(axis=-1, keepdims=True)
    else:
        E = S - S.max(axis=-1, keepdims=True)
    np.exp(E, out=E)
    E /= E.sum(axis=-1, keepdims=True)
    return E


def _split_heads(A, n_heads):
    """(..., n_T, d) → (..., n_heads, n_T, d / n_heads): head h takes column block h."""
    return A.reshape(*A.shape[:-1], n_heads, A.shape[-1] // n_heads).swapaxes(-2, -3)


@_kernel
def _backward_1_rows(a_dQ, o_db_q, n_d):
    """db_q: row by row."""
    T = a_dQ.dtype.type
    t_d = T(n_d)
    for r in range(a_dQ.shape[0]):
        # grad of b_q, used in: Q = X W_q + 1 b_qᵀ
        for j in range(n_d):
            o_db_q[j] += a_dQ[r, j]


def _backward_1(dQ, d):
    """db_q: one pass over the rows of dQ (``_backward_1_rows``)."""
    lead = dQ.shape[:-1]
    o_db_q = np.zeros(d, np.float64)
    _launch(_backward_1_rows, dQ.reshape(math.prod(dQ.shape[:-1]), dQ.shape[-1]), o_db_q, d)
    return o_db_q.astype(dQ.dtype)


@_kernel
def _backward_2_rows(a_grad_out, o_db_v, n_d):
    """db_v: row by row."""
    T = a_grad_out.dtype.type
    t_d = T(n_d)
    for r in range(a_grad_out.shape[0]):
        # grad of b_v, used in: V = X W_v + 1 b_vᵀ
        for j in range(n_d):
            o_db_v[j] += a_grad_out[r, j]


def _backward_2(grad_out, d):
    """db_v: one pass over the rows of grad_out (``_backward_2_rows``)."""
    lead = grad_out.shape[:-1]
    o_db_v = np.zeros(d, np.float64)
    _launch(_backward_2_rows, grad_out.reshape(math.prod(grad_out.shape[:-1]), grad_out.shape[-1]), o_db_v, d)
    return o_db_v.astype(grad_out.dtype)


def forward(X, W_q, b_q, W_k, b_k, W_v, b_v, *, n_heads, causal=True):
    """Multi-head attention: returns ``(out, cache)``.

    X: input (..., n_T, d)
    W_q: parameter (d, d)
    b_q: parameter (d,)
    W_k: parameter (d, d)
    b_k: parameter (d,)
    W_v: parameter (d, d)
    b_v: parameter (d,)
    n_heads: configuration, required: number of heads; head h uses column block h
    causal: configuration, default True: position t attends to positions ≤ t only
    """
    X = np.asarray(X)
    W_q = np.asarray(W_q)
    b_q = np.asarray(b_q)
    W_k = np.asarray(W_k)
    b_k = np.asarray(b_k)
    W_v = np.asarray(W_v)
    b_v = np.asarray(b_v)
    dtype, compute_dtype = _check_dtypes({"X": X, "W_q": W_q, "b_q": b_q, "W_k": W_k, "b_k": b_k, "W_v": W_v, "b_v": b_v}, {})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        X = X.astype(compute_dtype, copy=False)
        W_q = W_q.astype(compute_dtype, copy=False)
        b_q = b_q.astype(compute_dtype, copy=False)
        W_k = W_k.astype(compute_dtype, copy=False)
        b_k = b_k.astype(compute_dtype, copy=False)
        W_v = W_v.astype(compute_dtype, copy=False)
        b_v = b_v.astype(compute_dtype, copy=False)
    n_heads = _check_count("n_heads", n_heads)
    causal = _check_flag("causal", causal)
    dims = {}
    _check_shape("X", X, ("n_T", "d"), dims, batched=True)
    _check_shape("W_q", W_q, ("d", "d"), dims, batched=False)
    _check_shape("b_q", b_q, ("d",), dims, batched=False)
    _check_shape("W_k", W_k, ("d", "d"), dims, batched=False)
    _check_shape("b_k", b_k, ("d",), dims, batched=False)
    _check_shape("W_v", W_v, ("d", "d"), dims, batched=False)
    _check_shape("b_v", b_v, ("d",), dims, batched=False)
    d = dims["d"]
    if not (d % n_heads == 0):
        raise ValueError('d must be divisible by n_heads; got ' + f"d={d}, n_heads={n_heads}")
    W_q_W_k_W_v = _side_by_side(W_q, W_k, W_v)  # (d, 3*d)
    X_W_q_W_k_W_v = _rows_matmul(X, W_q_W_k_W_v)  # (..., n_T, 3*d)
    Q = X_W_q_W_k_W_v[..., 0:d] + b_q  # (..., n_T, d)
    K = X_W_q_W_k_W_v[..., d:2*d] + b_k  # (..., n_T, d)
    V = X_W_q_W_k_W_v[..., 2*d:3*d] + b_v  # (..., n_T, d)
    del X_W_q_W_k_W_v
    Q_h = _split_heads(Q, n_heads)  # (..., n_heads, n_T, d/n_heads)
    del Q
    K_h = _split_heads(K, n_heads)  # (..., n_heads, n_T, d/n_heads)
    del K
    V_h = _split_heads(V, n_heads)  # (..., n_heads, n_T, d/n_heads)
    del V
    S = Q_h @ K_h.swapaxes(-1, -2)  # (..., n_heads, n_T, n_T), updated in place
    S *= math.sqrt(n_heads)/math.sqrt(d)
    P = _softmax(S, causal, fresh=True)  # (..., n_heads, n_T, n_T), S's array given to be written over
    del S
    A = _merge_heads(P @ V_h)  # (..., n_T, d)
    cache = {"X": X, "b_k": b_k, "W_q_W_k_W_v": W_q_W_k_W_v, "Q_h": Q_h, "K_h": K_h, "V_h": V_h, "P": P, "n_heads": n_heads, "d": d, "out_shape": A.shape, "out_dtype": A.dtype, "dtype": dtype}
    return A.astype(dtype, copy=False), cache


def backward(grad_out, cache):
    """Gradients of the loss given ``grad_out`` = ∂L/∂A: a dict keyed by argument name."""
    X = cache["X"]
    b_k = cache["b_k"]
    W_q_W_k_W_v = cache["W_q_W_k_W_v"]
    Q_h = cache["Q_h"]
    K_h = cache["K_h"]
    V_h = cache["V_h"]
    P = cache["P"]
    n_heads = cache["n_heads"]
    d = cache["d"]
    dtype = cache["dtype"]
    if grad_out.shape != cache["out_shape"]:
        raise ValueError(f"grad_out: expected shape {cache['out_shape']}, got {grad_out.shape}")
    grad_out = grad_out.astype(cache["out_dtype"], copy=False)  # the dtype the forward computed in
    del cache  # each array is released after its last use below
    # common subexpression
    t2 = _split_heads(grad_out, n_heads)  # (..., n_heads, n_T, d/n_heads)
    # grad of P, used in: A = merge_h(P V_h)
    dP = t2 @ V_h.swapaxes(-1, -2)  # (..., n_heads, n_T, n_T)
    del V_h
    # grad of S, used in: P = softmax[causal](S)
    dS = dP  # (..., n_heads, n_T, n_T), dP's array, updated in place
    dS -= _row_dot(P, dP)
    dS *= P
    del dP
    # grad of V_h, used in: A = merge_h(P V_h)
    dV_h = P.swapaxes(-1, -2) @ t2  # (..., n_heads, n_T, d/n_heads)
    del P, t2
    # grad of K_h, used in: S = (sqrt(n_heads)/sqrt(d)) Q_h K_hᵀ
    dK_h = dS.swapaxes(-1, -2) @ Q_h  # (..., n_heads, n_T, d/n_heads), updated in place
    dK_h *= math.sqrt(n_heads)/math.sqrt(d)
    del Q_h
    # grad of Q_h, used in: S = (sqrt(n_heads)/sqrt(d)) Q_h K_hᵀ
    dQ_h = dS @ K_h  # (..., n_heads, n_T, d/n_heads), updated in place
    dQ_h *= math.sqrt(n_heads)/math.sqrt(d)
    del K_h, dS
    # grad of V, used in: V_h = split_h(V)
    dV = _merge_heads(dV_h)  # (..., n_T, d)
    del dV_h
    # grad of K, used in: K_h = split_h(K)
    dK = _merge_heads(dK_h)  # (..., n_T, d)
    del dK_h
    # grad of Q, used in: Q_h = split_h(Q)
    dQ = _merge_heads(dQ_h)  # (..., n_T, d)
    del dQ_h
    # common subexpression
    t1 = _side_by_side(dQ, dK, dV)  # (..., n_T, 3*d)
    del dK, dV
    # grad of X, used in: Q = X W_q + 1 b_qᵀ; K = X W_k + 1 b_kᵀ; V = X W_v + 1 b_vᵀ
    dX = _rows_matmul(t1, W_q_W_k_W_v.swapaxes(-1, -2))  # (..., n_T, d)
    del W_q_W_k_W_v
    # the weights' gradients as one product
    dW_q_W_k_W_v = X.reshape(-1, d).T @ t1.reshape(-1, 3*d)  # (d, 3*d)
    del X, t1
    # grad of W_q, used in: Q = X W_q + 1 b_qᵀ
    dW_q = dW_q_W_k_W_v[..., 0:d]  # (d, d)
    # fused: db_q (one pass over the rows, _backward_1_rows)
    db_q = _backward_1(dQ, d)  # (d,)
    del dQ
    # grad of W_k, used in: K = X W_k + 1 b_kᵀ
    dW_k = dW_q_W_k_W_v[..., d:2*d]  # (d, d)
    # grad of W_v, used in: V = X W_v + 1 b_vᵀ
    dW_v = dW_q_W_k_W_v[..., 2*d:3*d]  # (d, d)
    del dW_q_W_k_W_v
    # fused: db_v (one pass over the rows, _backward_2_rows)
    db_v = _backward_2(grad_out, d)  # (d,)
    return {
        "X": dX.astype(dtype, copy=False),
        "W_q": dW_q.astype(dtype, copy=False),
        "b_q": db_q.astype(dtype, copy=False),
        "W_k": dW_k.astype(dtype, copy=False),
        "b_k": np.zeros_like(b_k).astype(dtype, copy=False),
        "W_v": dW_v.astype(dtype, copy=False),
        "b_v": db_v.astype(dtype, copy=False),
    }


def _jvp_forward(X, W_q, b_q, W_k, b_k, W_v, b_v, dX, dW_q, db_q, dW_k, db_k, dW_v, db_v, *, n_heads, causal=True):
    """Multi-head attention: returns ``(out, cache)``.

    X: input, frozen (..., n_T, d)
    W_q: parameter, frozen (d, d)
    b_q: parameter, frozen (d,)
    W_k: parameter, frozen (d, d)
    b_k: parameter, frozen (d,)
    W_v: parameter, frozen (d, d)
    b_v: parameter, frozen (d,)
    n_heads: configuration, required: number of heads; head h uses column block h
    causal: configuration, default True: position t attends to positions ≤ t only
    dX: input, frozen (..., n_T, d): the tangent of X
    dW_q: parameter, frozen (d, d): the tangent of W_q
    db_q: parameter, frozen (d,): the tangent of b_q
    dW_k: parameter, frozen (d, d): the tangent of W_k
    db_k: parameter, frozen (d,): the tangent of b_k
    dW_v: parameter, frozen (d, d): the tangent of W_v
    db_v: parameter, frozen (d,): the tangent of b_v
    """
    X = np.asarray(X)
    W_q = np.asarray(W_q)
    b_q = np.asarray(b_q)
    W_k = np.asarray(W_k)
    b_k = np.asarray(b_k)
    W_v = np.asarray(W_v)
    b_v = np.asarray(b_v)
    dX = np.asarray(dX)
    dW_q = np.asarray(dW_q)
    db_q = np.asarray(db_q)
    dW_k = np.asarray(dW_k)
    db_k = np.asarray(db_k)
    dW_v = np.asarray(dW_v)
    db_v = np.asarray(db_v)
    dtype, compute_dtype = _check_dtypes({"X": X, "W_q": W_q, "b_q": b_q, "W_k": W_k, "b_k": b_k, "W_v": W_v, "b_v": b_v, "dX": dX, "dW_q": dW_q, "db_q": db_q, "dW_k": dW_k, "db_k": db_k, "dW_v": dW_v, "db_v": db_v}, {})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        X = X.astype(compute_dtype, copy=False)
        W_q = W_q.astype(compute_dtype, copy=False)
        b_q = b_q.astype(compute_dtype, copy=False)
        W_k = W_k.astype(compute_dtype, copy=False)
        b_k = b_k.astype(compute_dtype, copy=False)
        W_v = W_v.astype(compute_dtype, copy=False)
        b_v = b_v.astype(compute_dtype, copy=False)
        dX = dX.astype(compute_dtype, copy=False)
        dW_q = dW_q.astype(compute_dtype, copy=False)
        db_q = db_q.astype(compute_dtype, copy=False)
        dW_k = dW_k.astype(compute_dtype, copy=False)
        db_k = db_k.astype(compute_dtype, copy=False)
        dW_v = dW_v.astype(compute_dtype, copy=False)
        db_v = db_v.astype(compute_dtype, copy=False)
    n_heads = _check_count("n_heads", n_heads)
    causal = _check_flag("causal", causal)
    dims = {}
    _check_shape("X", X, ("n_T", "d"), dims, batched="shared")
    _check_shape("W_q", W_q, ("d", "d"), dims, batched=False)
    _check_shape("b_q", b_q, ("d",), dims, batched=False)
    _check_shape("W_k", W_k, ("d", "d"), dims, batched=False)
    _check_shape("b_k", b_k, ("d",), dims, batched=False)
    _check_shape("W_v", W_v, ("d", "d"), dims, batched=False)
    _check_shape("b_v", b_v, ("d",), dims, batched=False)
    _check_shape("dX", dX, ("n_T", "d"), dims, batched="shared")
    _check_shape("dW_q", dW_q, ("d", "d"), dims, batched=False)
    _check_shape("db_q", db_q, ("d",), dims, batched=False)
    _check_shape("dW_k", dW_k, ("d", "d"), dims, batched=False)
    _check_shape("db_k", db_k, ("d",), dims, batched=False)
    _check_shape("dW_v", dW_v, ("d", "d"), dims, batched=False)
    _check_shape("db_v", db_v, ("d",), dims, batched=False)
    X, dX = _broadcast_batches({"X": X, "dX": dX}, {"X": 2, "dX": 2}, dims)
    d = dims["d"]
    if not (d % n_heads == 0):
        raise ValueError('d must be divisible by n_heads; got ' + f"d={d}, n_heads={n_heads}")
    W_q_W_k_W_v_dW_q_dW_k_dW_v = _side_by_side(W_q, W_k, W_v, dW_q, dW_k, dW_v)  # (d, 6*d)
    X_W_q_W_k_W_v_dW_q_dW_k_dW_v = _rows_matmul(X, W_q_W_k_W_v_dW_q_dW_k_dW_v)  # (..., n_T, 6*d)
    del W_q_W_k_W_v_dW_q_dW_k_dW_v
    Q = X_W_q_W_k_W_v_dW_q_dW_k_dW_v[..., 0:d] + b_q  # (..., n_T, d)
    K = X_W_q_W_k_W_v_dW_q_dW_k_dW_v[..., d:2*d] + b_k  # (..., n_T, d)
    V = X_W_q_W_k_W_v_dW_q_dW_k_dW_v[..., 2*d:3*d] + b_v  # (..., n_T, d)
    Q_h = _split_heads(Q, n_heads)  # (..., n_heads, n_T, d/n_heads)
    del Q
    K_h = _split_heads(K, n_heads)  # (..., n_heads, n_T, d/n_heads)
    del K
    V_h = _split_heads(V, n_heads)  # (..., n_heads, n_T, d/n_heads)
    del V
    S = Q_h @ K_h.swapaxes(-1, -2)  # (..., n_heads, n_T, n_T), updated in place
    S *= math.sqrt(n_heads)/math.sqrt(d)
    P = _softmax(S, causal, fresh=True)  # (..., n_heads, n_T, n_T), S's array given to be written over
    del S
    W_q_W_k_W_v = _side_by_side(W_q, W_k, W_v)  # (d, 3*d)
    dX_W_q_W_k_W_v = _rows_matmul(dX, W_q_W_k_W_v)  # (..., n_T, 3*d)
    del W_q_W_k_W_v
    dQ = dX_W_q_W_k_W_v[..., 0:d] + X_W_q_W_k_W_v_dW_q_dW_k_dW_v[..., 3*d:4*d] + db_q  # (..., n_T, d)
    dK = dX_W_q_W_k_W_v[..., d:2*d] + X_W_q_W_k_W_v_dW_q_dW_k_dW_v[..., 4*d:5*d] + db_k  # (..., n_T, d)
    dV = dX_W_q_W_k_W_v[..., 2*d:3*d] + X_W_q_W_k_W_v_dW_q_dW_k_dW_v[..., 5*d:6*d] + db_v  # (..., n_T, d)
    del X_W_q_W_k_W_v_dW_q_dW_k_dW_v, dX_W_q_W_k_W_v
    dQ_h = _split_heads(dQ, n_heads)  # (..., n_heads, n_T, d/n_heads)
    del dQ
    dK_h = _split_heads(dK, n_heads)  # (..., n_heads, n_T, d/n_heads)
    del dK
    dV_h = _split_heads(dV, n_heads)  # (..., n_heads, n_T, d/n_heads)
    del dV
    dS = dQ_h @ K_h.swapaxes(-1, -2)  # (..., n_heads, n_T, n_T), updated in place
    dS += Q_h @ dK_h.swapaxes(-1, -2)
    dS *= math.sqrt(n_heads)/math.sqrt(d)
    del K_h, Q_h, dK_h, dQ_h
    dP = dS  # (..., n_heads, n_T, n_T), dS's array, updated in place
    dP -= _row_dot(P, dS)
    dP *= P
    del dS
    dA = _merge_heads(dP @ V_h + P @ dV_h)  # (..., n_T, d)
    del P, V_h, dP, dV_h
    cache = {"out_shape": dA.shape, "out_dtype": dA.dtype, "dtype": dtype}
    return dA.astype(dtype, copy=False), cache


def jvp(X, W_q, b_q, W_k, b_k, W_v, b_v, dX=None, dW_q=None, db_q=None, dW_k=None, db_k=None, dW_v=None, db_v=None, *, n_heads, causal=True):
    """The tangent of A for the arguments' tangents: forward mode, pushed forward from each
    primitive's differential (``backprop show attention --jvp``).

    dX: the tangent of X (its shape; None for zero)
    dW_q: the tangent of W_q (its shape; None for zero)
    db_q: the tangent of b_q (its shape; None for zero)
    dW_k: the tangent of W_k (its shape; None for zero)
    db_k: the tangent of b_k (its shape; None for zero)
    dW_v: the tangent of W_v (its shape; None for zero)
    db_v: the tangent of b_v (its shape; None for zero)
    """
    if dX is None:  # no tangent: zero
        dX = np.zeros_like(np.asarray(X))
    if dW_q is None:  # no tangent: zero
        dW_q = np.zeros_like(np.asarray(W_q))
    if db_q is None:  # no tangent: zero
        db_q = np.zeros_like(np.asarray(b_q))
    if dW_k is None:  # no tangent: zero
        dW_k = np.zeros_like(np.asarray(W_k))
    if db_k is None:  # no tangent: zero
        db_k = np.zeros_like(np.asarray(b_k))
    if dW_v is None:  # no tangent: zero
        dW_v = np.zeros_like(np.asarray(W_v))
    if db_v is None:  # no tangent: zero
        db_v = np.zeros_like(np.asarray(b_v))
    return _jvp_forward(X, W_q, b_q, W_k, b_k, W_v, b_v, dX, dW_q, db_q, dW_k, db_k, dW_v, db_v, n_heads=n_heads, causal=causal)[0]
