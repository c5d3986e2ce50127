# GENERATED FILE: DO NOT EDIT.
# Derived by pedestrian-backprop from the forward definition in derive/components/gpt2_block.py.
# Regenerate with: backprop generate --target numpy
"""GPT-2 block (`gpt2_block`): forward pass and derived backward pass.

Forward definition (one sequence; inputs may carry leading batch dimensions):
    ln_1_mu = (1/d) X 1
    ln_1_Xc = X − ln_1_mu 1ᵀ
    ln_1_var = (1/d) (ln_1_Xc ∘ ln_1_Xc) 1
    ln_1_sigma = sqrt(eps + ln_1_var)
    ln_1_Xbar = ((1/ln_1_sigma) 1ᵀ) ∘ ln_1_Xc
    ln_1_Y = ln_1_Xbar ∘ (1 ln_1_wᵀ) + 1 ln_1_bᵀ
    attn_Q = ln_1_Y W_q + 1 b_qᵀ
    attn_K = ln_1_Y W_k + 1 b_kᵀ
    attn_V = ln_1_Y W_v + 1 b_vᵀ
    attn_Q_h = split_h(attn_Q)
    attn_K_h = split_h(attn_K)
    attn_V_h = split_h(attn_V)
    attn_S = (sqrt(n_heads)/sqrt(d)) attn_Q_h attn_K_hᵀ
    attn_P = softmax[True](attn_S)
    attn_A = merge_h(attn_P attn_V_h)
    proj_Y = attn_A W_o + 1 b_oᵀ
    a5 = X + proj_Y
    ln_2_mu = (1/d) a5 1
    ln_2_Xc = a5 − ln_2_mu 1ᵀ
    ln_2_var = (1/d) (ln_2_Xc ∘ ln_2_Xc) 1
    ln_2_sigma = sqrt(eps + ln_2_var)
    ln_2_Xbar = ((1/ln_2_sigma) 1ᵀ) ∘ ln_2_Xc
    ln_2_Y = ln_2_Xbar ∘ (1 ln_2_wᵀ) + 1 ln_2_bᵀ
    mlp_H = ln_2_Y W_1 + 1 b_1ᵀ
    mlp_A = activation(mlp_H)
    mlp_Y = mlp_A W_2 + 1 b_2ᵀ
    Y = a5 + mlp_Y

Gradients, as derived:
    ∂L/∂X = Δ_a5 + Δ_ln_1_Xc + (1/d) Δ_ln_1_mu 1ᵀ
    ∂L/∂ln_1_w = Σ_batch (1ᵀ (Δ_ln_1_Y ∘ ln_1_Xbar))
    ∂L/∂ln_1_b = Σ_batch (1ᵀ Δ_attn_A) W_vᵀ + Σ_batch (1ᵀ Δ_attn_Q) W_qᵀ
    ∂L/∂W_q = Σ_batch (ln_1_Yᵀ Δ_attn_Q)
    ∂L/∂b_q = Σ_batch (1ᵀ Δ_attn_Q)
    ∂L/∂W_k = Σ_batch (ln_1_Yᵀ Δ_attn_K)
    ∂L/∂b_k = 0
    ∂L/∂W_v = Σ_batch (ln_1_Yᵀ Δ_attn_V)
    ∂L/∂b_v = Σ_batch (1ᵀ Δ_attn_A)
    ∂L/∂W_o = Σ_batch (attn_Aᵀ Δ_proj_Y)
    ∂L/∂b_o = Σ_batch (1ᵀ Δ_proj_Y)
    ∂L/∂ln_2_w = Σ_batch (1ᵀ (Δ_ln_2_Y ∘ ln_2_Xbar))
    ∂L/∂ln_2_b = Σ_batch (1ᵀ Δ_ln_2_Y)
    ∂L/∂W_1 = Σ_batch (ln_2_Yᵀ Δ_mlp_H)
    ∂L/∂b_1 = Σ_batch (1ᵀ Δ_mlp_H)
    ∂L/∂W_2 = Σ_batch (mlp_Aᵀ Δ_mlp_Y)
    ∂L/∂b_2 = Σ_batch (1ᵀ Δ_mlp_Y)

Optimisations (each keeps the values within rounding):
    - read-forward-values: the backward reads ln_1_Xc, ln_1_var, ln_2_Xc, ln_2_var through other forward values, so the cache does not hold them
    - fuse-shared-operand: ln_1_Y W_q, ln_1_Y W_k, ln_1_Y W_v as one product with the weights side by side, forward and backward
    - recompute-affine-values: ln_1_Y = ln_1_Xbar ∘ (1 ln_1_wᵀ) + 1 ln_1_bᵀ; ln_2_Y = ln_2_Xbar ∘ (1 ln_2_wᵀ) + 1 ln_2_bᵀ recomputed in the backward, not kept in the cache
    - overwrite: ln_1_mu, ln_1_var, ln_1_sigma, ln_1_Xbar, ln_1_Y, attn_S, attn_P, proj_Y, a5, ln_2_mu, ln_2_var, ln_2_sigma, ln_2_Xbar, ln_2_Y, mlp_H, mlp_Y, Y, dmlp_H, dln_2_var, dln_2_Xc, da5, dattn_S, dattn_K_h, dattn_Q_h, dln_1_var, dln_1_Xc, dX, ln_1_Y, ln_2_Y updated in place (+=, *=) in the array the statement made or in one no longer needed, not a new array per operation
    - rows-matmul: a batched value times a weight is one 2-D product over all its rows
    - causal mask: made once per size and reused
    - in-place functions: each scalar function computes in buffers of its own (kept between calls)
    - liveness: every array is released after its last use (del); the backward drops its cache
"""
import functools
import math
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


def _erf(x):
    """The error function, entrywise, in ``x``'s dtype."""
    return np.vectorize(math.erf, otypes=[x.dtype])(x)


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


def _gelu(x, times=None):
    """Computed in buffers of its own, each operation in place; ``times``: multiplied into it."""
    b1 = _erf(0.7071067811865476*x)
    b1 += 1.0
    np.multiply(b1, x, out=b1)
    b1 *= 0.5
    if times is None:
        return b1
    times *= b1
    return times


def _gelu_grad(x, times=None):
    """Computed in buffers of its own, each operation in place; ``times``: multiplied into it."""
    b1 = np.square(x, out=None if times is None else _scratch("gelu_grad.b1", x))
    b1 *= -0.5
    np.exp(b1, out=b1)
    np.multiply(b1, x, out=b1)
    b1 *= 0.7978845608028654
    b2 = _erf(0.7071067811865476*x)
    np.add(b1, b2, out=b1)
    b1 += 1.0
    b1 *= 0.5
    if times is None:
        return b1
    times *= b1
    return times


def _gelu_tanh(x, times=None):
    """Computed in buffers of its own, each operation in place; ``times``: multiplied into it."""
    b1 = np.square(x, out=None if times is None else _scratch("gelu_tanh.b1", x))
    b1 *= 0.035677408136300125
    b1 += 0.7978845608028654
    np.multiply(b1, x, out=b1)
    np.tanh(b1, out=b1)
    b1 += 1.0
    np.multiply(b1, x, out=b1)
    b1 *= 0.5
    if times is None:
        return b1
    times *= b1
    return times


