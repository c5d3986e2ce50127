# GENERATED FILE: DO NOT EDIT.
# Derived by pedestrian-backprop from the forward definition in derive/components/gpt2_block.py.
# Regenerate with: backprop generate --target numba
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
    - fused: 10 runs of entrywise statements and row reductions, each one Numba kernel making one pass over the rows (_forward_8, _forward_9, _forward_10, _backward_1, _backward_2, _backward_3, _backward_4, _backward_5, _backward_6, _backward_7)
    - overwrite: attn_S, attn_P, proj_Y, mlp_Y, dmlp_H, dattn_S, dattn_K_h, dattn_Q_h updated in place (+=, *=) in the array the statement made or in one no longer needed, not a new array per operation
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


def _erf(x):
    """The error function, entrywise, in ``x``'s dtype."""
    return np.vectorize(math.erf, otypes=[x.dtype])(x)


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


@_kernel
def _backward_1_rows(a_grad_out, o_dmlp_Y, n_d):
    """dmlp_Y: row by row."""
    T = a_grad_out.dtype.type
    t_d = T(n_d)
    for r in range(a_grad_out.shape[0]):
        # grad of mlp_Y, used in: Y = a5 + mlp_Y
        for j in range(n_d):
            o_dmlp_Y[r, j] = a_grad_out[r, j]


def _backward_1(grad_out, d):
    """dmlp_Y: one pass over the rows of grad_out (``_backward_1_rows``)."""
    lead = grad_out.shape[:-1]
    o_dmlp_Y = np.empty(lead + (d,), grad_out.dtype)
    _launch(_backward_1_rows, grad_out.reshape(math.prod(grad_out.shape[:-1]), grad_out.shape[-1]), o_dmlp_Y.reshape(math.prod(o_dmlp_Y.shape[:-1]), o_dmlp_Y.shape[-1]), d)
    return o_dmlp_Y


@_kernel
def _backward_2_rows(a_dln_2_Y, a_ln_2_w, a_ln_2_sigma, a_ln_2_Xbar, a_grad_out, o_da5, o_dproj_Y, n_d):
    """dln_2_Xbar, t5, dln_2_sigma, dln_2_var, dln_2_Xc, dln_2_mu, da5, dproj_Y: row by row."""
    T = a_dln_2_Y.dtype.type
    t_d = T(n_d)
    k1 = T(0.5)
    k2 = T(2)/t_d
    k3 = (T(1) / (t_d))
    b_dln_2_Xbar = np.empty(n_d, a_dln_2_Y.dtype)
    b_dln_2_Xc = np.empty(n_d, a_dln_2_Y.dtype)
    for r in range(a_dln_2_Y.shape[0]):
        # grad of ln_2_Xbar, used in: ln_2_Y = ln_2_Xbar ∘ (1 ln_2_wᵀ) + 1 ln_2_bᵀ
        for j in range(n_d):
            b_dln_2_Xbar[j] = (a_dln_2_Y[r, j] * a_ln_2_w[j])
        # common subexpression
        x1 = a_ln_2_sigma[r, 0]
        v_t5 = ((T(1) / (x1)))
        # grad of ln_2_sigma, used in: ln_2_Xbar = ((1/ln_2_sigma) 1ᵀ) ∘ ln_2_Xc
        s2 = 0.0
        for j in range(n_d):
            s2 += (b_dln_2_Xbar[j] * a_ln_2_Xbar[r, j])
        v_dln_2_sigma = (-(v_t5 * T(s2)))
        # grad of ln_2_var, used in: ln_2_sigma = sqrt(eps + ln_2_var)
        v_dln_2_var = (k1 * (v_dln_2_sigma * v_t5))
        # grad of ln_2_Xc, used in: ln_2_var = (1/d) (ln_2_Xc ∘ ln_2_Xc) 1; ln_2_Xbar = ((1/ln_2_sigma) 1ᵀ) ∘ ln_2_Xc
        for j in range(n_d):
            b_dln_2_Xc[j] = ((b_dln_2_Xbar[j] * v_t5) + (k2 * ((v_dln_2_var * a_ln_2_sigma[r, 0]) * a_ln_2_Xbar[r, j])))
        # grad of ln_2_mu, used in: ln_2_Xc = a5 − ln_2_mu 1ᵀ
        s3 = 0.0
        for j in range(n_d):
            s3 += b_dln_2_Xc[j]
        v_dln_2_mu = (-T(s3))
        # grad of a5, used in: ln_2_mu = (1/d) a5 1; ln_2_Xc = a5 − ln_2_mu 1ᵀ; Y = a5 + mlp_Y
        for j in range(n_d):
            o_da5[r, j] = (a_grad_out[r, j] + b_dln_2_Xc[j] + (k3 * v_dln_2_mu))
        # grad of proj_Y, used in: a5 = X + proj_Y
        for j in range(n_d):
            o_dproj_Y[r, j] = o_da5[r, j]


def _backward_2(dln_2_Y, ln_2_w, ln_2_sigma, ln_2_Xbar, grad_out, d):
    """da5, dproj_Y: one pass over the rows of dln_2_Y (``_backward_2_rows``)."""
    lead = dln_2_Y.shape[:-1]
    o_da5 = np.empty(lead + (d,), dln_2_Y.dtype)
    o_dproj_Y = np.empty(lead + (d,), dln_2_Y.dtype)
    _launch(_backward_2_rows, dln_2_Y.reshape(math.prod(dln_2_Y.shape[:-1]), dln_2_Y.shape[-1]), ln_2_w, ln_2_sigma.reshape(math.prod(ln_2_sigma.shape[:-1]), ln_2_sigma.shape[-1]), ln_2_Xbar.reshape(math.prod(ln_2_Xbar.shape[:-1]), ln_2_Xbar.shape[-1]), grad_out.reshape(math.prod(grad_out.shape[:-1]), grad_out.shape[-1]), o_da5.reshape(math.prod(o_da5.shape[:-1]), o_da5.shape[-1]), o_dproj_Y.reshape(math.prod(o_dproj_Y.shape[:-1]), o_dproj_Y.shape[-1]), d)
    return o_da5, o_dproj_Y


