# GENERATED FILE: DO NOT EDIT.
# Derived by pedestrian-backprop from the forward definition in derive/components/llama_block.py.
# Regenerate with: backprop generate --target numba
"""LLaMA decoder layer (`llama_block`): forward pass and derived backward pass.

Forward definition (one sequence; inputs may carry leading batch dimensions):
    norm_1_ms = (1/d) (X ∘ X) 1
    norm_1_r = 1/sqrt(eps + norm_1_ms)
    norm_1_Y = (norm_1_r 1ᵀ) ∘ X ∘ (1 input_norm_wᵀ)
    attn_Q_h = split_h(norm_1_Y W_qᵀ)
    attn_K_h = split_h(norm_1_Y W_kᵀ)
    attn_V_h = split_h(norm_1_Y W_vᵀ)
    attn_cos = cos(Θ_rope_theta(n_T, d_h))
    attn_sin = sin(Θ_rope_theta(n_T, d_h))
    attn_Q_r = attn_Q_h ∘ attn_cos + rotate_half(attn_Q_h) ∘ attn_sin
    attn_K_r = attn_K_h ∘ attn_cos + rotate_half(attn_K_h) ∘ attn_sin
    attn_K_s = share_n_heads(attn_K_r)
    attn_V_s = share_n_heads(attn_V_h)
    attn_S = (1/sqrt(d_h)) attn_Q_r attn_K_sᵀ
    attn_P = softmax[True](attn_S)
    attn_A = merge_h(attn_P attn_V_s)
    h = X + attn_A W_oᵀ
    norm_2_ms = (1/d) (h ∘ h) 1
    norm_2_r = 1/sqrt(eps + norm_2_ms)
    norm_2_Y = (norm_2_r 1ᵀ) ∘ h ∘ (1 post_norm_wᵀ)
    mlp_gate = norm_2_Y W_gateᵀ
    mlp_up = norm_2_Y W_upᵀ
    mlp_H = silu(mlp_gate) ∘ mlp_up
    mlp_Y = mlp_H W_downᵀ
    Y = h + mlp_Y

Gradients, as derived:
    ∂L/∂X = Δ_h + Δ_norm_1_Y ∘ (norm_1_r 1ᵀ) ∘ (1 input_norm_wᵀ) + (2/d) ((Δ_norm_1_ms 1ᵀ) ∘ X)
    ∂L/∂input_norm_w = Σ_batch (1ᵀ (Δ_norm_1_Y ∘ (norm_1_r 1ᵀ) ∘ X))
    ∂L/∂W_q = Σ_batch (merge_h(Δ_attn_Q_h)ᵀ norm_1_Y)
    ∂L/∂W_k = Σ_batch (merge_h(Δ_attn_K_h)ᵀ norm_1_Y)
    ∂L/∂W_v = Σ_batch (merge_h(Δ_attn_V_h)ᵀ norm_1_Y)
    ∂L/∂W_o = Σ_batch (Δ_hᵀ attn_A)
    ∂L/∂post_norm_w = Σ_batch (1ᵀ (Δ_norm_2_Y ∘ (norm_2_r 1ᵀ) ∘ h))
    ∂L/∂W_gate = Σ_batch (Δ_mlp_gateᵀ norm_2_Y)
    ∂L/∂W_up = Σ_batch (Δ_mlp_upᵀ norm_2_Y)
    ∂L/∂W_down = Σ_batch (Δ_mlp_Yᵀ mlp_H)

Optimisations (each keeps the values within rounding):
    - read-forward-values: the backward reads norm_1_ms, norm_2_ms through other forward values, so the cache does not hold them
    - fused: 7 runs of entrywise statements and row reductions, each one Numba kernel making one pass over the rows (_forward_5, _forward_6, _forward_7, _backward_1, _backward_2, _backward_3, _backward_4)
    - overwrite: attn_S, attn_P, h, dmlp_gate, dnorm_2_Y, dattn_S, dattn_K_s, dattn_Q_r, dnorm_1_Y updated in place (+=, *=) in the array the statement made or in one no longer needed, not a new array per operation
    - rows-matmul: a batched value times a weight is one 2-D product over all its rows
    - causal mask: made once per size and reused
    - in-place functions: each scalar function computes in buffers of its own (kept between calls)
    - liveness: every array is released after its last use (del); the backward drops its cache
"""
import functools
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


def _silu(x, times=None):
    """Computed in buffers of its own, each operation in place; ``times``: multiplied into it."""
    b1 = np.multiply(x, -1.0, out=None if times is None else _scratch("silu.b1", x))
    np.exp(b1, out=b1)
    b1 += 1.0
    np.reciprocal(b1, out=b1)
    np.multiply(b1, x, out=b1)
    if times is None:
        return b1
    times *= b1
    return times


def _silu_grad(x, times=None):
    """Computed in buffers of its own, each operation in place; ``times``: multiplied into it."""
    t0 = np.multiply(x, -1.0, out=None if times is None else _scratch("silu_grad.t0", x))
    np.exp(t0, out=t0)
    t1 = t0.copy()
    t1 += 1.0
    np.reciprocal(t1, out=t1)
    np.multiply(t0, t1, out=t0)
    np.multiply(t0, x, out=t0)
    t0 += 1.0
    np.multiply(t0, t1, out=t0)
    if times is None:
        return t0
    times *= t0
    return times


@_kernel
def _backward_1_rows(a_grad_out, o_dmlp_Y, n_d):
    """dmlp_Y: row by row."""
    T = a_grad_out.dtype.type
    t_d = T(n_d)
    for r in range(a_grad_out.shape[0]):
        # grad of mlp_Y, used in: Y = h + mlp_Y
        for j in range(n_d):
            o_dmlp_Y[r, j] = a_grad_out[r, j]


def _backward_1(grad_out, d):
    """dmlp_Y: one pass over the rows of grad_out (``_backward_1_rows``)."""
    lead = grad_out.shape[:-1]
    o_dmlp_Y = np.empty(lead + (d,), grad_out.dtype)
    _launch(_backward_1_rows, grad_out.reshape(math.prod(grad_out.shape[:-1]), grad_out.shape[-1]), o_dmlp_Y.reshape(math.prod(o_dmlp_Y.shape[:-1]), o_dmlp_Y.shape[-1]), d)
    return o_dmlp_Y


@_kernel
def _backward_2_rows(a_dnorm_2_Y, a_h, a_post_norm_w, a_norm_2_r, a_grad_out, o_dh, n_d):
    """dnorm_2_r, dnorm_2_ms, dh: row by row."""
    T = a_dnorm_2_Y.dtype.type
    t_d = T(n_d)
    k1 = T(-1/2)
    k2 = T(2)/t_d
    for r in range(a_dnorm_2_Y.shape[0]):
        # grad of norm_2_r, used in: norm_2_Y = (norm_2_r 1ᵀ) ∘ h ∘ (1 post_norm_wᵀ)
        s1 = 0.0
        for j in range(n_d):
            s1 += (a_dnorm_2_Y[r, j] * a_h[r, j] * a_post_norm_w[j])
        v_dnorm_2_r = T(s1)
        # grad of norm_2_ms, used in: norm_2_r = 1/sqrt(eps + norm_2_ms)
        x2 = a_norm_2_r[r, 0]
        v_dnorm_2_ms = (k1 * (v_dnorm_2_r * ((x2 * x2 * x2))))
        # grad of h, used in: norm_2_ms = (1/d) (h ∘ h) 1; norm_2_Y = (norm_2_r 1ᵀ) ∘ h ∘ (1 post_norm_wᵀ); Y = h + mlp_Y
        for j in range(n_d):
            o_dh[r, j] = (a_grad_out[r, j] + (a_dnorm_2_Y[r, j] * a_norm_2_r[r, 0] * a_post_norm_w[j]) + (k2 * (v_dnorm_2_ms * a_h[r, j])))


def _backward_2(dnorm_2_Y, h, post_norm_w, norm_2_r, grad_out, d):
    """dh: one pass over the rows of dnorm_2_Y (``_backward_2_rows``)."""
    lead = dnorm_2_Y.shape[:-1]
    o_dh = np.empty(lead + (d,), dnorm_2_Y.dtype)
    _launch(_backward_2_rows, dnorm_2_Y.reshape(math.prod(dnorm_2_Y.shape[:-1]), dnorm_2_Y.shape[-1]), h.reshape(math.prod(h.shape[:-1]), h.shape[-1]), post_norm_w, norm_2_r.reshape(math.prod(norm_2_r.shape[:-1]), norm_2_r.shape[-1]), grad_out.reshape(math.prod(grad_out.shape[:-1]), grad_out.shape[-1]), o_dh.reshape(math.prod(o_dh.shape[:-1]), o_dh.shape[-1]), d)
    return o_dh


