# GENERATED FILE: DO NOT EDIT.
# Derived by pedestrian-backprop from the forward definition in derive/components/llama_attention.py.
# Regenerate with: backprop generate --target numba
"""Grouped-query attention with rotary embeddings (`llama_attention`): forward pass and derived backward pass.

Forward definition (one sequence; inputs may carry leading batch dimensions):
    Q_h = split_h(X W_qᵀ)
    K_h = split_h(X W_kᵀ)
    V_h = split_h(X W_vᵀ)
    cos = cos(Θ_rope_theta(n_T, d_h))
    sin = sin(Θ_rope_theta(n_T, d_h))
    Q_r = Q_h ∘ cos + rotate_half(Q_h) ∘ sin
    K_r = K_h ∘ cos + rotate_half(K_h) ∘ sin
    K_s = share_n_heads(K_r)
    V_s = share_n_heads(V_h)
    S = (1/sqrt(d_h)) Q_r K_sᵀ
    P = softmax[True](S)
    A = merge_h(P V_s)

Gradients, as derived:
    ∂L/∂X = merge_h(Δ_V_h) W_v + merge_h(Δ_K_h) W_k + merge_h(Δ_Q_h) W_q
    ∂L/∂W_q = Σ_batch (merge_h(Δ_Q_h)ᵀ X)
    ∂L/∂W_k = Σ_batch (merge_h(Δ_K_h)ᵀ X)
    ∂L/∂W_v = Σ_batch (merge_h(Δ_V_h)ᵀ X)

Optimisations (each keeps the values within rounding):
    - overwrite: S, P, dS, dK_s, dQ_r, dX updated in place (+=, *=) in the array the statement made or in one no longer needed, not a new array per operation
    - rows-matmul: a batched value times a weight is one 2-D product over all its rows
    - causal mask: made once per size and reused
    - liveness: every array is released after its last use (del); the backward drops its cache
"""
import functools
import math

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


def _merge_heads(A):
    """(..., n_heads, n_T, d_h) → (..., n_T, n_heads · d_h): the heads' blocks side by side."""
    A = A.swapaxes(-2, -3)
    return A.reshape(*A.shape[:-2], A.shape[-2] * A.shape[-1])


def _rotary_angles(n, d, theta, like):
    """(n, d): entry (t, j) = t · θ^(−2 (j mod d/2) / d) for positions t = 0 … n − 1, computed in float64
    and given in ``like``'s dtype."""
    frequencies = float(theta) ** (-np.arange(0, d, 2, dtype=np.float64) / d)
    angles = np.arange(n, dtype=np.float64)[:, None] * np.concatenate((frequencies, frequencies))
    return angles if like is None else angles.astype(like.dtype)


def _rotate_half(A):
    """[−A₂, A₁] for A = [A₁, A₂] split at half its last axis."""
    half = A.shape[-1] // 2
    return np.concatenate((-A[..., half:], A[..., :half]), axis=-1)


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


def _share_heads(A, group):
    """(..., groups, n_T, d) → (..., groups · group, n_T, d): each head shared by ``group`` consecutive heads."""
    return np.repeat(A, group, axis=-3)


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