@_kernel
def _backward_3_rows(a_dln_1_Y, a_ln_1_w, a_ln_1_sigma, a_ln_1_Xbar, a_da5, a_dattn_Q, a_dattn_A, o_dX, o_dln_1_w, o_t1, o_t2, n_d):
    """dln_1_Xbar, t6, dln_1_sigma, dln_1_var, dln_1_Xc, dln_1_mu, dX, dln_1_w, t1, t2: row by row."""
    T = a_dln_1_Y.dtype.type
    t_d = T(n_d)
    k1 = T(0.5)
    k2 = T(2)/t_d
    k3 = (T(1) / (t_d))
    b_dln_1_Xbar = np.empty(n_d, a_dln_1_Y.dtype)
    b_dln_1_Xc = np.empty(n_d, a_dln_1_Y.dtype)
    for r in range(a_dln_1_Y.shape[0]):
        # grad of ln_1_Xbar, used in: ln_1_Y = ln_1_Xbar ∘ (1 ln_1_wᵀ) + 1 ln_1_bᵀ
        for j in range(n_d):
            b_dln_1_Xbar[j] = (a_dln_1_Y[r, j] * a_ln_1_w[j])
        # common subexpression
        x1 = a_ln_1_sigma[r, 0]
        v_t6 = ((T(1) / (x1)))
        # grad of ln_1_sigma, used in: ln_1_Xbar = ((1/ln_1_sigma) 1ᵀ) ∘ ln_1_Xc
        s2 = 0.0
        for j in range(n_d):
            s2 += (b_dln_1_Xbar[j] * a_ln_1_Xbar[r, j])
        v_dln_1_sigma = (-(v_t6 * T(s2)))
        # grad of ln_1_var, used in: ln_1_sigma = sqrt(eps + ln_1_var)
        v_dln_1_var = (k1 * (v_dln_1_sigma * v_t6))
        # grad of ln_1_Xc, used in: ln_1_var = (1/d) (ln_1_Xc ∘ ln_1_Xc) 1; ln_1_Xbar = ((1/ln_1_sigma) 1ᵀ) ∘ ln_1_Xc
        for j in range(n_d):
            b_dln_1_Xc[j] = ((b_dln_1_Xbar[j] * v_t6) + (k2 * ((v_dln_1_var * a_ln_1_sigma[r, 0]) * a_ln_1_Xbar[r, j])))
        # grad of ln_1_mu, used in: ln_1_Xc = X − ln_1_mu 1ᵀ
        s3 = 0.0
        for j in range(n_d):
            s3 += b_dln_1_Xc[j]
        v_dln_1_mu = (-T(s3))
        # grad of X, used in: ln_1_mu = (1/d) X 1; ln_1_Xc = X − ln_1_mu 1ᵀ; a5 = X + proj_Y
        for j in range(n_d):
            o_dX[r, j] = (a_da5[r, j] + b_dln_1_Xc[j] + (k3 * v_dln_1_mu))
        # grad of ln_1_w, used in: ln_1_Y = ln_1_Xbar ∘ (1 ln_1_wᵀ) + 1 ln_1_bᵀ
        for j in range(n_d):
            o_dln_1_w[j] += (a_dln_1_Y[r, j] * a_ln_1_Xbar[r, j])
        # common subexpression
        for j in range(n_d):
            o_t1[j] += a_dattn_Q[r, j]
        # common subexpression
        for j in range(n_d):
            o_t2[j] += a_dattn_A[r, j]


def _backward_3(dln_1_Y, ln_1_w, ln_1_sigma, ln_1_Xbar, da5, dattn_Q, dattn_A, d):
    """dX, dln_1_w, t1, t2: one pass over the rows of dln_1_Y (``_backward_3_rows``)."""
    lead = dln_1_Y.shape[:-1]
    o_dX = np.empty(lead + (d,), dln_1_Y.dtype)
    o_dln_1_w = np.zeros(d, np.float64)
    o_t1 = np.zeros(d, np.float64)
    o_t2 = np.zeros(d, np.float64)
    _launch(_backward_3_rows, dln_1_Y.reshape(math.prod(dln_1_Y.shape[:-1]), dln_1_Y.shape[-1]), ln_1_w, ln_1_sigma.reshape(math.prod(ln_1_sigma.shape[:-1]), ln_1_sigma.shape[-1]), ln_1_Xbar.reshape(math.prod(ln_1_Xbar.shape[:-1]), ln_1_Xbar.shape[-1]), da5.reshape(math.prod(da5.shape[:-1]), da5.shape[-1]), dattn_Q.reshape(math.prod(dattn_Q.shape[:-1]), dattn_Q.shape[-1]), dattn_A.reshape(math.prod(dattn_A.shape[:-1]), dattn_A.shape[-1]), o_dX.reshape(math.prod(o_dX.shape[:-1]), o_dX.shape[-1]), o_dln_1_w, o_t1, o_t2, d)
    return o_dX, o_dln_1_w.astype(dln_1_Y.dtype), o_t1.astype(dln_1_Y.dtype), o_t2.astype(dln_1_Y.dtype)


@_kernel
def _backward_4_rows(a_ln_1_Xbar, a_ln_1_w, a_ln_1_b, o_ln_1_Y, n_d):
    """ln_1_Y: row by row."""
    T = a_ln_1_Xbar.dtype.type
    t_d = T(n_d)
    for r in range(a_ln_1_Xbar.shape[0]):
        # recomputed: one pass, cheaper than keeping it
        for j in range(n_d):
            o_ln_1_Y[r, j] = ((a_ln_1_Xbar[r, j] * a_ln_1_w[j]) + a_ln_1_b[j])


