# GENERATED FILE: DO NOT EDIT.
# Derived by pedestrian-backprop from the forward definitions in derive/components/gpt2.py
# and derive/components/gpt2_block.py.
# Regenerate with: backprop generate --target numba
"""GPT-2 (`gpt2`): the paper's whole model, forward and derived backward pass.

``loss_and_grads(params, idx, *, n_heads, eps=1e-5, activation="gelu_tanh")`` returns the mean
next-token cross-entropy of ``idx`` (B, n_T) and a dict of gradients with the keys and shapes of
``params``; ``logits(params, idx, ...)`` returns (B, n_T, n_vocab) logits.

``params`` uses Hugging Face GPT-2 names and layouts without the ``transformer.`` prefix:
``wte.weight`` (V, d), ``wpe.weight`` (n_ctx, d), ``h.{i}.ln_1.weight|bias``,
``h.{i}.attn.c_attn.weight`` (d, 3d) and ``.bias`` (3d,) whose three column blocks are q, k, v,
``h.{i}.attn.c_proj.weight|bias``, ``h.{i}.ln_2.weight|bias``, ``h.{i}.mlp.c_fc.weight`` (d, 4d)
and ``.bias``, ``h.{i}.mlp.c_proj.weight`` (4d, d) and ``.bias``, ``ln_f.weight|bias``; with
``lm_head.weight`` (V, d) (and optionally ``lm_head.bias`` (V,)) the logits are untied, else
they reuse ``wte.weight``.  The number of layers is read from the keys.

Each block (one sweep over its composition, residual branches included):
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

The model (one sweep, the tied W_tok's two uses summed):
    X = ohe(idx) W_tok + W_pos[:n_T]
    X_L = blocks(X)
    ln_f_mu = (1/d) X_L 1
    ln_f_Xc = X_L − ln_f_mu 1ᵀ
    ln_f_var = (1/d) (ln_f_Xc ∘ ln_f_Xc) 1
    ln_f_sigma = sqrt(eps + ln_f_var)
    ln_f_Xbar = ((1/ln_f_sigma) 1ᵀ) ∘ ln_f_Xc
    ln_f_Y = ln_f_Xbar ∘ (1 ln_f_wᵀ) + 1 ln_f_bᵀ
    X_s = ln_f_Y[:n_T − 1]
    Z = X_s W_tokᵀ
    ell = 1ᵀ lse(Z) − 1ᵀ pick(Z, idx[1:])
    loss = (1/(n_batch (n_T − 1))) Σ_batch ell

Optimisations (each keeps the values within rounding):
    - block: read-forward-values: the backward reads ln_1_Xc, ln_1_var, ln_2_Xc, ln_2_var through other forward values, so the cache does not hold them
    - block: fuse-shared-operand: ln_1_Y W_q, ln_1_Y W_k, ln_1_Y W_v as one product with the weights side by side, forward and backward
    - block: recompute-affine-values: ln_1_Y = ln_1_Xbar ∘ (1 ln_1_wᵀ) + 1 ln_1_bᵀ; ln_2_Y = ln_2_Xbar ∘ (1 ln_2_wᵀ) + 1 ln_2_bᵀ recomputed in the backward, not kept in the cache
    - block: fused: 10 runs of entrywise statements and row reductions, each one Numba kernel making one pass over the rows (_block_forward_8, _block_forward_9, _block_forward_10, _block_backward_1, _block_backward_2, _block_backward_3, _block_backward_4, _block_backward_5, _block_backward_6, _block_backward_7)
    - block: overwrite: attn_S, attn_P, proj_Y, mlp_Y, dmlp_H, dattn_S, dattn_K_h, dattn_Q_h updated in place (+=, *=) in the array the statement made or in one no longer needed, not a new array per operation
    - tied: read-forward-values: the backward reads ln_f_Xc, ln_f_var through other forward values, so the cache does not hold them
    - tied: reuse-log-sum-exp: softmax(Z) kept from the forward for the backward, and lse(Z) = max(Z) − log(max(softmax(Z))) read off it: the exponentials once per step
    - tied: fused: 3 runs of entrywise statements and row reductions, each one Numba kernel making one pass over the rows (_tied_forward_13, _tied_backward_11, _tied_backward_12)
    - tied_logits: fused: 1 runs of entrywise statements and row reductions, each one Numba kernel making one pass over the rows (_tied_logits_forward_14)
    - untied: read-forward-values: the backward reads ln_f_Xc, ln_f_var through other forward values, so the cache does not hold them
    - untied: reuse-log-sum-exp: softmax(Z) kept from the forward for the backward, and lse(Z) = max(Z) − log(max(softmax(Z))) read off it: the exponentials once per step
    - untied: fused: 4 runs of entrywise statements and row reductions, each one Numba kernel making one pass over the rows (_untied_forward_18, _untied_backward_15, _untied_backward_16, _untied_backward_17)
    - untied: overwrite: Z updated in place (+=, *=) in the array the statement made or in one no longer needed, not a new array per operation
    - untied_logits: fused: 1 runs of entrywise statements and row reductions, each one Numba kernel making one pass over the rows (_untied_logits_forward_19)
    - lora_block: fused: 6 runs of entrywise statements and row reductions, each one Numba kernel making one pass over the rows (_lora_block_forward_23, _lora_block_forward_24, _lora_block_forward_25, _lora_block_backward_20, _lora_block_backward_21, _lora_block_backward_22)
    - lora_block: overwrite: attn_S, attn_P, proj_Y, mlp_Y, dmlp_H, dattn_S, dattn_K_h, dattn_Q_h, dln_1_Y, dA_q, dB_q, dA_k, dB_k, dA_v, dB_v, dA_o, dB_o, dA_fc, dB_fc, dA_proj, dB_proj updated in place (+=, *=) in the array the statement made or in one no longer needed, not a new array per operation
    - lora_tied: reuse-log-sum-exp: softmax(Z) kept from the forward for the backward, and lse(Z) = max(Z) − log(max(softmax(Z))) read off it: the exponentials once per step
    - lora_tied: fused: 2 runs of entrywise statements and row reductions, each one Numba kernel making one pass over the rows (_lora_tied_forward_27, _lora_tied_backward_26)
    - lora_tied: overwrite: dA_head, dB_head updated in place (+=, *=) in the array the statement made or in one no longer needed, not a new array per operation
    - lora_untied: reuse-log-sum-exp: softmax(Z) kept from the forward for the backward, and lse(Z) = max(Z) − log(max(softmax(Z))) read off it: the exponentials once per step
    - lora_untied: fused: 2 runs of entrywise statements and row reductions, each one Numba kernel making one pass over the rows (_lora_untied_forward_29, _lora_untied_backward_28)
    - lora_untied: overwrite: Z, dA_head, dB_head updated in place (+=, *=) in the array the statement made or in one no longer needed, not a new array per operation
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


def _add_at_targets(base, targets, values, fresh):
    """base + (values 1ᵀ) ∘ ohe(targets): ``values`` added at column targets[i] of each row i.

    ``fresh``: ``base`` is a new array that may be updated in place.
    """
    out = base if fresh else base.copy()
    index = targets[..., None]
    np.put_along_axis(out, index, np.take_along_axis(out, index, axis=-1) + values, axis=-1)
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


def _check_indices(name, index, size):
    """Integer indices in [0, size); the error names an offending value."""
    if not np.issubdtype(index.dtype, np.integer):
        raise ValueError(f"{name}: expected integer indices, got dtype {index.dtype}")
    if index.size == 0:
        return
    low, high = int(index.min()), int(index.max())
    if low < 0 or high >= size:
        raise ValueError(f"{name}: index {low if low < 0 else high} outside [0, {size})")


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


def _logsumexp_of_softmax(Z, P):
    """log Σ exp over the last axis read off P = softmax(Z): max(Z) − log(max(P)), since a row's
    largest probability is exp(0) / Σ exp(Z − max Z) (keeps that axis)."""
    return Z.max(axis=-1, keepdims=True) - np.log(P.max(axis=-1, keepdims=True))


def _merge_heads(A):
    """(..., n_heads, n_T, d_h) → (..., n_T, n_heads · d_h): the heads' blocks side by side."""
    A = A.swapaxes(-2, -3)
    return A.reshape(*A.shape[:-2], A.shape[-2] * A.shape[-1])


def _pad_rows(A, rows):
    """A (..., k, d) followed by zero rows up to ``rows``."""
    out = np.zeros(A.shape[:-2] + (rows, A.shape[-1]), dtype=A.dtype)
    out[..., : A.shape[-2], :] = A
    return out


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


def _scatter_add_rows(index, values, rows, into=None, fresh=False):
    """Σ over batch and tokens of ohe(index)ᵀ values: each row of ``values`` added into row ``index``
    of zeros, or of ``into`` (updated in place when ``fresh``: a new array nothing else reads)."""
    if into is None:
        out = np.zeros((rows, values.shape[-1]), dtype=values.dtype)
    else:
        out = into if fresh else into.copy()
    np.add.at(out, index.reshape(-1), values.reshape(-1, values.shape[-1]))
    return out


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
def _block_backward_1_rows(a_grad_out, o_dmlp_Y, n_d):
    """dmlp_Y: row by row."""
    T = a_grad_out.dtype.type
    t_d = T(n_d)
    for r in range(a_grad_out.shape[0]):
        # grad of mlp_Y, used in: Y = a5 + mlp_Y
        for j in range(n_d):
            o_dmlp_Y[r, j] = a_grad_out[r, j]


def _block_backward_1(grad_out, d):
    """dmlp_Y: one pass over the rows of grad_out (``_block_backward_1_rows``)."""
    lead = grad_out.shape[:-1]
    o_dmlp_Y = np.empty(lead + (d,), grad_out.dtype)
    _launch(_block_backward_1_rows, grad_out.reshape(math.prod(grad_out.shape[:-1]), grad_out.shape[-1]), o_dmlp_Y.reshape(math.prod(o_dmlp_Y.shape[:-1]), o_dmlp_Y.shape[-1]), d)
    return o_dmlp_Y


@_kernel
def _block_backward_2_rows(a_dln_2_Y, a_ln_2_w, a_ln_2_sigma, a_ln_2_Xbar, a_grad_out, o_da5, o_dproj_Y, n_d):
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


def _block_backward_2(dln_2_Y, ln_2_w, ln_2_sigma, ln_2_Xbar, grad_out, d):
    """da5, dproj_Y: one pass over the rows of dln_2_Y (``_block_backward_2_rows``)."""
    lead = dln_2_Y.shape[:-1]
    o_da5 = np.empty(lead + (d,), dln_2_Y.dtype)
    o_dproj_Y = np.empty(lead + (d,), dln_2_Y.dtype)
    _launch(_block_backward_2_rows, dln_2_Y.reshape(math.prod(dln_2_Y.shape[:-1]), dln_2_Y.shape[-1]), ln_2_w, ln_2_sigma.reshape(math.prod(ln_2_sigma.shape[:-1]), ln_2_sigma.shape[-1]), ln_2_Xbar.reshape(math.prod(ln_2_Xbar.shape[:-1]), ln_2_Xbar.shape[-1]), grad_out.reshape(math.prod(grad_out.shape[:-1]), grad_out.shape[-1]), o_da5.reshape(math.prod(o_da5.shape[:-1]), o_da5.shape[-1]), o_dproj_Y.reshape(math.prod(o_dproj_Y.shape[:-1]), o_dproj_Y.shape[-1]), d)
    return o_da5, o_dproj_Y


@_kernel
def _block_backward_3_rows(a_dln_1_Y, a_ln_1_w, a_ln_1_sigma, a_ln_1_Xbar, a_da5, a_dattn_Q, a_dattn_A, o_dX, o_dln_1_w, o_t1, o_t2, n_d):
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


def _block_backward_3(dln_1_Y, ln_1_w, ln_1_sigma, ln_1_Xbar, da5, dattn_Q, dattn_A, d):
    """dX, dln_1_w, t1, t2: one pass over the rows of dln_1_Y (``_block_backward_3_rows``)."""
    lead = dln_1_Y.shape[:-1]
    o_dX = np.empty(lead + (d,), dln_1_Y.dtype)
    o_dln_1_w = np.zeros(d, np.float64)
    o_t1 = np.zeros(d, np.float64)
    o_t2 = np.zeros(d, np.float64)
    _launch(_block_backward_3_rows, dln_1_Y.reshape(math.prod(dln_1_Y.shape[:-1]), dln_1_Y.shape[-1]), ln_1_w, ln_1_sigma.reshape(math.prod(ln_1_sigma.shape[:-1]), ln_1_sigma.shape[-1]), ln_1_Xbar.reshape(math.prod(ln_1_Xbar.shape[:-1]), ln_1_Xbar.shape[-1]), da5.reshape(math.prod(da5.shape[:-1]), da5.shape[-1]), dattn_Q.reshape(math.prod(dattn_Q.shape[:-1]), dattn_Q.shape[-1]), dattn_A.reshape(math.prod(dattn_A.shape[:-1]), dattn_A.shape[-1]), o_dX.reshape(math.prod(o_dX.shape[:-1]), o_dX.shape[-1]), o_dln_1_w, o_t1, o_t2, d)
    return o_dX, o_dln_1_w.astype(dln_1_Y.dtype), o_t1.astype(dln_1_Y.dtype), o_t2.astype(dln_1_Y.dtype)


@_kernel
def _block_backward_4_rows(a_ln_1_Xbar, a_ln_1_w, a_ln_1_b, o_ln_1_Y, n_d):
    """ln_1_Y: row by row."""
    T = a_ln_1_Xbar.dtype.type
    t_d = T(n_d)
    for r in range(a_ln_1_Xbar.shape[0]):
        # recomputed: one pass, cheaper than keeping it
        for j in range(n_d):
            o_ln_1_Y[r, j] = ((a_ln_1_Xbar[r, j] * a_ln_1_w[j]) + a_ln_1_b[j])


def _block_backward_4(ln_1_Xbar, ln_1_w, ln_1_b, d):
    """ln_1_Y: one pass over the rows of ln_1_Xbar (``_block_backward_4_rows``)."""
    lead = ln_1_Xbar.shape[:-1]
    o_ln_1_Y = np.empty(lead + (d,), ln_1_Xbar.dtype)
    _launch(_block_backward_4_rows, ln_1_Xbar.reshape(math.prod(ln_1_Xbar.shape[:-1]), ln_1_Xbar.shape[-1]), ln_1_w, ln_1_b, o_ln_1_Y.reshape(math.prod(o_ln_1_Y.shape[:-1]), o_ln_1_Y.shape[-1]), d)
    return o_ln_1_Y


@_kernel
def _block_backward_5_rows(a_dproj_Y, a_dln_2_Y, a_ln_2_Xbar, a_ln_2_w, a_ln_2_b, o_db_o, o_dln_2_w, o_dln_2_b, o_ln_2_Y, n_d):
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


def _block_backward_5(dproj_Y, dln_2_Y, ln_2_Xbar, ln_2_w, ln_2_b, d):
    """db_o, dln_2_w, dln_2_b, ln_2_Y: one pass over the rows of dproj_Y (``_block_backward_5_rows``)."""
    lead = dproj_Y.shape[:-1]
    o_db_o = np.zeros(d, np.float64)
    o_dln_2_w = np.zeros(d, np.float64)
    o_dln_2_b = np.zeros(d, np.float64)
    o_ln_2_Y = np.empty(lead + (d,), dproj_Y.dtype)
    _launch(_block_backward_5_rows, dproj_Y.reshape(math.prod(dproj_Y.shape[:-1]), dproj_Y.shape[-1]), dln_2_Y.reshape(math.prod(dln_2_Y.shape[:-1]), dln_2_Y.shape[-1]), ln_2_Xbar.reshape(math.prod(ln_2_Xbar.shape[:-1]), ln_2_Xbar.shape[-1]), ln_2_w, ln_2_b, o_db_o, o_dln_2_w, o_dln_2_b, o_ln_2_Y.reshape(math.prod(o_ln_2_Y.shape[:-1]), o_ln_2_Y.shape[-1]), d)
    return o_db_o.astype(dproj_Y.dtype), o_dln_2_w.astype(dproj_Y.dtype), o_dln_2_b.astype(dproj_Y.dtype), o_ln_2_Y


@_kernel
def _block_backward_6_rows(a_dmlp_H, o_db_1, n_d_ff):
    """db_1: row by row."""
    T = a_dmlp_H.dtype.type
    t_d_ff = T(n_d_ff)
    for r in range(a_dmlp_H.shape[0]):
        # grad of b_1, used in: mlp_H = ln_2_Y W_1 + 1 b_1ᵀ
        for j in range(n_d_ff):
            o_db_1[j] += a_dmlp_H[r, j]


def _block_backward_6(dmlp_H, d_ff):
    """db_1: one pass over the rows of dmlp_H (``_block_backward_6_rows``)."""
    lead = dmlp_H.shape[:-1]
    o_db_1 = np.zeros(d_ff, np.float64)
    _launch(_block_backward_6_rows, dmlp_H.reshape(math.prod(dmlp_H.shape[:-1]), dmlp_H.shape[-1]), o_db_1, d_ff)
    return o_db_1.astype(dmlp_H.dtype)


@_kernel
def _block_backward_7_rows(a_dmlp_Y, o_db_2, n_d):
    """db_2: row by row."""
    T = a_dmlp_Y.dtype.type
    t_d = T(n_d)
    for r in range(a_dmlp_Y.shape[0]):
        # grad of b_2, used in: mlp_Y = mlp_A W_2 + 1 b_2ᵀ
        for j in range(n_d):
            o_db_2[j] += a_dmlp_Y[r, j]


def _block_backward_7(dmlp_Y, d):
    """db_2: one pass over the rows of dmlp_Y (``_block_backward_7_rows``)."""
    lead = dmlp_Y.shape[:-1]
    o_db_2 = np.zeros(d, np.float64)
    _launch(_block_backward_7_rows, dmlp_Y.reshape(math.prod(dmlp_Y.shape[:-1]), dmlp_Y.shape[-1]), o_db_2, d)
    return o_db_2.astype(dmlp_Y.dtype)


@_kernel
def _block_forward_8_rows(a_X, a_ln_1_w, a_ln_1_b, o_ln_1_sigma, o_ln_1_Xbar, o_ln_1_Y, n_d, n_eps):
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