@_kernel
def _backward_3_rows(a_dnorm_1_Y, a_X, a_input_norm_w, a_norm_1_r, a_dh, o_dX, o_dinput_norm_w, n_d):
    """dnorm_1_r, dnorm_1_ms, dX, dinput_norm_w: row by row."""
    T = a_dnorm_1_Y.dtype.type
    t_d = T(n_d)
    k1 = T(-1/2)
    k2 = T(2)/t_d
    for r in range(a_dnorm_1_Y.shape[0]):
        # grad of norm_1_r, used in: norm_1_Y = (norm_1_r 1ᵀ) ∘ X ∘ (1 input_norm_wᵀ)
        s1 = 0.0
        for j in range(n_d):
            s1 += (a_dnorm_1_Y[r, j] * a_X[r, j] * a_input_norm_w[j])
        v_dnorm_1_r = T(s1)
        # grad of norm_1_ms, used in: norm_1_r = 1/sqrt(eps + norm_1_ms)
        x2 = a_norm_1_r[r, 0]
        v_dnorm_1_ms = (k1 * (v_dnorm_1_r * ((x2 * x2 * x2))))
        # grad of X, used in: norm_1_ms = (1/d) (X ∘ X) 1; norm_1_Y = (norm_1_r 1ᵀ) ∘ X ∘ (1 input_norm_wᵀ); h = X + attn_A W_oᵀ
        for j in range(n_d):
            o_dX[r, j] = (a_dh[r, j] + (a_dnorm_1_Y[r, j] * a_norm_1_r[r, 0] * a_input_norm_w[j]) + (k2 * (v_dnorm_1_ms * a_X[r, j])))
        # grad of input_norm_w, used in: norm_1_Y = (norm_1_r 1ᵀ) ∘ X ∘ (1 input_norm_wᵀ)
        for j in range(n_d):
            o_dinput_norm_w[j] += (a_dnorm_1_Y[r, j] * a_norm_1_r[r, 0] * a_X[r, j])


def _backward_3(dnorm_1_Y, X, input_norm_w, norm_1_r, dh, d):
    """dX, dinput_norm_w: one pass over the rows of dnorm_1_Y (``_backward_3_rows``)."""
    lead = dnorm_1_Y.shape[:-1]
    o_dX = np.empty(lead + (d,), dnorm_1_Y.dtype)
    o_dinput_norm_w = np.zeros(d, np.float64)
    _launch(_backward_3_rows, dnorm_1_Y.reshape(math.prod(dnorm_1_Y.shape[:-1]), dnorm_1_Y.shape[-1]), X.reshape(math.prod(X.shape[:-1]), X.shape[-1]), input_norm_w, norm_1_r.reshape(math.prod(norm_1_r.shape[:-1]), norm_1_r.shape[-1]), dh.reshape(math.prod(dh.shape[:-1]), dh.shape[-1]), o_dX.reshape(math.prod(o_dX.shape[:-1]), o_dX.shape[-1]), o_dinput_norm_w, d)
    return o_dX, o_dinput_norm_w.astype(dnorm_1_Y.dtype)


@_kernel
def _backward_4_rows(a_dnorm_2_Y, a_norm_2_r, a_h, o_dpost_norm_w, n_d):
    """dpost_norm_w: row by row."""
    T = a_dnorm_2_Y.dtype.type
    t_d = T(n_d)
    for r in range(a_dnorm_2_Y.shape[0]):
        # grad of post_norm_w, used in: norm_2_Y = (norm_2_r 1ᵀ) ∘ h ∘ (1 post_norm_wᵀ)
        for j in range(n_d):
            o_dpost_norm_w[j] += (a_dnorm_2_Y[r, j] * a_norm_2_r[r, 0] * a_h[r, j])


def _backward_4(dnorm_2_Y, norm_2_r, h, d):
    """dpost_norm_w: one pass over the rows of dnorm_2_Y (``_backward_4_rows``)."""
    lead = dnorm_2_Y.shape[:-1]
    o_dpost_norm_w = np.zeros(d, np.float64)
    _launch(_backward_4_rows, dnorm_2_Y.reshape(math.prod(dnorm_2_Y.shape[:-1]), dnorm_2_Y.shape[-1]), norm_2_r.reshape(math.prod(norm_2_r.shape[:-1]), norm_2_r.shape[-1]), h.reshape(math.prod(h.shape[:-1]), h.shape[-1]), o_dpost_norm_w, d)
    return o_dpost_norm_w.astype(dnorm_2_Y.dtype)


@_kernel
def _forward_5_rows(a_X, a_input_norm_w, o_norm_1_r, o_norm_1_Y, n_d, n_eps):
    """norm_1_ms, norm_1_r, norm_1_Y: row by row."""
    T = a_X.dtype.type
    t_d = T(n_d)
    t_eps = T(n_eps)
    k1 = (T(1) / (t_d))
    for r in range(a_X.shape[0]):
        # per-token mean square
        s1 = 0.0
        for j in range(n_d):
            s1 += (a_X[r, j] * a_X[r, j])
        v_norm_1_ms = (k1 * T(s1))
        # per-token reciprocal root mean square
        x2 = v_norm_1_ms
        v_norm_1_r = ((T(1) / math.sqrt(t_eps + x2)))
        o_norm_1_r[r, 0] = v_norm_1_r
        for j in range(n_d):
            o_norm_1_Y[r, j] = (v_norm_1_r * a_X[r, j] * a_input_norm_w[j])


def _forward_5(X, input_norm_w, d, eps):
    """norm_1_r, norm_1_Y: one pass over the rows of X (``_forward_5_rows``)."""
    lead = X.shape[:-1]
    o_norm_1_r = np.empty(lead + (1,), X.dtype)
    o_norm_1_Y = np.empty(lead + (d,), X.dtype)
    _launch(_forward_5_rows, X.reshape(math.prod(X.shape[:-1]), X.shape[-1]), input_norm_w, o_norm_1_r.reshape(math.prod(o_norm_1_r.shape[:-1]), o_norm_1_r.shape[-1]), o_norm_1_Y.reshape(math.prod(o_norm_1_Y.shape[:-1]), o_norm_1_Y.shape[-1]), d, eps)
    return o_norm_1_r, o_norm_1_Y


@_kernel
def _forward_6_rows(a_h, a_post_norm_w, o_norm_2_r, o_norm_2_Y, n_d, n_eps):
    """norm_2_ms, norm_2_r, norm_2_Y: row by row."""
    T = a_h.dtype.type
    t_d = T(n_d)
    t_eps = T(n_eps)
    k1 = (T(1) / (t_d))
    for r in range(a_h.shape[0]):
        # per-token mean square
        s1 = 0.0
        for j in range(n_d):
            s1 += (a_h[r, j] * a_h[r, j])
        v_norm_2_ms = (k1 * T(s1))
        # per-token reciprocal root mean square
        x2 = v_norm_2_ms
        v_norm_2_r = ((T(1) / math.sqrt(t_eps + x2)))
        o_norm_2_r[r, 0] = v_norm_2_r
        for j in range(n_d):
            o_norm_2_Y[r, j] = (v_norm_2_r * a_h[r, j] * a_post_norm_w[j])


def _forward_6(h, post_norm_w, d, eps):
    """norm_2_r, norm_2_Y: one pass over the rows of h (``_forward_6_rows``)."""
    lead = h.shape[:-1]
    o_norm_2_r = np.empty(lead + (1,), h.dtype)
    o_norm_2_Y = np.empty(lead + (d,), h.dtype)
    _launch(_forward_6_rows, h.reshape(math.prod(h.shape[:-1]), h.shape[-1]), post_norm_w, o_norm_2_r.reshape(math.prod(o_norm_2_r.shape[:-1]), o_norm_2_r.shape[-1]), o_norm_2_Y.reshape(math.prod(o_norm_2_Y.shape[:-1]), o_norm_2_Y.shape[-1]), d, eps)
    return o_norm_2_r, o_norm_2_Y