def _backward_4(ln_1_Xbar, ln_1_w, ln_1_b, d):
    """ln_1_Y: one pass over the rows of ln_1_Xbar (``_backward_4_rows``)."""
    lead = ln_1_Xbar.shape[:-1]
    o_ln_1_Y = np.empty(lead + (d,), ln_1_Xbar.dtype)
    _launch(_backward_4_rows, ln_1_Xbar.reshape(math.prod(ln_1_Xbar.shape[:-1]), ln_1_Xbar.shape[-1]), ln_1_w, ln_1_b, o_ln_1_Y.reshape(math.prod(o_ln_1_Y.shape[:-1]), o_ln_1_Y.shape[-1]), d)
    return o_ln_1_Y


@_kernel
def _backward_5_rows(a_dproj_Y, a_dln_2_Y, a_ln_2_Xbar, a_ln_2_w, a_ln_2_b, o_db_o, o_dln_2_w, o_dln_2_b, o_ln_2_Y, n_d):
    """db_o, dln_2_w, dln_2_b, ln_2_Y: row by row."""
    T = a_dproj_Y.dtype.type
    t_d = T(n_d)
    for r in range(a_dproj_Y.shape[0]):
        # grad of b_o, used in: proj_Y = attn_A W_o + 1 b_oᵀ
        for j in range(n_d):
            o_db_o[j] += a_dproj_Y[r, j]
        # grad of ln_2_w, used in: ln_2_Y = ln_2_Xbar ∘ (1 ln_2_wᵀ) + 1 ln_2_bᵀ
        for j in range(n_d):
            o_dln_2_w[j] += (a_dln_2_Y[r, j] * a_ln_2_Xbar[r, j])
        # grad of ln_2_b, used in: ln_2_Y = ln_2_Xbar ∘ (1 ln_2_wᵀ) + 1 ln_2_bᵀ
        for j in range(n_d):
            o_dln_2_b[j] += a_dln_2_Y[r, j]
        # recomputed: one pass, cheaper than keeping it
        for j in range(n_d):
            o_ln_2_Y[r, j] = ((a_ln_2_Xbar[r, j] * a_ln_2_w[j]) + a_ln_2_b[j])


def _backward_5(dproj_Y, dln_2_Y, ln_2_Xbar, ln_2_w, ln_2_b, d):
    """db_o, dln_2_w, dln_2_b, ln_2_Y: one pass over the rows of dproj_Y (``_backward_5_rows``)."""
    lead = dproj_Y.shape[:-1]
    o_db_o = np.zeros(d, np.float64)
    o_dln_2_w = np.zeros(d, np.float64)
    o_dln_2_b = np.zeros(d, np.float64)
    o_ln_2_Y = np.empty(lead + (d,), dproj_Y.dtype)
    _launch(_backward_5_rows, dproj_Y.reshape(math.prod(dproj_Y.shape[:-1]), dproj_Y.shape[-1]), dln_2_Y.reshape(math.prod(dln_2_Y.shape[:-1]), dln_2_Y.shape[-1]), ln_2_Xbar.reshape(math.prod(ln_2_Xbar.shape[:-1]), ln_2_Xbar.shape[-1]), ln_2_w, ln_2_b, o_db_o, o_dln_2_w, o_dln_2_b, o_ln_2_Y.reshape(math.prod(o_ln_2_Y.shape[:-1]), o_ln_2_Y.shape[-1]), d)
    return o_db_o.astype(dproj_Y.dtype), o_dln_2_w.astype(dproj_Y.dtype), o_dln_2_b.astype(dproj_Y.dtype), o_ln_2_Y


@_kernel
def _backward_6_rows(a_dmlp_H, o_db_1, n_d_ff):
    """db_1: row by row."""
    T = a_dmlp_H.dtype.type
    t_d_ff = T(n_d_ff)
    for r in range(a_dmlp_H.shape[0]):
        # grad of b_1, used in: mlp_H = ln_2_Y W_1 + 1 b_1ᵀ
        for j in range(n_d_ff):
            o_db_1[j] += a_dmlp_H[r, j]


def _backward_6(dmlp_H, d_ff):
    """db_1: one pass over the rows of dmlp_H (``_backward_6_rows``)."""
    lead = dmlp_H.shape[:-1]
    o_db_1 = np.zeros(d_ff, np.float64)
    _launch(_backward_6_rows, dmlp_H.reshape(math.prod(dmlp_H.shape[:-1]), dmlp_H.shape[-1]), o_db_1, d_ff)
    return o_db_1.astype(dmlp_H.dtype)


@_kernel
def _backward_7_rows(a_dmlp_Y, o_db_2, n_d):
    """db_2: row by row."""
    T = a_dmlp_Y.dtype.type
    t_d = T(n_d)
    for r in range(a_dmlp_Y.shape[0]):
        # grad of b_2, used in: mlp_Y = mlp_A W_2 + 1 b_2ᵀ
        for j in range(n_d):
            o_db_2[j] += a_dmlp_Y[r, j]


def _backward_7(dmlp_Y, d):
    """db_2: one pass over the rows of dmlp_Y (``_backward_7_rows``)."""
    lead = dmlp_Y.shape[:-1]
    o_db_2 = np.zeros(d, np.float64)
    _launch(_backward_7_rows, dmlp_Y.reshape(math.prod(dmlp_Y.shape[:-1]), dmlp_Y.shape[-1]), o_db_2, d)
    return o_db_2.astype(dmlp_Y.dtype)


@_kernel
def _forward_8_rows(a_X, a_ln_1_w, a_ln_1_b, o_ln_1_sigma, o_ln_1_Xbar, o_ln_1_Y, n_d, n_eps):
    """ln_1_mu, ln_1_Xc, ln_1_var, ln_1_sigma, ln_1_Xbar, ln_1_Y: row by row."""
    T = a_X.dtype.type
    t_d = T(n_d)
    t_eps = T(n_eps)
    k1 = (T(1) / (t_d))
    k2 = (T(1) / (t_d))
    b_ln_1_Xc = np.empty(n_d, a_X.dtype)
    for r in range(a_X.shape[0]):
        # per-token mean
        s1 = 0.0
        for j in range(n_d):
            s1 += a_X[r, j]
        v_ln_1_mu = (k1 * T(s1))
        # centred input
        for j in range(n_d):
            b_ln_1_Xc[j] = (a_X[r, j] + (-v_ln_1_mu))
        # per-token variance
        s2 = 0.0
        for j in range(n_d):
            s2 += (b_ln_1_Xc[j] * b_ln_1_Xc[j])
        v_ln_1_var = (k2 * T(s2))
        # per-token standard deviation
        x3 = v_ln_1_var
        v_ln_1_sigma = (math.sqrt(t_eps + x3))
        o_ln_1_sigma[r, 0] = v_ln_1_sigma
        # normalised input
        x4 = v_ln_1_sigma
        for j in range(n_d):
            o_ln_1_Xbar[r, j] = (((T(1) / (x4))) * b_ln_1_Xc[j])
        for j in range(n_d):
            o_ln_1_Y[r, j] = ((o_ln_1_Xbar[r, j] * a_ln_1_w[j]) + a_ln_1_b[j])