def _block_forward_8(X, ln_1_w, ln_1_b, d, eps):
    """ln_1_sigma, ln_1_Xbar, ln_1_Y: one pass over the rows of X (``_block_forward_8_rows``)."""
    lead = X.shape[:-1]
    o_ln_1_sigma = np.empty(lead + (1,), X.dtype)
    o_ln_1_Xbar = np.empty(lead + (d,), X.dtype)
    o_ln_1_Y = np.empty(lead + (d,), X.dtype)
    _launch(_block_forward_8_rows, X.reshape(math.prod(X.shape[:-1]), X.shape[-1]), ln_1_w, ln_1_b, o_ln_1_sigma.reshape(math.prod(o_ln_1_sigma.shape[:-1]), o_ln_1_sigma.shape[-1]), o_ln_1_Xbar.reshape(math.prod(o_ln_1_Xbar.shape[:-1]), o_ln_1_Xbar.shape[-1]), o_ln_1_Y.reshape(math.prod(o_ln_1_Y.shape[:-1]), o_ln_1_Y.shape[-1]), d, eps)
    return o_ln_1_sigma, o_ln_1_Xbar, o_ln_1_Y


@_kernel
def _block_forward_9_rows(a_X, a_proj_Y, a_ln_2_w, a_ln_2_b, o_a5, o_ln_2_sigma, o_ln_2_Xbar, o_ln_2_Y, n_d, n_eps):
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


def _block_forward_9(X, proj_Y, ln_2_w, ln_2_b, d, eps):
    """a5, ln_2_sigma, ln_2_Xbar, ln_2_Y: one pass over the rows of X (``_block_forward_9_rows``)."""
    lead = X.shape[:-1]
    o_a5 = np.empty(lead + (d,), X.dtype)
    o_ln_2_sigma = np.empty(lead + (1,), X.dtype)
    o_ln_2_Xbar = np.empty(lead + (d,), X.dtype)
    o_ln_2_Y = np.empty(lead + (d,), X.dtype)
    _launch(_block_forward_9_rows, X.reshape(math.prod(X.shape[:-1]), X.shape[-1]), proj_Y.reshape(math.prod(proj_Y.shape[:-1]), proj_Y.shape[-1]), ln_2_w, ln_2_b, o_a5.reshape(math.prod(o_a5.shape[:-1]), o_a5.shape[-1]), o_ln_2_sigma.reshape(math.prod(o_ln_2_sigma.shape[:-1]), o_ln_2_sigma.shape[-1]), o_ln_2_Xbar.reshape(math.prod(o_ln_2_Xbar.shape[:-1]), o_ln_2_Xbar.shape[-1]), o_ln_2_Y.reshape(math.prod(o_ln_2_Y.shape[:-1]), o_ln_2_Y.shape[-1]), d, eps)
    return o_a5, o_ln_2_sigma, o_ln_2_Xbar, o_ln_2_Y


@_kernel
def _block_forward_10_rows(a_a5, a_mlp_Y, o_Y, n_d):
    """Y: row by row."""
    T = a_a5.dtype.type
    t_d = T(n_d)
    for r in range(a_a5.shape[0]):
        # second residual
        for j in range(n_d):
            o_Y[r, j] = (a_a5[r, j] + a_mlp_Y[r, j])


def _block_forward_10(a5, mlp_Y, d):
    """Y: one pass over the rows of a5 (``_block_forward_10_rows``)."""
    lead = a5.shape[:-1]
    o_Y = np.empty(lead + (d,), a5.dtype)
    _launch(_block_forward_10_rows, a5.reshape(math.prod(a5.shape[:-1]), a5.shape[-1]), mlp_Y.reshape(math.prod(mlp_Y.shape[:-1]), mlp_Y.shape[-1]), o_Y.reshape(math.prod(o_Y.shape[:-1]), o_Y.shape[-1]), d)
    return o_Y


@_kernel
def _tied_backward_11_rows(a_dln_f_Y, a_ln_f_w, a_ln_f_sigma, a_ln_f_Xbar, o_dX_L, n_d):
    """dln_f_Xbar, t1, dln_f_sigma, dln_f_var, dln_f_Xc, dln_f_mu, dX_L: row by row."""
    T = a_dln_f_Y.dtype.type
    t_d = T(n_d)
    k1 = T(0.5)
    k2 = T(2)/t_d
    k3 = (T(1) / (t_d))
    b_dln_f_Xbar = np.empty(n_d, a_dln_f_Y.dtype)
    b_dln_f_Xc = np.empty(n_d, a_dln_f_Y.dtype)
    for r in range(a_dln_f_Y.shape[0]):
        # grad of ln_f_Xbar, used in: ln_f_Y = ln_f_Xbar ∘ (1 ln_f_wᵀ) + 1 ln_f_bᵀ
        for j in range(n_d):
            b_dln_f_Xbar[j] = (a_dln_f_Y[r, j] * a_ln_f_w[j])
        # common subexpression
        x1 = a_ln_f_sigma[r, 0]
        v_t1 = ((T(1) / (x1)))
        # grad of ln_f_sigma, used in: ln_f_Xbar = ((1/ln_f_sigma) 1ᵀ) ∘ ln_f_Xc
        s2 = 0.0
        for j in range(n_d):
            s2 += (b_dln_f_Xbar[j] * a_ln_f_Xbar[r, j])
        v_dln_f_sigma = (-(v_t1 * T(s2)))
        # grad of ln_f_var, used in: ln_f_sigma = sqrt(eps + ln_f_var)
        v_dln_f_var = (k1 * (v_dln_f_sigma * v_t1))
        # grad of ln_f_Xc, used in: ln_f_var = (1/d) (ln_f_Xc ∘ ln_f_Xc) 1; ln_f_Xbar = ((1/ln_f_sigma) 1ᵀ) ∘ ln_f_Xc
        for j in range(n_d):
            b_dln_f_Xc[j] = ((b_dln_f_Xbar[j] * v_t1) + (k2 * ((v_dln_f_var * a_ln_f_sigma[r, 0]) * a_ln_f_Xbar[r, j])))
        # grad of ln_f_mu, used in: ln_f_Xc = X_L − ln_f_mu 1ᵀ
        s3 = 0.0
        for j in range(n_d):
            s3 += b_dln_f_Xc[j]
        v_dln_f_mu = (-T(s3))
        # grad of X_L, used in: ln_f_mu = (1/d) X_L 1; ln_f_Xc = X_L − ln_f_mu 1ᵀ
        for j in range(n_d):
            o_dX_L[r, j] = (b_dln_f_Xc[j] + (k3 * v_dln_f_mu))


def _tied_backward_11(dln_f_Y, ln_f_w, ln_f_sigma, ln_f_Xbar, d):
    """dX_L: one pass over the rows of dln_f_Y (``_tied_backward_11_rows``)."""
    lead = dln_f_Y.shape[:-1]
    o_dX_L = np.empty(lead + (d,), dln_f_Y.dtype)
    _launch(_tied_backward_11_rows, dln_f_Y.reshape(math.prod(dln_f_Y.shape[:-1]), dln_f_Y.shape[-1]), ln_f_w, ln_f_sigma.reshape(math.prod(ln_f_sigma.shape[:-1]), ln_f_sigma.shape[-1]), ln_f_Xbar.reshape(math.prod(ln_f_Xbar.shape[:-1]), ln_f_Xbar.shape[-1]), o_dX_L.reshape(math.prod(o_dX_L.shape[:-1]), o_dX_L.shape[-1]), d)
    return o_dX_L


@_kernel
def _tied_backward_12_rows(a_dln_f_Y, a_ln_f_Xbar, o_dln_f_w, o_dln_f_b, n_d):
    """dln_f_w, dln_f_b: row by row."""
    T = a_dln_f_Y.dtype.type
    t_d = T(n_d)
    for r in range(a_dln_f_Y.shape[0]):
        # grad of ln_f_w, used in: ln_f_Y = ln_f_Xbar ∘ (1 ln_f_wᵀ) + 1 ln_f_bᵀ
        for j in range(n_d):
            o_dln_f_w[j] += (a_dln_f_Y[r, j] * a_ln_f_Xbar[r, j])
        # grad of ln_f_b, used in: ln_f_Y = ln_f_Xbar ∘ (1 ln_f_wᵀ) + 1 ln_f_bᵀ
        for j in range(n_d):
            o_dln_f_b[j] += a_dln_f_Y[r, j]


def _tied_backward_12(dln_f_Y, ln_f_Xbar, d):
    """dln_f_w, dln_f_b: one pass over the rows of dln_f_Y (``_tied_backward_12_rows``)."""
    lead = dln_f_Y.shape[:-1]
    o_dln_f_w = np.zeros(d, np.float64)
    o_dln_f_b = np.zeros(d, np.float64)
    _launch(_tied_backward_12_rows, dln_f_Y.reshape(math.prod(dln_f_Y.shape[:-1]), dln_f_Y.shape[-1]), ln_f_Xbar.reshape(math.prod(ln_f_Xbar.shape[:-1]), ln_f_Xbar.shape[-1]), o_dln_f_w, o_dln_f_b, d)
    return o_dln_f_w.astype(dln_f_Y.dtype), o_dln_f_b.astype(dln_f_Y.dtype)


@_kernel
def _tied_forward_13_rows(a_X_L, a_ln_f_w, a_ln_f_b, o_ln_f_sigma, o_ln_f_Xbar, o_ln_f_Y, n_d, n_eps):
    """ln_f_mu, ln_f_Xc, ln_f_var, ln_f_sigma, ln_f_Xbar, ln_f_Y: row by row."""
    T = a_X_L.dtype.type
    t_d = T(n_d)
    t_eps = T(n_eps)
    k1 = (T(1) / (t_d))
    k2 = (T(1) / (t_d))
    b_ln_f_Xc = np.empty(n_d, a_X_L.dtype)
    for r in range(a_X_L.shape[0]):
        # per-token mean
        s1 = 0.0
        for j in range(n_d):
            s1 += a_X_L[r, j]
        v_ln_f_mu = (k1 * T(s1))
        # centred input
        for j in range(n_d):
            b_ln_f_Xc[j] = (a_X_L[r, j] + (-v_ln_f_mu))
        # per-token variance
        s2 = 0.0
        for j in range(n_d):
            s2 += (b_ln_f_Xc[j] * b_ln_f_Xc[j])
        v_ln_f_var = (k2 * T(s2))
        # per-token standard deviation
        x3 = v_ln_f_var
        v_ln_f_sigma = (math.sqrt(t_eps + x3))
        o_ln_f_sigma[r, 0] = v_ln_f_sigma
        # normalised input
        x4 = v_ln_f_sigma
        for j in range(n_d):
            o_ln_f_Xbar[r, j] = (((T(1) / (x4))) * b_ln_f_Xc[j])
        for j in range(n_d):
            o_ln_f_Y[r, j] = ((o_ln_f_Xbar[r, j] * a_ln_f_w[j]) + a_ln_f_b[j])


def _tied_forward_13(X_L, ln_f_w, ln_f_b, d, eps):
    """ln_f_sigma, ln_f_Xbar, ln_f_Y: one pass over the rows of X_L (``_tied_forward_13_rows``)."""
    lead = X_L.shape[:-1]
    o_ln_f_sigma = np.empty(lead + (1,), X_L.dtype)
    o_ln_f_Xbar = np.empty(lead + (d,), X_L.dtype)
    o_ln_f_Y = np.empty(lead + (d,), X_L.dtype)
    _launch(_tied_forward_13_rows, X_L.reshape(math.prod(X_L.shape[:-1]), X_L.shape[-1]), ln_f_w, ln_f_b, o_ln_f_sigma.reshape(math.prod(o_ln_f_sigma.shape[:-1]), o_ln_f_sigma.shape[-1]), o_ln_f_Xbar.reshape(math.prod(o_ln_f_Xbar.shape[:-1]), o_ln_f_Xbar.shape[-1]), o_ln_f_Y.reshape(math.prod(o_ln_f_Y.shape[:-1]), o_ln_f_Y.shape[-1]), d, eps)
    return o_ln_f_sigma, o_ln_f_Xbar, o_ln_f_Y


@_kernel
def _tied_logits_forward_14_rows(a_X_L, a_ln_f_w, a_ln_f_b, o_ln_f_Y, n_d, n_eps):
    """ln_f_mu, ln_f_Xc, ln_f_var, ln_f_sigma, ln_f_Xbar, ln_f_Y: row by row."""
    T = a_X_L.dtype.type
    t_d = T(n_d)
    t_eps = T(n_eps)
    k1 = (T(1) / (t_d))
    k2 = (T(1) / (t_d))
    b_ln_f_Xc = np.empty(n_d, a_X_L.dtype)
    b_ln_f_Xbar = np.empty(n_d, a_X_L.dtype)
    for r in range(a_X_L.shape[0]):
        # per-token mean
        s1 = 0.0
        for j in range(n_d):
            s1 += a_X_L[r, j]
        v_ln_f_mu = (k1 * T(s1))
        # centred input
        for j in range(n_d):
            b_ln_f_Xc[j] = (a_X_L[r, j] + (-v_ln_f_mu))
        # per-token variance
        s2 = 0.0
        for j in range(n_d):
            s2 += (b_ln_f_Xc[j] * b_ln_f_Xc[j])
        v_ln_f_var = (k2 * T(s2))
        # per-token standard deviation
        x3 = v_ln_f_var
        v_ln_f_sigma = (math.sqrt(t_eps + x3))
        # normalised input
        x4 = v_ln_f_sigma
        for j in range(n_d):
            b_ln_f_Xbar[j] = (((T(1) / (x4))) * b_ln_f_Xc[j])
        for j in range(n_d):
            o_ln_f_Y[r, j] = ((b_ln_f_Xbar[j] * a_ln_f_w[j]) + a_ln_f_b[j])


def _tied_logits_forward_14(X_L, ln_f_w, ln_f_b, d, eps):
    """ln_f_Y: one pass over the rows of X_L (``_tied_logits_forward_14_rows``)."""
    lead = X_L.shape[:-1]
    o_ln_f_Y = np.empty(lead + (d,), X_L.dtype)
    _launch(_tied_logits_forward_14_rows, X_L.reshape(math.prod(X_L.shape[:-1]), X_L.shape[-1]), ln_f_w, ln_f_b, o_ln_f_Y.reshape(math.prod(o_ln_f_Y.shape[:-1]), o_ln_f_Y.shape[-1]), d, eps)
    return o_ln_f_Y


@_kernel
def _untied_backward_15_rows(a_dln_f_Y, a_ln_f_w, a_ln_f_sigma, a_ln_f_Xbar, o_dX_L, n_d):
    """dln_f_Xbar, t1, dln_f_sigma, dln_f_var, dln_f_Xc, dln_f_mu, dX_L: row by row."""
    T = a_dln_f_Y.dtype.type
    t_d = T(n_d)
    k1 = T(0.5)
    k2 = T(2)/t_d
    k3 = (T(1) / (t_d))
    b_dln_f_Xbar = np.empty(n_d, a_dln_f_Y.dtype)
    b_dln_f_Xc = np.empty(n_d, a_dln_f_Y.dtype)
    for r in range(a_dln_f_Y.shape[0]):
        # grad of ln_f_Xbar, used in: ln_f_Y = ln_f_Xbar ∘ (1 ln_f_wᵀ) + 1 ln_f_bᵀ
        for j in range(n_d):
            b_dln_f_Xbar[j] = (a_dln_f_Y[r, j] * a_ln_f_w[j])
        # common subexpression
        x1 = a_ln_f_sigma[r, 0]
        v_t1 = ((T(1) / (x1)))
        # grad of ln_f_sigma, used in: ln_f_Xbar = ((1/ln_f_sigma) 1ᵀ) ∘ ln_f_Xc
        s2 = 0.0
        for j in range(n_d):
            s2 += (b_dln_f_Xbar[j] * a_ln_f_Xbar[r, j])
        v_dln_f_sigma = (-(v_t1 * T(s2)))
        # grad of ln_f_var, used in: ln_f_sigma = sqrt(eps + ln_f_var)
        v_dln_f_var = (k1 * (v_dln_f_sigma * v_t1))
        # grad of ln_f_Xc, used in: ln_f_var = (1/d) (ln_f_Xc ∘ ln_f_Xc) 1; ln_f_Xbar = ((1/ln_f_sigma) 1ᵀ) ∘ ln_f_Xc
        for j in range(n_d):
            b_dln_f_Xc[j] = ((b_dln_f_Xbar[j] * v_t1) + (k2 * ((v_dln_f_var * a_ln_f_sigma[r, 0]) * a_ln_f_Xbar[r, j])))
        # grad of ln_f_mu, used in: ln_f_Xc = X_L − ln_f_mu 1ᵀ
        s3 = 0.0
        for j in range(n_d):
            s3 += b_dln_f_Xc[j]
        v_dln_f_mu = (-T(s3))
        # grad of X_L, used in: ln_f_mu = (1/d) X_L 1; ln_f_Xc = X_L − ln_f_mu 1ᵀ
        for j in range(n_d):
            o_dX_L[r, j] = (b_dln_f_Xc[j] + (k3 * v_dln_f_mu))


def _untied_backward_15(dln_f_Y, ln_f_w, ln_f_sigma, ln_f_Xbar, d):
    """dX_L: one pass over the rows of dln_f_Y (``_untied_backward_15_rows``)."""
    lead = dln_f_Y.shape[:-1]
    o_dX_L = np.empty(lead + (d,), dln_f_Y.dtype)
    _launch(_untied_backward_15_rows, dln_f_Y.reshape(math.prod(dln_f_Y.shape[:-1]), dln_f_Y.shape[-1]), ln_f_w, ln_f_sigma.reshape(math.prod(ln_f_sigma.shape[:-1]), ln_f_sigma.shape[-1]), ln_f_Xbar.reshape(math.prod(ln_f_Xbar.shape[:-1]), ln_f_Xbar.shape[-1]), o_dX_L.reshape(math.prod(o_dX_L.shape[:-1]), o_dX_L.shape[-1]), d)
    return o_dX_L


@_kernel
def _untied_backward_16_rows(a_dln_f_Y, a_ln_f_Xbar, o_dln_f_w, o_dln_f_b, n_d):
    """dln_f_w, dln_f_b: row by row."""
    T = a_dln_f_Y.dtype.type
    t_d = T(n_d)
    for r in range(a_dln_f_Y.shape[0]):
        # grad of ln_f_w, used in: ln_f_Y = ln_f_Xbar ∘ (1 ln_f_wᵀ) + 1 ln_f_bᵀ
        for j in range(n_d):
            o_dln_f_w[j] += (a_dln_f_Y[r, j] * a_ln_f_Xbar[r, j])
        # grad of ln_f_b, used in: ln_f_Y = ln_f_Xbar ∘ (1 ln_f_wᵀ) + 1 ln_f_bᵀ
        for j in range(n_d):
            o_dln_f_b[j] += a_dln_f_Y[r, j]