@_kernel
def _forward_7_rows(a_h, a_mlp_Y, o_Y, n_d):
    """Y: row by row."""
    T = a_h.dtype.type
    t_d = T(n_d)
    for r in range(a_h.shape[0]):
        # second residual
        for j in range(n_d):
            o_Y[r, j] = (a_h[r, j] + a_mlp_Y[r, j])


def _forward_7(h, mlp_Y, d):
    """Y: one pass over the rows of h (``_forward_7_rows``)."""
    lead = h.shape[:-1]
    o_Y = np.empty(lead + (d,), h.dtype)
    _launch(_forward_7_rows, h.reshape(math.prod(h.shape[:-1]), h.shape[-1]), mlp_Y.reshape(math.prod(mlp_Y.shape[:-1]), mlp_Y.shape[-1]), o_Y.reshape(math.prod(o_Y.shape[:-1]), o_Y.shape[-1]), d)
    return o_Y


@_kernel
def _jvp_forward_8_rows(a_X, a_input_norm_w, o_norm_1_ms, o_norm_1_r, o_norm_1_Y, n_d, n_eps):
    """norm_1_ms, norm_1_r, norm_1_Y: row by row."""
    T = a_X.dtype.type
    t_d = T(n_d)
    t_eps = T(n_eps)
    k1 = (T(1) / (t_d))
    for r in range(a_X.shape[0]):
        # per-token mean square
        s1 = 0.0
        for j in range(n_d):
            s1 += (a_X[r, j] * a_X[r, j])
        v_norm_1_ms = (k1 * T(s1))
        o_norm_1_ms[r, 0] = v_norm_1_ms
        # per-token reciprocal root mean square
        x2 = v_norm_1_ms
        v_norm_1_r = ((T(1) / math.sqrt(t_eps + x2)))
        o_norm_1_r[r, 0] = v_norm_1_r
        for j in range(n_d):
            o_norm_1_Y[r, j] = (v_norm_1_r * a_X[r, j] * a_input_norm_w[j])


def _jvp_forward_8(X, input_norm_w, d, eps):
    """norm_1_ms, norm_1_r, norm_1_Y: one pass over the rows of X (``_jvp_forward_8_rows``)."""
    lead = X.shape[:-1]
    o_norm_1_ms = np.empty(lead + (1,), X.dtype)
    o_norm_1_r = np.empty(lead + (1,), X.dtype)
    o_norm_1_Y = np.empty(lead + (d,), X.dtype)
    _launch(_jvp_forward_8_rows, X.reshape(math.prod(X.shape[:-1]), X.shape[-1]), input_norm_w, o_norm_1_ms.reshape(math.prod(o_norm_1_ms.shape[:-1]), o_norm_1_ms.shape[-1]), o_norm_1_r.reshape(math.prod(o_norm_1_r.shape[:-1]), o_norm_1_r.shape[-1]), o_norm_1_Y.reshape(math.prod(o_norm_1_Y.shape[:-1]), o_norm_1_Y.shape[-1]), d, eps)
    return o_norm_1_ms, o_norm_1_r, o_norm_1_Y


@_kernel
def _jvp_forward_9_rows(a_h, a_post_norm_w, o_norm_2_ms, o_norm_2_r, o_norm_2_Y, n_d, n_eps):
    """norm_2_ms, norm_2_r, norm_2_Y: row by row."""
    T = a_h.dtype.type
    t_d = T(n_d)
    t_eps = T(n_eps)
    k1 = (T(1) / (t_d))
    for r in range(a_h.shape[0]):
        # per-token mean square
        s1 = 0.0
        for j in range(n_d):
            s1 += (a_h[r, j] * a_h[r, j])
        v_norm_2_ms = (k1 * T(s1))
        o_norm_2_ms[r, 0] = v_norm_2_ms
        # per-token reciprocal root mean square
        x2 = v_norm_2_ms
        v_norm_2_r = ((T(1) / math.sqrt(t_eps + x2)))
        o_norm_2_r[r, 0] = v_norm_2_r
        for j in range(n_d):
            o_norm_2_Y[r, j] = (v_norm_2_r * a_h[r, j] * a_post_norm_w[j])


def _jvp_forward_9(h, post_norm_w, d, eps):
    """norm_2_ms, norm_2_r, norm_2_Y: one pass over the rows of h (``_jvp_forward_9_rows``)."""
    lead = h.shape[:-1]
    o_norm_2_ms = np.empty(lead + (1,), h.dtype)
    o_norm_2_r = np.empty(lead + (1,), h.dtype)
    o_norm_2_Y = np.empty(lead + (d,), h.dtype)
    _launch(_jvp_forward_9_rows, h.reshape(math.prod(h.shape[:-1]), h.shape[-1]), post_norm_w, o_norm_2_ms.reshape(math.prod(o_norm_2_ms.shape[:-1]), o_norm_2_ms.shape[-1]), o_norm_2_r.reshape(math.prod(o_norm_2_r.shape[:-1]), o_norm_2_r.shape[-1]), o_norm_2_Y.reshape(math.prod(o_norm_2_Y.shape[:-1]), o_norm_2_Y.shape[-1]), d, eps)
    return o_norm_2_ms, o_norm_2_r, o_norm_2_Y


@_kernel
def _jvp_forward_10_rows(a_dX, a_X, o_dnorm_1_ms, n_d):
    """dnorm_1_ms: row by row."""
    T = a_dX.dtype.type
    t_d = T(n_d)
    k1 = (T(1) / (t_d))
    k2 = (T(1) / (t_d))
    for r in range(a_dX.shape[0]):
        # the tangent of norm_1_ms
        s1 = 0.0
        for j in range(n_d):
            s1 += (a_dX[r, j] * a_X[r, j])
        s2 = 0.0
        for j in range(n_d):
            s2 += (a_X[r, j] * a_dX[r, j])
        v_dnorm_1_ms = ((k1 * T(s1)) + (k2 * T(s2)))
        o_dnorm_1_ms[r, 0] = v_dnorm_1_ms


def _jvp_forward_10(dX, X, d):
    """dnorm_1_ms: one pass over the rows of dX (``_jvp_forward_10_rows``)."""
    lead = dX.shape[:-1]
    o_dnorm_1_ms = np.empty(lead + (1,), dX.dtype)
    _launch(_jvp_forward_10_rows, dX.reshape(math.prod(dX.shape[:-1]), dX.shape[-1]), X.reshape(math.prod(X.shape[:-1]), X.shape[-1]), o_dnorm_1_ms.reshape(math.prod(o_dnorm_1_ms.shape[:-1]), o_dnorm_1_ms.shape[-1]), d)
    return o_dnorm_1_ms


@_kernel
def _jvp_forward_11_rows(a_dnorm_1_r, a_X, a_input_norm_w, a_norm_1_r, a_dX, a_dinput_norm_w, o_dnorm_1_Y, n_d):
    """dnorm_1_Y: row by row."""
    T = a_dnorm_1_r.dtype.type
    t_d = T(n_d)
    for r in range(a_dnorm_1_r.shape[0]):
        # the tangent of norm_1_Y
        for j in range(n_d):
            o_dnorm_1_Y[r, j] = ((a_dnorm_1_r[r, 0] * a_X[r, j] * a_input_norm_w[j]) + (a_norm_1_r[r, 0] * a_dX[r, j] * a_input_norm_w[j]) + (a_norm_1_r[r, 0] * a_X[r, j] * a_dinput_norm_w[j]))


def _jvp_forward_11(dnorm_1_r, X, input_norm_w, norm_1_r, dX, dinput_norm_w, d):
    """dnorm_1_Y: one pass over the rows of dnorm_1_r (``_jvp_forward_11_rows``)."""
    lead = dnorm_1_r.shape[:-1]
    o_dnorm_1_Y = np.empty(lead + (d,), dnorm_1_r.dtype)
    _launch(_jvp_forward_11_rows, dnorm_1_r.reshape(math.prod(dnorm_1_r.shape[:-1]), dnorm_1_r.shape[-1]), X.reshape(math.prod(X.shape[:-1]), X.shape[-1]), input_norm_w, norm_1_r.reshape(math.prod(norm_1_r.shape[:-1]), norm_1_r.shape[-1]), dX.reshape(math.prod(dX.shape[:-1]), dX.shape[-1]), dinput_norm_w, o_dnorm_1_Y.reshape(math.prod(o_dnorm_1_Y.shape[:-1]), o_dnorm_1_Y.shape[-1]), d)
    return o_dnorm_1_Y