def _forward_8(X, ln_1_w, ln_1_b, d, eps):
    """ln_1_sigma, ln_1_Xbar, ln_1_Y: one pass over the rows of X (``_forward_8_rows``)."""
    lead = X.shape[:-1]
    o_ln_1_sigma = np.empty(lead + (1,), X.dtype)
    o_ln_1_Xbar = np.empty(lead + (d,), X.dtype)
    o_ln_1_Y = np.empty(lead + (d,), X.dtype)
    _launch(_forward_8_rows, X.reshape(math.prod(X.shape[:-1]), X.shape[-1]), ln_1_w, ln_1_b, o_ln_1_sigma.reshape(math.prod(o_ln_1_sigma.shape[:-1]), o_ln_1_sigma.shape[-1]), o_ln_1_Xbar.reshape(math.prod(o_ln_1_Xbar.shape[:-1]), o_ln_1_Xbar.shape[-1]), o_ln_1_Y.reshape(math.prod(o_ln_1_Y.shape[:-1]), o_ln_1_Y.shape[-1]), d, eps)
    return o_ln_1_sigma, o_ln_1_Xbar, o_ln_1_Y


@_kernel
def _forward_9_rows(a_X, a_proj_Y, a_ln_2_w, a_ln_2_b, o_a5, o_ln_2_sigma, o_ln_2_Xbar, o_ln_2_Y, n_d, n_eps):
    """a5, ln_2_mu, ln_2_Xc, ln_2_var, ln_2_sigma, ln_2_Xbar, ln_2_Y: row by row."""
    T = a_X.dtype.type
    t_d = T(n_d)
    t_eps = T(n_eps)
    k1 = (T(1) / (t_d))
    k2 = (T(1) / (t_d))
    b_ln_2_Xc = np.empty(n_d, a_X.dtype)
    for r in range(a_X.shape[0]):
        # first residual
        for j in range(n_d):
            o_a5[r, j] = (a_X[r, j] + a_proj_Y[r, j])
        # per-token mean
        s1 = 0.0
        for j in range(n_d):
            s1 += o_a5[r, j]
        v_ln_2_mu = (k1 * T(s1))
        # centred input
        for j in range(n_d):
            b_ln_2_Xc[j] = (o_a5[r, j] + (-v_ln_2_mu))
        # per-token variance
        s2 = 0.0
        for j in range(n_d):
            s2 += (b_ln_2_Xc[j] * b_ln_2_Xc[j])
        v_ln_2_var = (k2 * T(s2))
        # per-token standard deviation
        x3 = v_ln_2_var
        v_ln_2_sigma = (math.sqrt(t_eps + x3))
        o_ln_2_sigma[r, 0] = v_ln_2_sigma
        # normalised input
        x4 = v_ln_2_sigma
        for j in range(n_d):
            o_ln_2_Xbar[r, j] = (((T(1) / (x4))) * b_ln_2_Xc[j])
        for j in range(n_d):
            o_ln_2_Y[r, j] = ((o_ln_2_Xbar[r, j] * a_ln_2_w[j]) + a_ln_2_b[j])


def _forward_9(X, proj_Y, ln_2_w, ln_2_b, d, eps):
    """a5, ln_2_sigma, ln_2_Xbar, ln_2_Y: one pass over the rows of X (``_forward_9_rows``)."""
    lead = X.shape[:-1]
    o_a5 = np.empty(lead + (d,), X.dtype)
    o_ln_2_sigma = np.empty(lead + (1,), X.dtype)
    o_ln_2_Xbar = np.empty(lead + (d,), X.dtype)
    o_ln_2_Y = np.empty(lead + (d,), X.dtype)
    _launch(_forward_9_rows, X.reshape(math.prod(X.shape[:-1]), X.shape[-1]), proj_Y.reshape(math.prod(proj_Y.shape[:-1]), proj_Y.shape[-1]), ln_2_w, ln_2_b, o_a5.reshape(math.prod(o_a5.shape[:-1]), o_a5.shape[-1]), o_ln_2_sigma.reshape(math.prod(o_ln_2_sigma.shape[:-1]), o_ln_2_sigma.shape[-1]), o_ln_2_Xbar.reshape(math.prod(o_ln_2_Xbar.shape[:-1]), o_ln_2_Xbar.shape[-1]), o_ln_2_Y.reshape(math.prod(o_ln_2_Y.shape[:-1]), o_ln_2_Y.shape[-1]), d, eps)
    return o_a5, o_ln_2_sigma, o_ln_2_Xbar, o_ln_2_Y


@_kernel
def _forward_10_rows(a_a5, a_mlp_Y, o_Y, n_d):
    """Y: row by row."""
    T = a_a5.dtype.type
    t_d = T(n_d)
    for r in range(a_a5.shape[0]):
        # second residual
        for j in range(n_d):
            o_Y[r, j] = (a_a5[r, j] + a_mlp_Y[r, j])


def _forward_10(a5, mlp_Y, d):
    """Y: one pass over the rows of a5 (``_forward_10_rows``)."""
    lead = a5.shape[:-1]
    o_Y = np.empty(lead + (d,), a5.dtype)
    _launch(_forward_10_rows, a5.reshape(math.prod(a5.shape[:-1]), a5.shape[-1]), mlp_Y.reshape(math.prod(mlp_Y.shape[:-1]), mlp_Y.shape[-1]), o_Y.reshape(math.prod(o_Y.shape[:-1]), o_Y.shape[-1]), d)
    return o_Y


