# GENERATED FILE: DO NOT EDIT.
# Derived by pedestrian-backprop from the forward definition in derive/components/linear_attention.py.
# Regenerate with: backprop generate --target numpy
"""Linear attention (non-causal) (`linear_attention`): forward pass and derived backward pass.

Forward definition (one sequence; inputs may carry leading batch dimensions):
    Q = X W_q + 1 b_qᵀ
    K = X W_k + 1 b_kᵀ
    V = X W_v + 1 b_vᵀ
    phi_Q = feature_map(split_h(Q))
    phi_K = feature_map(split_h(K))
    V_h = split_h(V)
    num = phi_Q phi_Kᵀ V_h
    den = phi_Q (phi_Kᵀ 1)
    A_h = ((1/den) 1ᵀ) ∘ num
    A = merge_h(A_h)

Gradients, as derived:
    ∂L/∂X = Δ_V W_vᵀ + Δ_K W_kᵀ + Δ_Q W_qᵀ
    ∂L/∂W_q = Σ_batch (Xᵀ Δ_Q)
    ∂L/∂b_q = Σ_batch (1ᵀ Δ_Q)
    ∂L/∂W_k = Σ_batch (Xᵀ Δ_K)
    ∂L/∂b_k = Σ_batch (1ᵀ Δ_K)
    ∂L/∂W_v = Σ_batch (Xᵀ Δ_V)
    ∂L/∂b_v = Σ_batch (1ᵀ Δ_V)

Optimisations (each keeps the values within rounding):
    - order-chains: phi_Q phi_Kᵀ V_h: ordered at run time by cost
    - order-chains: phi_K phi_Qᵀ Δ_num: ordered at run time by cost
    - order-chains: V_h Δ_numᵀ phi_Q: ordered at run time by cost
    - order-chains: Δ_num V_hᵀ phi_K: ordered at run time by cost
    - fuse-shared-operand: X W_q, X W_k, X W_v as one product with the weights side by side, forward and backward
    - overwrite: dden updated in place (+=, *=) in the array the statement made or in one no longer needed, not a new array per operation
    - rows-matmul: a batched value times a weight is one 2-D product over all its rows
    - in-place functions: each scalar function computes in buffers of its own (kept between calls)
    - liveness: every array is released after its last use (del); the backward drops its cache
"""
import threading

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