@_kernel
def _jvp_forward_12_rows(a_dh, a_h, o_dnorm_2_ms, n_d):
    """dnorm_2_ms: row by row."""
    T = a_dh.dtype.type
    t_d = T(n_d)
    k1 = (T(1) / (t_d))
    k2 = (T(1) / (t_d))
    for r in range(a_dh.shape[0]):
        # the tangent of norm_2_ms
        s1 = 0.0
        for j in range(n_d):
            s1 += (a_dh[r, j] * a_h[r, j])
        s2 = 0.0
        for j in range(n_d):
            s2 += (a_h[r, j] * a_dh[r, j])
        v_dnorm_2_ms = ((k1 * T(s1)) + (k2 * T(s2)))
        o_dnorm_2_ms[r, 0] = v_dnorm_2_ms


def _jvp_forward_12(dh, h, d):
    """dnorm_2_ms: one pass over the rows of dh (``_jvp_forward_12_rows``)."""
    lead = dh.shape[:-1]
    o_dnorm_2_ms = np.empty(lead + (1,), dh.dtype)
    _launch(_jvp_forward_12_rows, dh.reshape(math.prod(dh.shape[:-1]), dh.shape[-1]), h.reshape(math.prod(h.shape[:-1]), h.shape[-1]), o_dnorm_2_ms.reshape(math.prod(o_dnorm_2_ms.shape[:-1]), o_dnorm_2_ms.shape[-1]), d)
    return o_dnorm_2_ms


@_kernel
def _jvp_forward_13_rows(a_dnorm_2_r, a_h, a_post_norm_w, a_norm_2_r, a_dh, a_dpost_norm_w, o_dnorm_2_Y, n_d):
    """dnorm_2_Y: row by row."""
    T = a_dnorm_2_r.dtype.type
    t_d = T(n_d)
    for r in range(a_dnorm_2_r.shape[0]):
        # the tangent of norm_2_Y
        for j in range(n_d):
            o_dnorm_2_Y[r, j] = ((a_dnorm_2_r[r, 0] * a_h[r, j] * a_post_norm_w[j]) + (a_norm_2_r[r, 0] * a_dh[r, j] * a_post_norm_w[j]) + (a_norm_2_r[r, 0] * a_h[r, j] * a_dpost_norm_w[j]))


def _jvp_forward_13(dnorm_2_r, h, post_norm_w, norm_2_r, dh, dpost_norm_w, d):
    """dnorm_2_Y: one pass over the rows of dnorm_2_r (``_jvp_forward_13_rows``)."""
    lead = dnorm_2_r.shape[:-1]
    o_dnorm_2_Y = np.empty(lead + (d,), dnorm_2_r.dtype)
    _launch(_jvp_forward_13_rows, dnorm_2_r.reshape(math.prod(dnorm_2_r.shape[:-1]), dnorm_2_r.shape[-1]), h.reshape(math.prod(h.shape[:-1]), h.shape[-1]), post_norm_w, norm_2_r.reshape(math.prod(norm_2_r.shape[:-1]), norm_2_r.shape[-1]), dh.reshape(math.prod(dh.shape[:-1]), dh.shape[-1]), dpost_norm_w, o_dnorm_2_Y.reshape(math.prod(o_dnorm_2_Y.shape[:-1]), o_dnorm_2_Y.shape[-1]), d)
    return o_dnorm_2_Y


@_kernel
def _jvp_forward_14_rows(a_dh, a_dmlp_Y, o_dY, n_d):
    """dY: row by row."""
    T = a_dh.dtype.type
    t_d = T(n_d)
    for r in range(a_dh.shape[0]):
        # the tangent of Y
        for j in range(n_d):
            o_dY[r, j] = (a_dh[r, j] + a_dmlp_Y[r, j])


def _jvp_forward_14(dh, dmlp_Y, d):
    """dY: one pass over the rows of dh (``_jvp_forward_14_rows``)."""
    lead = dh.shape[:-1]
    o_dY = np.empty(lead + (d,), dh.dtype)
    _launch(_jvp_forward_14_rows, dh.reshape(math.prod(dh.shape[:-1]), dh.shape[-1]), dmlp_Y.reshape(math.prod(dmlp_Y.shape[:-1]), dmlp_Y.shape[-1]), o_dY.reshape(math.prod(o_dY.shape[:-1]), o_dY.shape[-1]), d)
    return o_dY