@_kernel
def _jvp_forward_11_rows(a_X, a_ln_1_w, a_ln_1_b, o_ln_1_Xc, o_ln_1_var, o_ln_1_sigma, o_ln_1_Xbar, o_ln_1_Y, n_d, n_eps):
    """ln_1_mu, ln_1_Xc, ln_1_var, ln_1_sigma, ln_1_Xbar, ln_1_Y: row by row."""
    T = a_X.dtype.type
    t_d = T(n_d)
    t_eps = T(n_eps)
    k1 = (T(1) / (t_d))
    k2 = (T(1) / (t_d))
    for r in range(a_X.shape[0]):
        # per-token mean
        s1 = 0.0
        for j in range(n_d):
            s1 += a_X[r, j]
        v_ln_1_mu = (k1 * T(s1))
        # centred input
        for j in range(n_d):
            o_ln_1_Xc[r, j] = (a_X[r, j] + (-v_ln_1_mu))
        # per-token variance
        s2 = 0.0
        for j in range(n_d):
            s2 += (o_ln_1_Xc[r, j] * o_ln_1_Xc[r, j])
        v_ln_1_var = (k2 * T(s2))
        o_ln_1_var[r, 0] = v_ln_1_var
        # per-token standard deviation
        x3 = v_ln_1_var
        v_ln_1_sigma = (math.sqrt(t_eps + x3))
        o_ln_1_sigma[r, 0] = v_ln_1_sigma
        # normalised input
        x4 = v_ln_1_sigma
        for j in range(n_d):
            o_ln_1_Xbar[r, j] = (((T(1) / (x4))) * o_ln_1_Xc[r, j])
        for j in range(n_d):
            o_ln_1_Y[r, j] = ((o_ln_1_Xbar[r, j] * a_ln_1_w[j]) + a_ln_1_b[j])


def _jvp_forward_11(X, ln_1_w, ln_1_b, d, eps):
    """ln_1_Xc, ln_1_var, ln_1_sigma, ln_1_Xbar, ln_1_Y: one pass over the rows of X (``_jvp_forward_11_rows``)."""
    lead = X.shape[:-1]
    o_ln_1_Xc = np.empty(lead + (d,), X.dtype)
    o_ln_1_var = np.empty(lead + (1,), X.dtype)
    o_ln_1_sigma = np.empty(lead + (1,), X.dtype)
    o_ln_1_Xbar = np.empty(lead + (d,), X.dtype)
    o_ln_1_Y = np.empty(lead + (d,), X.dtype)
    _launch(_jvp_forward_11_rows, X.reshape(math.prod(X.shape[:-1]), X.shape[-1]), ln_1_w, ln_1_b, o_ln_1_Xc.reshape(math.prod(o_ln_1_Xc.shape[:-1]), o_ln_1_Xc.shape[-1]), o_ln_1_var.reshape(math.prod(o_ln_1_var.shape[:-1]), o_ln_1_var.shape[-1]), o_ln_1_sigma.reshape(math.prod(o_ln_1_sigma.shape[:-1]), o_ln_1_sigma.shape[-1]), o_ln_1_Xbar.reshape(math.prod(o_ln_1_Xbar.shape[:-1]), o_ln_1_Xbar.shape[-1]), o_ln_1_Y.reshape(math.prod(o_ln_1_Y.shape[:-1]), o_ln_1_Y.shape[-1]), d, eps)
    return o_ln_1_Xc, o_ln_1_var, o_ln_1_sigma, o_ln_1_Xbar, o_ln_1_Y


@_kernel
def _jvp_forward_12_rows(a_X, a_proj_Y, a_ln_2_w, a_ln_2_b, o_ln_2_Xc, o_ln_2_var, o_ln_2_sigma, o_ln_2_Xbar, o_ln_2_Y, n_d, n_eps):
    """a5, ln_2_mu, ln_2_Xc, ln_2_var, ln_2_sigma, ln_2_Xbar, ln_2_Y: row by row."""
    T = a_X.dtype.type
    t_d = T(n_d)
    t_eps = T(n_eps)
    k1 = (T(1) / (t_d))
    k2 = (T(1) / (t_d))
    b_a5 = np.empty(n_d, a_X.dtype)
    for r in range(a_X.shape[0]):
        # first residual
        for j in range(n_d):
            b_a5[j] = (a_X[r, j] + a_proj_Y[r, j])
        # per-token mean
        s1 = 0.0
        for j in range(n_d):
            s1 += b_a5[j]
        v_ln_2_mu = (k1 * T(s1))
        # centred input
        for j in range(n_d):
            o_ln_2_Xc[r, j] = (b_a5[j] + (-v_ln_2_mu))
        # per-token variance
        s2 = 0.0
        for j in range(n_d):
            s2 += (o_ln_2_Xc[r, j] * o_ln_2_Xc[r, j])
        v_ln_2_var = (k2 * T(s2))
        o_ln_2_var[r, 0] = v_ln_2_var
        # per-token standard deviation
        x3 = v_ln_2_var
        v_ln_2_sigma = (math.sqrt(t_eps + x3))
        o_ln_2_sigma[r, 0] = v_ln_2_sigma
        # normalised input
        x4 = v_ln_2_sigma
        for j in range(n_d):
            o_ln_2_Xbar[r, j] = (((T(1) / (x4))) * o_ln_2_Xc[r, j])
        for j in range(n_d):
            o_ln_2_Y[r, j] = ((o_ln_2_Xbar[r, j] * a_ln_2_w[j]) + a_ln_2_b[j])