def _untied_backward_16(dln_f_Y, ln_f_Xbar, d):
    """dln_f_w, dln_f_b: one pass over the rows of dln_f_Y (``_untied_backward_16_rows``)."""
    lead = dln_f_Y.shape[:-1]
    o_dln_f_w = np.zeros(d, np.float64)
    o_dln_f_b = np.zeros(d, np.float64)
    _launch(_untied_backward_16_rows, dln_f_Y.reshape(math.prod(dln_f_Y.shape[:-1]), dln_f_Y.shape[-1]), ln_f_Xbar.reshape(math.prod(ln_f_Xbar.shape[:-1]), ln_f_Xbar.shape[-1]), o_dln_f_w, o_dln_f_b, d)
    return o_dln_f_w.astype(dln_f_Y.dtype), o_dln_f_b.astype(dln_f_Y.dtype)


@_kernel
def _untied_backward_17_rows(a_dZ, o_db_head, n_n_vocab):
    """db_head: row by row."""
    T = a_dZ.dtype.type
    t_n_vocab = T(n_n_vocab)
    for r in range(a_dZ.shape[0]):
        # grad of b_head, used in: Z = X_s W_headᵀ + 1 b_headᵀ
        for j in range(n_n_vocab):
            o_db_head[j] += a_dZ[r, j]


def _untied_backward_17(dZ, n_vocab):
    """db_head: one pass over the rows of dZ (``_untied_backward_17_rows``)."""
    lead = dZ.shape[:-1]
    o_db_head = np.zeros(n_vocab, np.float64)
    _launch(_untied_backward_17_rows, dZ.reshape(math.prod(dZ.shape[:-1]), dZ.shape[-1]), o_db_head, n_vocab)
    return o_db_head.astype(dZ.dtype)


@_kernel
def _untied_forward_18_rows(a_X_L, a_ln_f_w, a_ln_f_b, o_ln_f_sigma, o_ln_f_Xbar, o_ln_f_Y, n_d, n_eps):
    """ln_f_mu, ln_f_Xc, ln_f_var, ln_f_sigma, ln_f_Xbar, ln_f_Y: row by row."""
    T = a_X_L.dtype.type
    t_d = T(n_d)
    t_eps = T(n_eps)
    k1 = (T(1) / (t_d))
    k2 = (T(1) / (t_d))
    b_ln_f_Xc = np.empty(n_d, a_X_L.dtype)
    for r in range(a_X_L.shape[0]):
        # per-token mean
        s1 = 0.0
        for j in range(n_d):
            s1 += a_X_L[r, j]
        v_ln_f_mu = (k1 * T(s1))
        # centred input
        for j in range(n_d):
            b_ln_f_Xc[j] = (a_X_L[r, j] + (-v_ln_f_mu))
        # per-token variance
        s2 = 0.0
        for j in range(n_d):
            s2 += (b_ln_f_Xc[j] * b_ln_f_Xc[j])
        v_ln_f_var = (k2 * T(s2))
        # per-token standard deviation
        x3 = v_ln_f_var
        v_ln_f_sigma = (math.sqrt(t_eps + x3))
        o_ln_f_sigma[r, 0] = v_ln_f_sigma
        # normalised input
        x4 = v_ln_f_sigma
        for j in range(n_d):
            o_ln_f_Xbar[r, j] = (((T(1) / (x4))) * b_ln_f_Xc[j])
        for j in range(n_d):
            o_ln_f_Y[r, j] = ((o_ln_f_Xbar[r, j] * a_ln_f_w[j]) + a_ln_f_b[j])


def _untied_forward_18(X_L, ln_f_w, ln_f_b, d, eps):
    """ln_f_sigma, ln_f_Xbar, ln_f_Y: one pass over the rows of X_L (``_untied_forward_18_rows``)."""
    lead = X_L.shape[:-1]
    o_ln_f_sigma = np.empty(lead + (1,), X_L.dtype)
    o_ln_f_Xbar = np.empty(lead + (d,), X_L.dtype)
    o_ln_f_Y = np.empty(lead + (d,), X_L.dtype)
    _launch(_untied_forward_18_rows, X_L.reshape(math.prod(X_L.shape[:-1]), X_L.shape[-1]), ln_f_w, ln_f_b, o_ln_f_sigma.reshape(math.prod(o_ln_f_sigma.shape[:-1]), o_ln_f_sigma.shape[-1]), o_ln_f_Xbar.reshape(math.prod(o_ln_f_Xbar.shape[:-1]), o_ln_f_Xbar.shape[-1]), o_ln_f_Y.reshape(math.prod(o_ln_f_Y.shape[:-1]), o_ln_f_Y.shape[-1]), d, eps)
    return o_ln_f_sigma, o_ln_f_Xbar, o_ln_f_Y


@_kernel
def _untied_logits_forward_19_rows(a_X_L, a_ln_f_w, a_ln_f_b, o_ln_f_Y, n_d, n_eps):
    """ln_f_mu, ln_f_Xc, ln_f_var, ln_f_sigma, ln_f_Xbar, ln_f_Y: row by row."""
    T = a_X_L.dtype.type
    t_d = T(n_d)
    t_eps = T(n_eps)
    k1 = (T(1) / (t_d))
    k2 = (T(1) / (t_d))
    b_ln_f_Xc = np.empty(n_d, a_X_L.dtype)
    b_ln_f_Xbar = np.empty(n_d, a_X_L.dtype)
    for r in range(a_X_L.shape[0]):
        # per-token mean
        s1 = 0.0
        for j in range(n_d):
            s1 += a_X_L[r, j]
        v_ln_f_mu = (k1 * T(s1))
        # centred input
        for j in range(n_d):
            b_ln_f_Xc[j] = (a_X_L[r, j] + (-v_ln_f_mu))
        # per-token variance
        s2 = 0.0
        for j in range(n_d):
            s2 += (b_ln_f_Xc[j] * b_ln_f_Xc[j])
        v_ln_f_var = (k2 * T(s2))
        # per-token standard deviation
        x3 = v_ln_f_var
        v_ln_f_sigma = (math.sqrt(t_eps + x3))
        # normalised input
        x4 = v_ln_f_sigma
        for j in range(n_d):
            b_ln_f_Xbar[j] = (((T(1) / (x4))) * b_ln_f_Xc[j])
        for j in range(n_d):
            o_ln_f_Y[r, j] = ((b_ln_f_Xbar[j] * a_ln_f_w[j]) + a_ln_f_b[j])


def _untied_logits_forward_19(X_L, ln_f_w, ln_f_b, d, eps):
    """ln_f_Y: one pass over the rows of X_L (``_untied_logits_forward_19_rows``)."""
    lead = X_L.shape[:-1]
    o_ln_f_Y = np.empty(lead + (d,), X_L.dtype)
    _launch(_untied_logits_forward_19_rows, X_L.reshape(math.prod(X_L.shape[:-1]), X_L.shape[-1]), ln_f_w, ln_f_b, o_ln_f_Y.reshape(math.prod(o_ln_f_Y.shape[:-1]), o_ln_f_Y.shape[-1]), d, eps)
    return o_ln_f_Y


@_kernel
def _lora_block_backward_20_rows(a_grad_out, o_dmlp_Y, n_d):
    """dmlp_Y: row by row."""
    T = a_grad_out.dtype.type
    t_d = T(n_d)
    for r in range(a_grad_out.shape[0]):
        # grad of mlp_Y, used in: Y = a5 + mlp_Y
        for j in range(n_d):
            o_dmlp_Y[r, j] = a_grad_out[r, j]


def _lora_block_backward_20(grad_out, d):
    """dmlp_Y: one pass over the rows of grad_out (``_lora_block_backward_20_rows``)."""
    lead = grad_out.shape[:-1]
    o_dmlp_Y = np.empty(lead + (d,), grad_out.dtype)
    _launch(_lora_block_backward_20_rows, grad_out.reshape(math.prod(grad_out.shape[:-1]), grad_out.shape[-1]), o_dmlp_Y.reshape(math.prod(o_dmlp_Y.shape[:-1]), o_dmlp_Y.shape[-1]), d)
    return o_dmlp_Y


@_kernel
def _lora_block_backward_21_rows(a_dln_2_Y, a_ln_2_w, a_ln_2_Xc, a_ln_2_sigma, a_ln_2_var, a_grad_out, o_da5, o_dproj_Y, n_d, n_eps):
    """dln_2_Xbar, dln_2_sigma, dln_2_var, dln_2_Xc, dln_2_mu, da5, dproj_Y: row by row."""
    T = a_dln_2_Y.dtype.type
    t_d = T(n_d)
    t_eps = T(n_eps)
    k1 = T(2)/t_d
    k2 = (T(1) / (t_d))
    b_dln_2_Xbar = np.empty(n_d, a_dln_2_Y.dtype)
    b_dln_2_Xc = np.empty(n_d, a_dln_2_Y.dtype)
    for r in range(a_dln_2_Y.shape[0]):
        # grad of ln_2_Xbar, used in: ln_2_Y = ln_2_Xbar ∘ (1 ln_2_wᵀ) + 1 ln_2_bᵀ
        for j in range(n_d):
            b_dln_2_Xbar[j] = (a_dln_2_Y[r, j] * a_ln_2_w[j])
        # grad of ln_2_sigma, used in: ln_2_Xbar = ((1/ln_2_sigma) 1ᵀ) ∘ ln_2_Xc
        s1 = 0.0
        for j in range(n_d):
            s1 += (b_dln_2_Xbar[j] * a_ln_2_Xc[r, j])
        x2 = a_ln_2_sigma[r, 0]
        v_dln_2_sigma = (T(s1) * (-T(1)/(x2 * x2)))
        # grad of ln_2_var, used in: ln_2_sigma = sqrt(eps + ln_2_var)
        x3 = a_ln_2_var[r, 0]
        v_dln_2_var = (v_dln_2_sigma * ((T(0.5))/math.sqrt(t_eps + x3)))
        # grad of ln_2_Xc, used in: ln_2_var = (1/d) (ln_2_Xc ∘ ln_2_Xc) 1; ln_2_Xbar = ((1/ln_2_sigma) 1ᵀ) ∘ ln_2_Xc
        x4 = a_ln_2_sigma[r, 0]
        for j in range(n_d):
            b_dln_2_Xc[j] = ((b_dln_2_Xbar[j] * ((T(1) / (x4)))) + (k1 * (v_dln_2_var * a_ln_2_Xc[r, j])))
        # grad of ln_2_mu, used in: ln_2_Xc = a5 − ln_2_mu 1ᵀ
        s5 = 0.0
        for j in range(n_d):
            s5 += b_dln_2_Xc[j]
        v_dln_2_mu = (-T(s5))
        # grad of a5, used in: ln_2_mu = (1/d) a5 1; ln_2_Xc = a5 − ln_2_mu 1ᵀ; Y = a5 + mlp_Y
        for j in range(n_d):
            o_da5[r, j] = (a_grad_out[r, j] + b_dln_2_Xc[j] + (k2 * v_dln_2_mu))
        # grad of proj_Y, used in: a5 = X + proj_Y
        for j in range(n_d):
            o_dproj_Y[r, j] = o_da5[r, j]


def _lora_block_backward_21(dln_2_Y, ln_2_w, ln_2_Xc, ln_2_sigma, ln_2_var, grad_out, d, eps):
    """da5, dproj_Y: one pass over the rows of dln_2_Y (``_lora_block_backward_21_rows``)."""
    lead = dln_2_Y.shape[:-1]
    o_da5 = np.empty(lead + (d,), dln_2_Y.dtype)
    o_dproj_Y = np.empty(lead + (d,), dln_2_Y.dtype)
    _launch(_lora_block_backward_21_rows, dln_2_Y.reshape(math.prod(dln_2_Y.shape[:-1]), dln_2_Y.shape[-1]), ln_2_w, ln_2_Xc.reshape(math.prod(ln_2_Xc.shape[:-1]), ln_2_Xc.shape[-1]), ln_2_sigma.reshape(math.prod(ln_2_sigma.shape[:-1]), ln_2_sigma.shape[-1]), ln_2_var.reshape(math.prod(ln_2_var.shape[:-1]), ln_2_var.shape[-1]), grad_out.reshape(math.prod(grad_out.shape[:-1]), grad_out.shape[-1]), o_da5.reshape(math.prod(o_da5.shape[:-1]), o_da5.shape[-1]), o_dproj_Y.reshape(math.prod(o_dproj_Y.shape[:-1]), o_dproj_Y.shape[-1]), d, eps)
    return o_da5, o_dproj_Y


@_kernel
def _lora_block_backward_22_rows(a_dln_1_Y, a_ln_1_w, a_ln_1_Xc, a_ln_1_sigma, a_ln_1_var, a_da5, o_dX, n_d, n_eps):
    """dln_1_Xbar, dln_1_sigma, dln_1_var, dln_1_Xc, dln_1_mu, dX: row by row."""
    T = a_dln_1_Y.dtype.type
    t_d = T(n_d)
    t_eps = T(n_eps)
    k1 = T(2)/t_d
    k2 = (T(1) / (t_d))
    b_dln_1_Xbar = np.empty(n_d, a_dln_1_Y.dtype)
    b_dln_1_Xc = np.empty(n_d, a_dln_1_Y.dtype)
    for r in range(a_dln_1_Y.shape[0]):
        # grad of ln_1_Xbar, used in: ln_1_Y = ln_1_Xbar ∘ (1 ln_1_wᵀ) + 1 ln_1_bᵀ
        for j in range(n_d):
            b_dln_1_Xbar[j] = (a_dln_1_Y[r, j] * a_ln_1_w[j])
        # grad of ln_1_sigma, used in: ln_1_Xbar = ((1/ln_1_sigma) 1ᵀ) ∘ ln_1_Xc
        s1 = 0.0
        for j in range(n_d):
            s1 += (b_dln_1_Xbar[j] * a_ln_1_Xc[r, j])
        x2 = a_ln_1_sigma[r, 0]
        v_dln_1_sigma = (T(s1) * (-T(1)/(x2 * x2)))
        # grad of ln_1_var, used in: ln_1_sigma = sqrt(eps + ln_1_var)
        x3 = a_ln_1_var[r, 0]
        v_dln_1_var = (v_dln_1_sigma * ((T(0.5))/math.sqrt(t_eps + x3)))
        # grad of ln_1_Xc, used in: ln_1_var = (1/d) (ln_1_Xc ∘ ln_1_Xc) 1; ln_1_Xbar = ((1/ln_1_sigma) 1ᵀ) ∘ ln_1_Xc
        x4 = a_ln_1_sigma[r, 0]
        for j in range(n_d):
            b_dln_1_Xc[j] = ((b_dln_1_Xbar[j] * ((T(1) / (x4)))) + (k1 * (v_dln_1_var * a_ln_1_Xc[r, j])))
        # grad of ln_1_mu, used in: ln_1_Xc = X − ln_1_mu 1ᵀ
        s5 = 0.0
        for j in range(n_d):
            s5 += b_dln_1_Xc[j]
        v_dln_1_mu = (-T(s5))
        # grad of X, used in: ln_1_mu = (1/d) X 1; ln_1_Xc = X − ln_1_mu 1ᵀ; a5 = X + proj_Y
        for j in range(n_d):
            o_dX[r, j] = (a_da5[r, j] + b_dln_1_Xc[j] + (k2 * v_dln_1_mu))


def _lora_block_backward_22(dln_1_Y, ln_1_w, ln_1_Xc, ln_1_sigma, ln_1_var, da5, d, eps):
    """dX: one pass over the rows of dln_1_Y (``_lora_block_backward_22_rows``)."""
    lead = dln_1_Y.shape[:-1]
    o_dX = np.empty(lead + (d,), dln_1_Y.dtype)
    _launch(_lora_block_backward_22_rows, dln_1_Y.reshape(math.prod(dln_1_Y.shape[:-1]), dln_1_Y.shape[-1]), ln_1_w, ln_1_Xc.reshape(math.prod(ln_1_Xc.shape[:-1]), ln_1_Xc.shape[-1]), ln_1_sigma.reshape(math.prod(ln_1_sigma.shape[:-1]), ln_1_sigma.shape[-1]), ln_1_var.reshape(math.prod(ln_1_var.shape[:-1]), ln_1_var.shape[-1]), da5.reshape(math.prod(da5.shape[:-1]), da5.shape[-1]), o_dX.reshape(math.prod(o_dX.shape[:-1]), o_dX.shape[-1]), d, eps)
    return o_dX


@_kernel
def _lora_block_forward_23_rows(a_X, a_ln_1_w, a_ln_1_b, o_ln_1_Xc, o_ln_1_var, o_ln_1_sigma, o_ln_1_Y, n_d, n_eps):
    """ln_1_mu, ln_1_Xc, ln_1_var, ln_1_sigma, ln_1_Xbar, ln_1_Y: row by row."""
    T = a_X.dtype.type
    t_d = T(n_d)
    t_eps = T(n_eps)
    k1 = (T(1) / (t_d))
    k2 = (T(1) / (t_d))
    b_ln_1_Xbar = np.empty(n_d, a_X.dtype)
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
            b_ln_1_Xbar[j] = (((T(1) / (x4))) * o_ln_1_Xc[r, j])
        for j in range(n_d):
            o_ln_1_Y[r, j] = ((b_ln_1_Xbar[j] * a_ln_1_w[j]) + a_ln_1_b[j])


def _lora_block_forward_23(X, ln_1_w, ln_1_b, d, eps):
    """ln_1_Xc, ln_1_var, ln_1_sigma, ln_1_Y: one pass over the rows of X (``_lora_block_forward_23_rows``)."""
    lead = X.shape[:-1]
    o_ln_1_Xc = np.empty(lead + (d,), X.dtype)
    o_ln_1_var = np.empty(lead + (1,), X.dtype)
    o_ln_1_sigma = np.empty(lead + (1,), X.dtype)
    o_ln_1_Y = np.empty(lead + (d,), X.dtype)
    _launch(_lora_block_forward_23_rows, X.reshape(math.prod(X.shape[:-1]), X.shape[-1]), ln_1_w, ln_1_b, o_ln_1_Xc.reshape(math.prod(o_ln_1_Xc.shape[:-1]), o_ln_1_Xc.shape[-1]), o_ln_1_var.reshape(math.prod(o_ln_1_var.shape[:-1]), o_ln_1_var.shape[-1]), o_ln_1_sigma.reshape(math.prod(o_ln_1_sigma.shape[:-1]), o_ln_1_sigma.shape[-1]), o_ln_1_Y.reshape(math.prod(o_ln_1_Y.shape[:-1]), o_ln_1_Y.shape[-1]), d, eps)
    return o_ln_1_Xc, o_ln_1_var, o_ln_1_sigma, o_ln_1_Y