def forward(X, input_norm_w, W_q, W_k, W_v, W_o, post_norm_w, W_gate, W_up, W_down, *, n_heads, n_kv_heads, rope_theta=10000.0, eps=1e-06):
    """LLaMA decoder layer: returns ``(out, cache)``.

    n_heads: configuration, required: query heads
    n_kv_heads: configuration, required: key and value heads
    rope_theta: configuration, default 10000.0: the rotary embeddings' base
    eps: configuration, default 1e-06: RMSNorm epsilon
    X: input (..., n_T, d): the layer's input (the residual stream)
    input_norm_w: parameter (d,): input_layernorm
    W_q: parameter (d_h*n_heads, d): q_proj
    W_k: parameter (d_h*n_kv_heads, d): k_proj
    W_v: parameter (d_h*n_kv_heads, d): v_proj
    W_o: parameter (d, d_h*n_heads): o_proj
    post_norm_w: parameter (d,): post_attention_layernorm
    W_gate: parameter (d_ff, d): gate_proj
    W_up: parameter (d_ff, d): up_proj
    W_down: parameter (d, d_ff): down_proj
    """
    X = np.asarray(X)
    input_norm_w = np.asarray(input_norm_w)
    W_q = np.asarray(W_q)
    W_k = np.asarray(W_k)
    W_v = np.asarray(W_v)
    W_o = np.asarray(W_o)
    post_norm_w = np.asarray(post_norm_w)
    W_gate = np.asarray(W_gate)
    W_up = np.asarray(W_up)
    W_down = np.asarray(W_down)
    dtype, compute_dtype = _check_dtypes({"X": X, "input_norm_w": input_norm_w, "W_q": W_q, "W_k": W_k, "W_v": W_v, "W_o": W_o, "post_norm_w": post_norm_w, "W_gate": W_gate, "W_up": W_up, "W_down": W_down}, {})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        X = X.astype(compute_dtype, copy=False)
        input_norm_w = input_norm_w.astype(compute_dtype, copy=False)
        W_q = W_q.astype(compute_dtype, copy=False)
        W_k = W_k.astype(compute_dtype, copy=False)
        W_v = W_v.astype(compute_dtype, copy=False)
        W_o = W_o.astype(compute_dtype, copy=False)
        post_norm_w = post_norm_w.astype(compute_dtype, copy=False)
        W_gate = W_gate.astype(compute_dtype, copy=False)
        W_up = W_up.astype(compute_dtype, copy=False)
        W_down = W_down.astype(compute_dtype, copy=False)
    n_heads = _check_count("n_heads", n_heads)
    n_kv_heads = _check_count("n_kv_heads", n_kv_heads)
    rope_theta = _check_number("rope_theta", rope_theta)
    eps = _check_number("eps", eps)
    dims = {}
    _check_shape("X", X, ("n_T", "d"), dims, batched=True)
    _check_shape("input_norm_w", input_norm_w, ("d",), dims, batched=False)
    _check_shape("W_q", W_q, (("d_h", n_heads, "n_heads"), "d"), dims, batched=False)
    _check_shape("W_k", W_k, (("d_h", n_kv_heads, "n_kv_heads"), "d"), dims, batched=False)
    _check_shape("W_v", W_v, (("d_h", n_kv_heads, "n_kv_heads"), "d"), dims, batched=False)
    _check_shape("W_o", W_o, ("d", ("d_h", n_heads, "n_heads")), dims, batched=False)
    _check_shape("post_norm_w", post_norm_w, ("d",), dims, batched=False)
    _check_shape("W_gate", W_gate, ("d_ff", "d"), dims, batched=False)
    _check_shape("W_up", W_up, ("d_ff", "d"), dims, batched=False)
    _check_shape("W_down", W_down, ("d", "d_ff"), dims, batched=False)
    n_T, d, d_h, d_ff = dims["n_T"], dims["d"], dims["d_h"], dims["d_ff"]
    if not (d_h % 2 == 0):
        raise ValueError('llama_attention: cos: rotary angles need an even number of columns, d_h; got ' + f"d_h={d_h}")
    if not (n_heads % n_kv_heads == 0):
        raise ValueError('llama_attention: K_s: n_heads must be a multiple of n_kv_heads (heads shared in groups); got ' + f"n_heads={n_heads}, n_kv_heads={n_kv_heads}")
    norm_1_r, norm_1_Y = _forward_5(X, input_norm_w, d, eps)  # (..., n_T, 1), (..., n_T, d)
    attn_Q_h = _split_heads(_rows_matmul(norm_1_Y, W_q.swapaxes(-1, -2)), n_heads)  # (..., n_heads, n_T, d_h)
    attn_K_h = _split_heads(_rows_matmul(norm_1_Y, W_k.swapaxes(-1, -2)), n_kv_heads)  # (..., n_kv_heads, n_T, d_h)
    attn_V_h = _split_heads(_rows_matmul(norm_1_Y, W_v.swapaxes(-1, -2)), n_kv_heads)  # (..., n_kv_heads, n_T, d_h)
    attn_cos = np.cos(_rotary_angles(n_T, d_h, rope_theta, like=X))  # (n_T, d_h)
    attn_sin = np.sin(_rotary_angles(n_T, d_h, rope_theta, like=X))  # (n_T, d_h)
    attn_Q_r = attn_Q_h * attn_cos + _rotate_half(attn_Q_h) * attn_sin  # (..., n_heads, n_T, d_h)
    del attn_Q_h
    attn_K_r = attn_K_h * attn_cos + _rotate_half(attn_K_h) * attn_sin  # (..., n_kv_heads, n_T, d_h)
    del attn_K_h
    attn_K_s = _share_heads(attn_K_r, n_heads // n_kv_heads)  # (..., n_heads, n_T, d_h)
    del attn_K_r
    attn_V_s = _share_heads(attn_V_h, n_heads // n_kv_heads)  # (..., n_heads, n_T, d_h)
    del attn_V_h
    attn_S = attn_Q_r @ attn_K_s.swapaxes(-1, -2)  # (..., n_heads, n_T, n_T), updated in place
    attn_S *= 1/math.sqrt(d_h)
    attn_P = _softmax(attn_S, True, fresh=True)  # (..., n_heads, n_T, n_T), attn_S's array given to be written over
    del attn_S
    attn_A = _merge_heads(attn_P @ attn_V_s)  # (..., n_T, d_h*n_heads)
    h = _rows_matmul(attn_A, W_o.swapaxes(-1, -2))  # (..., n_T, d), updated in place
    h += X
    norm_2_r, norm_2_Y = _forward_6(h, post_norm_w, d, eps)  # (..., n_T, 1), (..., n_T, d)
    mlp_gate = _rows_matmul(norm_2_Y, W_gate.swapaxes(-1, -2))  # (..., n_T, d_ff)
    mlp_up = _rows_matmul(norm_2_Y, W_up.swapaxes(-1, -2))  # (..., n_T, d_ff)
    mlp_H = _silu(mlp_gate) * mlp_up  # (..., n_T, d_ff)
    mlp_Y = _rows_matmul(mlp_H, W_down.swapaxes(-1, -2))  # (..., n_T, d)
    Y = _forward_7(h, mlp_Y, d)  # (..., n_T, d)
    del mlp_Y
    cache = {"X": X, "input_norm_w": input_norm_w, "W_q": W_q, "W_k": W_k, "W_v": W_v, "W_o": W_o, "post_norm_w": post_norm_w, "W_gate": W_gate, "W_up": W_up, "W_down": W_down, "norm_1_r": norm_1_r, "norm_1_Y": norm_1_Y, "attn_cos": attn_cos, "attn_sin": attn_sin, "attn_Q_r": attn_Q_r, "attn_K_s": attn_K_s, "attn_V_s": attn_V_s, "attn_P": attn_P, "attn_A": attn_A, "h": h, "norm_2_r": norm_2_r, "norm_2_Y": norm_2_Y, "mlp_gate": mlp_gate, "mlp_up": mlp_up, "mlp_H": mlp_H, "n_heads": n_heads, "n_kv_heads": n_kv_heads, "d": d, "d_h": d_h, "d_ff": d_ff, "out_shape": Y.shape, "out_dtype": Y.dtype, "dtype": dtype}
    return Y.astype(dtype, copy=False), cache


def backward(grad_out, cache):
    """Gradients of the loss given ``grad_out`` = ∂L/∂Y: a dict keyed by argument name."""
    X = cache["X"]
    input_norm_w = cache["input_norm_w"]
    W_q = cache["W_q"]
    W_k = cache["W_k"]
    W_v = cache["W_v"]
    W_o = cache["W_o"]
    post_norm_w = cache["post_norm_w"]
    W_gate = cache["W_gate"]
    W_up = cache["W_up"]
    W_down = cache["W_down"]
    norm_1_r = cache["norm_1_r"]
    norm_1_Y = cache["norm_1_Y"]
    attn_cos = cache["attn_cos"]
    attn_sin = cache["attn_sin"]
    attn_Q_r = cache["attn_Q_r"]
    attn_K_s = cache["attn_K_s"]
    attn_V_s = cache["attn_V_s"]
    attn_P = cache["attn_P"]
    attn_A = cache["attn_A"]
    h = cache["h"]
    norm_2_r = cache["norm_2_r"]
    norm_2_Y = cache["norm_2_Y"]
    mlp_gate = cache["mlp_gate"]
    mlp_up = cache["mlp_up"]
    mlp_H = cache["mlp_H"]
    n_heads = cache["n_heads"]
    n_kv_heads = cache["n_kv_heads"]
    d = cache["d"]
    d_h = cache["d_h"]
    d_ff = cache["d_ff"]
    dtype = cache["dtype"]
    if grad_out.shape != cache["out_shape"]:
        raise ValueError(f"grad_out: expected shape {cache['out_shape']}, got {grad_out.shape}")
    grad_out = grad_out.astype(cache["out_dtype"], copy=False)  # the dtype the forward computed in
    del cache  # each array is released after its last use below
    # fused: dmlp_Y (one pass over the rows, _backward_1_rows)
    dmlp_Y = _backward_1(grad_out, d)  # (..., n_T, d)
    # grad of mlp_H, used in: mlp_Y = mlp_H W_downᵀ
    dmlp_H = _rows_matmul(dmlp_Y, W_down)  # (..., n_T, d_ff)
    # grad of mlp_up, used in: mlp_H = silu(mlp_gate) ∘ mlp_up
    dmlp_up = dmlp_H * _silu(mlp_gate)  # (..., n_T, d_ff)
    # grad of mlp_gate, used in: mlp_H = silu(mlp_gate) ∘ mlp_up
    dmlp_gate = dmlp_H  # (..., n_T, d_ff), dmlp_H's array, updated in place
    dmlp_gate *= mlp_up
    dmlp_gate = _silu_grad(mlp_gate, times=dmlp_gate)
    del dmlp_H, mlp_gate, mlp_up
    # grad of norm_2_Y, used in: mlp_gate = norm_2_Y W_gateᵀ; mlp_up = norm_2_Y W_upᵀ
    dnorm_2_Y = _rows_matmul(dmlp_up, W_up)  # (..., n_T, d), updated in place
    dnorm_2_Y += _rows_matmul(dmlp_gate, W_gate)
    # fused: dnorm_2_r, dnorm_2_ms, dh (one pass over the rows, _backward_2_rows)
    dh = _backward_2(dnorm_2_Y, h, post_norm_w, norm_2_r, grad_out, d)  # (..., n_T, d)
    # grad of attn_A, used in: h = X + attn_A W_oᵀ
    dattn_A = _rows_matmul(dh, W_o)  # (..., n_T, d_h*n_heads)
    # common subexpression
    t1 = _split_heads(dattn_A, n_heads)  # (..., n_heads, n_T, d_h)
    del dattn_A
    # grad of attn_P, used in: attn_A = merge_h(attn_P attn_V_s)
    dattn_P = t1 @ attn_V_s.swapaxes(-1, -2)  # (..., n_heads, n_T, n_T)
    del attn_V_s
    # grad of attn_S, used in: attn_P = softmax[True](attn_S)
    dattn_S = dattn_P  # (..., n_heads, n_T, n_T), dattn_P's array, updated in place
    dattn_S -= _row_dot(attn_P, dattn_P)
    dattn_S *= attn_P
    del dattn_P
    # grad of attn_V_s, used in: attn_A = merge_h(attn_P attn_V_s)
    dattn_V_s = attn_P.swapaxes(-1, -2) @ t1  # (..., n_heads, n_T, d_h)
    del attn_P, t1
    # grad of attn_K_s, used in: attn_S = (1/sqrt(d_h)) attn_Q_r attn_K_sᵀ
    dattn_K_s = dattn_S.swapaxes(-1, -2) @ attn_Q_r  # (..., n_heads, n_T, d_h), updated in place
    dattn_K_s *= 1/math.sqrt(d_h)
    del attn_Q_r
    # grad of attn_K_r, used in: attn_K_s = share_n_heads(attn_K_r)
    dattn_K_r = _sum_groups(dattn_K_s, n_kv_heads)  # (..., n_kv_heads, n_T, d_h)
    del dattn_K_s
    # grad of attn_Q_r, used in: attn_S = (1/sqrt(d_h)) attn_Q_r attn_K_sᵀ
    dattn_Q_r = dattn_S @ attn_K_s  # (..., n_heads, n_T, d_h), updated in place
    dattn_Q_r *= 1/math.sqrt(d_h)
    del attn_K_s, dattn_S
    # grad of attn_V_h, used in: attn_V_s = share_n_heads(attn_V_h)
    dattn_V_h = _sum_groups(dattn_V_s, n_kv_heads)  # (..., n_kv_heads, n_T, d_h)
    del dattn_V_s
    # grad of attn_K_h, used in: attn_K_r = attn_K_h ∘ attn_cos + rotate_half(attn_K_h) ∘ attn_sin
    dattn_K_h = -_rotate_half(dattn_K_r * attn_sin) + dattn_K_r * attn_cos  # (..., n_kv_heads, n_T, d_h)
    del dattn_K_r
    # grad of attn_Q_h, used in: attn_Q_r = attn_Q_h ∘ attn_cos + rotate_half(attn_Q_h) ∘ attn_sin
    dattn_Q_h = -_rotate_half(dattn_Q_r * attn_sin) + dattn_Q_r * attn_cos  # (..., n_heads, n_T, d_h)
    del attn_cos, attn_sin, dattn_Q_r
    # common subexpression
    t2 = _merge_heads(dattn_V_h)  # (..., n_T, d_h*n_kv_heads)
    del dattn_V_h
    # common subexpression
    t3 = _merge_heads(dattn_Q_h)  # (..., n_T, d_h*n_heads)
    del dattn_Q_h
    # common subexpression
    t4 = _merge_heads(dattn_K_h)  # (..., n_T, d_h*n_kv_heads)
    del dattn_K_h
    # grad of norm_1_Y, used in: attn_Q_h = split_h(norm_1_Y W_qᵀ); attn_K_h = split_h(norm_1_Y W_kᵀ); attn_V_h = split_h(norm_1_Y W_vᵀ)
    dnorm_1_Y = _rows_matmul(t2, W_v)  # (..., n_T, d), updated in place
    dnorm_1_Y += _rows_matmul(t4, W_k)
    dnorm_1_Y += _rows_matmul(t3, W_q)
    # fused: dnorm_1_r, dnorm_1_ms, dX, dinput_norm_w (one pass over the rows, _backward_3_rows)
    dX, dinput_norm_w = _backward_3(dnorm_1_Y, X, input_norm_w, norm_1_r, dh, d)  # (..., n_T, d), (d,)
    del X, dnorm_1_Y, norm_1_r
    # grad of W_q, used in: attn_Q_h = split_h(norm_1_Y W_qᵀ)
    dW_q = t3.reshape(-1, d_h*n_heads).T @ norm_1_Y.reshape(-1, d)  # (d_h*n_heads, d)
    del t3
    # grad of W_k, used in: attn_K_h = split_h(norm_1_Y W_kᵀ)
    dW_k = t4.reshape(-1, d_h*n_kv_heads).T @ norm_1_Y.reshape(-1, d)  # (d_h*n_kv_heads, d)
    del t4
    # grad of W_v, used in: attn_V_h = split_h(norm_1_Y W_vᵀ)
    dW_v = t2.reshape(-1, d_h*n_kv_heads).T @ norm_1_Y.reshape(-1, d)  # (d_h*n_kv_heads, d)
    del norm_1_Y, t2
    # grad of W_o, used in: h = X + attn_A W_oᵀ
    dW_o = dh.reshape(-1, d).T @ attn_A.reshape(-1, d_h*n_heads)  # (d, d_h*n_heads)
    del attn_A, dh
    # fused: dpost_norm_w (one pass over the rows, _backward_4_rows)
    dpost_norm_w = _backward_4(dnorm_2_Y, norm_2_r, h, d)  # (d,)
    del dnorm_2_Y, h, norm_2_r
    # grad of W_gate, used in: mlp_gate = norm_2_Y W_gateᵀ
    dW_gate = dmlp_gate.reshape(-1, d_ff).T @ norm_2_Y.reshape(-1, d)  # (d_ff, d)
    del dmlp_gate
    # grad of W_up, used in: mlp_up = norm_2_Y W_upᵀ
    dW_up = dmlp_up.reshape(-1, d_ff).T @ norm_2_Y.reshape(-1, d)  # (d_ff, d)
    del dmlp_up, norm_2_Y
    # grad of W_down, used in: mlp_Y = mlp_H W_downᵀ
    dW_down = dmlp_Y.reshape(-1, d).T @ mlp_H.reshape(-1, d_ff)  # (d, d_ff)
    del dmlp_Y, mlp_H
    return {
        "X": dX.astype(dtype, copy=False),
        "input_norm_w": dinput_norm_w.astype(dtype, copy=False),
        "W_q": dW_q.astype(dtype, copy=False),
        "W_k": dW_k.astype(dtype, copy=False),
        "W_v": dW_v.astype(dtype, copy=False),
        "W_o": dW_o.astype(dtype, copy=False),
        "post_norm_w": dpost_norm_w.astype(dtype, copy=False),
        "W_gate": dW_gate.astype(dtype, copy=False),
        "W_up": dW_up.astype(dtype, copy=False),
        "W_down": dW_down.astype(dtype, copy=False),
    }


def _jvp_forward(X, input_norm_w, W_q, W_k, W_v, W_o, post_norm_w, W_gate, W_up, W_down, dX, dinput_norm_w, dW_q, dW_k, dW_v, dW_o, dpost_norm_w, dW_gate, dW_up, dW_down, *, n_heads, n_kv_heads, rope_theta=10000.0, eps=1e-06):
    """LLaMA decoder layer: returns ``(out, cache)``.

    n_heads: configuration, required: query heads
    n_kv_heads: configuration, required: key and value heads
    rope_theta: configuration, default 10000.0: the rotary embeddings' base
    eps: configuration, default 1e-06: RMSNorm epsilon
    X: input, frozen (..., n_T, d): the layer's input (the residual stream)
    input_norm_w: parameter, frozen (d,): input_layernorm
    W_q: parameter, frozen (d_h*n_heads, d): q_proj
    W_k: parameter, frozen (d_h*n_kv_heads, d): k_proj
    W_v: parameter, frozen (d_h*n_kv_heads, d): v_proj
    W_o: parameter, frozen (d, d_h*n_heads): o_proj
    post_norm_w: parameter, frozen (d,): post_attention_layernorm
    W_gate: parameter, frozen (d_ff, d): gate_proj
    W_up: parameter, frozen (d_ff, d): up_proj
    W_down: parameter, frozen (d, d_ff): down_proj
    dX: input, frozen (..., n_T, d): the tangent of X
    dinput_norm_w: parameter, frozen (d,): the tangent of input_norm_w
    dW_q: parameter, frozen (d_h*n_heads, d): the tangent of W_q
    dW_k: parameter, frozen (d_h*n_kv_heads, d): the tangent of W_k
    dW_v: parameter, frozen (d_h*n_kv_heads, d): the tangent of W_v
    dW_o: parameter, frozen (d, d_h*n_heads): the tangent of W_o
    dpost_norm_w: parameter, frozen (d,): the tangent of post_norm_w
    dW_gate: parameter, frozen (d_ff, d): the tangent of W_gate
    dW_up: parameter, frozen (d_ff, d): the tangent of W_up
    dW_down: parameter, frozen (d, d_ff): the tangent of W_down
    """
    X = np.asarray(X)
    input_norm_w = np.asarray(input_norm_w)
    W_q = np.asarray(W_q)
    W_k = np.asarray(W_k)
    W_v = np.asarray(W_v)
    W_o = np.asarray(W_o)
    post_norm_w = np.asarray(post_norm_w)
    W_gate = np.asarray(W_gate)
    W_up = np.asarray(W_up)
    W_down = np.asarray(W_down)
    dX = np.asarray(dX)
    dinput_norm_w = np.asarray(dinput_norm_w)
    dW_q = np.asarray(dW_q)
    dW_k = np.asarray(dW_k)
    dW_v = np.asarray(dW_v)
    dW_o = np.asarray(dW_o)
    dpost_norm_w = np.asarray(dpost_norm_w)
    dW_gate = np.asarray(dW_gate)
    dW_up = np.asarray(dW_up)
    dW_down = np.asarray(dW_down)
    dtype, compute_dtype = _check_dtypes({"X": X, "input_norm_w": input_norm_w, "W_q": W_q, "W_k": W_k, "W_v": W_v, "W_o": W_o, "post_norm_w": post_norm_w, "W_gate": W_gate, "W_up": W_up, "W_down": W_down, "dX": dX, "dinput_norm_w": dinput_norm_w, "dW_q": dW_q, "dW_k": dW_k, "dW_v": dW_v, "dW_o": dW_o, "dpost_norm_w": dpost_norm_w, "dW_gate": dW_gate, "dW_up": dW_up, "dW_down": dW_down}, {})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        X = X.astype(compute_dtype, copy=False)
        input_norm_w = input_norm_w.astype(compute_dtype, copy=False)
        W_q = W_q.astype(compute_dtype, copy=False)
        W_k = W_k.astype(compute_dtype, copy=False)
        W_v = W_v.astype(compute_dtype, copy=False)
        W_o = W_o.astype(compute_dtype, copy=False)
        post_norm_w = post_norm_w.astype(compute_dtype, copy=False)
        W_gate = W_gate.astype(compute_dtype, copy=False)
        W_up = W_up.astype(compute_dtype, copy=False)
        W_down = W_down.astype(compute_dtype, copy=False)
        dX = dX.astype(compute_dtype, copy=False)
        dinput_norm_w = dinput_norm_w.astype(compute_dtype, copy=False)
        dW_q = dW_q.astype(compute_dtype, copy=False)
        dW_k = dW_k.astype(compute_dtype, copy=False)
        dW_v = dW_v.astype(compute_dtype, copy=False)
        dW_o = dW_o.astype(compute_dtype, copy=False)
        dpost_norm_w = dpost_norm_w.astype(compute_dtype, copy=False)
        dW_gate = dW_gate.astype(compute_dtype, copy=False)
        dW_up = dW_up.astype(compute_dtype, copy=False)
        dW_down = dW_down.astype(compute_dtype, copy=False)
    n_heads = _check_count("n_heads", n_heads)
    n_kv_heads = _check_count("n_kv_heads", n_kv_heads)
    rope_theta = _check_number("rope_theta", rope_theta)
    eps = _check_number("eps", eps)
    dims = {}
    _check_shape("X", X, ("n_T", "d"), dims, batched="shared")
    _check_shape("input_norm_w", input_norm_w, ("d",), dims, batched=False)
    _check_shape("W_q", W_q, (("d_h", n_heads, "n_heads"), "d"), dims, batched=False)
    _check_shape("W_k", W_k, (("d_h", n_kv_heads, "n_kv_heads"), "d"), dims, batched=False)
    _check_shape("W_v", W_v, (("d_h", n_kv_heads, "n_kv_heads"), "d"), dims, batched=False)
    _check_shape("W_o", W_o, ("d", ("d_h", n_heads, "n_heads")), dims, batched=False)
    _check_shape("post_norm_w", post_norm_w, ("d",), dims, batched=False)
    _check_shape("W_gate", W_gate, ("d_ff", "d"), dims, batched=False)
    _check_shape("W_up", W_up, ("d_ff", "d"), dims, batched=False)
    _check_shape("W_down", W_down, ("d", "d_ff"), dims, batched=False)
    _check_shape("dX", dX, ("n_T", "d"), dims, batched="shared")
    _check_shape("dinput_norm_w", dinput_norm_w, ("d",), dims, batched=False)
    _check_shape("dW_q", dW_q, (("d_h", n_heads, "n_heads"), "d"), dims, batched=False)
    _check_shape("dW_k", dW_k, (("d_h", n_kv_heads, "n_kv_heads"), "d"), dims, batched=False)
    _check_shape("dW_v", dW_v, (("d_h", n_kv_heads, "n_kv_heads"), "d"), dims, batched=False)
    _check_shape("dW_o", dW_o, ("d", ("d_h", n_heads, "n_heads")), dims, batched=False)
    _check_shape("dpost_norm_w", dpost_norm_w, ("d",), dims, batched=False)
    _check_shape("dW_gate", dW_gate, ("d_ff", "d"), dims, batched=False)
    _check_shape("dW_up", dW_up, ("d_ff", "d"), dims, batched=False)
    _check_shape("dW_down", dW_down, ("d", "d_ff"), dims, batched=False)
    X, dX = _broadcast_batches({"X": X, "dX": dX}, {"X": 2, "dX": 2}, dims)
    n_T, d, d_h = dims["n_T"], dims["d"], dims["d_h"]
    if not (d_h % 2 == 0):
        raise ValueError('llama_attention: cos: rotary angles need an even number of columns, d_h; got ' + f"d_h={d_h}")
    if not (n_heads % n_kv_heads == 0):
        raise ValueError('llama_attention: K_s: n_heads must be a multiple of n_kv_heads (heads shared in groups); got ' + f"n_heads={n_heads}, n_kv_heads={n_kv_heads}")
    norm_1_ms, norm_1_r, norm_1_Y = _jvp_forward_8(X, input_norm_w, d, eps)  # (..., n_T, 1), (..., n_T, 1), (..., n_T, d)
    attn_Q_h = _split_heads(_rows_matmul(norm_1_Y, W_q.swapaxes(-1, -2)), n_heads)  # (..., n_heads, n_T, d_h)
    attn_K_h = _split_heads(_rows_matmul(norm_1_Y, W_k.swapaxes(-1, -2)), n_kv_heads)  # (..., n_kv_heads, n_T, d_h)
    attn_V_h = _split_heads(_rows_matmul(norm_1_Y, W_v.swapaxes(-1, -2)), n_kv_heads)  # (..., n_kv_heads, n_T, d_h)
    attn_cos = np.cos(_rotary_angles(n_T, d_h, rope_theta, like=X))  # (n_T, d_h)
    attn_sin = np.sin(_rotary_angles(n_T, d_h, rope_theta, like=X))  # (n_T, d_h)
    attn_Q_r = attn_Q_h * attn_cos + _rotate_half(attn_Q_h) * attn_sin  # (..., n_heads, n_T, d_h)
    del attn_Q_h
    attn_K_r = attn_K_h * attn_cos + _rotate_half(attn_K_h) * attn_sin  # (..., n_kv_heads, n_T, d_h)
    del attn_K_h
    attn_K_s = _share_heads(attn_K_r, n_heads // n_kv_heads)  # (..., n_heads, n_T, d_h)
    del attn_K_r
    attn_V_s = _share_heads(attn_V_h, n_heads // n_kv_heads)  # (..., n_heads, n_T, d_h)
    del attn_V_h
    attn_S = attn_Q_r @ attn_K_s.swapaxes(-1, -2)  # (..., n_heads, n_T, n_T), updated in place
    attn_S *= 1/math.sqrt(d_h)
    attn_P = _softmax(attn_S, True, fresh=True)  # (..., n_heads, n_T, n_T), attn_S's array given to be written over
    del attn_S
    attn_A = _merge_heads(attn_P @ attn_V_s)  # (..., n_T, d_h*n_heads)
    h = _rows_matmul(attn_A, W_o.swapaxes(-1, -2))  # (..., n_T, d), updated in place
    h += X
    norm_2_ms, norm_2_r, norm_2_Y = _jvp_forward_9(h, post_norm_w, d, eps)  # (..., n_T, 1), (..., n_T, 1), (..., n_T, d)
    mlp_gate = _rows_matmul(norm_2_Y, W_gate.swapaxes(-1, -2))  # (..., n_T, d_ff)
    mlp_up = _rows_matmul(norm_2_Y, W_up.swapaxes(-1, -2))  # (..., n_T, d_ff)
    mlp_H = _silu(mlp_gate) * mlp_up  # (..., n_T, d_ff)
    dnorm_1_ms = _jvp_forward_10(dX, X, d)  # (..., n_T, 1)
    dnorm_1_r = (-(1/2)/(eps + norm_1_ms)**(3/2)) * dnorm_1_ms  # (..., n_T, 1)
    del dnorm_1_ms, norm_1_ms
    dnorm_1_Y = _jvp_forward_11(dnorm_1_r, X, input_norm_w, norm_1_r, dX, dinput_norm_w, d)  # (..., n_T, d)
    del dnorm_1_r, norm_1_r
    dattn_Q_h = _split_heads(_rows_matmul(dnorm_1_Y, W_q.swapaxes(-1, -2)) + _rows_matmul(norm_1_Y, dW_q.swapaxes(-1, -2)), n_heads)  # (..., n_heads, n_T, d_h)
    dattn_K_h = _split_heads(_rows_matmul(dnorm_1_Y, W_k.swapaxes(-1, -2)) + _rows_matmul(norm_1_Y, dW_k.swapaxes(-1, -2)), n_kv_heads)  # (..., n_kv_heads, n_T, d_h)
    dattn_V_h = _split_heads(_rows_matmul(dnorm_1_Y, W_v.swapaxes(-1, -2)) + _rows_matmul(norm_1_Y, dW_v.swapaxes(-1, -2)), n_kv_heads)  # (..., n_kv_heads, n_T, d_h)
    del dnorm_1_Y, norm_1_Y
    dattn_Q_r = dattn_Q_h * attn_cos + _rotate_half(dattn_Q_h) * attn_sin  # (..., n_heads, n_T, d_h)
    del dattn_Q_h
    dattn_K_r = dattn_K_h * attn_cos + _rotate_half(dattn_K_h) * attn_sin  # (..., n_kv_heads, n_T, d_h)
    del attn_cos, attn_sin, dattn_K_h
    dattn_K_s = _share_heads(dattn_K_r, n_heads // n_kv_heads)  # (..., n_heads, n_T, d_h)
    del dattn_K_r
    dattn_V_s = _share_heads(dattn_V_h, n_heads // n_kv_heads)  # (..., n_heads, n_T, d_h)
    del dattn_V_h
    dattn_S = dattn_Q_r @ attn_K_s.swapaxes(-1, -2)  # (..., n_heads, n_T, n_T), updated in place
    dattn_S *= 1/math.sqrt(d_h)
    dattn_S += 1/math.sqrt(d_h) * (attn_Q_r @ dattn_K_s.swapaxes(-1, -2))
    del attn_K_s, attn_Q_r, dattn_K_s, dattn_Q_r
    dattn_P = dattn_S  # (..., n_heads, n_T, n_T), dattn_S's array, updated in place
    dattn_P -= _row_dot(attn_P, dattn_S)
    dattn_P *= attn_P
    del dattn_S
    dattn_A = _merge_heads(dattn_P @ attn_V_s + attn_P @ dattn_V_s)  # (..., n_T, d_h*n_heads)
    del attn_P, attn_V_s, dattn_P, dattn_V_s
    dh = _rows_matmul(dattn_A, W_o.swapaxes(-1, -2))  # (..., n_T, d), updated in place
    dh += dX
    dh += _rows_matmul(attn_A, dW_o.swapaxes(-1, -2))
    del attn_A, dattn_A
    dnorm_2_ms = _jvp_forward_12(dh, h, d)  # (..., n_T, 1)
    dnorm_2_r = (-(1/2)/(eps + norm_2_ms)**(3/2)) * dnorm_2_ms  # (..., n_T, 1)
    del dnorm_2_ms, norm_2_ms
    dnorm_2_Y = _jvp_forward_13(dnorm_2_r, h, post_norm_w, norm_2_r, dh, dpost_norm_w, d)  # (..., n_T, d)
    del dnorm_2_r, h, norm_2_r
    dmlp_gate = _rows_matmul(dnorm_2_Y, W_gate.swapaxes(-1, -2)) + _rows_matmul(norm_2_Y, dW_gate.swapaxes(-1, -2))  # (..., n_T, d_ff)
    dmlp_up = _rows_matmul(dnorm_2_Y, W_up.swapaxes(-1, -2)) + _rows_matmul(norm_2_Y, dW_up.swapaxes(-1, -2))  # (..., n_T, d_ff)
    del dnorm_2_Y, norm_2_Y
    dmlp_H = dmlp_gate  # (..., n_T, d_ff), dmlp_gate's array, updated in place
    dmlp_H = _silu_grad(mlp_gate, times=dmlp_H)
    dmlp_H *= mlp_up
    dmlp_H += _silu(mlp_gate) * dmlp_up
    del dmlp_gate, dmlp_up, mlp_gate, mlp_up
    dmlp_Y = _rows_matmul(dmlp_H, W_down.swapaxes(-1, -2))  # (..., n_T, d), updated in place
    dmlp_Y += _rows_matmul(mlp_H, dW_down.swapaxes(-1, -2))
    del dmlp_H, mlp_H
    dY = _jvp_forward_14(dh, dmlp_Y, d)  # (..., n_T, d)
    del dh, dmlp_Y
    cache = {"out_shape": dY.shape, "out_dtype": dY.dtype, "dtype": dtype}
    return dY.astype(dtype, copy=False), cache


def jvp(X, input_norm_w, W_q, W_k, W_v, W_o, post_norm_w, W_gate, W_up, W_down, dX=None, dinput_norm_w=None, dW_q=None, dW_k=None, dW_v=None, dW_o=None, dpost_norm_w=None, dW_gate=None, dW_up=None, dW_down=None, *, n_heads, n_kv_heads, rope_theta=10000.0, eps=1e-06):
    """The tangent of Y for the arguments' tangents: forward mode, pushed forward from each
    primitive's differential (``backprop show llama_block --jvp``).

    dX: the tangent of X (its shape; None for zero)
    dinput_norm_w: the tangent of input_norm_w (its shape; None for zero)
    dW_q: the tangent of W_q (its shape; None for zero)
    dW_k: the tangent of W_k (its shape; None for zero)
    dW_v: the tangent of W_v (its shape; None for zero)
    dW_o: the tangent of W_o (its shape; None for zero)
    dpost_norm_w: the tangent of post_norm_w (its shape; None for zero)
    dW_gate: the tangent of W_gate (its shape; None for zero)
    dW_up: the tangent of W_up (its shape; None for zero)
    dW_down: the tangent of W_down (its shape; None for zero)
    """
    if dX is None:  # no tangent: zero
        dX = np.zeros_like(np.asarray(X))
    if dinput_norm_w is None:  # no tangent: zero
        dinput_norm_w = np.zeros_like(np.asarray(input_norm_w))
    if dW_q is None:  # no tangent: zero
        dW_q = np.zeros_like(np.asarray(W_q))
    if dW_k is None:  # no tangent: zero
        dW_k = np.zeros_like(np.asarray(W_k))
    if dW_v is None:  # no tangent: zero
        dW_v = np.zeros_like(np.asarray(W_v))
    if dW_o is None:  # no tangent: zero
        dW_o = np.zeros_like(np.asarray(W_o))
    if dpost_norm_w is None:  # no tangent: zero
        dpost_norm_w = np.zeros_like(np.asarray(post_norm_w))
    if dW_gate is None:  # no tangent: zero
        dW_gate = np.zeros_like(np.asarray(W_gate))
    if dW_up is None:  # no tangent: zero
        dW_up = np.zeros_like(np.asarray(W_up))
    if dW_down is None:  # no tangent: zero
        dW_down = np.zeros_like(np.asarray(W_down))
    return _jvp_forward(X, input_norm_w, W_q, W_k, W_v, W_o, post_norm_w, W_gate, W_up, W_down, dX, dinput_norm_w, dW_q, dW_k, dW_v, dW_o, dpost_norm_w, dW_gate, dW_up, dW_down, n_heads=n_heads, n_kv_heads=n_kv_heads, rope_theta=rope_theta, eps=eps)[0]