def _jvp_forward_12(X, proj_Y, ln_2_w, ln_2_b, d, eps):
    """ln_2_Xc, ln_2_var, ln_2_sigma, ln_2_Xbar, ln_2_Y: one pass over the rows of X (``_jvp_forward_12_rows``)."""
    lead = X.shape[:-1]
    o_ln_2_Xc = np.empty(lead + (d,), X.dtype)
    o_ln_2_var = np.empty(lead + (1,), X.dtype)
    o_ln_2_sigma = np.empty(lead + (1,), X.dtype)
    o_ln_2_Xbar = np.empty(lead + (d,), X.dtype)
    o_ln_2_Y = np.empty(lead + (d,), X.dtype)
    _launch(_jvp_forward_12_rows, X.reshape(math.prod(X.shape[:-1]), X.shape[-1]), proj_Y.reshape(math.prod(proj_Y.shape[:-1]), proj_Y.shape[-1]), ln_2_w, ln_2_b, o_ln_2_Xc.reshape(math.prod(o_ln_2_Xc.shape[:-1]), o_ln_2_Xc.shape[-1]), o_ln_2_var.reshape(math.prod(o_ln_2_var.shape[:-1]), o_ln_2_var.shape[-1]), o_ln_2_sigma.reshape(math.prod(o_ln_2_sigma.shape[:-1]), o_ln_2_sigma.shape[-1]), o_ln_2_Xbar.reshape(math.prod(o_ln_2_Xbar.shape[:-1]), o_ln_2_Xbar.shape[-1]), o_ln_2_Y.reshape(math.prod(o_ln_2_Y.shape[:-1]), o_ln_2_Y.shape[-1]), d, eps)
    return o_ln_2_Xc, o_ln_2_var, o_ln_2_sigma, o_ln_2_Xbar, o_ln_2_Y


@_kernel
def _jvp_forward_13_rows(a_dX, a_ln_1_Xc, a_ln_1_var, a_ln_1_sigma, a_ln_1_w, a_ln_1_Xbar, a_dln_1_w, a_dln_1_b, o_dln_1_Y, n_d, n_eps):
    """dln_1_mu, dln_1_Xc, dln_1_var, dln_1_sigma, dln_1_Xbar, dln_1_Y: row by row."""
    T = a_dX.dtype.type
    t_d = T(n_d)
    t_eps = T(n_eps)
    k1 = (T(1) / (t_d))
    k2 = (T(1) / (t_d))
    k3 = (T(1) / (t_d))
    b_dln_1_Xc = np.empty(n_d, a_dX.dtype)
    b_dln_1_Xbar = np.empty(n_d, a_dX.dtype)
    for r in range(a_dX.shape[0]):
        # the tangent of ln_1_mu
        s1 = 0.0
        for j in range(n_d):
            s1 += a_dX[r, j]
        v_dln_1_mu = (k1 * T(s1))
        # the tangent of ln_1_Xc
        for j in range(n_d):
            b_dln_1_Xc[j] = (a_dX[r, j] + (-v_dln_1_mu))
        # the tangent of ln_1_var
        s2 = 0.0
        for j in range(n_d):
            s2 += (b_dln_1_Xc[j] * a_ln_1_Xc[r, j])
        s3 = 0.0
        for j in range(n_d):
            s3 += (a_ln_1_Xc[r, j] * b_dln_1_Xc[j])
        v_dln_1_var = ((k2 * T(s2)) + (k3 * T(s3)))
        # the tangent of ln_1_sigma
        x4 = a_ln_1_var[r, 0]
        v_dln_1_sigma = (((T(0.5))/math.sqrt(t_eps + x4)) * v_dln_1_var)
        # the tangent of ln_1_Xbar
        x5 = a_ln_1_sigma[r, 0]
        x6 = a_ln_1_sigma[r, 0]
        for j in range(n_d):
            b_dln_1_Xbar[j] = ((((-T(1)/(x5 * x5)) * v_dln_1_sigma) * a_ln_1_Xc[r, j]) + (((T(1) / (x6))) * b_dln_1_Xc[j]))
        # the tangent of ln_1_Y
        for j in range(n_d):
            o_dln_1_Y[r, j] = ((b_dln_1_Xbar[j] * a_ln_1_w[j]) + (a_ln_1_Xbar[r, j] * a_dln_1_w[j]) + a_dln_1_b[j])


def _jvp_forward_13(dX, ln_1_Xc, ln_1_var, ln_1_sigma, ln_1_w, ln_1_Xbar, dln_1_w, dln_1_b, d, eps):
    """dln_1_Y: one pass over the rows of dX (``_jvp_forward_13_rows``)."""
    lead = dX.shape[:-1]
    o_dln_1_Y = np.empty(lead + (d,), dX.dtype)
    _launch(_jvp_forward_13_rows, dX.reshape(math.prod(dX.shape[:-1]), dX.shape[-1]), ln_1_Xc.reshape(math.prod(ln_1_Xc.shape[:-1]), ln_1_Xc.shape[-1]), ln_1_var.reshape(math.prod(ln_1_var.shape[:-1]), ln_1_var.shape[-1]), ln_1_sigma.reshape(math.prod(ln_1_sigma.shape[:-1]), ln_1_sigma.shape[-1]), ln_1_w, ln_1_Xbar.reshape(math.prod(ln_1_Xbar.shape[:-1]), ln_1_Xbar.shape[-1]), dln_1_w, dln_1_b, o_dln_1_Y.reshape(math.prod(o_dln_1_Y.shape[:-1]), o_dln_1_Y.shape[-1]), d, eps)
    return o_dln_1_Y