@_kernel
def _lora_block_forward_24_rows(a_X, a_proj_Y, a_ln_2_w, a_ln_2_b, o_a5, o_ln_2_Xc, o_ln_2_var, o_ln_2_sigma, o_ln_2_Y, n_d, n_eps):
    """a5, ln_2_mu, ln_2_Xc, ln_2_var, ln_2_sigma, ln_2_Xbar, ln_2_Y: row by row."""
    T = a_X.dtype.type
    t_d = T(n_d)
    t_eps = T(n_eps)
    k1 = (T(1) / (t_d))
    k2 = (T(1) / (t_d))
    b_ln_2_Xbar = np.empty(n_d, a_X.dtype)
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
            o_ln_2_Xc[r, j] = (o_a5[r, j] + (-v_ln_2_mu))
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
            b_ln_2_Xbar[j] = (((T(1) / (x4))) * o_ln_2_Xc[r, j])
        for j in range(n_d):
            o_ln_2_Y[r, j] = ((b_ln_2_Xbar[j] * a_ln_2_w[j]) + a_ln_2_b[j])


def _lora_block_forward_24(X, proj_Y, ln_2_w, ln_2_b, d, eps):
    """a5, ln_2_Xc, ln_2_var, ln_2_sigma, ln_2_Y: one pass over the rows of X (``_lora_block_forward_24_rows``)."""
    lead = X.shape[:-1]
    o_a5 = np.empty(lead + (d,), X.dtype)
    o_ln_2_Xc = np.empty(lead + (d,), X.dtype)
    o_ln_2_var = np.empty(lead + (1,), X.dtype)
    o_ln_2_sigma = np.empty(lead + (1,), X.dtype)
    o_ln_2_Y = np.empty(lead + (d,), X.dtype)
    _launch(_lora_block_forward_24_rows, X.reshape(math.prod(X.shape[:-1]), X.shape[-1]), proj_Y.reshape(math.prod(proj_Y.shape[:-1]), proj_Y.shape[-1]), ln_2_w, ln_2_b, o_a5.reshape(math.prod(o_a5.shape[:-1]), o_a5.shape[-1]), o_ln_2_Xc.reshape(math.prod(o_ln_2_Xc.shape[:-1]), o_ln_2_Xc.shape[-1]), o_ln_2_var.reshape(math.prod(o_ln_2_var.shape[:-1]), o_ln_2_var.shape[-1]), o_ln_2_sigma.reshape(math.prod(o_ln_2_sigma.shape[:-1]), o_ln_2_sigma.shape[-1]), o_ln_2_Y.reshape(math.prod(o_ln_2_Y.shape[:-1]), o_ln_2_Y.shape[-1]), d, eps)
    return o_a5, o_ln_2_Xc, o_ln_2_var, o_ln_2_sigma, o_ln_2_Y


@_kernel
def _lora_block_forward_25_rows(a_a5, a_mlp_Y, o_Y, n_d):
    """Y: row by row."""
    T = a_a5.dtype.type
    t_d = T(n_d)
    for r in range(a_a5.shape[0]):
        # second residual
        for j in range(n_d):
            o_Y[r, j] = (a_a5[r, j] + a_mlp_Y[r, j])


def _lora_block_forward_25(a5, mlp_Y, d):
    """Y: one pass over the rows of a5 (``_lora_block_forward_25_rows``)."""
    lead = a5.shape[:-1]
    o_Y = np.empty(lead + (d,), a5.dtype)
    _launch(_lora_block_forward_25_rows, a5.reshape(math.prod(a5.shape[:-1]), a5.shape[-1]), mlp_Y.reshape(math.prod(mlp_Y.shape[:-1]), mlp_Y.shape[-1]), o_Y.reshape(math.prod(o_Y.shape[:-1]), o_Y.shape[-1]), d)
    return o_Y


@_kernel
def _lora_tied_backward_26_rows(a_dln_f_Y, a_ln_f_w, a_ln_f_Xc, a_ln_f_sigma, a_ln_f_var, o_dX_L, n_d, n_eps):
    """dln_f_Xbar, dln_f_sigma, dln_f_var, dln_f_Xc, dln_f_mu, dX_L: row by row."""
    T = a_dln_f_Y.dtype.type
    t_d = T(n_d)
    t_eps = T(n_eps)
    k1 = T(2)/t_d
    k2 = (T(1) / (t_d))
    b_dln_f_Xbar = np.empty(n_d, a_dln_f_Y.dtype)
    b_dln_f_Xc = np.empty(n_d, a_dln_f_Y.dtype)
    for r in range(a_dln_f_Y.shape[0]):
        # grad of ln_f_Xbar, used in: ln_f_Y = ln_f_Xbar ∘ (1 ln_f_wᵀ) + 1 ln_f_bᵀ
        for j in range(n_d):
            b_dln_f_Xbar[j] = (a_dln_f_Y[r, j] * a_ln_f_w[j])
        # grad of ln_f_sigma, used in: ln_f_Xbar = ((1/ln_f_sigma) 1ᵀ) ∘ ln_f_Xc
        s1 = 0.0
        for j in range(n_d):
            s1 += (b_dln_f_Xbar[j] * a_ln_f_Xc[r, j])
        x2 = a_ln_f_sigma[r, 0]
        v_dln_f_sigma = (T(s1) * (-T(1)/(x2 * x2)))
        # grad of ln_f_var, used in: ln_f_sigma = sqrt(eps + ln_f_var)
        x3 = a_ln_f_var[r, 0]
        v_dln_f_var = (v_dln_f_sigma * ((T(0.5))/math.sqrt(t_eps + x3)))
        # grad of ln_f_Xc, used in: ln_f_var = (1/d) (ln_f_Xc ∘ ln_f_Xc) 1; ln_f_Xbar = ((1/ln_f_sigma) 1ᵀ) ∘ ln_f_Xc
        x4 = a_ln_f_sigma[r, 0]
        for j in range(n_d):
            b_dln_f_Xc[j] = ((b_dln_f_Xbar[j] * ((T(1) / (x4)))) + (k1 * (v_dln_f_var * a_ln_f_Xc[r, j])))
        # grad of ln_f_mu, used in: ln_f_Xc = X_L − ln_f_mu 1ᵀ
        s5 = 0.0
        for j in range(n_d):
            s5 += b_dln_f_Xc[j]
        v_dln_f_mu = (-T(s5))
        # grad of X_L, used in: ln_f_mu = (1/d) X_L 1; ln_f_Xc = X_L − ln_f_mu 1ᵀ
        for j in range(n_d):
            o_dX_L[r, j] = (b_dln_f_Xc[j] + (k2 * v_dln_f_mu))


def _lora_tied_backward_26(dln_f_Y, ln_f_w, ln_f_Xc, ln_f_sigma, ln_f_var, d, eps):
    """dX_L: one pass over the rows of dln_f_Y (``_lora_tied_backward_26_rows``)."""
    lead = dln_f_Y.shape[:-1]
    o_dX_L = np.empty(lead + (d,), dln_f_Y.dtype)
    _launch(_lora_tied_backward_26_rows, dln_f_Y.reshape(math.prod(dln_f_Y.shape[:-1]), dln_f_Y.shape[-1]), ln_f_w, ln_f_Xc.reshape(math.prod(ln_f_Xc.shape[:-1]), ln_f_Xc.shape[-1]), ln_f_sigma.reshape(math.prod(ln_f_sigma.shape[:-1]), ln_f_sigma.shape[-1]), ln_f_var.reshape(math.prod(ln_f_var.shape[:-1]), ln_f_var.shape[-1]), o_dX_L.reshape(math.prod(o_dX_L.shape[:-1]), o_dX_L.shape[-1]), d, eps)
    return o_dX_L


@_kernel
def _lora_tied_forward_27_rows(a_X_L, a_ln_f_w, a_ln_f_b, o_ln_f_Xc, o_ln_f_var, o_ln_f_sigma, o_ln_f_Y, n_d, n_eps):
    """ln_f_mu, ln_f_Xc, ln_f_var, ln_f_sigma, ln_f_Xbar, ln_f_Y: row by row."""
    T = a_X_L.dtype.type
    t_d = T(n_d)
    t_eps = T(n_eps)
    k1 = (T(1) / (t_d))
    k2 = (T(1) / (t_d))
    b_ln_f_Xbar = np.empty(n_d, a_X_L.dtype)
    for r in range(a_X_L.shape[0]):
        # per-token mean
        s1 = 0.0
        for j in range(n_d):
            s1 += a_X_L[r, j]
        v_ln_f_mu = (k1 * T(s1))
        # centred input
        for j in range(n_d):
            o_ln_f_Xc[r, j] = (a_X_L[r, j] + (-v_ln_f_mu))
        # per-token variance
        s2 = 0.0
        for j in range(n_d):
            s2 += (o_ln_f_Xc[r, j] * o_ln_f_Xc[r, j])
        v_ln_f_var = (k2 * T(s2))
        o_ln_f_var[r, 0] = v_ln_f_var
        # per-token standard deviation
        x3 = v_ln_f_var
        v_ln_f_sigma = (math.sqrt(t_eps + x3))
        o_ln_f_sigma[r, 0] = v_ln_f_sigma
        # normalised input
        x4 = v_ln_f_sigma
        for j in range(n_d):
            b_ln_f_Xbar[j] = (((T(1) / (x4))) * o_ln_f_Xc[r, j])
        for j in range(n_d):
            o_ln_f_Y[r, j] = ((b_ln_f_Xbar[j] * a_ln_f_w[j]) + a_ln_f_b[j])


def _lora_tied_forward_27(X_L, ln_f_w, ln_f_b, d, eps):
    """ln_f_Xc, ln_f_var, ln_f_sigma, ln_f_Y: one pass over the rows of X_L (``_lora_tied_forward_27_rows``)."""
    lead = X_L.shape[:-1]
    o_ln_f_Xc = np.empty(lead + (d,), X_L.dtype)
    o_ln_f_var = np.empty(lead + (1,), X_L.dtype)
    o_ln_f_sigma = np.empty(lead + (1,), X_L.dtype)
    o_ln_f_Y = np.empty(lead + (d,), X_L.dtype)
    _launch(_lora_tied_forward_27_rows, X_L.reshape(math.prod(X_L.shape[:-1]), X_L.shape[-1]), ln_f_w, ln_f_b, o_ln_f_Xc.reshape(math.prod(o_ln_f_Xc.shape[:-1]), o_ln_f_Xc.shape[-1]), o_ln_f_var.reshape(math.prod(o_ln_f_var.shape[:-1]), o_ln_f_var.shape[-1]), o_ln_f_sigma.reshape(math.prod(o_ln_f_sigma.shape[:-1]), o_ln_f_sigma.shape[-1]), o_ln_f_Y.reshape(math.prod(o_ln_f_Y.shape[:-1]), o_ln_f_Y.shape[-1]), d, eps)
    return o_ln_f_Xc, o_ln_f_var, o_ln_f_sigma, o_ln_f_Y


@_kernel
def _lora_untied_backward_28_rows(a_dln_f_Y, a_ln_f_w, a_ln_f_Xc, a_ln_f_sigma, a_ln_f_var, o_dX_L, n_d, n_eps):
    """dln_f_Xbar, dln_f_sigma, dln_f_var, dln_f_Xc, dln_f_mu, dX_L: row by row."""
    T = a_dln_f_Y.dtype.type
    t_d = T(n_d)
    t_eps = T(n_eps)
    k1 = T(2)/t_d
    k2 = (T(1) / (t_d))
    b_dln_f_Xbar = np.empty(n_d, a_dln_f_Y.dtype)
    b_dln_f_Xc = np.empty(n_d, a_dln_f_Y.dtype)
    for r in range(a_dln_f_Y.shape[0]):
        # grad of ln_f_Xbar, used in: ln_f_Y = ln_f_Xbar ∘ (1 ln_f_wᵀ) + 1 ln_f_bᵀ
        for j in range(n_d):
            b_dln_f_Xbar[j] = (a_dln_f_Y[r, j] * a_ln_f_w[j])
        # grad of ln_f_sigma, used in: ln_f_Xbar = ((1/ln_f_sigma) 1ᵀ) ∘ ln_f_Xc
        s1 = 0.0
        for j in range(n_d):
            s1 += (b_dln_f_Xbar[j] * a_ln_f_Xc[r, j])
        x2 = a_ln_f_sigma[r, 0]
        v_dln_f_sigma = (T(s1) * (-T(1)/(x2 * x2)))
        # grad of ln_f_var, used in: ln_f_sigma = sqrt(eps + ln_f_var)
        x3 = a_ln_f_var[r, 0]
        v_dln_f_var = (v_dln_f_sigma * ((T(0.5))/math.sqrt(t_eps + x3)))
        # grad of ln_f_Xc, used in: ln_f_var = (1/d) (ln_f_Xc ∘ ln_f_Xc) 1; ln_f_Xbar = ((1/ln_f_sigma) 1ᵀ) ∘ ln_f_Xc
        x4 = a_ln_f_sigma[r, 0]
        for j in range(n_d):
            b_dln_f_Xc[j] = ((b_dln_f_Xbar[j] * ((T(1) / (x4)))) + (k1 * (v_dln_f_var * a_ln_f_Xc[r, j])))
        # grad of ln_f_mu, used in: ln_f_Xc = X_L − ln_f_mu 1ᵀ
        s5 = 0.0
        for j in range(n_d):
            s5 += b_dln_f_Xc[j]
        v_dln_f_mu = (-T(s5))
        # grad of X_L, used in: ln_f_mu = (1/d) X_L 1; ln_f_Xc = X_L − ln_f_mu 1ᵀ
        for j in range(n_d):
            o_dX_L[r, j] = (b_dln_f_Xc[j] + (k2 * v_dln_f_mu))


def _lora_untied_backward_28(dln_f_Y, ln_f_w, ln_f_Xc, ln_f_sigma, ln_f_var, d, eps):
    """dX_L: one pass over the rows of dln_f_Y (``_lora_untied_backward_28_rows``)."""
    lead = dln_f_Y.shape[:-1]
    o_dX_L = np.empty(lead + (d,), dln_f_Y.dtype)
    _launch(_lora_untied_backward_28_rows, dln_f_Y.reshape(math.prod(dln_f_Y.shape[:-1]), dln_f_Y.shape[-1]), ln_f_w, ln_f_Xc.reshape(math.prod(ln_f_Xc.shape[:-1]), ln_f_Xc.shape[-1]), ln_f_sigma.reshape(math.prod(ln_f_sigma.shape[:-1]), ln_f_sigma.shape[-1]), ln_f_var.reshape(math.prod(ln_f_var.shape[:-1]), ln_f_var.shape[-1]), o_dX_L.reshape(math.prod(o_dX_L.shape[:-1]), o_dX_L.shape[-1]), d, eps)
    return o_dX_L


@_kernel
def _lora_untied_forward_29_rows(a_X_L, a_ln_f_w, a_ln_f_b, o_ln_f_Xc, o_ln_f_var, o_ln_f_sigma, o_ln_f_Y, n_d, n_eps):
    """ln_f_mu, ln_f_Xc, ln_f_var, ln_f_sigma, ln_f_Xbar, ln_f_Y: row by row."""
    T = a_X_L.dtype.type
    t_d = T(n_d)
    t_eps = T(n_eps)
    k1 = (T(1) / (t_d))
    k2 = (T(1) / (t_d))
    b_ln_f_Xbar = np.empty(n_d, a_X_L.dtype)
    for r in range(a_X_L.shape[0]):
        # per-token mean
        s1 = 0.0
        for j in range(n_d):
            s1 += a_X_L[r, j]
        v_ln_f_mu = (k1 * T(s1))
        # centred input
        for j in range(n_d):
            o_ln_f_Xc[r, j] = (a_X_L[r, j] + (-v_ln_f_mu))
        # per-token variance
        s2 = 0.0
        for j in range(n_d):
            s2 += (o_ln_f_Xc[r, j] * o_ln_f_Xc[r, j])
        v_ln_f_var = (k2 * T(s2))
        o_ln_f_var[r, 0] = v_ln_f_var
        # per-token standard deviation
        x3 = v_ln_f_var
        v_ln_f_sigma = (math.sqrt(t_eps + x3))
        o_ln_f_sigma[r, 0] = v_ln_f_sigma
        # normalised input
        x4 = v_ln_f_sigma
        for j in range(n_d):
            b_ln_f_Xbar[j] = (((T(1) / (x4))) * o_ln_f_Xc[r, j])
        for j in range(n_d):
            o_ln_f_Y[r, j] = ((b_ln_f_Xbar[j] * a_ln_f_w[j]) + a_ln_f_b[j])


def _lora_untied_forward_29(X_L, ln_f_w, ln_f_b, d, eps):
    """ln_f_Xc, ln_f_var, ln_f_sigma, ln_f_Y: one pass over the rows of X_L (``_lora_untied_forward_29_rows``)."""
    lead = X_L.shape[:-1]
    o_ln_f_Xc = np.empty(lead + (d,), X_L.dtype)
    o_ln_f_var = np.empty(lead + (1,), X_L.dtype)
    o_ln_f_sigma = np.empty(lead + (1,), X_L.dtype)
    o_ln_f_Y = np.empty(lead + (d,), X_L.dtype)
    _launch(_lora_untied_forward_29_rows, X_L.reshape(math.prod(X_L.shape[:-1]), X_L.shape[-1]), ln_f_w, ln_f_b, o_ln_f_Xc.reshape(math.prod(o_ln_f_Xc.shape[:-1]), o_ln_f_Xc.shape[-1]), o_ln_f_var.reshape(math.prod(o_ln_f_var.shape[:-1]), o_ln_f_var.shape[-1]), o_ln_f_sigma.reshape(math.prod(o_ln_f_sigma.shape[:-1]), o_ln_f_sigma.shape[-1]), o_ln_f_Y.reshape(math.prod(o_ln_f_Y.shape[:-1]), o_ln_f_Y.shape[-1]), d, eps)
    return o_ln_f_Xc, o_ln_f_var, o_ln_f_sigma, o_ln_f_Y