def _gelu_tanh_grad(x, times=None):
    """Computed in buffers of its own, each operation in place; ``times``: multiplied into it."""
    t0 = np.square(x, out=_scratch("gelu_tanh_grad.t0", x))
    t1 = np.multiply(t0, 0.035677408136300125, out=_scratch("gelu_tanh_grad.t1", x))
    t1 += 0.7978845608028654
    np.multiply(t1, x, out=t1)
    np.tanh(t1, out=t1)
    b3 = np.multiply(t1, 0.5, out=None if times is None else _scratch("gelu_tanh_grad.b3", x))
    np.multiply(t0, 0.134145, out=t0)
    t0 += 1.0
    np.square(t1, out=t1)
    t1 += -1.0
    np.multiply(t0, t1, out=t0)
    np.multiply(t0, x, out=t0)
    t0 *= 0.3989422804014327
    np.subtract(b3, t0, out=b3)
    b3 += 0.5
    if times is None:
        return b3
    times *= b3
    return times


def _relu(x, times=None):
    if times is None:
        return np.maximum(x, 0)
    times *= np.maximum(x, 0)
    return times


def _relu_grad(x, times=None):
    if times is None:
        return np.heaviside(x, 0)
    times *= np.heaviside(x, 0)
    return times


_ACTIVATION = {"gelu_tanh": _gelu_tanh, "gelu": _gelu, "relu": _relu}


_ACTIVATION_GRAD = {"gelu_tanh": _gelu_tanh_grad, "gelu": _gelu_grad, "relu": _relu_grad}


def forward(X, ln_1_w, ln_1_b, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, ln_2_w, ln_2_b, W_1, b_1, W_2, b_2, *, n_heads, eps=1e-05, activation='gelu_tanh'):
    """GPT-2 block: returns ``(out, cache)``.

    X: input (..., n_T, d): a1, the block's input
    ln_1_w: parameter (d,)
    ln_1_b: parameter (d,)
    W_q: parameter (d, d)
    b_q: parameter (d,)
    W_k: parameter (d, d)
    b_k: parameter (d,)
    W_v: parameter (d, d)
    b_v: parameter (d,)
    W_o: parameter (d, d): attProj
    b_o: parameter (d,)
    ln_2_w: parameter (d,)
    ln_2_b: parameter (d,)
    W_1: parameter (d, d_ff): expand
    b_1: parameter (d_ff,)
    W_2: parameter (d_ff, d): contract
    b_2: parameter (d,)
    n_heads: configuration, required: attention heads
    eps: configuration, default 1e-05: LayerNorm epsilon
    activation: configuration, default 'gelu_tanh' (one of 'gelu_tanh', 'gelu', 'relu'): MLP activation
    """
    X = np.asarray(X)
    ln_1_w = np.asarray(ln_1_w)
    ln_1_b = np.asarray(ln_1_b)
    W_q = np.asarray(W_q)
    b_q = np.asarray(b_q)
    W_k = np.asarray(W_k)
    b_k = np.asarray(b_k)
    W_v = np.asarray(W_v)
    b_v = np.asarray(b_v)
    W_o = np.asarray(W_o)
    b_o = np.asarray(b_o)
    ln_2_w = np.asarray(ln_2_w)
    ln_2_b = np.asarray(ln_2_b)
    W_1 = np.asarray(W_1)
    b_1 = np.asarray(b_1)
    W_2 = np.asarray(W_2)
    b_2 = np.asarray(b_2)
    dtype, compute_dtype = _check_dtypes({"X": X, "ln_1_w": ln_1_w, "ln_1_b": ln_1_b, "W_q": W_q, "b_q": b_q, "W_k": W_k, "b_k": b_k, "W_v": W_v, "b_v": b_v, "W_o": W_o, "b_o": b_o, "ln_2_w": ln_2_w, "ln_2_b": ln_2_b, "W_1": W_1, "b_1": b_1, "W_2": W_2, "b_2": b_2}, {})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        X = X.astype(compute_dtype, copy=False)
        ln_1_w = ln_1_w.astype(compute_dtype, copy=False)
        ln_1_b = ln_1_b.astype(compute_dtype, copy=False)
        W_q = W_q.astype(compute_dtype, copy=False)
        b_q = b_q.astype(compute_dtype, copy=False)
        W_k = W_k.astype(compute_dtype, copy=False)
        b_k = b_k.astype(compute_dtype, copy=False)
        W_v = W_v.astype(compute_dtype, copy=False)
        b_v = b_v.astype(compute_dtype, copy=False)
        W_o = W_o.astype(compute_dtype, copy=False)
        b_o = b_o.astype(compute_dtype, copy=False)
        ln_2_w = ln_2_w.astype(compute_dtype, copy=False)
        ln_2_b = ln_2_b.astype(compute_dtype, copy=False)
        W_1 = W_1.astype(compute_dtype, copy=False)
        b_1 = b_1.astype(compute_dtype, copy=False)
        W_2 = W_2.astype(compute_dtype, copy=False)
        b_2 = b_2.astype(compute_dtype, copy=False)
    n_heads = _check_count("n_heads", n_heads)
    eps = _check_number("eps", eps)
    if activation not in ('gelu_tanh', 'gelu', 'relu'):
        raise ValueError("activation must be one of ('gelu_tanh', 'gelu', 'relu'), got " + repr(activation))
    dims = {}
    _check_shape("X", X, ("n_T", "d"), dims, batched=True)
    _check_shape("ln_1_w", ln_1_w, ("d",), dims, batched=False)
    _check_shape("ln_1_b", ln_1_b, ("d",), dims, batched=False)
    _check_shape("W_q", W_q, ("d", "d"), dims, batched=False)
    _check_shape("b_q", b_q, ("d",), dims, batched=False)
    _check_shape("W_k", W_k, ("d", "d"), dims, batched=False)
    _check_shape("b_k", b_k, ("d",), dims, batched=False)
    _check_shape("W_v", W_v, ("d", "d"), dims, batched=False)
    _check_shape("b_v", b_v, ("d",), dims, batched=False)
    _check_shape("W_o", W_o, ("d", "d"), dims, batched=False)
    _check_shape("b_o", b_o, ("d",), dims, batched=False)
    _check_shape("ln_2_w", ln_2_w, ("d",), dims, batched=False)
    _check_shape("ln_2_b", ln_2_b, ("d",), dims, batched=False)
    _check_shape("W_1", W_1, ("d", "d_ff"), dims, batched=False)
    _check_shape("b_1", b_1, ("d_ff",), dims, batched=False)
    _check_shape("W_2", W_2, ("d_ff", "d"), dims, batched=False)
    _check_shape("b_2", b_2, ("d",), dims, batched=False)
    d, d_ff = dims["d"], dims["d_ff"]
    if not (d % n_heads == 0):
        raise ValueError('attention: d must be divisible by n_heads; got ' + f"d={d}, n_heads={n_heads}")
    ln_1_mu = X.sum(axis=-1, keepdims=True)  # (..., n_T, 1), updated in place
    ln_1_mu *= 1/d
    ln_1_Xc = X - ln_1_mu  # (..., n_T, d)
    del ln_1_mu
    ln_1_var = _row_dot(ln_1_Xc, ln_1_Xc)  # (..., n_T, 1), updated in place
    ln_1_var *= 1/d
    ln_1_sigma = ln_1_var  # (..., n_T, 1), ln_1_var's array, updated in place
    ln_1_sigma += eps
    np.sqrt(ln_1_sigma, out=ln_1_sigma)
    del ln_1_var
    ln_1_Xbar = ln_1_Xc  # (..., n_T, d), ln_1_Xc's array, updated in place
    ln_1_Xbar *= 1/ln_1_sigma
    del ln_1_Xc
    ln_1_Y = ln_1_Xbar * ln_1_w  # (..., n_T, d), updated in place
    ln_1_Y += ln_1_b
    W_q_W_k_W_v = _side_by_side(W_q, W_k, W_v)  # (d, 3*d)
    ln_1_Y_W_q_W_k_W_v = _rows_matmul(ln_1_Y, W_q_W_k_W_v)  # (..., n_T, 3*d)
    del ln_1_Y
    attn_Q = ln_1_Y_W_q_W_k_W_v[..., 0:d] + b_q  # (..., n_T, d)
    attn_K = ln_1_Y_W_q_W_k_W_v[..., d:2*d] + b_k  # (..., n_T, d)
    attn_V = ln_1_Y_W_q_W_k_W_v[..., 2*d:3*d] + b_v  # (..., n_T, d)
    del ln_1_Y_W_q_W_k_W_v
    attn_Q_h = _split_heads(attn_Q, n_heads)  # (..., n_heads, n_T, d/n_heads)
    del attn_Q
    attn_K_h = _split_heads(attn_K, n_heads)  # (..., n_heads, n_T, d/n_heads)
    del attn_K
    attn_V_h = _split_heads(attn_V, n_heads)  # (..., n_heads, n_T, d/n_heads)
    del attn_V
    attn_S = attn_Q_h @ attn_K_h.swapaxes(-1, -2)  # (..., n_heads, n_T, n_T), updated in place
    attn_S *= math.sqrt(n_heads)/math.sqrt(d)
    attn_P = _softmax(attn_S, True, fresh=True)  # (..., n_heads, n_T, n_T), attn_S's array given to be written over
    del attn_S
    attn_A = _merge_heads(attn_P @ attn_V_h)  # (..., n_T, d)
    proj_Y = _rows_matmul(attn_A, W_o)  # (..., n_T, d), updated in place
    proj_Y += b_o
    a5 = proj_Y  # (..., n_T, d), proj_Y's array, updated in place
    a5 += X
    del proj_Y
    ln_2_mu = a5.sum(axis=-1, keepdims=True)  # (..., n_T, 1), updated in place
    ln_2_mu *= 1/d
    ln_2_Xc = a5 - ln_2_mu  # (..., n_T, d)
    del ln_2_mu
    ln_2_var = _row_dot(ln_2_Xc, ln_2_Xc)  # (..., n_T, 1), updated in place
    ln_2_var *= 1/d
    ln_2_sigma = ln_2_var  # (..., n_T, 1), ln_2_var's array, updated in place
    ln_2_sigma += eps
    np.sqrt(ln_2_sigma, out=ln_2_sigma)
    del ln_2_var
    ln_2_Xbar = ln_2_Xc  # (..., n_T, d), ln_2_Xc's array, updated in place
    ln_2_Xbar *= 1/ln_2_sigma
    del ln_2_Xc
    ln_2_Y = ln_2_Xbar * ln_2_w  # (..., n_T, d), updated in place
    ln_2_Y += ln_2_b
    mlp_H = _rows_matmul(ln_2_Y, W_1)  # (..., n_T, d_ff), updated in place
    mlp_H += b_1
    del ln_2_Y
    mlp_A = _ACTIVATION[activation](mlp_H)  # (..., n_T, d_ff)
    mlp_Y = _rows_matmul(mlp_A, W_2)  # (..., n_T, d), updated in place
    mlp_Y += b_2
    Y = a5  # (..., n_T, d), a5's array, updated in place
    Y += mlp_Y
    del a5, mlp_Y
    cache = {"ln_1_w": ln_1_w, "ln_1_b": ln_1_b, "W_q": W_q, "b_k": b_k, "W_v": W_v, "W_o": W_o, "ln_2_w": ln_2_w, "ln_2_b": ln_2_b, "W_1": W_1, "W_2": W_2, "ln_1_sigma": ln_1_sigma, "ln_1_Xbar": ln_1_Xbar, "W_q_W_k_W_v": W_q_W_k_W_v, "attn_Q_h": attn_Q_h, "attn_K_h": attn_K_h, "attn_V_h": attn_V_h, "attn_P": attn_P, "attn_A": attn_A, "ln_2_sigma": ln_2_sigma, "ln_2_Xbar": ln_2_Xbar, "mlp_H": mlp_H, "mlp_A": mlp_A, "n_heads": n_heads, "activation": activation, "d": d, "d_ff": d_ff, "out_shape": Y.shape, "out_dtype": Y.dtype, "dtype": dtype}
    return Y.astype(dtype, copy=False), cache