@_kernel
def _jvp_forward_14_rows(a_dX, a_dproj_Y, a_ln_2_Xc, a_ln_2_var, a_ln_2_sigma, a_ln_2_w, a_ln_2_Xbar, a_dln_2_w, a_dln_2_b, o_da5, o_dln_2_Y, n_d, n_eps):
    """da5, dln_2_mu, dln_2_Xc, dln_2_var, dln_2_sigma, dln_2_Xbar, dln_2_Y: row by row."""
    T = a_dX.dtype.type
    t_d = T(n_d)
    t_eps = T(n_eps)
    k1 = (T(1) / (t_d))
    k2 = (T(1) / (t_d))
    k3 = (T(1) / (t_d))
    b_dln_2_Xc = np.empty(n_d, a_dX.dtype)
    b_dln_2_Xbar = np.empty(n_d, a_dX.dtype)
    for r in range(a_dX.shape[0]):
        # the tangent of a5
        for j in range(n_d):
            o_da5[r, j] = (a_dX[r, j] + a_dproj_Y[r, j])
        # the tangent of ln_2_mu
        s1 = 0.0
        for j in range(n_d):
            s1 += o_da5[r, j]
        v_dln_2_mu = (k1 * T(s1))
        # the tangent of ln_2_Xc
        for j in range(n_d):
            b_dln_2_Xc[j] = (o_da5[r, j] + (-v_dln_2_mu))
        # the tangent of ln_2_var
        s2 = 0.0
        for j in range(n_d):
            s2 += (b_dln_2_Xc[j] * a_ln_2_Xc[r, j])
        s3 = 0.0
        for j in range(n_d):
            s3 += (a_ln_2_Xc[r, j] * b_dln_2_Xc[j])
        v_dln_2_var = ((k2 * T(s2)) + (k3 * T(s3)))
        # the tangent of ln_2_sigma
        x4 = a_ln_2_var[r, 0]
        v_dln_2_sigma = (((T(0.5))/math.sqrt(t_eps + x4)) * v_dln_2_var)
        # the tangent of ln_2_Xbar
        x5 = a_ln_2_sigma[r, 0]
        x6 = a_ln_2_sigma[r, 0]
        for j in range(n_d):
            b_dln_2_Xbar[j] = ((((-T(1)/(x5 * x5)) * v_dln_2_sigma) * a_ln_2_Xc[r, j]) + (((T(1) / (x6))) * b_dln_2_Xc[j]))
        # the tangent of ln_2_Y
        for j in range(n_d):
            o_dln_2_Y[r, j] = ((b_dln_2_Xbar[j] * a_ln_2_w[j]) + (a_ln_2_Xbar[r, j] * a_dln_2_w[j]) + a_dln_2_b[j])


def _jvp_forward_14(dX, dproj_Y, ln_2_Xc, ln_2_var, ln_2_sigma, ln_2_w, ln_2_Xbar, dln_2_w, dln_2_b, d, eps):
    """da5, dln_2_Y: one pass over the rows of dX (``_jvp_forward_14_rows``)."""
    lead = dX.shape[:-1]
    o_da5 = np.empty(lead + (d,), dX.dtype)
    o_dln_2_Y = np.empty(lead + (d,), dX.dtype)
    _launch(_jvp_forward_14_rows, dX.reshape(math.prod(dX.shape[:-1]), dX.shape[-1]), dproj_Y.reshape(math.prod(dproj_Y.shape[:-1]), dproj_Y.shape[-1]), ln_2_Xc.reshape(math.prod(ln_2_Xc.shape[:-1]), ln_2_Xc.shape[-1]), ln_2_var.reshape(math.prod(ln_2_var.shape[:-1]), ln_2_var.shape[-1]), ln_2_sigma.reshape(math.prod(ln_2_sigma.shape[:-1]), ln_2_sigma.shape[-1]), ln_2_w, ln_2_Xbar.reshape(math.prod(ln_2_Xbar.shape[:-1]), ln_2_Xbar.shape[-1]), dln_2_w, dln_2_b, o_da5.reshape(math.prod(o_da5.shape[:-1]), o_da5.shape[-1]), o_dln_2_Y.reshape(math.prod(o_dln_2_Y.shape[:-1]), o_dln_2_Y.shape[-1]), d, eps)
    return o_da5, o_dln_2_Y


@_kernel
def _jvp_forward_15_rows(a_da5, a_dmlp_Y, o_dY, n_d):
    """dY: row by row."""
    T = a_da5.dtype.type
    t_d = T(n_d)
    for r in range(a_da5.shape[0]):
        # the tangent of Y
        for j in range(n_d):
            o_dY[r, j] = (a_da5[r, j] + a_dmlp_Y[r, j])