def _block_forward(X, ln_1_w, ln_1_b, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, ln_2_w, ln_2_b, W_1, b_1, W_2, b_2, *, n_heads, eps=1e-05, activation='gelu_tanh'):
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
    ln_1_sigma, ln_1_Xbar, ln_1_Y = _block_forward_8(X, ln_1_w, ln_1_b, d, eps)  # (..., n_T, 1), (..., n_T, d), (..., n_T, d)
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
    a5, ln_2_sigma, ln_2_Xbar, ln_2_Y = _block_forward_9(X, proj_Y, ln_2_w, ln_2_b, d, eps)  # (..., n_T, d), (..., n_T, 1), (..., n_T, d), (..., n_T, d)
    del proj_Y
    mlp_H = _rows_matmul(ln_2_Y, W_1) + b_1  # (..., n_T, d_ff)
    del ln_2_Y
    mlp_A = _ACTIVATION[activation](mlp_H)  # (..., n_T, d_ff)
    mlp_Y = _rows_matmul(mlp_A, W_2)  # (..., n_T, d), updated in place
    mlp_Y += b_2
    Y = _block_forward_10(a5, mlp_Y, d)  # (..., n_T, d)
    del a5, mlp_Y
    cache = {"ln_1_w": ln_1_w, "ln_1_b": ln_1_b, "W_q": W_q, "b_k": b_k, "W_v": W_v, "W_o": W_o, "ln_2_w": ln_2_w, "ln_2_b": ln_2_b, "W_1": W_1, "W_2": W_2, "ln_1_sigma": ln_1_sigma, "ln_1_Xbar": ln_1_Xbar, "W_q_W_k_W_v": W_q_W_k_W_v, "attn_Q_h": attn_Q_h, "attn_K_h": attn_K_h, "attn_V_h": attn_V_h, "attn_P": attn_P, "attn_A": attn_A, "ln_2_sigma": ln_2_sigma, "ln_2_Xbar": ln_2_Xbar, "mlp_H": mlp_H, "mlp_A": mlp_A, "n_heads": n_heads, "activation": activation, "d": d, "d_ff": d_ff, "out_shape": Y.shape, "out_dtype": Y.dtype, "dtype": dtype}
    return Y.astype(dtype, copy=False), cache


def _block_backward(grad_out, cache):
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
    # fused: dmlp_Y (one pass over the rows, _block_backward_1_rows)
    dmlp_Y = _block_backward_1(grad_out, d)  # (..., n_T, d)
    # grad of mlp_A, used in: mlp_Y = mlp_A W_2 + 1 b_2ᵀ
    dmlp_A = _rows_matmul(dmlp_Y, W_2.swapaxes(-1, -2))  # (..., n_T, d_ff)
    # grad of mlp_H, used in: mlp_A = activation(mlp_H)
    dmlp_H = dmlp_A  # (..., n_T, d_ff), dmlp_A's array, updated in place
    dmlp_H = _ACTIVATION_GRAD[activation](mlp_H, times=dmlp_H)
    del dmlp_A, mlp_H
    # grad of ln_2_Y, used in: mlp_H = ln_2_Y W_1 + 1 b_1ᵀ
    dln_2_Y = _rows_matmul(dmlp_H, W_1.swapaxes(-1, -2))  # (..., n_T, d)
    # fused: dln_2_Xbar, t5, dln_2_sigma, dln_2_var, dln_2_Xc, dln_2_mu, da5, dproj_Y (one pass over the rows, _block_backward_2_rows)
    da5, dproj_Y = _block_backward_2(dln_2_Y, ln_2_w, ln_2_sigma, ln_2_Xbar, grad_out, d)  # (..., n_T, d), (..., n_T, d)
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
    # fused: dln_1_Xbar, t6, dln_1_sigma, dln_1_var, dln_1_Xc, dln_1_mu, dX, dln_1_w, t1, t2 (one pass over the rows, _block_backward_3_rows)
    dX, dln_1_w, t1, t2 = _block_backward_3(dln_1_Y, ln_1_w, ln_1_sigma, ln_1_Xbar, da5, dattn_Q, dattn_A, d)  # (..., n_T, d), (d,), (d,), (d,)
    del da5, dattn_A, dattn_Q, dln_1_Y, ln_1_sigma
    # grad of ln_1_b, used in: ln_1_Y = ln_1_Xbar ∘ (1 ln_1_wᵀ) + 1 ln_1_bᵀ
    dln_1_b = (t2[None, :] @ W_v.swapaxes(-1, -2) + t1[None, :] @ W_q.swapaxes(-1, -2)).reshape(-1)  # (d,)
    # fused: ln_1_Y (one pass over the rows, _block_backward_4_rows)
    ln_1_Y = _block_backward_4(ln_1_Xbar, ln_1_w, ln_1_b, d)  # (..., n_T, d)
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
    # fused: db_o, dln_2_w, dln_2_b, ln_2_Y (one pass over the rows, _block_backward_5_rows)
    db_o, dln_2_w, dln_2_b, ln_2_Y = _block_backward_5(dproj_Y, dln_2_Y, ln_2_Xbar, ln_2_w, ln_2_b, d)  # (d,), (d,), (d,), (..., n_T, d)
    del dln_2_Y, dproj_Y, ln_2_Xbar
    # grad of W_1, used in: mlp_H = ln_2_Y W_1 + 1 b_1ᵀ
    dW_1 = ln_2_Y.reshape(-1, d).T @ dmlp_H.reshape(-1, d_ff)  # (d, d_ff)
    del ln_2_Y
    # fused: db_1 (one pass over the rows, _block_backward_6_rows)
    db_1 = _block_backward_6(dmlp_H, d_ff)  # (d_ff,)
    del dmlp_H
    # grad of W_2, used in: mlp_Y = mlp_A W_2 + 1 b_2ᵀ
    dW_2 = mlp_A.reshape(-1, d_ff).T @ dmlp_Y.reshape(-1, d)  # (d_ff, d)
    del mlp_A
    # fused: db_2 (one pass over the rows, _block_backward_7_rows)
    db_2 = _block_backward_7(dmlp_Y, d)  # (d,)
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


def _tied_forward(idx, W_tok, W_pos, ln_f_w, ln_f_b, *, eps=1e-05, blocks):
    """GPT-2 (tied logits), loss: returns ``(out, cache)``.

    idx: integer input (n_T,): token indices
    W_tok: parameter (n_vocab, d): wte
    W_pos: parameter (n_context, d): wpe
    ln_f_w: parameter (d,)
    ln_f_b: parameter (d,)
    eps: configuration, default 1e-05: LayerNorm epsilon
    blocks: configuration, required: the gpt2_block stack
    """
    idx = np.asarray(idx)
    W_tok = np.asarray(W_tok)
    W_pos = np.asarray(W_pos)
    ln_f_w = np.asarray(ln_f_w)
    ln_f_b = np.asarray(ln_f_b)
    dtype, compute_dtype = _check_dtypes({"W_tok": W_tok, "W_pos": W_pos, "ln_f_w": ln_f_w, "ln_f_b": ln_f_b}, {"idx": idx})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        W_tok = W_tok.astype(compute_dtype, copy=False)
        W_pos = W_pos.astype(compute_dtype, copy=False)
        ln_f_w = ln_f_w.astype(compute_dtype, copy=False)
        ln_f_b = ln_f_b.astype(compute_dtype, copy=False)
    eps = _check_number("eps", eps)
    dims = {}
    _check_shape("idx", idx, ("n_T",), dims, batched=True)
    _check_shape("W_tok", W_tok, ("n_vocab", "d"), dims, batched=False)
    _check_shape("W_pos", W_pos, ("n_context", "d"), dims, batched=False)
    _check_shape("ln_f_w", ln_f_w, ("d",), dims, batched=False)
    _check_shape("ln_f_b", ln_f_b, ("d",), dims, batched=False)
    n_T, n_vocab, d, n_context = dims["n_T"], dims["n_vocab"], dims["d"], dims["n_context"]
    n_batch = math.prod(dims["..."])  # sequences in the batch
    if n_batch < 1:
        raise ValueError(f"the batch is empty (leading dimensions {dims['...']}): gpt2_tied_loss needs at least one sequence")
    if not (n_T <= n_context):
        raise ValueError('embedding: n_T must be at most n_context; got ' + f"n_T={n_T}, n_context={n_context}")
    if not (n_T >= 2):
        raise ValueError('cross_entropy: n_T must be at least 2: position t is scored against token t + 1; got ' + f"n_T={n_T}")
    _check_indices("idx", idx, n_vocab)
    X = W_tok[idx] + W_pos[..., :n_T, :]  # (..., n_T, d)
    X_L = blocks.forward(X)  # (..., n_T, d)
    del X
    ln_f_sigma, ln_f_Xbar, ln_f_Y = _tied_forward_13(X_L, ln_f_w, ln_f_b, d, eps)  # (..., n_T, 1), (..., n_T, d), (..., n_T, d)
    del X_L
    X_s = ln_f_Y[..., :n_T - 1, :]  # (..., n_T - 1, d)
    del ln_f_Y
    Z = _rows_matmul(X_s, W_tok.swapaxes(-1, -2))  # (..., n_T - 1, n_vocab)
    softmax_Z = _softmax(Z, False)  # (..., n_T - 1, n_vocab)
    lse_Z = _logsumexp_of_softmax(Z, softmax_Z)  # (..., n_T - 1, 1)
    ell = lse_Z.sum(axis=-2, keepdims=True) - np.take_along_axis(Z, idx[..., 1:][..., None], axis=-1).sum(axis=-2, keepdims=True)  # (..., 1, 1)
    del Z, lse_Z
    loss = (1/(n_batch*(n_T - 1)) * ell.reshape(-1, 1, 1).sum(axis=0)).reshape(())  # ()
    del ell
    cache = {"idx": idx, "W_tok": W_tok, "ln_f_w": ln_f_w, "ln_f_sigma": ln_f_sigma, "ln_f_Xbar": ln_f_Xbar, "X_s": X_s, "softmax_Z": softmax_Z, "blocks": blocks, "n_T": n_T, "n_vocab": n_vocab, "d": d, "n_context": n_context, "n_batch": n_batch, "out_shape": loss.shape, "out_dtype": loss.dtype, "dtype": dtype}
    return loss.astype(dtype, copy=False), cache


def _tied_backward(grad_out, cache):
    """Gradients of the loss given ``grad_out`` = ∂L/∂loss: a dict keyed by argument name."""
    idx = cache["idx"]
    W_tok = cache["W_tok"]
    ln_f_w = cache["ln_f_w"]
    ln_f_sigma = cache["ln_f_sigma"]
    ln_f_Xbar = cache["ln_f_Xbar"]
    X_s = cache["X_s"]
    softmax_Z = cache["softmax_Z"]
    blocks = cache["blocks"]
    n_T = cache["n_T"]
    n_vocab = cache["n_vocab"]
    d = cache["d"]
    n_context = cache["n_context"]
    n_batch = cache["n_batch"]
    dtype = cache["dtype"]
    grad_out = np.asarray(grad_out)
    if grad_out.shape != cache["out_shape"]:
        raise ValueError(f"grad_out: expected shape {cache['out_shape']}, got {grad_out.shape}")
    grad_out = grad_out.astype(cache["out_dtype"], copy=False)  # the dtype the forward computed in
    del cache  # each array is released after its last use below
    # grad of ell, used in: loss = (1/(n_batch (n_T − 1))) Σ_batch ell
    dell = 1/(n_batch*(n_T - 1)) * grad_out  # ()
    # grad of Z, used in: ell = 1ᵀ lse(Z) − 1ᵀ pick(Z, idx[1:])
    dZ = _add_at_targets(dell * softmax_Z, idx[..., 1:], -dell, fresh=True)  # (..., n_T - 1, n_vocab)
    del dell, softmax_Z
    # grad of X_s, used in: Z = X_s W_tokᵀ
    dX_s = _rows_matmul(dZ, W_tok)  # (..., n_T - 1, d)
    # grad of ln_f_Y, used in: X_s = ln_f_Y[:n_T − 1]
    dln_f_Y = _pad_rows(dX_s, n_T)  # (..., n_T, d)
    del dX_s
    # fused: dln_f_Xbar, t1, dln_f_sigma, dln_f_var, dln_f_Xc, dln_f_mu, dX_L (one pass over the rows, _tied_backward_11_rows)
    dX_L = _tied_backward_11(dln_f_Y, ln_f_w, ln_f_sigma, ln_f_Xbar, d)  # (..., n_T, d)
    del ln_f_sigma
    # grad of X, used in: X_L = blocks(X)
    dX = blocks.backward(dX_L)  # (..., n_T, d)
    del dX_L
    # grad of W_tok, used in: X = ohe(idx) W_tok + W_pos[:n_T]; Z = X_s W_tokᵀ
    dW_tok = _scatter_add_rows(idx, dX, n_vocab, into=dZ.reshape(-1, n_vocab).T @ X_s.reshape(-1, d), fresh=True)  # (n_vocab, d)
    del X_s, dZ, idx
    # grad of W_pos, used in: X = ohe(idx) W_tok + W_pos[:n_T]
    dW_pos = _pad_rows(dX.reshape(-1, n_T, d).sum(axis=0), n_context)  # (n_context, d)
    del dX
    # fused: dln_f_w, dln_f_b (one pass over the rows, _tied_backward_12_rows)
    dln_f_w, dln_f_b = _tied_backward_12(dln_f_Y, ln_f_Xbar, d)  # (d,), (d,)
    del dln_f_Y, ln_f_Xbar
    return {
        "W_tok": dW_tok.astype(dtype, copy=False),
        "W_pos": dW_pos.astype(dtype, copy=False),
        "ln_f_w": dln_f_w.astype(dtype, copy=False),
        "ln_f_b": dln_f_b.astype(dtype, copy=False),
    }


def _tied_logits_forward(idx, W_tok, W_pos, ln_f_w, ln_f_b, *, eps=1e-05, blocks):
    """GPT-2 (tied logits), logits: returns ``(out, cache)``.

    idx: integer input (n_T,): token indices
    W_tok: parameter (n_vocab, d): wte
    W_pos: parameter (n_context, d): wpe
    ln_f_w: parameter (d,)
    ln_f_b: parameter (d,)
    eps: configuration, default 1e-05: LayerNorm epsilon
    blocks: configuration, required: the gpt2_block stack
    """
    idx = np.asarray(idx)
    W_tok = np.asarray(W_tok)
    W_pos = np.asarray(W_pos)
    ln_f_w = np.asarray(ln_f_w)
    ln_f_b = np.asarray(ln_f_b)
    dtype, compute_dtype = _check_dtypes({"W_tok": W_tok, "W_pos": W_pos, "ln_f_w": ln_f_w, "ln_f_b": ln_f_b}, {"idx": idx})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        W_tok = W_tok.astype(compute_dtype, copy=False)
        W_pos = W_pos.astype(compute_dtype, copy=False)
        ln_f_w = ln_f_w.astype(compute_dtype, copy=False)
        ln_f_b = ln_f_b.astype(compute_dtype, copy=False)
    eps = _check_number("eps", eps)
    dims = {}
    _check_shape("idx", idx, ("n_T",), dims, batched=True)
    _check_shape("W_tok", W_tok, ("n_vocab", "d"), dims, batched=False)
    _check_shape("W_pos", W_pos, ("n_context", "d"), dims, batched=False)
    _check_shape("ln_f_w", ln_f_w, ("d",), dims, batched=False)
    _check_shape("ln_f_b", ln_f_b, ("d",), dims, batched=False)
    n_T, n_vocab, d, n_context = dims["n_T"], dims["n_vocab"], dims["d"], dims["n_context"]
    if not (n_T <= n_context):
        raise ValueError('embedding: n_T must be at most n_context; got ' + f"n_T={n_T}, n_context={n_context}")
    _check_indices("idx", idx, n_vocab)
    X = W_tok[idx] + W_pos[..., :n_T, :]  # (..., n_T, d)
    X_L = blocks.forward(X)  # (..., n_T, d)
    del X
    ln_f_Y = _tied_logits_forward_14(X_L, ln_f_w, ln_f_b, d, eps)  # (..., n_T, d)
    del X_L
    logits = _rows_matmul(ln_f_Y, W_tok.swapaxes(-1, -2))  # (..., n_T, n_vocab)
    del ln_f_Y
    cache = {"out_shape": logits.shape, "out_dtype": logits.dtype, "dtype": dtype}
    return logits.astype(dtype, copy=False), cache


def _untied_forward(idx, W_tok, W_pos, ln_f_w, ln_f_b, W_head, b_head, *, eps=1e-05, blocks):
    """GPT-2 (untied logits), loss: returns ``(out, cache)``.

    idx: integer input (n_T,): token indices
    W_tok: parameter (n_vocab, d): wte
    W_pos: parameter (n_context, d): wpe
    ln_f_w: parameter (d,)
    ln_f_b: parameter (d,)
    W_head: parameter (n_vocab, d): lm_head
    b_head: parameter (n_vocab,)
    eps: configuration, default 1e-05: LayerNorm epsilon
    blocks: configuration, required: the gpt2_block stack
    """
    idx = np.asarray(idx)
    W_tok = np.asarray(W_tok)
    W_pos = np.asarray(W_pos)
    ln_f_w = np.asarray(ln_f_w)
    ln_f_b = np.asarray(ln_f_b)
    W_head = np.asarray(W_head)
    b_head = np.asarray(b_head)
    dtype, compute_dtype = _check_dtypes({"W_tok": W_tok, "W_pos": W_pos, "ln_f_w": ln_f_w, "ln_f_b": ln_f_b, "W_head": W_head, "b_head": b_head}, {"idx": idx})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        W_tok = W_tok.astype(compute_dtype, copy=False)
        W_pos = W_pos.astype(compute_dtype, copy=False)
        ln_f_w = ln_f_w.astype(compute_dtype, copy=False)
        ln_f_b = ln_f_b.astype(compute_dtype, copy=False)
        W_head = W_head.astype(compute_dtype, copy=False)
        b_head = b_head.astype(compute_dtype, copy=False)
    eps = _check_number("eps", eps)
    dims = {}
    _check_shape("idx", idx, ("n_T",), dims, batched=True)
    _check_shape("W_tok", W_tok, ("n_vocab", "d"), dims, batched=False)
    _check_shape("W_pos", W_pos, ("n_context", "d"), dims, batched=False)
    _check_shape("ln_f_w", ln_f_w, ("d",), dims, batched=False)
    _check_shape("ln_f_b", ln_f_b, ("d",), dims, batched=False)
    _check_shape("W_head", W_head, ("n_vocab", "d"), dims, batched=False)
    _check_shape("b_head", b_head, ("n_vocab",), dims, batched=False)
    n_T, n_vocab, d, n_context = dims["n_T"], dims["n_vocab"], dims["d"], dims["n_context"]
    n_batch = math.prod(dims["..."])  # sequences in the batch
    if n_batch < 1:
        raise ValueError(f"the batch is empty (leading dimensions {dims['...']}): gpt2_untied_loss needs at least one sequence")
    if not (n_T <= n_context):
        raise ValueError('embedding: n_T must be at most n_context; got ' + f"n_T={n_T}, n_context={n_context}")
    if not (n_T >= 2):
        raise ValueError('cross_entropy: n_T must be at least 2: position t is scored against token t + 1; got ' + f"n_T={n_T}")
    _check_indices("idx", idx, n_vocab)
    X = W_tok[idx] + W_pos[..., :n_T, :]  # (..., n_T, d)
    X_L = blocks.forward(X)  # (..., n_T, d)
    del X
    ln_f_sigma, ln_f_Xbar, ln_f_Y = _untied_forward_18(X_L, ln_f_w, ln_f_b, d, eps)  # (..., n_T, 1), (..., n_T, d), (..., n_T, d)
    del X_L
    X_s = ln_f_Y[..., :n_T - 1, :]  # (..., n_T - 1, d)
    del ln_f_Y
    Z = _rows_matmul(X_s, W_head.swapaxes(-1, -2))  # (..., n_T - 1, n_vocab), updated in place
    Z += b_head
    softmax_Z = _softmax(Z, False)  # (..., n_T - 1, n_vocab)
    lse_Z = _logsumexp_of_softmax(Z, softmax_Z)  # (..., n_T - 1, 1)
    ell = lse_Z.sum(axis=-2, keepdims=True) - np.take_along_axis(Z, idx[..., 1:][..., None], axis=-1).sum(axis=-2, keepdims=True)  # (..., 1, 1)
    del Z, lse_Z
    loss = (1/(n_batch*(n_T - 1)) * ell.reshape(-1, 1, 1).sum(axis=0)).reshape(())  # ()
    del ell
    cache = {"idx": idx, "ln_f_w": ln_f_w, "W_head": W_head, "ln_f_sigma": ln_f_sigma, "ln_f_Xbar": ln_f_Xbar, "X_s": X_s, "softmax_Z": softmax_Z, "blocks": blocks, "n_T": n_T, "n_vocab": n_vocab, "d": d, "n_context": n_context, "n_batch": n_batch, "out_shape": loss.shape, "out_dtype": loss.dtype, "dtype": dtype}
    return loss.astype(dtype, copy=False), cache