def backward(grad_out, cache):
    """Gradients of the loss given ``grad_out`` = ∂L/∂Y: a dict keyed by argument name."""
    ln_1_w = cache["ln_1_w"]
    ln_1_b = cache["ln_1_b"]
    W_q = cache["W_q"]
    b_k = cache["b_k"]
    W_v = cache["W_v"]
    W_o = cache["W_o"]
    ln_2_w = cache["ln_2_w"]
    ln_2_b = cache["ln_2_b"]
    W_1 = cache["W_1"]
    W_2 = cache["W_2"]
    ln_1_sigma = cache["ln_1_sigma"]
    ln_1_Xbar = cache["ln_1_Xbar"]
    W_q_W_k_W_v = cache["W_q_W_k_W_v"]
    attn_Q_h = cache["attn_Q_h"]
    attn_K_h = cache["attn_K_h"]
    attn_V_h = cache["attn_V_h"]
    attn_P = cache["attn_P"]
    attn_A = cache["attn_A"]
    ln_2_sigma = cache["ln_2_sigma"]
    ln_2_Xbar = cache["ln_2_Xbar"]
    mlp_H = cache["mlp_H"]
    mlp_A = cache["mlp_A"]
    n_heads = cache["n_heads"]
    activation = cache["activation"]
    d = cache["d"]
    d_ff = cache["d_ff"]
    dtype = cache["dtype"]
    if grad_out.shape != cache["out_shape"]:
        raise ValueError(f"grad_out: expected shape {cache['out_shape']}, got {grad_out.shape}")
    grad_out = grad_out.astype(cache["out_dtype"], copy=False)  # the dtype the forward computed in
    del cache  # each array is released after its last use below
    # grad of mlp_Y, used in: Y = a5 + mlp_Y
    dmlp_Y = grad_out  # (..., n_T, d)
    # grad of mlp_A, used in: mlp_Y = mlp_A W_2 + 1 b_2ᵀ
    dmlp_A = _rows_matmul(dmlp_Y, W_2.swapaxes(-1, -2))  # (..., n_T, d_ff)
    # grad of mlp_H, used in: mlp_A = activation(mlp_H)
    dmlp_H = dmlp_A  # (..., n_T, d_ff), dmlp_A's array, updated in place
    dmlp_H = _ACTIVATION_GRAD[activation](mlp_H, times=dmlp_H)
    del dmlp_A, mlp_H
    # grad of ln_2_Y, used in: mlp_H = ln_2_Y W_1 + 1 b_1ᵀ
    dln_2_Y = _rows_matmul(dmlp_H, W_1.swapaxes(-1, -2))  # (..., n_T, d)
    # grad of ln_2_Xbar, used in: ln_2_Y = ln_2_Xbar ∘ (1 ln_2_wᵀ) + 1 ln_2_bᵀ
    dln_2_Xbar = dln_2_Y * ln_2_w  # (..., n_T, d)
    # common subexpression
    t5 = 1/ln_2_sigma  # (..., n_T, 1)
    # grad of ln_2_sigma, used in: ln_2_Xbar = ((1/ln_2_sigma) 1ᵀ) ∘ ln_2_Xc
    dln_2_sigma = -(t5 * _row_dot(dln_2_Xbar, ln_2_Xbar))  # (..., n_T, 1)
    # grad of ln_2_var, used in: ln_2_sigma = sqrt(eps + ln_2_var)
    dln_2_var = dln_2_sigma  # (..., n_T, 1), dln_2_sigma's array, updated in place
    dln_2_var *= t5
    dln_2_var *= 1/2
    del dln_2_sigma
    # grad of ln_2_Xc, used in: ln_2_var = (1/d) (ln_2_Xc ∘ ln_2_Xc) 1; ln_2_Xbar = ((1/ln_2_sigma) 1ᵀ) ∘ ln_2_Xc
    dln_2_Xc = dln_2_Xbar  # (..., n_T, d), dln_2_Xbar's array, updated in place
    dln_2_Xc *= t5
    dln_2_Xc += 2/d * ((dln_2_var * ln_2_sigma) * ln_2_Xbar)
    del dln_2_Xbar, dln_2_var, ln_2_sigma, t5
    # grad of ln_2_mu, used in: ln_2_Xc = a5 − ln_2_mu 1ᵀ
    dln_2_mu = -dln_2_Xc.sum(axis=-1, keepdims=True)  # (..., n_T, 1)
    # grad of a5, used in: ln_2_mu = (1/d) a5 1; ln_2_Xc = a5 − ln_2_mu 1ᵀ; Y = a5 + mlp_Y
    da5 = dln_2_Xc  # (..., n_T, d), dln_2_Xc's array, updated in place
    da5 += grad_out
    da5 += 1/d * dln_2_mu
    del dln_2_Xc, dln_2_mu
    # grad of proj_Y, used in: a5 = X + proj_Y
    dproj_Y = da5  # (..., n_T, d)
    # grad of attn_A, used in: proj_Y = attn_A W_o + 1 b_oᵀ
    dattn_A = _rows_matmul(dproj_Y, W_o.swapaxes(-1, -2))  # (..., n_T, d)
    # common subexpression
    t4 = _split_heads(dattn_A, n_heads)  # (..., n_heads, n_T, d/n_heads)
    # grad of attn_P, used in: attn_A = merge_h(attn_P attn_V_h)
    dattn_P = t4 @ attn_V_h.swapaxes(-1, -2)  # (..., n_heads, n_T, n_T)
    del attn_V_h
    # grad of attn_S, used in: attn_P = softmax[True](attn_S)
    dattn_S = dattn_P  # (..., n_heads, n_T, n_T), dattn_P's array, updated in place
    dattn_S -= _row_dot(attn_P, dattn_P)
    dattn_S *= attn_P
    del dattn_P
    # grad of attn_V_h, used in: attn_A = merge_h(attn_P attn_V_h)
    dattn_V_h = attn_P.swapaxes(-1, -2) @ t4  # (..., n_heads, n_T, d/n_heads)
    del attn_P, t4
    # grad of attn_K_h, used in: attn_S = (sqrt(n_heads)/sqrt(d)) attn_Q_h attn_K_hᵀ
    dattn_K_h = dattn_S.swapaxes(-1, -2) @ attn_Q_h  # (..., n_heads, n_T, d/n_heads), updated in place
    dattn_K_h *= math.sqrt(n_heads)/math.sqrt(d)
    del attn_Q_h
    # grad of attn_Q_h, used in: attn_S = (sqrt(n_heads)/sqrt(d)) attn_Q_h attn_K_hᵀ
    dattn_Q_h = dattn_S @ attn_K_h  # (..., n_heads, n_T, d/n_heads), updated in place
    dattn_Q_h *= math.sqrt(n_heads)/math.sqrt(d)
    del attn_K_h, dattn_S
    # grad of attn_V, used in: attn_V_h = split_h(attn_V)
    dattn_V = _merge_heads(dattn_V_h)  # (..., n_T, d)
    del dattn_V_h
    # grad of attn_K, used in: attn_K_h = split_h(attn_K)
    dattn_K = _merge_heads(dattn_K_h)  # (..., n_T, d)
    del dattn_K_h
    # grad of attn_Q, used in: attn_Q_h = split_h(attn_Q)
    dattn_Q = _merge_heads(dattn_Q_h)  # (..., n_T, d)
    del dattn_Q_h
    # common subexpression
    t3 = _side_by_side(dattn_Q, dattn_K, dattn_V)  # (..., n_T, 3*d)
    del dattn_K, dattn_V
    # grad of ln_1_Y, used in: attn_Q = ln_1_Y W_q + 1 b_qᵀ; attn_K = ln_1_Y W_k + 1 b_kᵀ; attn_V = ln_1_Y W_v + 1 b_vᵀ
    dln_1_Y = _rows_matmul(t3, W_q_W_k_W_v.swapaxes(-1, -2))  # (..., n_T, d)
    del W_q_W_k_W_v
    # grad of ln_1_Xbar, used in: ln_1_Y = ln_1_Xbar ∘ (1 ln_1_wᵀ) + 1 ln_1_bᵀ
    dln_1_Xbar = dln_1_Y * ln_1_w  # (..., n_T, d)
    # common subexpression
    t6 = 1/ln_1_sigma  # (..., n_T, 1)
    # grad of ln_1_sigma, used in: ln_1_Xbar = ((1/ln_1_sigma) 1ᵀ) ∘ ln_1_Xc
    dln_1_sigma = -(t6 * _row_dot(dln_1_Xbar, ln_1_Xbar))  # (..., n_T, 1)
    # grad of ln_1_var, used in: ln_1_sigma = sqrt(eps + ln_1_var)
    dln_1_var = dln_1_sigma  # (..., n_T, 1), dln_1_sigma's array, updated in place
    dln_1_var *= t6
    dln_1_var *= 1/2
    del dln_1_sigma
    # grad of ln_1_Xc, used in: ln_1_var = (1/d) (ln_1_Xc ∘ ln_1_Xc) 1; ln_1_Xbar = ((1/ln_1_sigma) 1ᵀ) ∘ ln_1_Xc
    dln_1_Xc = dln_1_Xbar  # (..., n_T, d), dln_1_Xbar's array, updated in place
    dln_1_Xc *= t6
    dln_1_Xc += 2/d * ((dln_1_var * ln_1_sigma) * ln_1_Xbar)
    del dln_1_Xbar, dln_1_var, ln_1_sigma, t6
    # grad of ln_1_mu, used in: ln_1_Xc = X − ln_1_mu 1ᵀ
    dln_1_mu = -dln_1_Xc.sum(axis=-1, keepdims=True)  # (..., n_T, 1)
    # grad of X, used in: ln_1_mu = (1/d) X 1; ln_1_Xc = X − ln_1_mu 1ᵀ; a5 = X + proj_Y
    dX = dln_1_Xc  # (..., n_T, d), dln_1_Xc's array, updated in place
    dX += da5
    dX += 1/d * dln_1_mu
    del da5, dln_1_Xc, dln_1_mu
    # grad of ln_1_w, used in: ln_1_Y = ln_1_Xbar ∘ (1 ln_1_wᵀ) + 1 ln_1_bᵀ
    dln_1_w = _column_dot(dln_1_Y, ln_1_Xbar)  # (d,)
    del dln_1_Y
    # common subexpression
    t1 = dattn_Q.reshape(-1, d).sum(axis=0)  # (d,)
    del dattn_Q
    # common subexpression
    t2 = dattn_A.reshape(-1, d).sum(axis=0)  # (d,)
    del dattn_A
    # grad of ln_1_b, used in: ln_1_Y = ln_1_Xbar ∘ (1 ln_1_wᵀ) + 1 ln_1_bᵀ
    dln_1_b = (t2[None, :] @ W_v.swapaxes(-1, -2) + t1[None, :] @ W_q.swapaxes(-1, -2)).reshape(-1)  # (d,)
    # recomputed: one pass, cheaper than keeping it
    ln_1_Y = ln_1_Xbar * ln_1_w  # (..., n_T, d), updated in place
    ln_1_Y += ln_1_b
    del ln_1_Xbar
    # the weights' gradients as one product
    dW_q_W_k_W_v = ln_1_Y.reshape(-1, d).T @ t3.reshape(-1, 3*d)  # (d, 3*d)
    del ln_1_Y, t3
    # grad of W_q, used in: attn_Q = ln_1_Y W_q + 1 b_qᵀ
    dW_q = dW_q_W_k_W_v[..., 0:d]  # (d, d)
    # grad of b_q, used in: attn_Q = ln_1_Y W_q + 1 b_qᵀ
    db_q = t1  # (d,)
    del t1
    # grad of W_k, used in: attn_K = ln_1_Y W_k + 1 b_kᵀ
    dW_k = dW_q_W_k_W_v[..., d:2*d]  # (d, d)
    # grad of W_v, used in: attn_V = ln_1_Y W_v + 1 b_vᵀ
    dW_v = dW_q_W_k_W_v[..., 2*d:3*d]  # (d, d)
    del dW_q_W_k_W_v
    # grad of b_v, used in: attn_V = ln_1_Y W_v + 1 b_vᵀ
    db_v = t2  # (d,)
    del t2
    # grad of W_o, used in: proj_Y = attn_A W_o + 1 b_oᵀ
    dW_o = attn_A.reshape(-1, d).T @ dproj_Y.reshape(-1, d)  # (d, d)
    del attn_A
    # grad of b_o, used in: proj_Y = attn_A W_o + 1 b_oᵀ
    db_o = dproj_Y.reshape(-1, d).sum(axis=0)  # (d,)
    del dproj_Y
    # grad of ln_2_w, used in: ln_2_Y = ln_2_Xbar ∘ (1 ln_2_wᵀ) + 1 ln_2_bᵀ
    dln_2_w = _column_dot(dln_2_Y, ln_2_Xbar)  # (d,)
    # grad of ln_2_b, used in: ln_2_Y = ln_2_Xbar ∘ (1 ln_2_wᵀ) + 1 ln_2_bᵀ
    dln_2_b = dln_2_Y.reshape(-1, d).sum(axis=0)  # (d,)
    del dln_2_Y
    # recomputed: one pass, cheaper than keeping it
    ln_2_Y = ln_2_Xbar * ln_2_w  # (..., n_T, d), updated in place
    ln_2_Y += ln_2_b
    del ln_2_Xbar
    # grad of W_1, used in: mlp_H = ln_2_Y W_1 + 1 b_1ᵀ
    dW_1 = ln_2_Y.reshape(-1, d).T @ dmlp_H.reshape(-1, d_ff)  # (d, d_ff)
    del ln_2_Y
    # grad of b_1, used in: mlp_H = ln_2_Y W_1 + 1 b_1ᵀ
    db_1 = dmlp_H.reshape(-1, d_ff).sum(axis=0)  # (d_ff,)
    del dmlp_H
    # grad of W_2, used in: mlp_Y = mlp_A W_2 + 1 b_2ᵀ
    dW_2 = mlp_A.reshape(-1, d_ff).T @ dmlp_Y.reshape(-1, d)  # (d_ff, d)
    del mlp_A
    # grad of b_2, used in: mlp_Y = mlp_A W_2 + 1 b_2ᵀ
    db_2 = dmlp_Y.reshape(-1, d).sum(axis=0)  # (d,)
    del dmlp_Y
    return {
        "X": dX.astype(dtype, copy=False),
        "ln_1_w": dln_1_w.astype(dtype, copy=False),
        "ln_1_b": dln_1_b.astype(dtype, copy=False),
        "W_q": dW_q.astype(dtype, copy=False),
        "b_q": db_q.astype(dtype, copy=False),
        "W_k": dW_k.astype(dtype, copy=False),
        "b_k": np.zeros_like(b_k).astype(dtype, copy=False),
        "W_v": dW_v.astype(dtype, copy=False),
        "b_v": db_v.astype(dtype, copy=False),
        "W_o": dW_o.astype(dtype, copy=False),
        "b_o": db_o.astype(dtype, copy=False),
        "ln_2_w": dln_2_w.astype(dtype, copy=False),
        "ln_2_b": dln_2_b.astype(dtype, copy=False),
        "W_1": dW_1.astype(dtype, copy=False),
        "b_1": db_1.astype(dtype, copy=False),
        "W_2": dW_2.astype(dtype, copy=False),
        "b_2": db_2.astype(dtype, copy=False),
    }