def _sum_groups(A, groups):
    """(..., heads, n_T, d) → (..., groups, n_T, d): the sum over each group of heads / groups consecutive heads."""
    return A.reshape(*A.shape[:-3], groups, A.shape[-3] // groups, *A.shape[-2:]).sum(axis=-3)


def forward(X, W_q, W_k, W_v, *, n_heads, n_kv_heads, rope_theta=10000.0):
    """Grouped-query attention with rotary embeddings: returns ``(out, cache)``.

    n_heads: configuration, required: query heads
    n_kv_heads: configuration, required: key and value heads, each shared by n_heads / n_kv_heads query heads
    rope_theta: configuration, default 10000.0: the rotary embeddings' base
    X: input (..., n_T, d)
    W_q: parameter (d_h*n_heads, d): q_proj
    W_k: parameter (d_h*n_kv_heads, d): k_proj
    W_v: parameter (d_h*n_kv_heads, d): v_proj
    """
    X = np.asarray(X)
    W_q = np.asarray(W_q)
    W_k = np.asarray(W_k)
    W_v = np.asarray(W_v)
    dtype, compute_dtype = _check_dtypes({"X": X, "W_q": W_q, "W_k": W_k, "W_v": W_v}, {})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        X = X.astype(compute_dtype, copy=False)
        W_q = W_q.astype(compute_dtype, copy=False)
        W_k = W_k.astype(compute_dtype, copy=False)
        W_v = W_v.astype(compute_dtype, copy=False)
    n_heads = _check_count("n_heads", n_heads)
    n_kv_heads = _check_count("n_kv_heads", n_kv_heads)
    rope_theta = _check_number("rope_theta", rope_theta)
    dims = {}
    _check_shape("X", X, ("n_T", "d"), dims, batched=True)
    _check_shape("W_q", W_q, (("d_h", n_heads, "n_heads"), "d"), dims, batched=False)
    _check_shape("W_k", W_k, (("d_h", n_kv_heads, "n_kv_heads"), "d"), dims, batched=False)
    _check_shape("W_v", W_v, (("d_h", n_kv_heads, "n_kv_heads"), "d"), dims, batched=False)
    n_T, d, d_h = dims["n_T"], dims["d"], dims["d_h"]
    if not (d_h % 2 == 0):
        raise ValueError('cos: rotary angles need an even number of columns, d_h; got ' + f"d_h={d_h}")
    if not (n_heads % n_kv_heads == 0):
        raise ValueError('K_s: n_heads must be a multiple of n_kv_heads (heads shared in groups); got ' + f"n_heads={n_heads}, n_kv_heads={n_kv_heads}")
    Q_h = _split_heads(_rows_matmul(X, W_q.swapaxes(-1, -2)), n_heads)  # (..., n_heads, n_T, d_h)
    K_h = _split_heads(_rows_matmul(X, W_k.swapaxes(-1, -2)), n_kv_heads)  # (..., n_kv_heads, n_T, d_h)
    V_h = _split_heads(_rows_matmul(X, W_v.swapaxes(-1, -2)), n_kv_heads)  # (..., n_kv_heads, n_T, d_h)
    cos = np.cos(_rotary_angles(n_T, d_h, rope_theta, like=X))  # (n_T, d_h)
    sin = np.sin(_rotary_angles(n_T, d_h, rope_theta, like=X))  # (n_T, d_h)
    Q_r = Q_h * cos + _rotate_half(Q_h) * sin  # (..., n_heads, n_T, d_h)
    del Q_h
    K_r = K_h * cos + _rotate_half(K_h) * sin  # (..., n_kv_heads, n_T, d_h)
    del K_h
    K_s = _share_heads(K_r, n_heads // n_kv_heads)  # (..., n_heads, n_T, d_h)
    del K_r
    V_s = _share_heads(V_h, n_heads // n_kv_heads)  # (..., n_heads, n_T, d_h)
    del V_h
    S = Q_r @ K_s.swapaxes(-1, -2)  # (..., n_heads, n_T, n_T), updated in place
    S *= 1/math.sqrt(d_h)
    P = _softmax(S, True, fresh=True)  # (..., n_heads, n_T, n_T), S's array given to be written over
    del S
    A = _merge_heads(P @ V_s)  # (..., n_T, d_h*n_heads)
    cache = {"X": X, "W_q": W_q, "W_k": W_k, "W_v": W_v, "cos": cos, "sin": sin, "Q_r": Q_r, "K_s": K_s, "V_s": V_s, "P": P, "n_heads": n_heads, "n_kv_heads": n_kv_heads, "d": d, "d_h": d_h, "out_shape": A.shape, "out_dtype": A.dtype, "dtype": dtype}
    return A.astype(dtype, copy=False), cache


def backward(grad_out, cache):
    """Gradients of the loss given ``grad_out`` = ∂L/∂A: a dict keyed by argument name."""
    X = cache["X"]
    W_q = cache["W_q"]
    W_k = cache["W_k"]
    W_v = cache["W_v"]
    cos = cache["cos"]
    sin = cache["sin"]
    Q_r = cache["Q_r"]
    K_s = cache["K_s"]
    V_s = cache["V_s"]
    P = cache["P"]
    n_heads = cache["n_heads"]
    n_kv_heads = cache["n_kv_heads"]
    d = cache["d"]
    d_h = cache["d_h"]
    dtype = cache["dtype"]
    if grad_out.shape != cache["out_shape"]:
        raise ValueError(f"grad_out: expected shape {cache['out_shape']}, got {grad_out.shape}")
    grad_out = grad_out.astype(cache["out_dtype"], copy=False)  # the dtype the forward computed in
    del cache  # each array is released after its last use below
    # common subexpression
    t1 = _split_heads(grad_out, n_heads)  # (..., n_heads, n_T, d_h)
    # grad of P, used in: A = merge_h(P V_s)
    dP = t1 @ V_s.swapaxes(-1, -2)  # (..., n_heads, n_T, n_T)
    del V_s
    # grad of S, used in: P = softmax[True](S)
    dS = dP  # (..., n_heads, n_T, n_T), dP's array, updated in place
    dS -= _row_dot(P, dP)
    dS *= P
    del dP
    # grad of V_s, used in: A = merge_h(P V_s)
    dV_s = P.swapaxes(-1, -2) @ t1  # (..., n_heads, n_T, d_h)
    del P, t1
    # grad of K_s, used in: S = (1/sqrt(d_h)) Q_r K_sᵀ
    dK_s = dS.swapaxes(-1, -2) @ Q_r  # (..., n_heads, n_T, d_h), updated in place
    dK_s *= 1/math.sqrt(d_h)
    del Q_r
    # grad of K_r, used in: K_s = share_n_heads(K_r)
    dK_r = _sum_groups(dK_s, n_kv_heads)  # (..., n_kv_heads, n_T, d_h)
    del dK_s
    # grad of Q_r, used in: S = (1/sqrt(d_h)) Q_r K_sᵀ
    dQ_r = dS @ K_s  # (..., n_heads, n_T, d_h), updated in place
    dQ_r *= 1/math.sqrt(d_h)
    del K_s, dS
    # grad of V_h, used in: V_s = share_n_heads(V_h)
    dV_h = _sum_groups(dV_s, n_kv_heads)  # (..., n_kv_heads, n_T, d_h)
    del dV_s
    # grad of K_h, used in: K_r = K_h ∘ cos + rotate_half(K_h) ∘ sin
    dK_h = -_rotate_half(dK_r * sin) + dK_r * cos  # (..., n_kv_heads, n_T, d_h)
    del dK_r
    # grad of Q_h, used in: Q_r = Q_h ∘ cos + rotate_half(Q_h) ∘ sin
    dQ_h = -_rotate_half(dQ_r * sin) + dQ_r * cos  # (..., n_heads, n_T, d_h)
    del cos, dQ_r, sin
    # common subexpression
    t2 = _merge_heads(dV_h)  # (..., n_T, d_h*n_kv_heads)
    del dV_h
    # common subexpression
    t3 = _merge_heads(dQ_h)  # (..., n_T, d_h*n_heads)
    del dQ_h
    # common subexpression
    t4 = _merge_heads(dK_h)  # (..., n_T, d_h*n_kv_heads)
    del dK_h
    # grad of X, used in: Q_h = split_h(X W_qᵀ); K_h = split_h(X W_kᵀ); V_h = split_h(X W_vᵀ)
    dX = _rows_matmul(t2, W_v)  # (..., n_T, d), updated in place
    dX += _rows_matmul(t4, W_k)
    dX += _rows_matmul(t3, W_q)
    # grad of W_q, used in: Q_h = split_h(X W_qᵀ)
    dW_q = t3.reshape(-1, d_h*n_heads).T @ X.reshape(-1, d)  # (d_h*n_heads, d)
    del t3
    # grad of W_k, used in: K_h = split_h(X W_kᵀ)
    dW_k = t4.reshape(-1, d_h*n_kv_heads).T @ X.reshape(-1, d)  # (d_h*n_kv_heads, d)
    del t4
    # grad of W_v, used in: V_h = split_h(X W_vᵀ)
    dW_v = t2.reshape(-1, d_h*n_kv_heads).T @ X.reshape(-1, d)  # (d_h*n_kv_heads, d)
    del X, t2
    return {
        "X": dX.astype(dtype, copy=False),
        "W_q": dW_q.astype(dtype, copy=False),
        "W_k": dW_k.astype(dtype, copy=False),
        "W_v": dW_v.astype(dtype, copy=False),
    }


def _jvp_forward(X, W_q, W_k, W_v, dX, dW_q, dW_k, dW_v, *, n_heads, n_kv_heads, rope_theta=10000.0):
    """Grouped-query attention with rotary embeddings: returns ``(out, cache)``.

    n_heads: configuration, required: query heads
    n_kv_heads: configuration, required: key and value heads, each shared by n_heads / n_kv_heads query heads
    rope_theta: configuration, default 10000.0: the rotary embeddings' base
    X: input, frozen (..., n_T, d)
    W_q: parameter, frozen (d_h*n_heads, d): q_proj
    W_k: parameter, frozen (d_h*n_kv_heads, d): k_proj
    W_v: parameter, frozen (d_h*n_kv_heads, d): v_proj
    dX: input, frozen (..., n_T, d): the tangent of X
    dW_q: parameter, frozen (d_h*n_heads, d): the tangent of W_q
    dW_k: parameter, frozen (d_h*n_kv_heads, d): the tangent of W_k
    dW_v: parameter, frozen (d_h*n_kv_heads, d): the tangent of W_v
    """
    X = np.asarray(X)
    W_q = np.asarray(W_q)
    W_k = np.asarray(W_k)
    W_v = np.asarray(W_v)
    dX = np.asarray(dX)
    dW_q = np.asarray(dW_q)
    dW_k = np.asarray(dW_k)
    dW_v = np.asarray(dW_v)
    dtype, compute_dtype = _check_dtypes({"X": X, "W_q": W_q, "W_k": W_k, "W_v": W_v, "dX": dX, "dW_q": dW_q, "dW_k": dW_k, "dW_v": dW_v}, {})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        X = X.astype(compute_dtype, copy=False)
        W_q = W_q.astype(compute_dtype, copy=False)
        W_k = W_k.astype(compute_dtype, copy=False)
        W_v = W_v.astype(compute_dtype, copy=False)
        dX = dX.astype(compute_dtype, copy=False)
        dW_q = dW_q.astype(compute_dtype, copy=False)
        dW_k = dW_k.astype(compute_dtype, copy=False)
        dW_v = dW_v.astype(compute_dtype, copy=False)
    n_heads = _check_count("n_heads", n_heads)
    n_kv_heads = _check_count("n_kv_heads", n_kv_heads)
    rope_theta = _check_number("rope_theta", rope_theta)
    dims = {}
    _check_shape("X", X, ("n_T", "d"), dims, batched="shared")
    _check_shape("W_q", W_q, (("d_h", n_heads, "n_heads"), "d"), dims, batched=False)
    _check_shape("W_k", W_k, (("d_h", n_kv_heads, "n_kv_heads"), "d"), dims, batched=False)
    _check_shape("W_v", W_v, (("d_h", n_kv_heads, "n_kv_heads"), "d"), dims, batched=False)
    _check_shape("dX", dX, ("n_T", "d"), dims, batched="shared")
    _check_shape("dW_q", dW_q, (("d_h", n_heads, "n_heads"), "d"), dims, batched=False)
    _check_shape("dW_k", dW_k, (("d_h", n_kv_heads, "n_kv_heads"), "d"), dims, batched=False)
    _check_shape("dW_v", dW_v, (("d_h", n_kv_heads, "n_kv_heads"), "d"), dims, batched=False)
    X, dX = _broadcast_batches({"X": X, "dX": dX}, {"X": 2, "dX": 2}, dims)
    n_T, d_h = dims["n_T"], dims["d_h"]
    if not (d_h % 2 == 0):
        raise ValueError('cos: rotary angles need an even number of columns, d_h; got ' + f"d_h={d_h}")
    if not (n_heads % n_kv_heads == 0):
        raise ValueError('K_s: n_heads must be a multiple of n_kv_heads (heads shared in groups); got ' + f"n_heads={n_heads}, n_kv_heads={n_kv_heads}")
    Q_h = _split_heads(_rows_matmul(X, W_q.swapaxes(-1, -2)), n_heads)  # (..., n_heads, n_T, d_h)
    K_h = _split_heads(_rows_matmul(X, W_k.swapaxes(-1, -2)), n_kv_heads)  # (..., n_kv_heads, n_T, d_h)
    V_h = _split_heads(_rows_matmul(X, W_v.swapaxes(-1, -2)), n_kv_heads)  # (..., n_kv_heads, n_T, d_h)
    cos = np.cos(_rotary_angles(n_T, d_h, rope_theta, like=X))  # (n_T, d_h)
    sin = np.sin(_rotary_angles(n_T, d_h, rope_theta, like=X))  # (n_T, d_h)
    Q_r = Q_h * cos + _rotate_half(Q_h) * sin  # (..., n_heads, n_T, d_h)
    del Q_h
    K_r = K_h * cos + _rotate_half(K_h) * sin  # (..., n_kv_heads, n_T, d_h)
    del K_h
    K_s = _share_heads(K_r, n_heads // n_kv_heads)  # (..., n_heads, n_T, d_h)
    del K_r
    V_s = _share_heads(V_h, n_heads // n_kv_heads)  # (..., n_heads, n_T, d_h)
    del V_h
    S = Q_r @ K_s.swapaxes(-1, -2)  # (..., n_heads, n_T, n_T), updated in place
    S *= 1/math.sqrt(d_h)
    P = _softmax(S, True, fresh=True)  # (..., n_heads, n_T, n_T), S's array given to be written over
    del S
    dQ_h = _split_heads(_rows_matmul(dX, W_q.swapaxes(-1, -2)) + _rows_matmul(X, dW_q.swapaxes(-1, -2)), n_heads)  # (..., n_heads, n_T, d_h)
    dK_h = _split_heads(_rows_matmul(dX, W_k.swapaxes(-1, -2)) + _rows_matmul(X, dW_k.swapaxes(-1, -2)), n_kv_heads)  # (..., n_kv_heads, n_T, d_h)
    dV_h = _split_heads(_rows_matmul(dX, W_v.swapaxes(-1, -2)) + _rows_matmul(X, dW_v.swapaxes(-1, -2)), n_kv_heads)  # (..., n_kv_heads, n_T, d_h)
    dQ_r = dQ_h * cos + _rotate_half(dQ_h) * sin  # (..., n_heads, n_T, d_h)
    del dQ_h
    dK_r = dK_h * cos + _rotate_half(dK_h) * sin  # (..., n_kv_heads, n_T, d_h)
    del cos, dK_h, sin
    dK_s = _share_heads(dK_r, n_heads // n_kv_heads)  # (..., n_heads, n_T, d_h)
    del dK_r
    dV_s = _share_heads(dV_h, n_heads // n_kv_heads)  # (..., n_heads, n_T, d_h)
    del dV_h
    dS = dQ_r @ K_s.swapaxes(-1, -2)  # (..., n_heads, n_T, n_T), updated in place
    dS += Q_r @ dK_s.swapaxes(-1, -2)
    dS *= 1/math.sqrt(d_h)
    del K_s, Q_r, dK_s, dQ_r
    dP = dS  # (..., n_heads, n_T, n_T), dS's array, updated in place
    dP -= _row_dot(P, dS)
    dP *= P
    del dS
    dA = _merge_heads(dP @ V_s + P @ dV_s)  # (..., n_T, d_h*n_heads)
    del P, V_s, dP, dV_s
    cache = {"out_shape": dA.shape, "out_dtype": dA.dtype, "dtype": dtype}
    return dA.astype(dtype, copy=False), cache


def jvp(X, W_q, W_k, W_v, dX=None, dW_q=None, dW_k=None, dW_v=None, *, n_heads, n_kv_heads, rope_theta=10000.0):
    """The tangent of A for the arguments' tangents: forward mode, pushed forward from each
    primitive's differential (``backprop show llama_attention --jvp``).

    dX: the tangent of X (its shape; None for zero)
    dW_q: the tangent of W_q (its shape; None for zero)
    dW_k: the tangent of W_k (its shape; None for zero)
    dW_v: the tangent of W_v (its shape; None for zero)
    """
    if dX is None:  # no tangent: zero
        dX = np.zeros_like(np.asarray(X))
    if dW_q is None:  # no tangent: zero
        dW_q = np.zeros_like(np.asarray(W_q))
    if dW_k is None:  # no tangent: zero
        dW_k = np.zeros_like(np.asarray(W_k))
    if dW_v is None:  # no tangent: zero
        dW_v = np.zeros_like(np.asarray(W_v))
    return _jvp_forward(X, W_q, W_k, W_v, dX, dW_q, dW_k, dW_v, n_heads=n_heads, n_kv_heads=n_kv_heads, rope_theta=rope_theta)[0]