def _untied_backward(grad_out, cache):
    """Gradients of the loss given ``grad_out`` = ∂L/∂loss: a dict keyed by argument name."""
    idx = cache["idx"]
    ln_f_w = cache["ln_f_w"]
    W_head = cache["W_head"]
    ln_f_sigma = cache["ln_f_sigma"]
    ln_f_Xbar = cache["ln_f_Xbar"]
    X_s = cache["X_s"]
    softmax_Z = cache["softmax_Z"]
    blocks = cache["blocks"]
    n_T = cache["n_T"]
    n_vocab = cache["n_vocab"]
    d = cache["d"]
    n_context = cache["n_context"]
    n_batch = cache["n_batch"]
    dtype = cache["dtype"]
    grad_out = np.asarray(grad_out)
    if grad_out.shape != cache["out_shape"]:
        raise ValueError(f"grad_out: expected shape {cache['out_shape']}, got {grad_out.shape}")
    grad_out = grad_out.astype(cache["out_dtype"], copy=False)  # the dtype the forward computed in
    del cache  # each array is released after its last use below
    # grad of ell, used in: loss = (1/(n_batch (n_T − 1))) Σ_batch ell
    dell = 1/(n_batch*(n_T - 1)) * grad_out  # ()
    # grad of Z, used in: ell = 1ᵀ lse(Z) − 1ᵀ pick(Z, idx[1:])
    dZ = _add_at_targets(dell * softmax_Z, idx[..., 1:], -dell, fresh=True)  # (..., n_T - 1, n_vocab)
    del dell, softmax_Z
    # grad of X_s, used in: Z = X_s W_headᵀ + 1 b_headᵀ
    dX_s = _rows_matmul(dZ, W_head)  # (..., n_T - 1, d)
    # grad of ln_f_Y, used in: X_s = ln_f_Y[:n_T − 1]
    dln_f_Y = _pad_rows(dX_s, n_T)  # (..., n_T, d)
    del dX_s
    # fused: dln_f_Xbar, t1, dln_f_sigma, dln_f_var, dln_f_Xc, dln_f_mu, dX_L (one pass over the rows, _untied_backward_15_rows)
    dX_L = _untied_backward_15(dln_f_Y, ln_f_w, ln_f_sigma, ln_f_Xbar, d)  # (..., n_T, d)
    del ln_f_sigma
    # grad of X, used in: X_L = blocks(X)
    dX = blocks.backward(dX_L)  # (..., n_T, d)
    del dX_L
    # grad of W_tok, used in: X = ohe(idx) W_tok + W_pos[:n_T]
    dW_tok = _scatter_add_rows(idx, dX, n_vocab)  # (n_vocab, d)
    del idx
    # grad of W_pos, used in: X = ohe(idx) W_tok + W_pos[:n_T]
    dW_pos = _pad_rows(dX.reshape(-1, n_T, d).sum(axis=0), n_context)  # (n_context, d)
    del dX
    # fused: dln_f_w, dln_f_b (one pass over the rows, _untied_backward_16_rows)
    dln_f_w, dln_f_b = _untied_backward_16(dln_f_Y, ln_f_Xbar, d)  # (d,), (d,)
    del dln_f_Y, ln_f_Xbar
    # grad of W_head, used in: Z = X_s W_headᵀ + 1 b_headᵀ
    dW_head = dZ.reshape(-1, n_vocab).T @ X_s.reshape(-1, d)  # (n_vocab, d)
    del X_s
    # fused: db_head (one pass over the rows, _untied_backward_17_rows)
    db_head = _untied_backward_17(dZ, n_vocab)  # (n_vocab,)
    del dZ
    return {
        "W_tok": dW_tok.astype(dtype, copy=False),
        "W_pos": dW_pos.astype(dtype, copy=False),
        "ln_f_w": dln_f_w.astype(dtype, copy=False),
        "ln_f_b": dln_f_b.astype(dtype, copy=False),
        "W_head": dW_head.astype(dtype, copy=False),
        "b_head": db_head.astype(dtype, copy=False),
    }


def _untied_logits_forward(idx, W_tok, W_pos, ln_f_w, ln_f_b, W_head, b_head, *, eps=1e-05, blocks):
    """GPT-2 (untied logits), logits: returns ``(out, cache)``.

    idx: integer input (n_T,): token indices
    W_tok: parameter (n_vocab, d): wte
    W_pos: parameter (n_context, d): wpe
    ln_f_w: parameter (d,)
    ln_f_b: parameter (d,)
    W_head: parameter (n_vocab, d): lm_head
    b_head: parameter (n_vocab,)
    eps: configuration, default 1e-05: LayerNorm epsilon
    blocks: configuration, required: the gpt2_block stack
    """
    idx = np.asarray(idx)
    W_tok = np.asarray(W_tok)
    W_pos = np.asarray(W_pos)
    ln_f_w = np.asarray(ln_f_w)
    ln_f_b = np.asarray(ln_f_b)
    W_head = np.asarray(W_head)
    b_head = np.asarray(b_head)
    dtype, compute_dtype = _check_dtypes({"W_tok": W_tok, "W_pos": W_pos, "ln_f_w": ln_f_w, "ln_f_b": ln_f_b, "W_head": W_head, "b_head": b_head}, {"idx": idx})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        W_tok = W_tok.astype(compute_dtype, copy=False)
        W_pos = W_pos.astype(compute_dtype, copy=False)
        ln_f_w = ln_f_w.astype(compute_dtype, copy=False)
        ln_f_b = ln_f_b.astype(compute_dtype, copy=False)
        W_head = W_head.astype(compute_dtype, copy=False)
        b_head = b_head.astype(compute_dtype, copy=False)
    eps = _check_number("eps", eps)
    dims = {}
    _check_shape("idx", idx, ("n_T",), dims, batched=True)
    _check_shape("W_tok", W_tok, ("n_vocab", "d"), dims, batched=False)
    _check_shape("W_pos", W_pos, ("n_context", "d"), dims, batched=False)
    _check_shape("ln_f_w", ln_f_w, ("d",), dims, batched=False)
    _check_shape("ln_f_b", ln_f_b, ("d",), dims, batched=False)
    _check_shape("W_head", W_head, ("n_vocab", "d"), dims, batched=False)
    _check_shape("b_head", b_head, ("n_vocab",), dims, batched=False)
    n_T, n_vocab, d, n_context = dims["n_T"], dims["n_vocab"], dims["d"], dims["n_context"]
    if not (n_T <= n_context):
        raise ValueError('embedding: n_T must be at most n_context; got ' + f"n_T={n_T}, n_context={n_context}")
    _check_indices("idx", idx, n_vocab)
    X = W_tok[idx] + W_pos[..., :n_T, :]  # (..., n_T, d)
    X_L = blocks.forward(X)  # (..., n_T, d)
    del X
    ln_f_Y = _untied_logits_forward_19(X_L, ln_f_w, ln_f_b, d, eps)  # (..., n_T, d)
    del X_L
    logits = _rows_matmul(ln_f_Y, W_head.swapaxes(-1, -2)) + b_head  # (..., n_T, n_vocab)
    del ln_f_Y
    cache = {"out_shape": logits.shape, "out_dtype": logits.dtype, "dtype": dtype}
    return logits.astype(dtype, copy=False), cache