def _split_heads(A, n_heads):
    """(..., n_T, d) → (..., n_heads, n_T, d / n_heads): head h takes column block h."""
    return A.reshape(*A.shape[:-1], n_heads, A.shape[-1] // n_heads).swapaxes(-2, -3)


def _elu_plus_one(x, times=None):
    if times is None:
        return np.where(x > 0, x + 1, np.exp(x))
    times *= np.where(x > 0, x + 1, np.exp(x))
    return times


def _elu_plus_one_grad(x, times=None):
    if times is None:
        return np.where(x > 0, 1, np.exp(x))
    times *= np.where(x > 0, 1, np.exp(x))
    return times


def _softplus(x, times=None):
    """Computed in buffers of its own, each operation in place; ``times``: multiplied into it."""
    b1 = np.exp(x, out=None if times is None else _scratch("softplus.b1", x))
    b1 += 1.0
    np.log(b1, out=b1)
    if times is None:
        return b1
    times *= b1
    return times


def _softplus_grad(x, times=None):
    """Computed in buffers of its own, each operation in place; ``times``: multiplied into it."""
    t0 = np.exp(x, out=_scratch("softplus_grad.t0", x))
    b2 = t0.copy()
    b2 += 1.0
    np.reciprocal(b2, out=b2)
    np.multiply(b2, t0, out=b2)
    if times is None:
        return b2
    times *= b2
    return times


_FEATURE_MAP = {"elu_plus_one": _elu_plus_one, "softplus": _softplus}


_FEATURE_MAP_GRAD = {"elu_plus_one": _elu_plus_one_grad, "softplus": _softplus_grad}


def forward(X, W_q, b_q, W_k, b_k, W_v, b_v, *, n_heads, feature_map='elu_plus_one'):
    """Linear attention (non-causal): returns ``(out, cache)``.

    X: input (..., n_T, d)
    W_q: parameter (d, d)
    b_q: parameter (d,)
    W_k: parameter (d, d)
    b_k: parameter (d,)
    W_v: parameter (d, d)
    b_v: parameter (d,)
    n_heads: configuration, required: number of heads; head h uses column block h
    feature_map: configuration, default 'elu_plus_one' (one of 'elu_plus_one', 'softplus'): positive feature map φ
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
    if feature_map not in ('elu_plus_one', 'softplus'):
        raise ValueError("feature_map must be one of ('elu_plus_one', 'softplus'), got " + repr(feature_map))
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
    phi_Q = _FEATURE_MAP[feature_map](_split_heads(Q, n_heads))  # (..., n_heads, n_T, d/n_heads)
    phi_K = _FEATURE_MAP[feature_map](_split_heads(K, n_heads))  # (..., n_heads, n_T, d/n_heads)
    V_h = _split_heads(V, n_heads)  # (..., n_heads, n_T, d/n_heads)
    del V
    num = _chain(phi_Q, phi_K.swapaxes(-1, -2), V_h)  # (..., n_heads, n_T, d/n_heads)
    den = phi_Q @ phi_K.swapaxes(-1, -2).sum(axis=-1, keepdims=True)  # (..., n_heads, n_T, 1)
    A_h = (1/den) * num  # (..., n_heads, n_T, d/n_heads)
    A = _merge_heads(A_h)  # (..., n_T, d)
    del A_h
    cache = {"X": X, "W_q_W_k_W_v": W_q_W_k_W_v, "Q": Q, "K": K, "phi_Q": phi_Q, "phi_K": phi_K, "V_h": V_h, "num": num, "den": den, "n_heads": n_heads, "feature_map": feature_map, "d": d, "out_shape": A.shape, "out_dtype": A.dtype, "dtype": dtype}
    return A.astype(dtype, copy=False), cache


def backward(grad_out, cache):
    """Gradients of the loss given ``grad_out`` = ∂L/∂A: a dict keyed by argument name."""
    X = cache["X"]
    W_q_W_k_W_v = cache["W_q_W_k_W_v"]
    Q = cache["Q"]
    K = cache["K"]
    phi_Q = cache["phi_Q"]
    phi_K = cache["phi_K"]
    V_h = cache["V_h"]
    num = cache["num"]
    den = cache["den"]
    n_heads = cache["n_heads"]
    feature_map = cache["feature_map"]
    d = cache["d"]
    dtype = cache["dtype"]
    if grad_out.shape != cache["out_shape"]:
        raise ValueError(f"grad_out: expected shape {cache['out_shape']}, got {grad_out.shape}")
    grad_out = grad_out.astype(cache["out_dtype"], copy=False)  # the dtype the forward computed in
    del cache  # each array is released after its last use below
    # grad of A_h, used in: A = merge_h(A_h)
    dA_h = _split_heads(grad_out, n_heads)  # (..., n_heads, n_T, d/n_heads)
    # grad of den, used in: A_h = ((1/den) 1ᵀ) ∘ num
    dden = _row_dot(dA_h, num)  # (..., n_heads, n_T, 1), updated in place
    dden *= -1/den**2
    del num
    # grad of num, used in: A_h = ((1/den) 1ᵀ) ∘ num
    dnum = dA_h * (1/den)  # (..., n_heads, n_T, d/n_heads)
    del dA_h, den
    # grad of V_h, used in: num = phi_Q phi_Kᵀ V_h
    dV_h = _chain(phi_K, phi_Q.swapaxes(-1, -2), dnum)  # (..., n_heads, n_T, d/n_heads)
    # grad of phi_K, used in: num = phi_Q phi_Kᵀ V_h; den = phi_Q (phi_Kᵀ 1)
    dphi_K = dden.swapaxes(-1, -2) @ phi_Q + _chain(V_h, dnum.swapaxes(-1, -2), phi_Q)  # (..., n_heads, n_T, d/n_heads)
    del phi_Q
    # grad of phi_Q, used in: num = phi_Q phi_Kᵀ V_h; den = phi_Q (phi_Kᵀ 1)
    dphi_Q = dden * phi_K.sum(axis=-2, keepdims=True) + _chain(dnum, V_h.swapaxes(-1, -2), phi_K)  # (..., n_heads, n_T, d/n_heads)
    del V_h, dden, dnum, phi_K
    # grad of V, used in: V_h = split_h(V)
    dV = _merge_heads(dV_h)  # (..., n_T, d)
    del dV_h
    # grad of K, used in: phi_K = feature_map(split_h(K))
    dK = _merge_heads(dphi_K * _FEATURE_MAP_GRAD[feature_map](_split_heads(K, n_heads)))  # (..., n_T, d)
    del K, dphi_K
    # grad of Q, used in: phi_Q = feature_map(split_h(Q))
    dQ = _merge_heads(dphi_Q * _FEATURE_MAP_GRAD[feature_map](_split_heads(Q, n_heads)))  # (..., n_T, d)
    del Q, dphi_Q
    # common subexpression
    t1 = _side_by_side(dQ, dK, dV)  # (..., n_T, 3*d)
    # grad of X, used in: Q = X W_q + 1 b_qᵀ; K = X W_k + 1 b_kᵀ; V = X W_v + 1 b_vᵀ
    dX = _rows_matmul(t1, W_q_W_k_W_v.swapaxes(-1, -2))  # (..., n_T, d)
    del W_q_W_k_W_v
    # the weights' gradients as one product
    dW_q_W_k_W_v = X.reshape(-1, d).T @ t1.reshape(-1, 3*d)  # (d, 3*d)
    del X, t1
    # grad of W_q, used in: Q = X W_q + 1 b_qᵀ
    dW_q = dW_q_W_k_W_v[..., 0:d]  # (d, d)
    # grad of b_q, used in: Q = X W_q + 1 b_qᵀ
    db_q = dQ.reshape(-1, d).sum(axis=0)  # (d,)
    del dQ
    # grad of W_k, used in: K = X W_k + 1 b_kᵀ
    dW_k = dW_q_W_k_W_v[..., d:2*d]  # (d, d)
    # grad of b_k, used in: K = X W_k + 1 b_kᵀ
    db_k = dK.reshape(-1, d).sum(axis=0)  # (d,)
    del dK
    # grad of W_v, used in: V = X W_v + 1 b_vᵀ
    dW_v = dW_q_W_k_W_v[..., 2*d:3*d]  # (d, d)
    del dW_q_W_k_W_v
    # grad of b_v, used in: V = X W_v + 1 b_vᵀ
    db_v = dV.reshape(-1, d).sum(axis=0)  # (d,)
    del dV
    return {
        "X": dX.astype(dtype, copy=False),
        "W_q": dW_q.astype(dtype, copy=False),
        "b_q": db_q.astype(dtype, copy=False),
        "W_k": dW_k.astype(dtype, copy=False),
        "b_k": db_k.astype(dtype, copy=False),
        "W_v": dW_v.astype(dtype, copy=False),
        "b_v": db_v.astype(dtype, copy=False),
    }


def _jvp_forward(X, W_q, b_q, W_k, b_k, W_v, b_v, dX, dW_q, db_q, dW_k, db_k, dW_v, db_v, *, n_heads, feature_map='elu_plus_one'):
    """Linear attention (non-causal): returns ``(out, cache)``.

    X: input, frozen (..., n_T, d)
    W_q: parameter, frozen (d, d)
    b_q: parameter, frozen (d,)
    W_k: parameter, frozen (d, d)
    b_k: parameter, frozen (d,)
    W_v: parameter, frozen (d, d)
    b_v: parameter, frozen (d,)
    n_heads: configuration, required: number of heads; head h uses column block h
    feature_map: configuration, default 'elu_plus_one' (one of 'elu_plus_one', 'softplus'): positive feature map φ
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
    if feature_map not in ('elu_plus_one', 'softplus'):
        raise ValueError("feature_map must be one of ('elu_plus_one', 'softplus'), got " + repr(feature_map))
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
    phi_Q = _FEATURE_MAP[feature_map](_split_heads(Q, n_heads))  # (..., n_heads, n_T, d/n_heads)
    phi_K = _FEATURE_MAP[feature_map](_split_heads(K, n_heads))  # (..., n_heads, n_T, d/n_heads)
    V_h = _split_heads(V, n_heads)  # (..., n_heads, n_T, d/n_heads)
    del V
    num = _chain(phi_Q, phi_K.swapaxes(-1, -2), V_h)  # (..., n_heads, n_T, d/n_heads)
    den = phi_Q @ phi_K.swapaxes(-1, -2).sum(axis=-1, keepdims=True)  # (..., n_heads, n_T, 1)
    W_q_W_k_W_v = _side_by_side(W_q, W_k, W_v)  # (d, 3*d)
    dX_W_q_W_k_W_v = _rows_matmul(dX, W_q_W_k_W_v)  # (..., n_T, 3*d)
    del W_q_W_k_W_v
    dQ = dX_W_q_W_k_W_v[..., 0:d] + X_W_q_W_k_W_v_dW_q_dW_k_dW_v[..., 3*d:4*d] + db_q  # (..., n_T, d)
    dK = dX_W_q_W_k_W_v[..., d:2*d] + X_W_q_W_k_W_v_dW_q_dW_k_dW_v[..., 4*d:5*d] + db_k  # (..., n_T, d)
    dV = dX_W_q_W_k_W_v[..., 2*d:3*d] + X_W_q_W_k_W_v_dW_q_dW_k_dW_v[..., 5*d:6*d] + db_v  # (..., n_T, d)
    del X_W_q_W_k_W_v_dW_q_dW_k_dW_v, dX_W_q_W_k_W_v
    dphi_Q = _FEATURE_MAP_GRAD[feature_map](_split_heads(Q, n_heads)) * _split_heads(dQ, n_heads)  # (..., n_heads, n_T, d/n_heads)
    del Q, dQ
    dphi_K = _FEATURE_MAP_GRAD[feature_map](_split_heads(K, n_heads)) * _split_heads(dK, n_heads)  # (..., n_heads, n_T, d/n_heads)
    del K, dK
    dV_h = _split_heads(dV, n_heads)  # (..., n_heads, n_T, d/n_heads)
    del dV
    dnum = _chain(dphi_Q, phi_K.swapaxes(-1, -2), V_h) + _chain(phi_Q, dphi_K.swapaxes(-1, -2), V_h) + _chain(phi_Q, phi_K.swapaxes(-1, -2), dV_h)  # (..., n_heads, n_T, d/n_heads)
    del V_h, dV_h
    dden = dphi_Q @ phi_K.swapaxes(-1, -2).sum(axis=-1, keepdims=True)  # (..., n_heads, n_T, 1), updated in place
    dden += phi_Q @ dphi_K.swapaxes(-1, -2).sum(axis=-1, keepdims=True)
    del dphi_K, dphi_Q, phi_K, phi_Q
    dA_h = dnum  # (..., n_heads, n_T, d/n_heads), dnum's array, updated in place
    dA_h *= 1/den
    dA_h += ((-1/den**2) * dden) * num
    del dden, den, dnum, num
    dA = _merge_heads(dA_h)  # (..., n_T, d)
    del dA_h
    cache = {"out_shape": dA.shape, "out_dtype": dA.dtype, "dtype": dtype}
    return dA.astype(dtype, copy=False), cache


def jvp(X, W_q, b_q, W_k, b_k, W_v, b_v, dX=None, dW_q=None, db_q=None, dW_k=None, db_k=None, dW_v=None, db_v=None, *, n_heads, feature_map='elu_plus_one'):
    """The tangent of A for the arguments' tangents: forward mode, pushed forward from each
    primitive's differential (``backprop show linear_attention --jvp``).

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
    return _jvp_forward(X, W_q, b_q, W_k, b_k, W_v, b_v, dX, dW_q, db_q, dW_k, db_k, dW_v, db_v, n_heads=n_heads, feature_map=feature_map)[0]