def _jvp_forward(X, ln_1_w, ln_1_b, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, ln_2_w, ln_2_b, W_1, b_1, W_2, b_2, dX, dln_1_w, dln_1_b, dW_q, db_q, dW_k, db_k, dW_v, db_v, dW_o, db_o, dln_2_w, dln_2_b, dW_1, db_1, dW_2, db_2, *, n_heads, eps=1e-05, activation='gelu_tanh'):
    """GPT-2 block: returns ``(out, cache)``.

    X: input, frozen (..., n_T, d): a1, the block's input
    ln_1_w: parameter, frozen (d,)
    ln_1_b: parameter, frozen (d,)
    W_q: parameter, frozen (d, d)
    b_q: parameter, frozen (d,)
    W_k: parameter, frozen (d, d)
    b_k: parameter, frozen (d,)
    W_v: parameter, frozen (d, d)
    b_v: parameter, frozen (d,)
    W_o: parameter, frozen (d, d): attProj
    b_o: parameter, frozen (d,)
    ln_2_w: parameter, frozen (d,)
    ln_2_b: parameter, frozen (d,)
    W_1: parameter, frozen (d, d_ff): expand
    b_1: parameter, frozen (d_ff,)
    W_2: parameter, frozen (d_ff, d): contract
    b_2: parameter, frozen (d,)
    n_heads: configuration, required: attention heads
    eps: configuration, default 1e-05: LayerNorm epsilon
    activation: configuration, default 'gelu_tanh' (one of 'gelu_tanh', 'gelu', 'relu'): MLP activation
    dX: input, frozen (..., n_T, d): the tangent of X
    dln_1_w: parameter, frozen (d,): the tangent of ln_1_w
    dln_1_b: parameter, frozen (d,): the tangent of ln_1_b
    dW_q: parameter, frozen (d, d): the tangent of W_q
    db_q: parameter, frozen (d,): the tangent of b_q
    dW_k: parameter, frozen (d, d): the tangent of W_k
    db_k: parameter, frozen (d,): the tangent of b_k
    dW_v: parameter, frozen (d, d): the tangent of W_v
    db_v: parameter, frozen (d,): the tangent of b_v
    dW_o: parameter, frozen (d, d): the tangent of W_o
    db_o: parameter, frozen (d,): the tangent of b_o
    dln_2_w: parameter, frozen (d,): the tangent of ln_2_w
    dln_2_b: parameter, frozen (d,): the tangent of ln_2_b
    dW_1: parameter, frozen (d, d_ff): the tangent of W_1
    db_1: parameter, frozen (d_ff,): the tangent of b_1
    dW_2: parameter, frozen (d_ff, d): the tangent of W_2
    db_2: parameter, frozen (d,): the tangent of b_2
    """
    X = np.asarray(X)
    ln_1_w = np.asarray(ln_1_w)
    ln_1_b = np.asarray(ln_1_b)
    W_q = np.asarray(W_q)
    b_q = np.asarray(b_q)
    W_k = np.asarray(W_k)
    b_k = np.asarray(b_k)
    W_v = np.asarray(W_v)
    b_v = np.asarray(b_v)
    W_o = np.asarray(W_o)
    b_o = np.asarray(b_o)
    ln_2_w = np.asarray(ln_2_w)
    ln_2_b = np.asarray(ln_2_b)
    W_1 = np.asarray(W_1)
    b_1 = np.asarray(b_1)
    W_2 = np.asarray(W_2)
    b_2 = np.asarray(b_2)
    dX = np.asarray(dX)
    dln_1_w = np.asarray(dln_1_w)
    dln_1_b = np.asarray(dln_1_b)
    dW_q = np.asarray(dW_q)
    db_q = np.asarray(db_q)
    dW_k = np.asarray(dW_k)
    db_k = np.asarray(db_k)
    dW_v = np.asarray(dW_v)
    db_v = np.asarray(db_v)
    dW_o = np.asarray(dW_o)
    db_o = np.asarray(db_o)
    dln_2_w = np.asarray(dln_2_w)
    dln_2_b = np.asarray(dln_2_b)
    dW_1 = np.asarray(dW_1)
    db_1 = np.asarray(db_1)
    dW_2 = np.asarray(dW_2)
    db_2 = np.asarray(db_2)
    dtype, compute_dtype = _check_dtypes({"X": X, "ln_1_w": ln_1_w, "ln_1_b": ln_1_b, "W_q": W_q, "b_q": b_q, "W_k": W_k, "b_k": b_k, "W_v": W_v, "b_v": b_v, "W_o": W_o, "b_o": b_o, "ln_2_w": ln_2_w, "ln_2_b": ln_2_b, "W_1": W_1, "b_1": b_1, "W_2": W_2, "b_2": b_2, "dX": dX, "dln_1_w": dln_1_w, "dln_1_b": dln_1_b, "dW_q": dW_q, "db_q": db_q, "dW_k": dW_k, "db_k": db_k, "dW_v": dW_v, "db_v": db_v, "dW_o": dW_o, "db_o": db_o, "dln_2_w": dln_2_w, "dln_2_b": dln_2_b, "dW_1": dW_1, "db_1": db_1, "dW_2": dW_2, "db_2": db_2}, {})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        X = X.astype(compute_dtype, copy=False)
        ln_1_w = ln_1_w.astype(compute_dtype, copy=False)
        ln_1_b = ln_1_b.astype(compute_dtype, copy=False)
        W_q = W_q.astype(compute_dtype, copy=False)
        b_q = b_q.astype(compute_dtype, copy=False)
        W_k = W_k.astype(compute_dtype, copy=False)
        b_k = b_k.astype(compute_dtype, copy=False)
        W_v = W_v.astype(compute_dtype, copy=False)
        b_v = b_v.astype(compute_dtype, copy=False)
        W_o = W_o.astype(compute_dtype, copy=False)
        b_o = b_o.astype(compute_dtype, copy=False)
        ln_2_w = ln_2_w.astype(compute_dtype, copy=False)
        ln_2_b = ln_2_b.astype(compute_dtype, copy=False)
        W_1 = W_1.astype(compute_dtype, copy=False)
        b_1 = b_1.astype(compute_dtype, copy=False)
        W_2 = W_2.astype(compute_dtype, copy=False)
        b_2 = b_2.astype(compute_dtype, copy=False)
        dX = dX.astype(compute_dtype, copy=False)
        dln_1_w = dln_1_w.astype(compute_dtype, copy=False)
        dln_1_b = dln_1_b.astype(compute_dtype, copy=False)
        dW_q = dW_q.astype(compute_dtype, copy=False)
        db_q = db_q.astype(compute_dtype, copy=False)
        dW_k = dW_k.astype(compute_dtype, copy=False)
        db_k = db_k.astype(compute_dtype, copy=False)
        dW_v = dW_v.astype(compute_dtype, copy=False)
        db_v = db_v.astype(compute_dtype, copy=False)
        dW_o = dW_o.astype(compute_dtype, copy=False)
        db_o = db_o.astype(compute_dtype, copy=False)
        dln_2_w = dln_2_w.astype(compute_dtype, copy=False)
        dln_2_b = dln_2_b.astype(compute_dtype, copy=False)
        dW_1 = dW_1.astype(compute_dtype, copy=False)
        db_1 = db_1.astype(compute_dtype, copy=False)
        dW_2 = dW_2.astype(compute_dtype, copy=False)
        db_2 = db_2.astype(compute_dtype, copy=False)
    n_heads = _check_count("n_heads", n_heads)
    eps = _check_number("eps", eps)
    if activation not in ('gelu_tanh', 'gelu', 'relu'):
        raise ValueError("activation must be one of ('gelu_tanh', 'gelu', 'relu'), got " + repr(activation))
    dims = {}
    _check_shape("X", X, ("n_T", "d"), dims, batched="shared")
    _check_shape("ln_1_w", ln_1_w, ("d",), dims, batched=False)
    _check_shape("ln_1_b", ln_1_b, ("d",), dims, batched=False)
    _check_shape("W_q", W_q, ("d", "d"), dims, batched=False)
    _check_shape("b_q", b_q, ("d",), dims, batched=False)
    _check_shape("W_k", W_k, ("d", "d"), dims, batched=False)
    _check_shape("b_k", b_k, ("d",), dims, batched=False)
    _check_shape("W_v", W_v, ("d", "d"), dims, batched=False)
    _check_shape("b_v", b_v, ("d",), dims, batched=False)
    _check_shape("W_o", W_o, ("d", "d"), dims, batched=False)
    _check_shape("b_o", b_o, ("d",), dims, batched=False)
    _check_shape("ln_2_w", ln_2_w, ("d",), dims, batched=False)
    _check_shape("ln_2_b", ln_2_b, ("d",), dims, batched=False)
    _check_shape("W_1", W_1, ("d", "d_ff"), dims, batched=False)
    _check_shape("b_1", b_1, ("d_ff",), dims, batched=False)
    _check_shape("W_2", W_2, ("d_ff", "d"), dims, batched=False)
    _check_shape("b_2", b_2, ("d",), dims, batched=False)
    _check_shape("dX", dX, ("n_T", "d"), dims, batched="shared")
    _check_shape("dln_1_w", dln_1_w, ("d",), dims, batched=False)
    _check_shape("dln_1_b", dln_1_b, ("d",), dims, batched=False)
    _check_shape("dW_q", dW_q, ("d", "d"), dims, batched=False)
    _check_shape("db_q", db_q, ("d",), dims, batched=False)
    _check_shape("dW_k", dW_k, ("d", "d"), dims, batched=False)
    _check_shape("db_k", db_k, ("d",), dims, batched=False)
    _check_shape("dW_v", dW_v, ("d", "d"), dims, batched=False)
    _check_shape("db_v", db_v, ("d",), dims, batched=False)
    _check_shape("dW_o", dW_o, ("d", "d"), dims, batched=False)
    _check_shape("db_o", db_o, ("d",), dims, batched=False)
    _check_shape("dln_2_w", dln_2_w, ("d",), dims, batched=False)
    _check_shape("dln_2_b", dln_2_b, ("d",), dims, batched=False)
    _check_shape("dW_1", dW_1, ("d", "d_ff"), dims, batched=False)
    _check_shape("db_1", db_1, ("d_ff",), dims, batched=False)
    _check_shape("dW_2", dW_2, ("d_ff", "d"), dims, batched=False)
    _check_shape("db_2", db_2, ("d",), dims, batched=False)
    X, dX = _broadcast_batches({"X": X, "dX": dX}, {"X": 2, "dX": 2}, dims)
    d, d_ff = dims["d"], dims["d_ff"]
    if not (d % n_heads == 0):
        raise ValueError('attention: d must be divisible by n_heads; got ' + f"d={d}, n_heads={n_heads}")
    ln_1_mu = X.sum(axis=-1, keepdims=True)  # (..., n_T, 1), updated in place
    ln_1_mu *= 1/d
    ln_1_Xc = X - ln_1_mu  # (..., n_T, d)
    del ln_1_mu
    ln_1_var = _row_dot(ln_1_Xc, ln_1_Xc)  # (..., n_T, 1), updated in place
    ln_1_var *= 1/d
    ln_1_sigma = eps + ln_1_var  # (..., n_T, 1), updated in place
    np.sqrt(ln_1_sigma, out=ln_1_sigma)
    ln_1_Xbar = (1/ln_1_sigma) * ln_1_Xc  # (..., n_T, d)
    ln_1_Y = ln_1_Xbar * ln_1_w  # (..., n_T, d), updated in place
    ln_1_Y += ln_1_b
    W_q_W_k_W_v_dW_q_dW_k_dW_v = _side_by_side(W_q, W_k, W_v, dW_q, dW_k, dW_v)  # (d, 6*d)
    ln_1_Y_W_q_W_k_W_v_dW_q_dW_k_dW_v = _rows_matmul(ln_1_Y, W_q_W_k_W_v_dW_q_dW_k_dW_v)  # (..., n_T, 6*d)
    del W_q_W_k_W_v_dW_q_dW_k_dW_v, ln_1_Y
    attn_Q = ln_1_Y_W_q_W_k_W_v_dW_q_dW_k_dW_v[..., 0:d] + b_q  # (..., n_T, d)
    attn_K = ln_1_Y_W_q_W_k_W_v_dW_q_dW_k_dW_v[..., d:2*d] + b_k  # (..., n_T, d)
    attn_V = ln_1_Y_W_q_W_k_W_v_dW_q_dW_k_dW_v[..., 2*d:3*d] + b_v  # (..., n_T, d)
    attn_Q_h = _split_heads(attn_Q, n_heads)  # (..., n_heads, n_T, d/n_heads)
    del attn_Q
    attn_K_h = _split_heads(attn_K, n_heads)  # (..., n_heads, n_T, d/n_heads)
    del attn_K
    attn_V_h = _split_heads(attn_V, n_heads)  # (..., n_heads, n_T, d/n_heads)
    del attn_V
    attn_S = attn_Q_h @ attn_K_h.swapaxes(-1, -2)  # (..., n_heads, n_T, n_T), updated in place
    attn_S *= math.sqrt(n_heads)/math.sqrt(d)
    attn_P = _softmax(attn_S, True, fresh=True)  # (..., n_heads, n_T, n_T), attn_S's array given to be written over
    del attn_S
    attn_A = _merge_heads(attn_P @ attn_V_h)  # (..., n_T, d)
    W_o_dW_o = _side_by_side(W_o, dW_o)  # (d, 2*d)
    attn_A_W_o_dW_o = _rows_matmul(attn_A, W_o_dW_o)  # (..., n_T, 2*d)
    del W_o_dW_o, attn_A
    proj_Y = attn_A_W_o_dW_o[..., 0:d] + b_o  # (..., n_T, d)
    a5 = proj_Y  # (..., n_T, d), proj_Y's array, updated in place
    a5 += X
    del proj_Y
    ln_2_mu = a5.sum(axis=-1, keepdims=True)  # (..., n_T, 1), updated in place
    ln_2_mu *= 1/d
    ln_2_Xc = a5  # (..., n_T, d), a5's array, updated in place
    ln_2_Xc -= ln_2_mu
    del a5, ln_2_mu
    ln_2_var = _row_dot(ln_2_Xc, ln_2_Xc)  # (..., n_T, 1), updated in place
    ln_2_var *= 1/d
    ln_2_sigma = eps + ln_2_var  # (..., n_T, 1), updated in place
    np.sqrt(ln_2_sigma, out=ln_2_sigma)
    ln_2_Xbar = (1/ln_2_sigma) * ln_2_Xc  # (..., n_T, d)
    ln_2_Y = ln_2_Xbar * ln_2_w  # (..., n_T, d), updated in place
    ln_2_Y += ln_2_b
    W_1_dW_1 = _side_by_side(W_1, dW_1)  # (d, 2*d_ff)
    ln_2_Y_W_1_dW_1 = _rows_matmul(ln_2_Y, W_1_dW_1)  # (..., n_T, 2*d_ff)
    del W_1_dW_1, ln_2_Y
    mlp_H = ln_2_Y_W_1_dW_1[..., 0:d_ff] + b_1  # (..., n_T, d_ff)
    mlp_A = _ACTIVATION[activation](mlp_H)  # (..., n_T, d_ff)
    dln_1_mu = dX.sum(axis=-1, keepdims=True)  # (..., n_T, 1), updated in place
    dln_1_mu *= 1/d
    dln_1_Xc = dX - dln_1_mu  # (..., n_T, d)
    del dln_1_mu
    dln_1_var = _row_dot(dln_1_Xc, ln_1_Xc)  # (..., n_T, 1), updated in place
    dln_1_var *= 1/d
    dln_1_var += 1/d * _row_dot(ln_1_Xc, dln_1_Xc)
    dln_1_sigma = dln_1_var  # (..., n_T, 1), dln_1_var's array, updated in place
    dln_1_sigma *= (1/2)/np.sqrt(eps + ln_1_var)
    del dln_1_var, ln_1_var
    dln_1_Xbar = ln_1_Xc  # (..., n_T, d), ln_1_Xc's array, updated in place
    dln_1_Xbar *= (-1/ln_1_sigma**2) * dln_1_sigma
    dln_1_Xbar += (1/ln_1_sigma) * dln_1_Xc
    del dln_1_Xc, dln_1_sigma, ln_1_Xc, ln_1_sigma
    dln_1_Y = dln_1_Xbar  # (..., n_T, d), dln_1_Xbar's array, updated in place
    dln_1_Y *= ln_1_w
    dln_1_Y += ln_1_Xbar * dln_1_w
    dln_1_Y += dln_1_b
    del dln_1_Xbar, ln_1_Xbar
    W_q_W_k_W_v = _side_by_side(W_q, W_k, W_v)  # (d, 3*d)
    dln_1_Y_W_q_W_k_W_v = _rows_matmul(dln_1_Y, W_q_W_k_W_v)  # (..., n_T, 3*d)
    del W_q_W_k_W_v, dln_1_Y
    dattn_Q = dln_1_Y_W_q_W_k_W_v[..., 0:d] + ln_1_Y_W_q_W_k_W_v_dW_q_dW_k_dW_v[..., 3*d:4*d] + db_q  # (..., n_T, d)
    dattn_K = dln_1_Y_W_q_W_k_W_v[..., d:2*d] + ln_1_Y_W_q_W_k_W_v_dW_q_dW_k_dW_v[..., 4*d:5*d] + db_k  # (..., n_T, d)
    dattn_V = dln_1_Y_W_q_W_k_W_v[..., 2*d:3*d] + ln_1_Y_W_q_W_k_W_v_dW_q_dW_k_dW_v[..., 5*d:6*d] + db_v  # (..., n_T, d)
    del dln_1_Y_W_q_W_k_W_v, ln_1_Y_W_q_W_k_W_v_dW_q_dW_k_dW_v
    dattn_Q_h = _split_heads(dattn_Q, n_heads)  # (..., n_heads, n_T, d/n_heads)
    del dattn_Q
    dattn_K_h = _split_heads(dattn_K, n_heads)  # (..., n_heads, n_T, d/n_heads)
    del dattn_K
    dattn_V_h = _split_heads(dattn_V, n_heads)  # (..., n_heads, n_T, d/n_heads)
    del dattn_V
    dattn_S = dattn_Q_h @ attn_K_h.swapaxes(-1, -2)  # (..., n_heads, n_T, n_T), updated in place
    dattn_S *= math.sqrt(n_heads)/math.sqrt(d)
    dattn_S += math.sqrt(n_heads)/math.sqrt(d) * (attn_Q_h @ dattn_K_h.swapaxes(-1, -2))
    del attn_K_h, attn_Q_h, dattn_K_h, dattn_Q_h
    dattn_P = dattn_S  # (..., n_heads, n_T, n_T), dattn_S's array, updated in place
    dattn_P -= _row_dot(attn_P, dattn_S)
    dattn_P *= attn_P
    del dattn_S
    dattn_A = _merge_heads(dattn_P @ attn_V_h + attn_P @ dattn_V_h)  # (..., n_T, d)
    del attn_P, attn_V_h, dattn_P, dattn_V_h
    dproj_Y = _rows_matmul(dattn_A, W_o) + attn_A_W_o_dW_o[..., d:2*d] + db_o  # (..., n_T, d)
    del attn_A_W_o_dW_o, dattn_A
    da5 = dproj_Y  # (..., n_T, d), dproj_Y's array, updated in place
    da5 += dX
    del dproj_Y
    dln_2_mu = da5.sum(axis=-1, keepdims=True)  # (..., n_T, 1), updated in place
    dln_2_mu *= 1/d
    dln_2_Xc = da5 - dln_2_mu  # (..., n_T, d)
    del dln_2_mu
    dln_2_var = _row_dot(dln_2_Xc, ln_2_Xc)  # (..., n_T, 1), updated in place
    dln_2_var *= 1/d
    dln_2_var += 1/d * _row_dot(ln_2_Xc, dln_2_Xc)
    dln_2_sigma = dln_2_var  # (..., n_T, 1), dln_2_var's array, updated in place
    dln_2_sigma *= (1/2)/np.sqrt(eps + ln_2_var)
    del dln_2_var, ln_2_var
    dln_2_Xbar = ln_2_Xc  # (..., n_T, d), ln_2_Xc's array, updated in place
    dln_2_Xbar *= (-1/ln_2_sigma**2) * dln_2_sigma
    dln_2_Xbar += (1/ln_2_sigma) * dln_2_Xc
    del dln_2_Xc, dln_2_sigma, ln_2_Xc, ln_2_sigma
    dln_2_Y = dln_2_Xbar  # (..., n_T, d), dln_2_Xbar's array, updated in place
    dln_2_Y *= ln_2_w
    dln_2_Y += ln_2_Xbar * dln_2_w
    dln_2_Y += dln_2_b
    del dln_2_Xbar, ln_2_Xbar
    dmlp_H = _rows_matmul(dln_2_Y, W_1) + ln_2_Y_W_1_dW_1[..., d_ff:2*d_ff] + db_1  # (..., n_T, d_ff)
    del dln_2_Y, ln_2_Y_W_1_dW_1
    dmlp_A = dmlp_H  # (..., n_T, d_ff), dmlp_H's array, updated in place
    dmlp_A = _ACTIVATION_GRAD[activation](mlp_H, times=dmlp_A)
    del dmlp_H, mlp_H
    dmlp_Y = _rows_matmul(dmlp_A, W_2)  # (..., n_T, d), updated in place
    dmlp_Y += _rows_matmul(mlp_A, dW_2)
    dmlp_Y += db_2
    del dmlp_A, mlp_A
    dY = da5  # (..., n_T, d), da5's array, updated in place
    dY += dmlp_Y
    del da5, dmlp_Y
    cache = {"out_shape": dY.shape, "out_dtype": dY.dtype, "dtype": dtype}
    return dY.astype(dtype, copy=False), cache