def _lora_block_forward(X, ln_1_w, ln_1_b, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, ln_2_w, ln_2_b, W_1, b_1, W_2, b_2, A_q, B_q, A_k, B_k, A_v, B_v, A_o, B_o, A_fc, B_fc, A_proj, B_proj, *, n_heads, alpha, eps=1e-05, activation='gelu_tanh'):
    """GPT-2 block with LoRA adapters: returns ``(out, cache)``.

    X: input (..., n_T, d)
    ln_1_w: parameter, frozen (d,)
    ln_1_b: parameter, frozen (d,)
    W_q: parameter, frozen (d, d)
    b_q: parameter, frozen (d,)
    W_k: parameter, frozen (d, d)
    b_k: parameter, frozen (d,)
    W_v: parameter, frozen (d, d)
    b_v: parameter, frozen (d,)
    W_o: parameter, frozen (d, d)
    b_o: parameter, frozen (d,)
    ln_2_w: parameter, frozen (d,)
    ln_2_b: parameter, frozen (d,)
    W_1: parameter, frozen (d, d_ff)
    b_1: parameter, frozen (d_ff,)
    W_2: parameter, frozen (d_ff, d)
    b_2: parameter, frozen (d,)
    n_heads: configuration, required: attention heads
    alpha: configuration, required: LoRA scale numerator: adapters are multiplied by alpha / r
    eps: configuration, default 1e-05: LayerNorm epsilon
    activation: configuration, default 'gelu_tanh' (one of 'gelu_tanh', 'gelu', 'relu'): MLP activation
    A_q: parameter (d, r): LoRA down projection of q
    B_q: parameter (r, d): LoRA up projection of q
    A_k: parameter (d, r): LoRA down projection of k
    B_k: parameter (r, d): LoRA up projection of k
    A_v: parameter (d, r): LoRA down projection of v
    B_v: parameter (r, d): LoRA up projection of v
    A_o: parameter (d, r): LoRA down projection of o
    B_o: parameter (r, d): LoRA up projection of o
    A_fc: parameter (d, r): LoRA down projection of fc
    B_fc: parameter (r, d_ff): LoRA up projection of fc
    A_proj: parameter (d_ff, r): LoRA down projection of proj
    B_proj: parameter (r, d): LoRA up projection of proj
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
    A_q = np.asarray(A_q)
    B_q = np.asarray(B_q)
    A_k = np.asarray(A_k)
    B_k = np.asarray(B_k)
    A_v = np.asarray(A_v)
    B_v = np.asarray(B_v)
    A_o = np.asarray(A_o)
    B_o = np.asarray(B_o)
    A_fc = np.asarray(A_fc)
    B_fc = np.asarray(B_fc)
    A_proj = np.asarray(A_proj)
    B_proj = np.asarray(B_proj)
    dtype, compute_dtype = _check_dtypes({"X": X, "ln_1_w": ln_1_w, "ln_1_b": ln_1_b, "W_q": W_q, "b_q": b_q, "W_k": W_k, "b_k": b_k, "W_v": W_v, "b_v": b_v, "W_o": W_o, "b_o": b_o, "ln_2_w": ln_2_w, "ln_2_b": ln_2_b, "W_1": W_1, "b_1": b_1, "W_2": W_2, "b_2": b_2, "A_q": A_q, "B_q": B_q, "A_k": A_k, "B_k": B_k, "A_v": A_v, "B_v": B_v, "A_o": A_o, "B_o": B_o, "A_fc": A_fc, "B_fc": B_fc, "A_proj": A_proj, "B_proj": B_proj}, {})
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
        A_q = A_q.astype(compute_dtype, copy=False)
        B_q = B_q.astype(compute_dtype, copy=False)
        A_k = A_k.astype(compute_dtype, copy=False)
        B_k = B_k.astype(compute_dtype, copy=False)
        A_v = A_v.astype(compute_dtype, copy=False)
        B_v = B_v.astype(compute_dtype, copy=False)
        A_o = A_o.astype(compute_dtype, copy=False)
        B_o = B_o.astype(compute_dtype, copy=False)
        A_fc = A_fc.astype(compute_dtype, copy=False)
        B_fc = B_fc.astype(compute_dtype, copy=False)
        A_proj = A_proj.astype(compute_dtype, copy=False)
        B_proj = B_proj.astype(compute_dtype, copy=False)
    n_heads = _check_count("n_heads", n_heads)
    alpha = _check_number("alpha", alpha)
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
    _check_shape("A_q", A_q, ("d", "r"), dims, batched=False)
    _check_shape("B_q", B_q, ("r", "d"), dims, batched=False)
    _check_shape("A_k", A_k, ("d", "r"), dims, batched=False)
    _check_shape("B_k", B_k, ("r", "d"), dims, batched=False)
    _check_shape("A_v", A_v, ("d", "r"), dims, batched=False)
    _check_shape("B_v", B_v, ("r", "d"), dims, batched=False)
    _check_shape("A_o", A_o, ("d", "r"), dims, batched=False)
    _check_shape("B_o", B_o, ("r", "d"), dims, batched=False)
    _check_shape("A_fc", A_fc, ("d", "r"), dims, batched=False)
    _check_shape("B_fc", B_fc, ("r", "d_ff"), dims, batched=False)
    _check_shape("A_proj", A_proj, ("d_ff", "r"), dims, batched=False)
    _check_shape("B_proj", B_proj, ("r", "d"), dims, batched=False)
    d, d_ff, r = dims["d"], dims["d_ff"], dims["r"]
    if not (d % n_heads == 0):
        raise ValueError('attention: d must be divisible by n_heads; got ' + f"d={d}, n_heads={n_heads}")
    ln_1_Xc, ln_1_var, ln_1_sigma, ln_1_Y = _lora_block_forward_23(X, ln_1_w, ln_1_b, d, eps)  # (..., n_T, d), (..., n_T, 1), (..., n_T, 1), (..., n_T, d)
    attn_Q = _rows_matmul(ln_1_Y, W_q + alpha/r * (A_q @ B_q)) + b_q  # (..., n_T, d)
    attn_K = _rows_matmul(ln_1_Y, W_k + alpha/r * (A_k @ B_k)) + b_k  # (..., n_T, d)
    attn_V = _rows_matmul(ln_1_Y, W_v + alpha/r * (A_v @ B_v)) + b_v  # (..., n_T, d)
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
    proj_Y = _rows_matmul(attn_A, W_o + alpha/r * (A_o @ B_o))  # (..., n_T, d), updated in place
    proj_Y += b_o
    a5, ln_2_Xc, ln_2_var, ln_2_sigma, ln_2_Y = _lora_block_forward_24(X, proj_Y, ln_2_w, ln_2_b, d, eps)  # (..., n_T, d), (..., n_T, d), (..., n_T, 1), (..., n_T, 1), (..., n_T, d)
    del proj_Y
    mlp_H = _rows_matmul(ln_2_Y, W_1 + alpha/r * (A_fc @ B_fc)) + b_1  # (..., n_T, d_ff)
    mlp_A = _ACTIVATION[activation](mlp_H)  # (..., n_T, d_ff)
    mlp_Y = _rows_matmul(mlp_A, W_2 + alpha/r * (A_proj @ B_proj))  # (..., n_T, d), updated in place
    mlp_Y += b_2
    Y = _lora_block_forward_25(a5, mlp_Y, d)  # (..., n_T, d)
    del a5, mlp_Y
    cache = {"ln_1_w": ln_1_w, "W_q": W_q, "W_k": W_k, "W_v": W_v, "W_o": W_o, "ln_2_w": ln_2_w, "W_1": W_1, "W_2": W_2, "A_q": A_q, "B_q": B_q, "A_k": A_k, "B_k": B_k, "A_v": A_v, "B_v": B_v, "A_o": A_o, "B_o": B_o, "A_fc": A_fc, "B_fc": B_fc, "A_proj": A_proj, "B_proj": B_proj, "ln_1_Xc": ln_1_Xc, "ln_1_var": ln_1_var, "ln_1_sigma": ln_1_sigma, "ln_1_Y": ln_1_Y, "attn_Q_h": attn_Q_h, "attn_K_h": attn_K_h, "attn_V_h": attn_V_h, "attn_P": attn_P, "attn_A": attn_A, "ln_2_Xc": ln_2_Xc, "ln_2_var": ln_2_var, "ln_2_sigma": ln_2_sigma, "ln_2_Y": ln_2_Y, "mlp_H": mlp_H, "mlp_A": mlp_A, "n_heads": n_heads, "alpha": alpha, "eps": eps, "activation": activation, "d": d, "d_ff": d_ff, "r": r, "out_shape": Y.shape, "out_dtype": Y.dtype, "dtype": dtype}
    return Y.astype(dtype, copy=False), cache


def _lora_block_backward(grad_out, cache):
    """Gradients of the loss given ``grad_out`` = ∂L/∂Y: a dict keyed by argument name."""
    ln_1_w = cache["ln_1_w"]
    W_q = cache["W_q"]
    W_k = cache["W_k"]
    W_v = cache["W_v"]
    W_o = cache["W_o"]
    ln_2_w = cache["ln_2_w"]
    W_1 = cache["W_1"]
    W_2 = cache["W_2"]
    A_q = cache["A_q"]
    B_q = cache["B_q"]
    A_k = cache["A_k"]
    B_k = cache["B_k"]
    A_v = cache["A_v"]
    B_v = cache["B_v"]
    A_o = cache["A_o"]
    B_o = cache["B_o"]
    A_fc = cache["A_fc"]
    B_fc = cache["B_fc"]
    A_proj = cache["A_proj"]
    B_proj = cache["B_proj"]
    ln_1_Xc = cache["ln_1_Xc"]
    ln_1_var = cache["ln_1_var"]
    ln_1_sigma = cache["ln_1_sigma"]
    ln_1_Y = cache["ln_1_Y"]
    attn_Q_h = cache["attn_Q_h"]
    attn_K_h = cache["attn_K_h"]
    attn_V_h = cache["attn_V_h"]
    attn_P = cache["attn_P"]
    attn_A = cache["attn_A"]
    ln_2_Xc = cache["ln_2_Xc"]
    ln_2_var = cache["ln_2_var"]
    ln_2_sigma = cache["ln_2_sigma"]
    ln_2_Y = cache["ln_2_Y"]
    mlp_H = cache["mlp_H"]
    mlp_A = cache["mlp_A"]
    n_heads = cache["n_heads"]
    alpha = cache["alpha"]
    eps = cache["eps"]
    activation = cache["activation"]
    d = cache["d"]
    d_ff = cache["d_ff"]
    r = cache["r"]
    dtype = cache["dtype"]
    if grad_out.shape != cache["out_shape"]:
        raise ValueError(f"grad_out: expected shape {cache['out_shape']}, got {grad_out.shape}")
    grad_out = grad_out.astype(cache["out_dtype"], copy=False)  # the dtype the forward computed in
    del cache  # each array is released after its last use below
    # fused: dmlp_Y (one pass over the rows, _lora_block_backward_20_rows)
    dmlp_Y = _lora_block_backward_20(grad_out, d)  # (..., n_T, d)
    # grad of mlp_A, used in: mlp_Y = mlp_A (W_2 + (alpha/r) A_proj B_proj) + 1 b_2ᵀ
    dmlp_A = _rows_matmul(dmlp_Y, W_2.swapaxes(-1, -2) + alpha/r * (B_proj.swapaxes(-1, -2) @ A_proj.swapaxes(-1, -2)))  # (..., n_T, d_ff)
    # grad of mlp_H, used in: mlp_A = activation(mlp_H)
    dmlp_H = dmlp_A  # (..., n_T, d_ff), dmlp_A's array, updated in place
    dmlp_H = _ACTIVATION_GRAD[activation](mlp_H, times=dmlp_H)
    del dmlp_A, mlp_H
    # grad of ln_2_Y, used in: mlp_H = ln_2_Y (W_1 + (alpha/r) A_fc B_fc) + 1 b_1ᵀ
    dln_2_Y = _rows_matmul(dmlp_H, W_1.swapaxes(-1, -2) + alpha/r * (B_fc.swapaxes(-1, -2) @ A_fc.swapaxes(-1, -2)))  # (..., n_T, d)
    # fused: dln_2_Xbar, dln_2_sigma, dln_2_var, dln_2_Xc, dln_2_mu, da5, dproj_Y (one pass over the rows, _lora_block_backward_21_rows)
    da5, dproj_Y = _lora_block_backward_21(dln_2_Y, ln_2_w, ln_2_Xc, ln_2_sigma, ln_2_var, grad_out, d, eps)  # (..., n_T, d), (..., n_T, d)
    del dln_2_Y, ln_2_Xc, ln_2_sigma, ln_2_var
    # grad of attn_A, used in: proj_Y = attn_A (W_o + (alpha/r) A_o B_o) + 1 b_oᵀ
    dattn_A = _rows_matmul(dproj_Y, W_o.swapaxes(-1, -2) + alpha/r * (B_o.swapaxes(-1, -2) @ A_o.swapaxes(-1, -2)))  # (..., n_T, d)
    # common subexpression
    t7 = _split_heads(dattn_A, n_heads)  # (..., n_heads, n_T, d/n_heads)
    del dattn_A
    # grad of attn_P, used in: attn_A = merge_h(attn_P attn_V_h)
    dattn_P = t7 @ attn_V_h.swapaxes(-1, -2)  # (..., n_heads, n_T, n_T)
    del attn_V_h
    # grad of attn_S, used in: attn_P = softmax[True](attn_S)
    dattn_S = dattn_P  # (..., n_heads, n_T, n_T), dattn_P's array, updated in place
    dattn_S -= _row_dot(attn_P, dattn_P)
    dattn_S *= attn_P
    del dattn_P
    # grad of attn_V_h, used in: attn_A = merge_h(attn_P attn_V_h)
    dattn_V_h = attn_P.swapaxes(-1, -2) @ t7  # (..., n_heads, n_T, d/n_heads)
    del attn_P, t7
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
    # grad of ln_1_Y, used in: attn_Q = ln_1_Y (W_q + (alpha/r) A_q B_q) + 1 b_qᵀ; attn_K = ln_1_Y (W_k + (alpha/r) A_k B_k) + 1 b_kᵀ; attn_V = ln_1_Y (W_v + (alpha/r) A_v B_v) + 1 b_vᵀ
    dln_1_Y = _rows_matmul(dattn_V, W_v.swapaxes(-1, -2) + alpha/r * (B_v.swapaxes(-1, -2) @ A_v.swapaxes(-1, -2)))  # (..., n_T, d), updated in place
    dln_1_Y += _rows_matmul(dattn_K, W_k.swapaxes(-1, -2) + alpha/r * (B_k.swapaxes(-1, -2) @ A_k.swapaxes(-1, -2)))
    dln_1_Y += _rows_matmul(dattn_Q, W_q.swapaxes(-1, -2) + alpha/r * (B_q.swapaxes(-1, -2) @ A_q.swapaxes(-1, -2)))
    # fused: dln_1_Xbar, dln_1_sigma, dln_1_var, dln_1_Xc, dln_1_mu, dX (one pass over the rows, _lora_block_backward_22_rows)
    dX = _lora_block_backward_22(dln_1_Y, ln_1_w, ln_1_Xc, ln_1_sigma, ln_1_var, da5, d, eps)  # (..., n_T, d)
    del da5, dln_1_Y, ln_1_Xc, ln_1_sigma, ln_1_var
    # common subexpression
    t4 = ln_1_Y.reshape(-1, d).T @ dattn_Q.reshape(-1, d)  # (d, d)
    del dattn_Q
    # grad of A_q, used in: attn_Q = ln_1_Y (W_q + (alpha/r) A_q B_q) + 1 b_qᵀ
    dA_q = t4 @ B_q.swapaxes(-1, -2)  # (d, r), updated in place
    dA_q *= alpha/r
    # grad of B_q, used in: attn_Q = ln_1_Y (W_q + (alpha/r) A_q B_q) + 1 b_qᵀ
    dB_q = A_q.swapaxes(-1, -2) @ t4  # (r, d), updated in place
    dB_q *= alpha/r
    del t4
    # common subexpression
    t5 = ln_1_Y.reshape(-1, d).T @ dattn_K.reshape(-1, d)  # (d, d)
    del dattn_K
    # grad of A_k, used in: attn_K = ln_1_Y (W_k + (alpha/r) A_k B_k) + 1 b_kᵀ
    dA_k = t5 @ B_k.swapaxes(-1, -2)  # (d, r), updated in place
    dA_k *= alpha/r
    # grad of B_k, used in: attn_K = ln_1_Y (W_k + (alpha/r) A_k B_k) + 1 b_kᵀ
    dB_k = A_k.swapaxes(-1, -2) @ t5  # (r, d), updated in place
    dB_k *= alpha/r
    del t5
    # common subexpression
    t3 = ln_1_Y.reshape(-1, d).T @ dattn_V.reshape(-1, d)  # (d, d)
    del dattn_V, ln_1_Y
    # grad of A_v, used in: attn_V = ln_1_Y (W_v + (alpha/r) A_v B_v) + 1 b_vᵀ
    dA_v = t3 @ B_v.swapaxes(-1, -2)  # (d, r), updated in place
    dA_v *= alpha/r
    # grad of B_v, used in: attn_V = ln_1_Y (W_v + (alpha/r) A_v B_v) + 1 b_vᵀ
    dB_v = A_v.swapaxes(-1, -2) @ t3  # (r, d), updated in place
    dB_v *= alpha/r
    del t3
    # common subexpression
    t6 = attn_A.reshape(-1, d).T @ dproj_Y.reshape(-1, d)  # (d, d)
    del attn_A, dproj_Y
    # grad of A_o, used in: proj_Y = attn_A (W_o + (alpha/r) A_o B_o) + 1 b_oᵀ
    dA_o = t6 @ B_o.swapaxes(-1, -2)  # (d, r), updated in place
    dA_o *= alpha/r
    # grad of B_o, used in: proj_Y = attn_A (W_o + (alpha/r) A_o B_o) + 1 b_oᵀ
    dB_o = A_o.swapaxes(-1, -2) @ t6  # (r, d), updated in place
    dB_o *= alpha/r
    del t6
    # common subexpression
    t2 = ln_2_Y.reshape(-1, d).T @ dmlp_H.reshape(-1, d_ff)  # (d, d_ff)
    del dmlp_H, ln_2_Y
    # grad of A_fc, used in: mlp_H = ln_2_Y (W_1 + (alpha/r) A_fc B_fc) + 1 b_1ᵀ
    dA_fc = t2 @ B_fc.swapaxes(-1, -2)  # (d, r), updated in place
    dA_fc *= alpha/r
    # grad of B_fc, used in: mlp_H = ln_2_Y (W_1 + (alpha/r) A_fc B_fc) + 1 b_1ᵀ
    dB_fc = A_fc.swapaxes(-1, -2) @ t2  # (r, d_ff), updated in place
    dB_fc *= alpha/r
    del t2
    # common subexpression
    t1 = mlp_A.reshape(-1, d_ff).T @ dmlp_Y.reshape(-1, d)  # (d_ff, d)
    del dmlp_Y, mlp_A
    # grad of A_proj, used in: mlp_Y = mlp_A (W_2 + (alpha/r) A_proj B_proj) + 1 b_2ᵀ
    dA_proj = t1 @ B_proj.swapaxes(-1, -2)  # (d_ff, r), updated in place
    dA_proj *= alpha/r
    # grad of B_proj, used in: mlp_Y = mlp_A (W_2 + (alpha/r) A_proj B_proj) + 1 b_2ᵀ
    dB_proj = A_proj.swapaxes(-1, -2) @ t1  # (r, d), updated in place
    dB_proj *= alpha/r
    del t1
    return {
        "X": dX.astype(dtype, copy=False),
        "A_q": dA_q.astype(dtype, copy=False),
        "B_q": dB_q.astype(dtype, copy=False),
        "A_k": dA_k.astype(dtype, copy=False),
        "B_k": dB_k.astype(dtype, copy=False),
        "A_v": dA_v.astype(dtype, copy=False),
        "B_v": dB_v.astype(dtype, copy=False),
        "A_o": dA_o.astype(dtype, copy=False),
        "B_o": dB_o.astype(dtype, copy=False),
        "A_fc": dA_fc.astype(dtype, copy=False),
        "B_fc": dB_fc.astype(dtype, copy=False),
        "A_proj": dA_proj.astype(dtype, copy=False),
        "B_proj": dB_proj.astype(dtype, copy=False),
    }


def _lora_tied_forward(idx, W_tok, W_pos, ln_f_w, ln_f_b, A_head, B_head, *, alpha, eps=1e-05, blocks):
    """GPT-2 with LoRA adapters, loss: returns ``(out, cache)``.

    idx: integer input (n_T,)
    W_tok: parameter, frozen (n_vocab, d)
    W_pos: parameter, frozen (n_context, d)
    ln_f_w: parameter, frozen (d,)
    ln_f_b: parameter, frozen (d,)
    alpha: configuration, required: LoRA scale numerator
    eps: configuration, default 1e-05: LayerNorm epsilon
    blocks: configuration, required: the gpt2_lora_block stack
    A_head: parameter (d, r): LoRA down projection of head
    B_head: parameter (r, n_vocab): LoRA up projection of head
    """
    idx = np.asarray(idx)
    W_tok = np.asarray(W_tok)
    W_pos = np.asarray(W_pos)
    ln_f_w = np.asarray(ln_f_w)
    ln_f_b = np.asarray(ln_f_b)
    A_head = np.asarray(A_head)
    B_head = np.asarray(B_head)
    dtype, compute_dtype = _check_dtypes({"W_tok": W_tok, "W_pos": W_pos, "ln_f_w": ln_f_w, "ln_f_b": ln_f_b, "A_head": A_head, "B_head": B_head}, {"idx": idx})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        W_tok = W_tok.astype(compute_dtype, copy=False)
        W_pos = W_pos.astype(compute_dtype, copy=False)
        ln_f_w = ln_f_w.astype(compute_dtype, copy=False)
        ln_f_b = ln_f_b.astype(compute_dtype, copy=False)
        A_head = A_head.astype(compute_dtype, copy=False)
        B_head = B_head.astype(compute_dtype, copy=False)
    alpha = _check_number("alpha", alpha)
    eps = _check_number("eps", eps)
    dims = {}
    _check_shape("idx", idx, ("n_T",), dims, batched=True)
    _check_shape("W_tok", W_tok, ("n_vocab", "d"), dims, batched=False)
    _check_shape("W_pos", W_pos, ("n_context", "d"), dims, batched=False)
    _check_shape("ln_f_w", ln_f_w, ("d",), dims, batched=False)
    _check_shape("ln_f_b", ln_f_b, ("d",), dims, batched=False)
    _check_shape("A_head", A_head, ("d", "r"), dims, batched=False)
    _check_shape("B_head", B_head, ("r", "n_vocab"), dims, batched=False)
    n_T, n_vocab, d, n_context, r = dims["n_T"], dims["n_vocab"], dims["d"], dims["n_context"], dims["r"]
    n_batch = math.prod(dims["..."])  # sequences in the batch
    if n_batch < 1:
        raise ValueError(f"the batch is empty (leading dimensions {dims['...']}): gpt2_lora_tied needs at least one sequence")
    if not (n_T <= n_context):
        raise ValueError('embedding: n_T must be at most n_context; got ' + f"n_T={n_T}, n_context={n_context}")
    if not (n_T >= 2):
        raise ValueError('cross_entropy: n_T must be at least 2: position t is scored against token t + 1; got ' + f"n_T={n_T}")
    _check_indices("idx", idx, n_vocab)
    X = W_tok[idx] + W_pos[..., :n_T, :]  # (..., n_T, d)
    X_L = blocks.forward(X)  # (..., n_T, d)
    del X
    ln_f_Xc, ln_f_var, ln_f_sigma, ln_f_Y = _lora_tied_forward_27(X_L, ln_f_w, ln_f_b, d, eps)  # (..., n_T, d), (..., n_T, 1), (..., n_T, 1), (..., n_T, d)
    del X_L
    X_s = ln_f_Y[..., :n_T - 1, :]  # (..., n_T - 1, d)
    del ln_f_Y
    Z = _rows_matmul(X_s, W_tok.swapaxes(-1, -2) + alpha/r * (A_head @ B_head))  # (..., n_T - 1, n_vocab)
    softmax_Z = _softmax(Z, False)  # (..., n_T - 1, n_vocab)
    lse_Z = _logsumexp_of_softmax(Z, softmax_Z)  # (..., n_T - 1, 1)
    ell = lse_Z.sum(axis=-2, keepdims=True) - np.take_along_axis(Z, idx[..., 1:][..., None], axis=-1).sum(axis=-2, keepdims=True)  # (..., 1, 1)
    del Z, lse_Z
    loss = (1/(n_batch*(n_T - 1)) * ell.reshape(-1, 1, 1).sum(axis=0)).reshape(())  # ()
    del ell
    cache = {"idx": idx, "W_tok": W_tok, "ln_f_w": ln_f_w, "A_head": A_head, "B_head": B_head, "ln_f_Xc": ln_f_Xc, "ln_f_var": ln_f_var, "ln_f_sigma": ln_f_sigma, "X_s": X_s, "softmax_Z": softmax_Z, "alpha": alpha, "eps": eps, "blocks": blocks, "n_T": n_T, "n_vocab": n_vocab, "d": d, "r": r, "n_batch": n_batch, "out_shape": loss.shape, "out_dtype": loss.dtype, "dtype": dtype}
    return loss.astype(dtype, copy=False), cache


def _lora_tied_backward(grad_out, cache):
    """Gradients of the loss given ``grad_out`` = ∂L/∂loss: a dict keyed by argument name."""
    idx = cache["idx"]
    W_tok = cache["W_tok"]
    ln_f_w = cache["ln_f_w"]
    A_head = cache["A_head"]
    B_head = cache["B_head"]
    ln_f_Xc = cache["ln_f_Xc"]
    ln_f_var = cache["ln_f_var"]
    ln_f_sigma = cache["ln_f_sigma"]
    X_s = cache["X_s"]
    softmax_Z = cache["softmax_Z"]
    alpha = cache["alpha"]
    eps = cache["eps"]
    blocks = cache["blocks"]
    n_T = cache["n_T"]
    n_vocab = cache["n_vocab"]
    d = cache["d"]
    r = cache["r"]
    n_batch = cache["n_batch"]
    dtype = cache["dtype"]
    grad_out = np.asarray(grad_out)
    if grad_out.shape != cache["out_shape"]:
        raise ValueError(f"grad_out: expected shape {cache['out_shape']}, got {grad_out.shape}")
    grad_out = grad_out.astype(cache["out_dtype"], copy=False)  # the dtype the forward computed in
    del cache  # each array is released after its last use below
    # grad of ell, used in: loss = (1/(n_batch (n_T − 1))) Σ_batch ell
    dell = 1/(n_batch*(n_T - 1)) * grad_out  # ()
    # grad of Z, used in: ell = 1ᵀ lse(Z) − 1ᵀ pick(Z, idx[1:])
    dZ = _add_at_targets(dell * softmax_Z, idx[..., 1:], -dell, fresh=True)  # (..., n_T - 1, n_vocab)
    del dell, idx, softmax_Z
    # grad of X_s, used in: Z = X_s (W_tokᵀ + (alpha/r) A_head B_head)
    dX_s = _rows_matmul(dZ, W_tok + alpha/r * (B_head.swapaxes(-1, -2) @ A_head.swapaxes(-1, -2)))  # (..., n_T - 1, d)
    # grad of ln_f_Y, used in: X_s = ln_f_Y[:n_T − 1]
    dln_f_Y = _pad_rows(dX_s, n_T)  # (..., n_T, d)
    del dX_s
    # fused: dln_f_Xbar, dln_f_sigma, dln_f_var, dln_f_Xc, dln_f_mu, dX_L (one pass over the rows, _lora_tied_backward_26_rows)
    dX_L = _lora_tied_backward_26(dln_f_Y, ln_f_w, ln_f_Xc, ln_f_sigma, ln_f_var, d, eps)  # (..., n_T, d)
    del dln_f_Y, ln_f_Xc, ln_f_sigma, ln_f_var
    # grad of X, used in: X_L = blocks(X)
    dX = blocks.backward(dX_L)  # (..., n_T, d)
    del dX, dX_L
    # common subexpression
    t1 = X_s.reshape(-1, d).T @ dZ.reshape(-1, n_vocab)  # (d, n_vocab)
    del X_s, dZ
    # grad of A_head, used in: Z = X_s (W_tokᵀ + (alpha/r) A_head B_head)
    dA_head = t1 @ B_head.swapaxes(-1, -2)  # (d, r), updated in place
    dA_head *= alpha/r
    # grad of B_head, used in: Z = X_s (W_tokᵀ + (alpha/r) A_head B_head)
    dB_head = A_head.swapaxes(-1, -2) @ t1  # (r, n_vocab), updated in place
    dB_head *= alpha/r
    del t1
    return {
        "A_head": dA_head.astype(dtype, copy=False),
        "B_head": dB_head.astype(dtype, copy=False),
    }


def _lora_untied_forward(idx, W_tok, W_pos, ln_f_w, ln_f_b, W_head, b_head, A_head, B_head, *, alpha, eps=1e-05, blocks):
    """GPT-2 with LoRA adapters, loss: returns ``(out, cache)``.

    idx: integer input (n_T,)
    W_tok: parameter, frozen (n_vocab, d)
    W_pos: parameter, frozen (n_context, d)
    ln_f_w: parameter, frozen (d,)
    ln_f_b: parameter, frozen (d,)
    W_head: parameter, frozen (n_vocab, d)
    b_head: parameter, frozen (n_vocab,)
    alpha: configuration, required: LoRA scale numerator
    eps: configuration, default 1e-05: LayerNorm epsilon
    blocks: configuration, required: the gpt2_lora_block stack
    A_head: parameter (d, r): LoRA down projection of head
    B_head: parameter (r, n_vocab): LoRA up projection of head
    """
    idx = np.asarray(idx)
    W_tok = np.asarray(W_tok)
    W_pos = np.asarray(W_pos)
    ln_f_w = np.asarray(ln_f_w)
    ln_f_b = np.asarray(ln_f_b)
    W_head = np.asarray(W_head)
    b_head = np.asarray(b_head)
    A_head = np.asarray(A_head)
    B_head = np.asarray(B_head)
    dtype, compute_dtype = _check_dtypes({"W_tok": W_tok, "W_pos": W_pos, "ln_f_w": ln_f_w, "ln_f_b": ln_f_b, "W_head": W_head, "b_head": b_head, "A_head": A_head, "B_head": B_head}, {"idx": idx})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        W_tok = W_tok.astype(compute_dtype, copy=False)
        W_pos = W_pos.astype(compute_dtype, copy=False)
        ln_f_w = ln_f_w.astype(compute_dtype, copy=False)
        ln_f_b = ln_f_b.astype(compute_dtype, copy=False)
        W_head = W_head.astype(compute_dtype, copy=False)
        b_head = b_head.astype(compute_dtype, copy=False)
        A_head = A_head.astype(compute_dtype, copy=False)
        B_head = B_head.astype(compute_dtype, copy=False)
    alpha = _check_number("alpha", alpha)
    eps = _check_number("eps", eps)
    dims = {}
    _check_shape("idx", idx, ("n_T",), dims, batched=True)
    _check_shape("W_tok", W_tok, ("n_vocab", "d"), dims, batched=False)
    _check_shape("W_pos", W_pos, ("n_context", "d"), dims, batched=False)
    _check_shape("ln_f_w", ln_f_w, ("d",), dims, batched=False)
    _check_shape("ln_f_b", ln_f_b, ("d",), dims, batched=False)
    _check_shape("W_head", W_head, ("n_vocab", "d"), dims, batched=False)
    _check_shape("b_head", b_head, ("n_vocab",), dims, batched=False)
    _check_shape("A_head", A_head, ("d", "r"), dims, batched=False)
    _check_shape("B_head", B_head, ("r", "n_vocab"), dims, batched=False)
    n_T, n_vocab, d, n_context, r = dims["n_T"], dims["n_vocab"], dims["d"], dims["n_context"], dims["r"]
    n_batch = math.prod(dims["..."])  # sequences in the batch
    if n_batch < 1:
        raise ValueError(f"the batch is empty (leading dimensions {dims['...']}): gpt2_lora_untied needs at least one sequence")
    if not (n_T <= n_context):
        raise ValueError('embedding: n_T must be at most n_context; got ' + f"n_T={n_T}, n_context={n_context}")
    if not (n_T >= 2):
        raise ValueError('cross_entropy: n_T must be at least 2: position t is scored against token t + 1; got ' + f"n_T={n_T}")
    _check_indices("idx", idx, n_vocab)
    X = W_tok[idx] + W_pos[..., :n_T, :]  # (..., n_T, d)
    X_L = blocks.forward(X)  # (..., n_T, d)
    del X
    ln_f_Xc, ln_f_var, ln_f_sigma, ln_f_Y = _lora_untied_forward_29(X_L, ln_f_w, ln_f_b, d, eps)  # (..., n_T, d), (..., n_T, 1), (..., n_T, 1), (..., n_T, d)
    del X_L
    X_s = ln_f_Y[..., :n_T - 1, :]  # (..., n_T - 1, d)
    del ln_f_Y
    Z = _rows_matmul(X_s, W_head.swapaxes(-1, -2) + alpha/r * (A_head @ B_head))  # (..., n_T - 1, n_vocab), updated in place
    Z += b_head
    softmax_Z = _softmax(Z, False)  # (..., n_T - 1, n_vocab)
    lse_Z = _logsumexp_of_softmax(Z, softmax_Z)  # (..., n_T - 1, 1)
    ell = lse_Z.sum(axis=-2, keepdims=True) - np.take_along_axis(Z, idx[..., 1:][..., None], axis=-1).sum(axis=-2, keepdims=True)  # (..., 1, 1)
    del Z, lse_Z
    loss = (1/(n_batch*(n_T - 1)) * ell.reshape(-1, 1, 1).sum(axis=0)).reshape(())  # ()
    del ell
    cache = {"idx": idx, "ln_f_w": ln_f_w, "W_head": W_head, "A_head": A_head, "B_head": B_head, "ln_f_Xc": ln_f_Xc, "ln_f_var": ln_f_var, "ln_f_sigma": ln_f_sigma, "X_s": X_s, "softmax_Z": softmax_Z, "alpha": alpha, "eps": eps, "blocks": blocks, "n_T": n_T, "n_vocab": n_vocab, "d": d, "r": r, "n_batch": n_batch, "out_shape": loss.shape, "out_dtype": loss.dtype, "dtype": dtype}
    return loss.astype(dtype, copy=False), cache


def _lora_untied_backward(grad_out, cache):
    """Gradients of the loss given ``grad_out`` = ∂L/∂loss: a dict keyed by argument name."""
    idx = cache["idx"]
    ln_f_w = cache["ln_f_w"]
    W_head = cache["W_head"]
    A_head = cache["A_head"]
    B_head = cache["B_head"]
    ln_f_Xc = cache["ln_f_Xc"]
    ln_f_var = cache["ln_f_var"]
    ln_f_sigma = cache["ln_f_sigma"]
    X_s = cache["X_s"]
    softmax_Z = cache["softmax_Z"]
    alpha = cache["alpha"]
    eps = cache["eps"]
    blocks = cache["blocks"]
    n_T = cache["n_T"]
    n_vocab = cache["n_vocab"]
    d = cache["d"]
    r = cache["r"]
    n_batch = cache["n_batch"]
    dtype = cache["dtype"]
    grad_out = np.asarray(grad_out)
    if grad_out.shape != cache["out_shape"]:
        raise ValueError(f"grad_out: expected shape {cache['out_shape']}, got {grad_out.shape}")
    grad_out = grad_out.astype(cache["out_dtype"], copy=False)  # the dtype the forward computed in
    del cache  # each array is released after its last use below
    # grad of ell, used in: loss = (1/(n_batch (n_T − 1))) Σ_batch ell
    dell = 1/(n_batch*(n_T - 1)) * grad_out  # ()
    # grad of Z, used in: ell = 1ᵀ lse(Z) − 1ᵀ pick(Z, idx[1:])
    dZ = _add_at_targets(dell * softmax_Z, idx[..., 1:], -dell, fresh=True)  # (..., n_T - 1, n_vocab)
    del dell, idx, softmax_Z
    # grad of X_s, used in: Z = X_s (W_headᵀ + (alpha/r) A_head B_head) + 1 b_headᵀ
    dX_s = _rows_matmul(dZ, W_head + alpha/r * (B_head.swapaxes(-1, -2) @ A_head.swapaxes(-1, -2)))  # (..., n_T - 1, d)
    # grad of ln_f_Y, used in: X_s = ln_f_Y[:n_T − 1]
    dln_f_Y = _pad_rows(dX_s, n_T)  # (..., n_T, d)
    del dX_s
    # fused: dln_f_Xbar, dln_f_sigma, dln_f_var, dln_f_Xc, dln_f_mu, dX_L (one pass over the rows, _lora_untied_backward_28_rows)
    dX_L = _lora_untied_backward_28(dln_f_Y, ln_f_w, ln_f_Xc, ln_f_sigma, ln_f_var, d, eps)  # (..., n_T, d)
    del dln_f_Y, ln_f_Xc, ln_f_sigma, ln_f_var
    # grad of X, used in: X_L = blocks(X)
    dX = blocks.backward(dX_L)  # (..., n_T, d)
    del dX, dX_L
    # common subexpression
    t1 = X_s.reshape(-1, d).T @ dZ.reshape(-1, n_vocab)  # (d, n_vocab)
    del X_s, dZ
    # grad of A_head, used in: Z = X_s (W_headᵀ + (alpha/r) A_head B_head) + 1 b_headᵀ
    dA_head = t1 @ B_head.swapaxes(-1, -2)  # (d, r), updated in place
    dA_head *= alpha/r
    # grad of B_head, used in: Z = X_s (W_headᵀ + (alpha/r) A_head B_head) + 1 b_headᵀ
    dB_head = A_head.swapaxes(-1, -2) @ t1  # (r, n_vocab), updated in place
    dB_head *= alpha/r
    del t1
    return {
        "A_head": dA_head.astype(dtype, copy=False),
        "B_head": dB_head.astype(dtype, copy=False),
    }


class _Blocks:
    """The stack of blocks: each block's derived forward in turn, then the derived backward
    passes in reverse order (the rule of the ``Repeat`` primitive)."""

    block_forward, block_backward = staticmethod(_block_forward), staticmethod(_block_backward)

    def __init__(self, layers, options):
        self.layers, self.options = layers, options
        self.caches, self.grads = [], []

    def forward(self, X):
        """X in the dtype the model computes in; each block takes and returns its parameters' dtype
        (float16 blocks compute in float32 and round their output, as torch's layers)."""
        self.caches, computed = [], X.dtype
        for layer in self.layers:
            X, cache = self.block_forward(X.astype(layer[0].dtype, copy=False), *layer, **self.options)
            self.caches.append(cache)
        return X.astype(computed, copy=False)

    def backward(self, G):
        self.grads, computed = [], G.dtype
        while self.caches:  # last block first; each cache is dropped once its backward has run
            grads = self.block_backward(G, self.caches.pop())
            G = grads.pop("X")
            self.grads.insert(0, grads)
        return G.astype(computed, copy=False)


class _LoraBlocks(_Blocks):
    """The stack of LoRA blocks (frozen weights, trained adapters)."""

    block_forward, block_backward = staticmethod(_lora_block_forward), staticmethod(_lora_block_backward)


#: gpt2_block argument → (Hugging Face key after ``h.{i}.``, column block of c_attn or None).
_BLOCK_KEYS = {
    "ln_1_w": ("ln_1.weight", None),
    "ln_1_b": ("ln_1.bias", None),
    "W_q": ("attn.c_attn.weight", 0),
    "b_q": ("attn.c_attn.bias", 0),
    "W_k": ("attn.c_attn.weight", 1),
    "b_k": ("attn.c_attn.bias", 1),
    "W_v": ("attn.c_attn.weight", 2),
    "b_v": ("attn.c_attn.bias", 2),
    "W_o": ("attn.c_proj.weight", None),
    "b_o": ("attn.c_proj.bias", None),
    "ln_2_w": ("ln_2.weight", None),
    "ln_2_b": ("ln_2.bias", None),
    "W_1": ("mlp.c_fc.weight", None),
    "b_1": ("mlp.c_fc.bias", None),
    "W_2": ("mlp.c_proj.weight", None),
    "b_2": ("mlp.c_proj.bias", None),
}
#: top-level argument → Hugging Face key.
_TOP_KEYS = {
    "W_tok": "wte.weight",
    "W_pos": "wpe.weight",
    "ln_f_w": "ln_f.weight",
    "ln_f_b": "ln_f.bias",
    "W_head": "lm_head.weight",
    "b_head": "lm_head.bias",
}


def n_layers(params):
    """The number of blocks, read from the ``h.{i}.`` keys."""
    layers = {int(key.split(".")[1]) for key in params if key.startswith("h.")}
    if layers != set(range(len(layers))):
        raise ValueError(f"params: block indices {sorted(layers)} are not 0 … n_layer − 1")
    return len(layers)


def _get(params, key):
    if key not in params:
        raise ValueError(f"params: missing {key!r}")
    return params[key]


def _block_arguments(params, i):
    arguments = []
    for key, part in _BLOCK_KEYS.values():
        value = _get(params, f"h.{i}.{key}")
        if part is not None:  # q, k, v: column blocks of c_attn
            width = value.shape[-1] // 3
            value = value[..., part * width:(part + 1) * width]
        arguments.append(value)
    return arguments


def _block_gradients(grads, i):
    out, fused = {}, {}
    for name, (key, part) in _BLOCK_KEYS.items():
        if part is None:
            out[f"h.{i}.{key}"] = grads[name]
        else:
            fused.setdefault(key, []).append(grads[name])
    for key, parts in fused.items():
        out[f"h.{i}.{key}"] = np.concatenate(parts, axis=-1)
    return out


def _stack(params, n_heads, eps, activation):
    """The model's blocks, each with its layer's arguments."""
    layers = [_block_arguments(params, i) for i in range(n_layers(params))]
    return _Blocks(layers, {"n_heads": n_heads, "eps": eps, "activation": activation})


def _top_arguments(params):
    tied = "lm_head.weight" not in params
    names = [n for n in _TOP_KEYS if not (tied and n in ("W_head", "b_head"))]
    arguments = [_get(params, _TOP_KEYS[n]) for n in names if _TOP_KEYS[n] != "lm_head.bias"]
    if not tied:
        W_head = arguments[-1]
        arguments.append(params.get("lm_head.bias", np.zeros(W_head.shape[0], dtype=W_head.dtype)))
    return tied, arguments


def loss_and_grads(params, idx, *, n_heads, eps=1e-5, activation="gelu_tanh"):
    """Mean next-token cross-entropy of ``idx`` (B, n_T) and the gradient of every parameter.
    """
    return _step(params, idx, n_heads, eps, activation)


def _step(params, idx, n_heads, eps, activation):
    tied, arguments = _top_arguments(params)
    blocks = _stack(params, n_heads, eps, activation)
    forward, backward = (_tied_forward, _tied_backward) if tied else (_untied_forward, _untied_backward)
    loss, cache = forward(idx, *arguments, eps=eps, blocks=blocks)
    grads = backward(np.ones_like(loss), cache)
    out = {key: grads[name] for name, key in _TOP_KEYS.items() if name in grads and key in params}
    for i, layer_grads in enumerate(blocks.grads):
        out.update(_block_gradients(layer_grads, i))
    return loss, out


def logits(params, idx, *, n_heads, eps=1e-5, activation="gelu_tanh"):
    """Logits (B, n_T, n_vocab) of every position of ``idx`` (B, n_T)."""
    tied, arguments = _top_arguments(params)
    blocks = _stack(params, n_heads, eps, activation)
    forward = _tied_logits_forward if tied else _untied_logits_forward
    return forward(idx, *arguments, eps=eps, blocks=blocks)[0]


#: LoRA adapter → the block weight it adapts; adapters are ``h.{i}.lora.{name}.A`` (d_in, r) and
#: ``.B`` (r, d_out), and ``lm_head.lora.A`` / ``.B`` for the logits layer (d → n_vocab).
_LORA_ADAPTERS = [("A_q", "q", "A"), ("B_q", "q", "B"), ("A_k", "k", "A"), ("B_k", "k", "B"), ("A_v", "v", "A"), ("B_v", "v", "B"), ("A_o", "o", "A"), ("B_o", "o", "B"), ("A_fc", "fc", "A"), ("B_fc", "fc", "B"), ("A_proj", "proj", "A"), ("B_proj", "proj", "B")]
_LORA_WEIGHTS = {"q": "W_q", "k": "W_k", "v": "W_v", "o": "W_o", "fc": "W_1", "proj": "W_2"}


def lora_loss_and_grads(params, adapters, idx, *, n_heads, alpha, eps=1e-5, activation="gelu_tanh"):
    """Loss of the frozen model ``params`` with LoRA ``adapters``, and the adapters' gradients."""
    tied, arguments = _top_arguments(params)
    layers = [_block_arguments(params, i) + [_get(adapters, f"h.{i}.lora.{name}.{part}")
                                            for _, name, part in _LORA_ADAPTERS]
              for i in range(n_layers(params))]
    options = {"n_heads": n_heads, "alpha": alpha, "eps": eps, "activation": activation}
    blocks = _LoraBlocks(layers, options)
    forward, backward = (_lora_tied_forward, _lora_tied_backward) if tied else (
        _lora_untied_forward, _lora_untied_backward)
    head = [_get(adapters, "lm_head.lora.A"), _get(adapters, "lm_head.lora.B")]
    loss, cache = forward(idx, *arguments, *head, alpha=alpha, eps=eps, blocks=blocks)
    grads = backward(np.ones_like(loss), cache)
    out = {"lm_head.lora.A": grads["A_head"], "lm_head.lora.B": grads["B_head"]}
    for i, layer_grads in enumerate(blocks.grads):
        for arg, name, part in _LORA_ADAPTERS:
            out[f"h.{i}.lora.{name}.{part}"] = layer_grads[arg]
    return loss, out


def merge_lora(params, adapters, *, alpha):
    """The base parameters with each adapter's (alpha / r) A B added to its weight.

    q, k, v go into their column blocks of c_attn; a LoRA logits layer on tied weights
    gives an untied ``lm_head.weight`` (without bias), leaving ``wte.weight`` as it was.
    """
    merged = dict(params)

    def delta(prefix):
        A, B = _get(adapters, f"{prefix}.A"), _get(adapters, f"{prefix}.B")
        return (alpha / A.shape[1]) * (A @ B)

    for i in range(n_layers(params)):
        for name, weight in _LORA_WEIGHTS.items():
            key, part = _BLOCK_KEYS[weight]
            key, change = f"h.{i}.{key}", delta(f"h.{i}.lora.{name}")
            if part is None:
                merged[key] = merged[key] + change
            else:
                width = merged[key].shape[-1] // 3
                column = np.zeros_like(merged[key])
                column[:, part * width:(part + 1) * width] = change
                merged[key] = merged[key] + column
    head = merged.get("lm_head.weight", params["wte.weight"])
    merged["lm_head.weight"] = head + delta("lm_head.lora").T
    return merged