def _jvp_forward_15(da5, dmlp_Y, d):
    """dY: one pass over the rows of da5 (``_jvp_forward_15_rows``)."""
    lead = da5.shape[:-1]
    o_dY = np.empty(lead + (d,), da5.dtype)
    _launch(_jvp_forward_15_rows, da5.reshape(math.prod(da5.shape[:-1]), da5.shape[-1]), dmlp_Y.reshape(math.prod(dmlp_Y.shape[:-1]), dmlp_Y.shape[-1]), o_dY.reshape(math.prod(o_dY.shape[:-1]), o_dY.shape[-1]), d)
    return o_dY


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
    ln_1_sigma, ln_1_Xbar, ln_1_Y = _forward_8(X, ln_1_w, ln_1_b, d, eps)  # (..., n_T, 1), (..., n_T, d), (..., n_T, d)
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
    a5, ln_2_sigma, ln_2_Xbar, ln_2_Y = _forward_9(X, proj_Y, ln_2_w, ln_2_b, d, eps)  # (..., n_T, d), (..., n_T, 1), (..., n_T, d), (..., n_T, d)
    del proj_Y
    mlp_H = _rows_matmul(ln_2_Y, W_1) + b_1  # (..., n_T, d_ff)
    del ln_2_Y
    mlp_A = _ACTIVATION[activation](mlp_H)  # (..., n_T, d_ff)
    mlp_Y = _rows_matmul(mlp_A, W_2)  # (..., n_T, d), updated in place
    mlp_Y += b_2
    Y = _forward_10(a5, mlp_Y, d)  # (..., n_T, d)
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
    # fused: dmlp_Y (one pass over the rows, _backward_1_rows)
    dmlp_Y = _backward_1(grad_out, d)  # (..., n_T, d)
    # grad of mlp_A, used in: mlp_Y = mlp_A W_2 + 1 b_2ᵀ
    dmlp_A = _rows_matmul(dmlp_Y, W_2.swapaxes(-1, -2))  # (..., n_T, d_ff)
    # grad of mlp_H, used in: mlp_A = activation(mlp_H)
    dmlp_H = dmlp_A  # (..., n_T, d_ff), dmlp_A's array, updated in place
    dmlp_H = _ACTIVATION_GRAD[activation](mlp_H, times=dmlp_H)
    del dmlp_A, mlp_H
    # grad of ln_2_Y, used in: mlp_H = ln_2_Y W_1 + 1 b_1ᵀ
    dln_2_Y = _rows_matmul(dmlp_H, W_1.swapaxes(-1, -2))  # (..., n_T, d)
    # fused: dln_2_Xbar, t5, dln_2_sigma, dln_2_var, dln_2_Xc, dln_2_mu, da5, dproj_Y (one pass over the rows, _backward_2_rows)
    da5, dproj_Y = _backward_2(dln_2_Y, ln_2_w, ln_2_sigma, ln_2_Xbar, grad_out, d)  # (..., n_T, d), (..., n_T, d)
    del ln_2_sigma
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
    # fused: dln_1_Xbar, t6, dln_1_sigma, dln_1_var, dln_1_Xc, dln_1_mu, dX, dln_1_w, t1, t2 (one pass over the rows, _backward_3_rows)
    dX, dln_1_w, t1, t2 = _backward_3(dln_1_Y, ln_1_w, ln_1_sigma, ln_1_Xbar, da5, dattn_Q, dattn_A, d)  # (..., n_T, d), (d,), (d,), (d,)
    del da5, dattn_A, dattn_Q, dln_1_Y, ln_1_sigma
    # grad of ln_1_b, used in: ln_1_Y = ln_1_Xbar ∘ (1 ln_1_wᵀ) + 1 ln_1_bᵀ
    dln_1_b = (t2[None, :] @ W_v.swapaxes(-1, -2) + t1[None, :] @ W_q.swapaxes(-1, -2)).reshape(-1)  # (d,)
    # fused: ln_1_Y (one pass over the rows, _backward_4_rows)
    ln_1_Y = _backward_4(ln_1_Xbar, ln_1_w, ln_1_b, d)  # (..., n_T, d)
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
    # fused: db_o, dln_2_w, dln_2_b, ln_2_Y (one pass over the rows, _backward_5_rows)
    db_o, dln_2_w, dln_2_b, ln_2_Y = _backward_5(dproj_Y, dln_2_Y, ln_2_Xbar, ln_2_w, ln_2_b, d)  # (d,), (d,), (d,), (..., n_T, d)
    del dln_2_Y, dproj_Y, ln_2_Xbar
    # grad of W_1, used in: mlp_H = ln_2_Y W_1 + 1 b_1ᵀ
    dW_1 = ln_2_Y.reshape(-1, d).T @ dmlp_H.reshape(-1, d_ff)  # (d, d_ff)
    del ln_2_Y
    # fused: db_1 (one pass over the rows, _backward_6_rows)
    db_1 = _backward_6(dmlp_H, d_ff)  # (d_ff,)
    del dmlp_H
    # grad of W_2, used in: mlp_Y = mlp_A W_2 + 1 b_2ᵀ
    dW_2 = mlp_A.reshape(-1, d_ff).T @ dmlp_Y.reshape(-1, d)  # (d_ff, d)
    del mlp_A
    # fused: db_2 (one pass over the rows, _backward_7_rows)
    db_2 = _backward_7(dmlp_Y, d)  # (d,)
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
    ln_1_Xc, ln_1_var, ln_1_sigma, ln_1_Xbar, ln_1_Y = _jvp_forward_11(X, ln_1_w, ln_1_b, d, eps)  # (..., n_T, d), (..., n_T, 1), (..., n_T, 1), (..., n_T, d), (..., n_T, d)
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
    ln_2_Xc, ln_2_var, ln_2_sigma, ln_2_Xbar, ln_2_Y = _jvp_forward_12(X, proj_Y, ln_2_w, ln_2_b, d, eps)  # (..., n_T, d), (..., n_T, 1), (..., n_T, 1), (..., n_T, d), (..., n_T, d)
    del proj_Y
    W_1_dW_1 = _side_by_side(W_1, dW_1)  # (d, 2*d_ff)
    ln_2_Y_W_1_dW_1 = _rows_matmul(ln_2_Y, W_1_dW_1)  # (..., n_T, 2*d_ff)
    del W_1_dW_1, ln_2_Y
    mlp_H = ln_2_Y_W_1_dW_1[..., 0:d_ff] + b_1  # (..., n_T, d_ff)
    mlp_A = _ACTIVATION[activation](mlp_H)  # (..., n_T, d_ff)
    dln_1_Y = _jvp_forward_13(dX, ln_1_Xc, ln_1_var, ln_1_sigma, ln_1_w, ln_1_Xbar, dln_1_w, dln_1_b, d, eps)  # (..., n_T, d)
    del ln_1_Xbar, ln_1_Xc, ln_1_sigma, ln_1_var
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
    da5, dln_2_Y = _jvp_forward_14(dX, dproj_Y, ln_2_Xc, ln_2_var, ln_2_sigma, ln_2_w, ln_2_Xbar, dln_2_w, dln_2_b, d, eps)  # (..., n_T, d), (..., n_T, d)
    del dproj_Y, ln_2_Xbar, ln_2_Xc, ln_2_sigma, ln_2_var
    dmlp_H = _rows_matmul(dln_2_Y, W_1) + ln_2_Y_W_1_dW_1[..., d_ff:2*d_ff] + db_1  # (..., n_T, d_ff)
    del dln_2_Y, ln_2_Y_W_1_dW_1
    dmlp_A = dmlp_H  # (..., n_T, d_ff), dmlp_H's array, updated in place
    dmlp_A = _ACTIVATION_GRAD[activation](mlp_H, times=dmlp_A)
    del dmlp_H, mlp_H
    dmlp_Y = _rows_matmul(dmlp_A, W_2)  # (..., n_T, d), updated in place
    dmlp_Y += _rows_matmul(mlp_A, dW_2)
    dmlp_Y += db_2
    del dmlp_A, mlp_A
    dY = _jvp_forward_15(da5, dmlp_Y, d)  # (..., n_T, d)
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