def jvp(X, ln_1_w, ln_1_b, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, ln_2_w, ln_2_b, W_1, b_1, W_2, b_2, dX=None, dln_1_w=None, dln_1_b=None, dW_q=None, db_q=None, dW_k=None, db_k=None, dW_v=None, db_v=None, dW_o=None, db_o=None, dln_2_w=None, dln_2_b=None, dW_1=None, db_1=None, dW_2=None, db_2=None, *, n_heads, eps=1e-05, activation='gelu_tanh'):
    """The tangent of Y for the arguments' tangents: forward mode, pushed forward from each
    primitive's differential (``backprop show gpt2_block --jvp``).

    dX: the tangent of X (its shape; None for zero)
    dln_1_w: the tangent of ln_1_w (its shape; None for zero)
    dln_1_b: the tangent of ln_1_b (its shape; None for zero)
    dW_q: the tangent of W_q (its shape; None for zero)
    db_q: the tangent of b_q (its shape; None for zero)
    dW_k: the tangent of W_k (its shape; None for zero)
    db_k: the tangent of b_k (its shape; None for zero)
    dW_v: the tangent of W_v (its shape; None for zero)
    db_v: the tangent of b_v (its shape; None for zero)
    dW_o: the tangent of W_o (its shape; None for zero)
    db_o: the tangent of b_o (its shape; None for zero)
    dln_2_w: the tangent of ln_2_w (its shape; None for zero)
    dln_2_b: the tangent of ln_2_b (its shape; None for zero)
    dW_1: the tangent of W_1 (its shape; None for zero)
    db_1: the tangent of b_1 (its shape; None for zero)
    dW_2: the tangent of W_2 (its shape; None for zero)
    db_2: the tangent of b_2 (its shape; None for zero)
    """
    if dX is None:  # no tangent: zero
        dX = np.zeros_like(np.asarray(X))
    if dln_1_w is None:  # no tangent: zero
        dln_1_w = np.zeros_like(np.asarray(ln_1_w))
    if dln_1_b is None:  # no tangent: zero
        dln_1_b = np.zeros_like(np.asarray(ln_1_b))
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
    if dW_o is None:  # no tangent: zero
        dW_o = np.zeros_like(np.asarray(W_o))
    if db_o is None:  # no tangent: zero
        db_o = np.zeros_like(np.asarray(b_o))
    if dln_2_w is None:  # no tangent: zero
        dln_2_w = np.zeros_like(np.asarray(ln_2_w))
    if dln_2_b is None:  # no tangent: zero
        dln_2_b = np.zeros_like(np.asarray(ln_2_b))
    if dW_1 is None:  # no tangent: zero
        dW_1 = np.zeros_like(np.asarray(W_1))
    if db_1 is None:  # no tangent: zero
        db_1 = np.zeros_like(np.asarray(b_1))
    if dW_2 is None:  # no tangent: zero
        dW_2 = np.zeros_like(np.asarray(W_2))
    if db_2 is None:  # no tangent: zero
        db_2 = np.zeros_like(np.asarray(b_2))
    return _jvp_forward(X, ln_1_w, ln_1_b, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, ln_2_w, ln_2_b, W_1, b_1, W_2, b_2, dX, dln_1_w, dln_1_b, dW_q, db_q, dW_k, db_k, dW_v, db_v, dW_o, db_o, dln_2_w, dln_2_b, dW_1, db_1, dW_2, db_2, n_heads=n_heads, eps=eps, activation=activation)[0]
