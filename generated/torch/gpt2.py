# GENERATED FILE: DO NOT EDIT.
# Derived by pedestrian-backprop from the forward definitions in derive/components/gpt2.py
# and derive/components/gpt2_block.py.
# Regenerate with: backprop generate --target torch
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
    - block: overwrite: ln_1_mu, ln_1_var, ln_1_sigma, ln_1_Xbar, ln_1_Y, attn_S, attn_P, a5, ln_2_mu, ln_2_var, ln_2_sigma, ln_2_Xbar, ln_2_Y, Y, dmlp_H, dln_2_var, dln_2_Xc, da5, dattn_S, dattn_K_h, dattn_Q_h, dln_1_var, dln_1_Xc, dX, ln_1_Y, ln_2_Y updated in place (+=, *=) in the array the statement made or in one no longer needed, not a new array per operation
    - tied: read-forward-values: the backward reads ln_f_Xc, ln_f_var through other forward values, so the cache does not hold them
    - tied: reuse-log-sum-exp: softmax(Z) kept from the forward for the backward, and lse(Z) = max(Z) − log(max(softmax(Z))) read off it: the exponentials once per step
    - tied: overwrite: ln_f_mu, ln_f_var, ln_f_sigma, ln_f_Xbar, ln_f_Y, dln_f_var, dln_f_Xc, dX_L updated in place (+=, *=) in the array the statement made or in one no longer needed, not a new array per operation
    - tied_logits: overwrite: ln_f_mu, ln_f_var, ln_f_sigma, ln_f_Xbar, ln_f_Y updated in place (+=, *=) in the array the statement made or in one no longer needed, not a new array per operation
    - untied: read-forward-values: the backward reads ln_f_Xc, ln_f_var through other forward values, so the cache does not hold them
    - untied: reuse-log-sum-exp: softmax(Z) kept from the forward for the backward, and lse(Z) = max(Z) − log(max(softmax(Z))) read off it: the exponentials once per step
    - untied: overwrite: ln_f_mu, ln_f_var, ln_f_sigma, ln_f_Xbar, ln_f_Y, dln_f_var, dln_f_Xc, dX_L updated in place (+=, *=) in the array the statement made or in one no longer needed, not a new array per operation
    - untied_logits: overwrite: ln_f_mu, ln_f_var, ln_f_sigma, ln_f_Xbar, ln_f_Y updated in place (+=, *=) in the array the statement made or in one no longer needed, not a new array per operation
    - lora_block: overwrite: ln_1_mu, ln_1_var, ln_1_sigma, ln_1_Y, attn_S, attn_P, a5, ln_2_mu, ln_2_var, ln_2_sigma, ln_2_Y, Y, dmlp_H, dln_2_Xbar, dln_2_sigma, dln_2_var, dln_2_Xc, da5, dattn_S, dattn_K_h, dattn_Q_h, dln_1_Y, dln_1_Xbar, dln_1_sigma, dln_1_var, dln_1_Xc, dX, dA_q, dB_q, dA_k, dB_k, dA_v, dB_v, dA_o, dB_o, dA_fc, dB_fc, dA_proj, dB_proj updated in place (+=, *=) in the array the statement made or in one no longer needed, not a new array per operation
    - lora_tied: reuse-log-sum-exp: softmax(Z) kept from the forward for the backward, and lse(Z) = max(Z) − log(max(softmax(Z))) read off it: the exponentials once per step
    - lora_tied: overwrite: ln_f_mu, ln_f_var, ln_f_sigma, ln_f_Y, dln_f_sigma, dln_f_var, dln_f_Xc, dX_L, dA_head, dB_head updated in place (+=, *=) in the array the statement made or in one no longer needed, not a new array per operation
    - lora_untied: reuse-log-sum-exp: softmax(Z) kept from the forward for the backward, and lse(Z) = max(Z) − log(max(softmax(Z))) read off it: the exponentials once per step
    - lora_untied: overwrite: ln_f_mu, ln_f_var, ln_f_sigma, ln_f_Y, dln_f_sigma, dln_f_var, dln_f_Xc, dX_L, dA_head, dB_head updated in place (+=, *=) in the array the statement made or in one no longer needed, not a new array per operation
    - causal mask: made once per size and reused
    - in-place functions: each scalar function computes in buffers of its own (kept between calls)
    - liveness: every array is released after its last use (del); the backward drops its cache
"""
import functools
import math
import threading

import torch


def _add_at_targets(base, targets, values, fresh):
    """base + (values 1ᵀ) ∘ ohe(targets): ``values`` added at column targets[i] of each row i.

    ``fresh``: ``base`` is a new array that may be updated in place.
    """
    index = targets.unsqueeze(-1)
    values = torch.as_tensor(values, dtype=base.dtype, device=base.device).expand(index.shape)
    return base.scatter_add_(-1, index, values) if fresh else base.scatter_add(-1, index, values)


def _causal_mask(n, device):
    """(n, n), True above the diagonal (s > t): made once per size and device (the last few are kept)."""
    if torch.compiler.is_compiling():  # a constant of the compiled graph
        return torch.ones(n, n, dtype=torch.bool, device=device).triu(1)
    return _causal_mask_kept(n, device)


@functools.lru_cache(maxsize=8)
def _causal_mask_kept(n, device):
    return torch.ones(n, n, dtype=torch.bool, device=device).triu(1)


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
    dtype, and the one to compute in, float32 for float16 and bfloat16
    (whose sums overflow or drop their small terms), as torch's layers accumulate in float32."""
    dtypes = {}
    for name, a in floating.items():
        if not a.is_floating_point():
            raise ValueError(f"{name}: expected a floating-point array, got dtype {a.dtype}")
        dtypes.setdefault(a.dtype, name)
    if len(dtypes) > 1:
        raise ValueError("arguments of different dtypes: " + ", ".join(f"{n} {d}" for d, n in dtypes.items())
                         + "; convert them to one")
    for name, a in integer.items():
        if a.is_floating_point() or a.is_complex() or a.dtype == torch.bool:
            raise ValueError(f"{name}: expected integer indices, got dtype {a.dtype}")
    dtype = next(iter(dtypes), None)
    return dtype, (torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype)


def _check_indices(name, index, size):
    """Integer indices in [0, size); the error names an offending value."""
    if index.dtype.is_floating_point or index.dtype.is_complex or index.dtype == torch.bool:
        raise ValueError(f"{name}: expected integer indices, got dtype {index.dtype}")
    if index.numel() == 0 or index.device.type == "meta":  # a meta tensor has no values to check
        return
    if torch.compiler.is_compiling():  # checked before the compiled step, eagerly (no graph break here)
        return
    if _transformed(index):  # under vmap a value cannot decide a branch; indexing past the end still raises
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


def _logsumexp_of_softmax(Z, P):
    """log Σ exp over the last axis read off P = softmax(Z): max(Z) − log(max(P)), since a row's
    largest probability is exp(0) / Σ exp(Z − max Z) (keeps that axis)."""
    return Z.amax(-1, keepdim=True) - torch.log(P.amax(-1, keepdim=True))


def _merge_heads(A):
    """(..., n_heads, n_T, d_h) → (..., n_T, n_heads · d_h): the heads' blocks side by side."""
    A = A.swapaxes(-2, -3)
    return A.reshape(*A.shape[:-2], A.shape[-2] * A.shape[-1])


def _no_grad(fn):
    """``fn`` run with autograd off (as ``torch.no_grad()`` does), in a form ``torch.compile`` traces
    without breaking its graph; ``fn.__wrapped__`` runs with autograd on."""
    @functools.wraps(fn)
    def without_grad(*args, **kwargs):
        with torch.no_grad():
            return fn(*args, **kwargs)
    return without_grad


def _pad_rows(A, rows):
    """A (..., k, d) followed by zero rows up to ``rows`` (one out-of-place operation, which every
    torch.func transform, forward mode included, can see through)."""
    return torch.nn.functional.pad(A, (0, 0, 0, rows - A.shape[-2]))


def _scatter_add_rows(index, values, rows, into=None, fresh=False):
    """Σ over batch and tokens of ohe(index)ᵀ values: each row of ``values`` added into row ``index``
    of zeros, or of ``into`` (updated in place when ``fresh``: a new array nothing else reads)."""
    if into is None:
        out = values.new_zeros((rows, values.shape[-1]))
    else:
        out = into if fresh else into.clone()
    return out.index_add_(0, index.reshape(-1), values.reshape(-1, values.shape[-1]))


_SCRATCH = threading.local()


def _scratch(slot, like):
    """A buffer shaped like ``like`` for a function's intermediate values, kept between calls (one
    per slot and thread, for the last shape seen), so a training step does not fault in fresh pages
    for them; None (make a new array) for an array that is not floating point, while compiling and
    under a torch.func transform (whose values are not plain arrays a buffer could hold)."""
    if not like.is_floating_point() or torch.compiler.is_compiling() or _transformed(like):
        return None
    kept = _SCRATCH.__dict__
    buffer = kept.get(slot)
    if buffer is None or buffer.shape != like.shape or buffer.dtype != like.dtype or buffer.device != like.device:
        buffer = kept[slot] = torch.empty(like.shape, dtype=like.dtype, device=like.device)
    return buffer


def _side_by_side(*blocks):
    """The blocks side by side along the last axis: the array they are adjacent column blocks of when
    they are (a fused weight given in parts, as GPT-2's c_attn), else a new array."""
    first, widths = blocks[0], [b.shape[-1] for b in blocks]
    total = sum(widths)
    if torch.compiler.is_compiling() or _transformed(first):  # no storage to compare, or a graph to keep whole
        return torch.cat(blocks, dim=-1)
    if first.dim() == 2 and all(b.dim() == 2 and b.shape[0] == first.shape[0] and b.stride() == first.stride()
                                and b.untyped_storage().data_ptr() == first.untyped_storage().data_ptr()
                                for b in blocks) and first.stride() == (total, 1) and not torch.is_grad_enabled():
        offsets = [b.storage_offset() - first.storage_offset() for b in blocks]
        if offsets == [sum(widths[:i]) for i in range(len(blocks))]:
            return first.as_strided((first.shape[0], total), (total, 1))
    return torch.cat(blocks, dim=-1)


def _softmax(S, causal, fresh=False):
    """Softmax over the last axis; with ``causal``, entry (t, s > t) gets probability exactly 0.

    ``fresh``: ``S`` is a new array nothing else reads, and the mask is applied in it.
    """
    if causal:
        mask = _causal_mask(S.shape[-1], S.device)
        S = S.masked_fill_(mask, float("-inf")) if fresh else S.masked_fill(mask, float("-inf"))
    return torch.softmax(S, dim=-1)


def _split_heads(A, n_heads):
    """(..., n_T, d) → (..., n_heads, n_T, d / n_heads): head h takes column block h, laid out
    head by head once (each product with the heads would otherwise copy them)."""
    return A.reshape(*A.shape[:-1], n_heads, A.shape[-1] // n_heads).swapaxes(-2, -3).contiguous()


def _transformed(t):
    """Whether ``t`` is a value a torch.func transform (vmap, grad, jvp) is tracing, not a plain tensor:
    then no buffer is kept between calls and no storage is inspected.  Never while compiling (the
    compiler traces plain tensors, and the question would break its graph)."""
    return not torch.compiler.is_compiling() and torch._C._functorch.is_functorch_wrapped_tensor(t)


def _gelu(x, times=None):
    """Exactly the defined function, as torch's fused kernel."""
    if times is None:
        return torch.nn.functional.gelu(x)
    times *= torch.nn.functional.gelu(x)
    return times


def _gelu_grad(x, times=None):
    """Computed in buffers of its own, each operation in place; ``times``: multiplied into it."""
    if torch.is_grad_enabled() or _transformed(x):
        value = 0.3989422804014327*x*torch.exp(-1/2*x**2) + (1/2)*torch.erf(0.7071067811865476*x) + 1/2
        return value if times is None else times * value
    b1 = torch.square(x, out=None if times is None else _scratch("gelu_grad.b1", x))
    b1 *= -0.5
    torch.exp(b1, out=b1)
    torch.multiply(b1, x, out=b1)
    b1 *= 0.7978845608028654
    b2 = torch.erf(0.7071067811865476*x)
    torch.add(b1, b2, out=b1)
    b1 += 1.0
    b1 *= 0.5
    if times is None:
        return b1
    times *= b1
    return times


def _gelu_tanh(x, times=None):
    """Exactly the defined function, as torch's fused kernel."""
    if times is None:
        return torch.nn.functional.gelu(x, approximate="tanh")
    times *= torch.nn.functional.gelu(x, approximate="tanh")
    return times


def _gelu_tanh_grad(x, times=None):
    """Computed in buffers of its own, each operation in place; ``times``: multiplied into it."""
    if torch.is_grad_enabled() or _transformed(x):
        value = 0.3989422804014327*x*(1 - torch.tanh(0.035677408136300125*x**3 + 0.7978845608028654*x)**2)*(0.134145*x**2 + 1) + (1/2)*torch.tanh(0.035677408136300125*x**3 + 0.7978845608028654*x) + 1/2
        return value if times is None else times * value
    t0 = torch.square(x, out=_scratch("gelu_tanh_grad.t0", x))
    t1 = torch.multiply(t0, 0.035677408136300125, out=_scratch("gelu_tanh_grad.t1", x))
    t1 += 0.7978845608028654
    torch.multiply(t1, x, out=t1)
    torch.tanh(t1, out=t1)
    b3 = torch.multiply(t1, 0.5, out=None if times is None else _scratch("gelu_tanh_grad.b3", x))
    torch.multiply(t0, 0.134145, out=t0)
    t0 += 1.0
    torch.square(t1, out=t1)
    t1 += -1.0
    torch.multiply(t0, t1, out=t0)
    torch.multiply(t0, x, out=t0)
    t0 *= 0.3989422804014327
    torch.subtract(b3, t0, out=b3)
    b3 += 0.5
    if times is None:
        return b3
    times *= b3
    return times


def _relu(x, times=None):
    """Exactly the defined function, as torch's fused kernel."""
    if times is None:
        return torch.relu(x)
    times *= torch.relu(x)
    return times


def _relu_grad(x, times=None):
    if times is None:
        return (x > 0).to(x.dtype)
    times *= (x > 0).to(x.dtype)
    return times


_ACTIVATION = {"gelu_tanh": _gelu_tanh, "gelu": _gelu, "relu": _relu}


_ACTIVATION_GRAD = {"gelu_tanh": _gelu_tanh_grad, "gelu": _gelu_grad, "relu": _relu_grad}


@_no_grad
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
    X = torch.as_tensor(X)
    ln_1_w = torch.as_tensor(ln_1_w)
    ln_1_b = torch.as_tensor(ln_1_b)
    W_q = torch.as_tensor(W_q)
    b_q = torch.as_tensor(b_q)
    W_k = torch.as_tensor(W_k)
    b_k = torch.as_tensor(b_k)
    W_v = torch.as_tensor(W_v)
    b_v = torch.as_tensor(b_v)
    W_o = torch.as_tensor(W_o)
    b_o = torch.as_tensor(b_o)
    ln_2_w = torch.as_tensor(ln_2_w)
    ln_2_b = torch.as_tensor(ln_2_b)
    W_1 = torch.as_tensor(W_1)
    b_1 = torch.as_tensor(b_1)
    W_2 = torch.as_tensor(W_2)
    b_2 = torch.as_tensor(b_2)
    dtype, compute_dtype = _check_dtypes({"X": X, "ln_1_w": ln_1_w, "ln_1_b": ln_1_b, "W_q": W_q, "b_q": b_q, "W_k": W_k, "b_k": b_k, "W_v": W_v, "b_v": b_v, "W_o": W_o, "b_o": b_o, "ln_2_w": ln_2_w, "ln_2_b": ln_2_b, "W_1": W_1, "b_1": b_1, "W_2": W_2, "b_2": b_2}, {})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        X = X.to(compute_dtype)
        ln_1_w = ln_1_w.to(compute_dtype)
        ln_1_b = ln_1_b.to(compute_dtype)
        W_q = W_q.to(compute_dtype)
        b_q = b_q.to(compute_dtype)
        W_k = W_k.to(compute_dtype)
        b_k = b_k.to(compute_dtype)
        W_v = W_v.to(compute_dtype)
        b_v = b_v.to(compute_dtype)
        W_o = W_o.to(compute_dtype)
        b_o = b_o.to(compute_dtype)
        ln_2_w = ln_2_w.to(compute_dtype)
        ln_2_b = ln_2_b.to(compute_dtype)
        W_1 = W_1.to(compute_dtype)
        b_1 = b_1.to(compute_dtype)
        W_2 = W_2.to(compute_dtype)
        b_2 = b_2.to(compute_dtype)
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
    ln_1_mu = X.sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    ln_1_mu *= 1/d
    ln_1_Xc = X - ln_1_mu  # (..., n_T, d)
    del ln_1_mu
    ln_1_var = (ln_1_Xc * ln_1_Xc).sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    ln_1_var *= 1/d
    ln_1_sigma = ln_1_var  # (..., n_T, 1), ln_1_var's array, updated in place
    ln_1_sigma += eps
    ln_1_sigma.sqrt_()
    del ln_1_var
    ln_1_Xbar = ln_1_Xc  # (..., n_T, d), ln_1_Xc's array, updated in place
    ln_1_Xbar *= torch.reciprocal(ln_1_sigma)
    del ln_1_Xc
    ln_1_Y = ln_1_Xbar * ln_1_w  # (..., n_T, d), updated in place
    ln_1_Y += ln_1_b
    W_q_W_k_W_v = _side_by_side(W_q, W_k, W_v)  # (d, 3*d)
    ln_1_Y_W_q_W_k_W_v = ln_1_Y @ W_q_W_k_W_v  # (..., n_T, 3*d)
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
    attn_S = attn_Q_h @ attn_K_h.mT  # (..., n_heads, n_T, n_T), updated in place
    attn_S *= math.sqrt(n_heads)/math.sqrt(d)
    attn_P = _softmax(attn_S, True, fresh=True)  # (..., n_heads, n_T, n_T), attn_S's array given to be written over
    del attn_S
    attn_A = _merge_heads(attn_P @ attn_V_h)  # (..., n_T, d)
    proj_Y = torch.nn.functional.linear(attn_A, W_o.mT, b_o)  # (..., n_T, d)
    a5 = proj_Y  # (..., n_T, d), proj_Y's array, updated in place
    a5 += X
    del proj_Y
    ln_2_mu = a5.sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    ln_2_mu *= 1/d
    ln_2_Xc = a5 - ln_2_mu  # (..., n_T, d)
    del ln_2_mu
    ln_2_var = (ln_2_Xc * ln_2_Xc).sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    ln_2_var *= 1/d
    ln_2_sigma = ln_2_var  # (..., n_T, 1), ln_2_var's array, updated in place
    ln_2_sigma += eps
    ln_2_sigma.sqrt_()
    del ln_2_var
    ln_2_Xbar = ln_2_Xc  # (..., n_T, d), ln_2_Xc's array, updated in place
    ln_2_Xbar *= torch.reciprocal(ln_2_sigma)
    del ln_2_Xc
    ln_2_Y = ln_2_Xbar * ln_2_w  # (..., n_T, d), updated in place
    ln_2_Y += ln_2_b
    mlp_H = torch.nn.functional.linear(ln_2_Y, W_1.mT, b_1)  # (..., n_T, d_ff)
    del ln_2_Y
    mlp_A = _ACTIVATION[activation](mlp_H)  # (..., n_T, d_ff)
    mlp_Y = torch.nn.functional.linear(mlp_A, W_2.mT, b_2)  # (..., n_T, d)
    Y = a5  # (..., n_T, d), a5's array, updated in place
    Y += mlp_Y
    del a5, mlp_Y
    cache = {"ln_1_w": ln_1_w, "ln_1_b": ln_1_b, "W_q": W_q, "b_k": b_k, "W_v": W_v, "W_o": W_o, "ln_2_w": ln_2_w, "ln_2_b": ln_2_b, "W_1": W_1, "W_2": W_2, "ln_1_sigma": ln_1_sigma, "ln_1_Xbar": ln_1_Xbar, "W_q_W_k_W_v": W_q_W_k_W_v, "attn_Q_h": attn_Q_h, "attn_K_h": attn_K_h, "attn_V_h": attn_V_h, "attn_P": attn_P, "attn_A": attn_A, "ln_2_sigma": ln_2_sigma, "ln_2_Xbar": ln_2_Xbar, "mlp_H": mlp_H, "mlp_A": mlp_A, "n_heads": n_heads, "activation": activation, "d": d, "d_ff": d_ff, "out_shape": Y.shape, "out_dtype": Y.dtype, "dtype": dtype}
    return Y.to(dtype), cache


@_no_grad
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
    grad_out = grad_out.to(cache["out_dtype"])  # the dtype the forward computed in
    del cache  # each array is released after its last use below
    # grad of mlp_Y, used in: Y = a5 + mlp_Y
    dmlp_Y = grad_out  # (..., n_T, d)
    # grad of mlp_A, used in: mlp_Y = mlp_A W_2 + 1 b_2ᵀ
    dmlp_A = dmlp_Y @ W_2.mT  # (..., n_T, d_ff)
    # grad of mlp_H, used in: mlp_A = activation(mlp_H)
    dmlp_H = dmlp_A  # (..., n_T, d_ff), dmlp_A's array, updated in place
    dmlp_H = _ACTIVATION_GRAD[activation](mlp_H, times=dmlp_H)
    del dmlp_A, mlp_H
    # grad of ln_2_Y, used in: mlp_H = ln_2_Y W_1 + 1 b_1ᵀ
    dln_2_Y = dmlp_H @ W_1.mT  # (..., n_T, d)
    # grad of ln_2_Xbar, used in: ln_2_Y = ln_2_Xbar ∘ (1 ln_2_wᵀ) + 1 ln_2_bᵀ
    dln_2_Xbar = dln_2_Y * ln_2_w  # (..., n_T, d)
    # common subexpression
    t5 = torch.reciprocal(ln_2_sigma)  # (..., n_T, 1)
    # grad of ln_2_sigma, used in: ln_2_Xbar = ((1/ln_2_sigma) 1ᵀ) ∘ ln_2_Xc
    dln_2_sigma = -(t5 * (dln_2_Xbar * ln_2_Xbar).sum(-1, keepdim=True))  # (..., n_T, 1)
    # grad of ln_2_var, used in: ln_2_sigma = sqrt(eps + ln_2_var)
    dln_2_var = dln_2_sigma  # (..., n_T, 1), dln_2_sigma's array, updated in place
    dln_2_var *= t5
    dln_2_var *= 1/2
    del dln_2_sigma
    # grad of ln_2_Xc, used in: ln_2_var = (1/d) (ln_2_Xc ∘ ln_2_Xc) 1; ln_2_Xbar = ((1/ln_2_sigma) 1ᵀ) ∘ ln_2_Xc
    dln_2_Xc = dln_2_Xbar  # (..., n_T, d), dln_2_Xbar's array, updated in place
    dln_2_Xc *= t5
    dln_2_Xc.addcmul_(dln_2_var * ln_2_sigma, ln_2_Xbar, value=2/d)
    del dln_2_Xbar, dln_2_var, ln_2_sigma, t5
    # grad of ln_2_mu, used in: ln_2_Xc = a5 − ln_2_mu 1ᵀ
    dln_2_mu = -dln_2_Xc.sum(-1, keepdim=True)  # (..., n_T, 1)
    # grad of a5, used in: ln_2_mu = (1/d) a5 1; ln_2_Xc = a5 − ln_2_mu 1ᵀ; Y = a5 + mlp_Y
    da5 = dln_2_Xc  # (..., n_T, d), dln_2_Xc's array, updated in place
    da5 += grad_out
    da5.add_(dln_2_mu, alpha=1/d)
    del dln_2_Xc, dln_2_mu
    # grad of proj_Y, used in: a5 = X + proj_Y
    dproj_Y = da5  # (..., n_T, d)
    # grad of attn_A, used in: proj_Y = attn_A W_o + 1 b_oᵀ
    dattn_A = dproj_Y @ W_o.mT  # (..., n_T, d)
    # common subexpression
    t4 = _split_heads(dattn_A, n_heads)  # (..., n_heads, n_T, d/n_heads)
    # grad of attn_P, used in: attn_A = merge_h(attn_P attn_V_h)
    dattn_P = t4 @ attn_V_h.mT  # (..., n_heads, n_T, n_T)
    del attn_V_h
    # grad of attn_S, used in: attn_P = softmax[True](attn_S)
    dattn_S = dattn_P  # (..., n_heads, n_T, n_T), dattn_P's array, updated in place
    dattn_S -= (attn_P * dattn_P).sum(-1, keepdim=True)
    dattn_S *= attn_P
    del dattn_P
    # grad of attn_V_h, used in: attn_A = merge_h(attn_P attn_V_h)
    dattn_V_h = attn_P.mT @ t4  # (..., n_heads, n_T, d/n_heads)
    del attn_P, t4
    # grad of attn_K_h, used in: attn_S = (sqrt(n_heads)/sqrt(d)) attn_Q_h attn_K_hᵀ
    dattn_K_h = dattn_S.mT @ attn_Q_h  # (..., n_heads, n_T, d/n_heads), updated in place
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
    dln_1_Y = t3 @ W_q_W_k_W_v.mT  # (..., n_T, d)
    del W_q_W_k_W_v
    # grad of ln_1_Xbar, used in: ln_1_Y = ln_1_Xbar ∘ (1 ln_1_wᵀ) + 1 ln_1_bᵀ
    dln_1_Xbar = dln_1_Y * ln_1_w  # (..., n_T, d)
    # common subexpression
    t6 = torch.reciprocal(ln_1_sigma)  # (..., n_T, 1)
    # grad of ln_1_sigma, used in: ln_1_Xbar = ((1/ln_1_sigma) 1ᵀ) ∘ ln_1_Xc
    dln_1_sigma = -(t6 * (dln_1_Xbar * ln_1_Xbar).sum(-1, keepdim=True))  # (..., n_T, 1)
    # grad of ln_1_var, used in: ln_1_sigma = sqrt(eps + ln_1_var)
    dln_1_var = dln_1_sigma  # (..., n_T, 1), dln_1_sigma's array, updated in place
    dln_1_var *= t6
    dln_1_var *= 1/2
    del dln_1_sigma
    # grad of ln_1_Xc, used in: ln_1_var = (1/d) (ln_1_Xc ∘ ln_1_Xc) 1; ln_1_Xbar = ((1/ln_1_sigma) 1ᵀ) ∘ ln_1_Xc
    dln_1_Xc = dln_1_Xbar  # (..., n_T, d), dln_1_Xbar's array, updated in place
    dln_1_Xc *= t6
    dln_1_Xc.addcmul_(dln_1_var * ln_1_sigma, ln_1_Xbar, value=2/d)
    del dln_1_Xbar, dln_1_var, ln_1_sigma, t6
    # grad of ln_1_mu, used in: ln_1_Xc = X − ln_1_mu 1ᵀ
    dln_1_mu = -dln_1_Xc.sum(-1, keepdim=True)  # (..., n_T, 1)
    # grad of X, used in: ln_1_mu = (1/d) X 1; ln_1_Xc = X − ln_1_mu 1ᵀ; a5 = X + proj_Y
    dX = dln_1_Xc  # (..., n_T, d), dln_1_Xc's array, updated in place
    dX += da5
    dX.add_(dln_1_mu, alpha=1/d)
    del da5, dln_1_Xc, dln_1_mu
    # grad of ln_1_w, used in: ln_1_Y = ln_1_Xbar ∘ (1 ln_1_wᵀ) + 1 ln_1_bᵀ
    dln_1_w = (dln_1_Y * ln_1_Xbar).reshape(-1, d).sum(0)  # (d,)
    del dln_1_Y
    # common subexpression
    t1 = dattn_Q.reshape(-1, d).sum(0)  # (d,)
    del dattn_Q
    # common subexpression
    t2 = dattn_A.reshape(-1, d).sum(0)  # (d,)
    del dattn_A
    # grad of ln_1_b, used in: ln_1_Y = ln_1_Xbar ∘ (1 ln_1_wᵀ) + 1 ln_1_bᵀ
    dln_1_b = (t2[None, :] @ W_v.mT + t1[None, :] @ W_q.mT).reshape(-1)  # (d,)
    # recomputed: one pass, cheaper than keeping it
    ln_1_Y = ln_1_Xbar * ln_1_w  # (..., n_T, d), updated in place
    ln_1_Y += ln_1_b
    del ln_1_Xbar
    # the weights' gradients as one product
    dW_q_W_k_W_v = ln_1_Y.reshape(-1, d).mT @ t3.reshape(-1, 3*d)  # (d, 3*d)
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
    dW_o = attn_A.reshape(-1, d).mT @ dproj_Y.reshape(-1, d)  # (d, d)
    del attn_A
    # grad of b_o, used in: proj_Y = attn_A W_o + 1 b_oᵀ
    db_o = dproj_Y.reshape(-1, d).sum(0)  # (d,)
    del dproj_Y
    # grad of ln_2_w, used in: ln_2_Y = ln_2_Xbar ∘ (1 ln_2_wᵀ) + 1 ln_2_bᵀ
    dln_2_w = (dln_2_Y * ln_2_Xbar).reshape(-1, d).sum(0)  # (d,)
    # grad of ln_2_b, used in: ln_2_Y = ln_2_Xbar ∘ (1 ln_2_wᵀ) + 1 ln_2_bᵀ
    dln_2_b = dln_2_Y.reshape(-1, d).sum(0)  # (d,)
    del dln_2_Y
    # recomputed: one pass, cheaper than keeping it
    ln_2_Y = ln_2_Xbar * ln_2_w  # (..., n_T, d), updated in place
    ln_2_Y += ln_2_b
    del ln_2_Xbar
    # grad of W_1, used in: mlp_H = ln_2_Y W_1 + 1 b_1ᵀ
    dW_1 = ln_2_Y.reshape(-1, d).mT @ dmlp_H.reshape(-1, d_ff)  # (d, d_ff)
    del ln_2_Y
    # grad of b_1, used in: mlp_H = ln_2_Y W_1 + 1 b_1ᵀ
    db_1 = dmlp_H.reshape(-1, d_ff).sum(0)  # (d_ff,)
    del dmlp_H
    # grad of W_2, used in: mlp_Y = mlp_A W_2 + 1 b_2ᵀ
    dW_2 = mlp_A.reshape(-1, d_ff).mT @ dmlp_Y.reshape(-1, d)  # (d_ff, d)
    del mlp_A
    # grad of b_2, used in: mlp_Y = mlp_A W_2 + 1 b_2ᵀ
    db_2 = dmlp_Y.reshape(-1, d).sum(0)  # (d,)
    del dmlp_Y
    return {
        "X": dX.to(dtype),
        "ln_1_w": dln_1_w.to(dtype),
        "ln_1_b": dln_1_b.to(dtype),
        "W_q": dW_q.to(dtype),
        "b_q": db_q.to(dtype),
        "W_k": dW_k.to(dtype),
        "b_k": torch.zeros_like(b_k).to(dtype),
        "W_v": dW_v.to(dtype),
        "b_v": db_v.to(dtype),
        "W_o": dW_o.to(dtype),
        "b_o": db_o.to(dtype),
        "ln_2_w": dln_2_w.to(dtype),
        "ln_2_b": dln_2_b.to(dtype),
        "W_1": dW_1.to(dtype),
        "b_1": db_1.to(dtype),
        "W_2": dW_2.to(dtype),
        "b_2": db_2.to(dtype),
    }


@_no_grad
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
    idx = torch.as_tensor(idx)
    W_tok = torch.as_tensor(W_tok)
    W_pos = torch.as_tensor(W_pos)
    ln_f_w = torch.as_tensor(ln_f_w)
    ln_f_b = torch.as_tensor(ln_f_b)
    dtype, compute_dtype = _check_dtypes({"W_tok": W_tok, "W_pos": W_pos, "ln_f_w": ln_f_w, "ln_f_b": ln_f_b}, {"idx": idx})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        W_tok = W_tok.to(compute_dtype)
        W_pos = W_pos.to(compute_dtype)
        ln_f_w = ln_f_w.to(compute_dtype)
        ln_f_b = ln_f_b.to(compute_dtype)
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
    ln_f_mu = X_L.sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    ln_f_mu *= 1/d
    ln_f_Xc = X_L - ln_f_mu  # (..., n_T, d)
    del X_L, ln_f_mu
    ln_f_var = (ln_f_Xc * ln_f_Xc).sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    ln_f_var *= 1/d
    ln_f_sigma = ln_f_var  # (..., n_T, 1), ln_f_var's array, updated in place
    ln_f_sigma += eps
    ln_f_sigma.sqrt_()
    del ln_f_var
    ln_f_Xbar = ln_f_Xc  # (..., n_T, d), ln_f_Xc's array, updated in place
    ln_f_Xbar *= torch.reciprocal(ln_f_sigma)
    del ln_f_Xc
    ln_f_Y = ln_f_Xbar * ln_f_w  # (..., n_T, d), updated in place
    ln_f_Y += ln_f_b
    X_s = ln_f_Y[..., :n_T - 1, :]  # (..., n_T - 1, d)
    del ln_f_Y
    Z = X_s @ W_tok.mT  # (..., n_T - 1, n_vocab)
    softmax_Z = _softmax(Z, False)  # (..., n_T - 1, n_vocab)
    lse_Z = _logsumexp_of_softmax(Z, softmax_Z)  # (..., n_T - 1, 1)
    ell = lse_Z.sum(-2, keepdim=True) - Z.gather(-1, idx[..., 1:].unsqueeze(-1)).sum(-2, keepdim=True)  # (..., 1, 1)
    del Z, lse_Z
    loss = (1/(n_batch*(n_T - 1)) * ell.reshape(-1, 1, 1).sum(0)).reshape(())  # ()
    del ell
    cache = {"idx": idx, "W_tok": W_tok, "ln_f_w": ln_f_w, "ln_f_sigma": ln_f_sigma, "ln_f_Xbar": ln_f_Xbar, "X_s": X_s, "softmax_Z": softmax_Z, "blocks": blocks, "n_T": n_T, "n_vocab": n_vocab, "d": d, "n_context": n_context, "n_batch": n_batch, "out_shape": loss.shape, "out_dtype": loss.dtype, "dtype": dtype}
    return loss.to(dtype), cache


@_no_grad
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
    grad_out = torch.as_tensor(grad_out)
    if grad_out.shape != cache["out_shape"]:
        raise ValueError(f"grad_out: expected shape {cache['out_shape']}, got {grad_out.shape}")
    grad_out = grad_out.to(cache["out_dtype"])  # the dtype the forward computed in
    del cache  # each array is released after its last use below
    # grad of ell, used in: loss = (1/(n_batch (n_T − 1))) Σ_batch ell
    dell = 1/(n_batch*(n_T - 1)) * grad_out  # ()
    # grad of Z, used in: ell = 1ᵀ lse(Z) − 1ᵀ pick(Z, idx[1:])
    dZ = _add_at_targets(dell * softmax_Z, idx[..., 1:], -dell, fresh=True)  # (..., n_T - 1, n_vocab)
    del dell, softmax_Z
    # grad of X_s, used in: Z = X_s W_tokᵀ
    dX_s = dZ @ W_tok  # (..., n_T - 1, d)
    # grad of ln_f_Y, used in: X_s = ln_f_Y[:n_T − 1]
    dln_f_Y = _pad_rows(dX_s, n_T)  # (..., n_T, d)
    del dX_s
    # grad of ln_f_Xbar, used in: ln_f_Y = ln_f_Xbar ∘ (1 ln_f_wᵀ) + 1 ln_f_bᵀ
    dln_f_Xbar = dln_f_Y * ln_f_w  # (..., n_T, d)
    # common subexpression
    t1 = torch.reciprocal(ln_f_sigma)  # (..., n_T, 1)
    # grad of ln_f_sigma, used in: ln_f_Xbar = ((1/ln_f_sigma) 1ᵀ) ∘ ln_f_Xc
    dln_f_sigma = -(t1 * (dln_f_Xbar * ln_f_Xbar).sum(-1, keepdim=True))  # (..., n_T, 1)
    # grad of ln_f_var, used in: ln_f_sigma = sqrt(eps + ln_f_var)
    dln_f_var = dln_f_sigma  # (..., n_T, 1), dln_f_sigma's array, updated in place
    dln_f_var *= t1
    dln_f_var *= 1/2
    del dln_f_sigma
    # grad of ln_f_Xc, used in: ln_f_var = (1/d) (ln_f_Xc ∘ ln_f_Xc) 1; ln_f_Xbar = ((1/ln_f_sigma) 1ᵀ) ∘ ln_f_Xc
    dln_f_Xc = dln_f_Xbar  # (..., n_T, d), dln_f_Xbar's array, updated in place
    dln_f_Xc *= t1
    dln_f_Xc.addcmul_(dln_f_var * ln_f_sigma, ln_f_Xbar, value=2/d)
    del dln_f_Xbar, dln_f_var, ln_f_sigma, t1
    # grad of ln_f_mu, used in: ln_f_Xc = X_L − ln_f_mu 1ᵀ
    dln_f_mu = -dln_f_Xc.sum(-1, keepdim=True)  # (..., n_T, 1)
    # grad of X_L, used in: ln_f_mu = (1/d) X_L 1; ln_f_Xc = X_L − ln_f_mu 1ᵀ
    dX_L = dln_f_Xc  # (..., n_T, d), dln_f_Xc's array, updated in place
    dX_L.add_(dln_f_mu, alpha=1/d)
    del dln_f_Xc, dln_f_mu
    # grad of X, used in: X_L = blocks(X)
    dX = blocks.backward(dX_L)  # (..., n_T, d)
    del dX_L
    # grad of W_tok, used in: X = ohe(idx) W_tok + W_pos[:n_T]; Z = X_s W_tokᵀ
    dW_tok = _scatter_add_rows(idx, dX, n_vocab, into=dZ.reshape(-1, n_vocab).mT @ X_s.reshape(-1, d), fresh=True)  # (n_vocab, d)
    del X_s, dZ, idx
    # grad of W_pos, used in: X = ohe(idx) W_tok + W_pos[:n_T]
    dW_pos = _pad_rows(dX.reshape(-1, n_T, d).sum(0), n_context)  # (n_context, d)
    del dX
    # grad of ln_f_w, used in: ln_f_Y = ln_f_Xbar ∘ (1 ln_f_wᵀ) + 1 ln_f_bᵀ
    dln_f_w = (dln_f_Y * ln_f_Xbar).reshape(-1, d).sum(0)  # (d,)
    del ln_f_Xbar
    # grad of ln_f_b, used in: ln_f_Y = ln_f_Xbar ∘ (1 ln_f_wᵀ) + 1 ln_f_bᵀ
    dln_f_b = dln_f_Y.reshape(-1, d).sum(0)  # (d,)
    del dln_f_Y
    return {
        "W_tok": dW_tok.to(dtype),
        "W_pos": dW_pos.to(dtype),
        "ln_f_w": dln_f_w.to(dtype),
        "ln_f_b": dln_f_b.to(dtype),
    }


@_no_grad
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
    idx = torch.as_tensor(idx)
    W_tok = torch.as_tensor(W_tok)
    W_pos = torch.as_tensor(W_pos)
    ln_f_w = torch.as_tensor(ln_f_w)
    ln_f_b = torch.as_tensor(ln_f_b)
    dtype, compute_dtype = _check_dtypes({"W_tok": W_tok, "W_pos": W_pos, "ln_f_w": ln_f_w, "ln_f_b": ln_f_b}, {"idx": idx})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        W_tok = W_tok.to(compute_dtype)
        W_pos = W_pos.to(compute_dtype)
        ln_f_w = ln_f_w.to(compute_dtype)
        ln_f_b = ln_f_b.to(compute_dtype)
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
    ln_f_mu = X_L.sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    ln_f_mu *= 1/d
    ln_f_Xc = X_L - ln_f_mu  # (..., n_T, d)
    del X_L, ln_f_mu
    ln_f_var = (ln_f_Xc * ln_f_Xc).sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    ln_f_var *= 1/d
    ln_f_sigma = ln_f_var  # (..., n_T, 1), ln_f_var's array, updated in place
    ln_f_sigma += eps
    ln_f_sigma.sqrt_()
    del ln_f_var
    ln_f_Xbar = ln_f_Xc  # (..., n_T, d), ln_f_Xc's array, updated in place
    ln_f_Xbar *= torch.reciprocal(ln_f_sigma)
    del ln_f_Xc, ln_f_sigma
    ln_f_Y = ln_f_Xbar  # (..., n_T, d), ln_f_Xbar's array, updated in place
    ln_f_Y *= ln_f_w
    ln_f_Y += ln_f_b
    del ln_f_Xbar
    logits = ln_f_Y @ W_tok.mT  # (..., n_T, n_vocab)
    del ln_f_Y
    cache = {"out_shape": logits.shape, "out_dtype": logits.dtype, "dtype": dtype}
    return logits.to(dtype), cache


@_no_grad
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
    idx = torch.as_tensor(idx)
    W_tok = torch.as_tensor(W_tok)
    W_pos = torch.as_tensor(W_pos)
    ln_f_w = torch.as_tensor(ln_f_w)
    ln_f_b = torch.as_tensor(ln_f_b)
    W_head = torch.as_tensor(W_head)
    b_head = torch.as_tensor(b_head)
    dtype, compute_dtype = _check_dtypes({"W_tok": W_tok, "W_pos": W_pos, "ln_f_w": ln_f_w, "ln_f_b": ln_f_b, "W_head": W_head, "b_head": b_head}, {"idx": idx})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        W_tok = W_tok.to(compute_dtype)
        W_pos = W_pos.to(compute_dtype)
        ln_f_w = ln_f_w.to(compute_dtype)
        ln_f_b = ln_f_b.to(compute_dtype)
        W_head = W_head.to(compute_dtype)
        b_head = b_head.to(compute_dtype)
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
    ln_f_mu = X_L.sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    ln_f_mu *= 1/d
    ln_f_Xc = X_L - ln_f_mu  # (..., n_T, d)
    del X_L, ln_f_mu
    ln_f_var = (ln_f_Xc * ln_f_Xc).sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    ln_f_var *= 1/d
    ln_f_sigma = ln_f_var  # (..., n_T, 1), ln_f_var's array, updated in place
    ln_f_sigma += eps
    ln_f_sigma.sqrt_()
    del ln_f_var
    ln_f_Xbar = ln_f_Xc  # (..., n_T, d), ln_f_Xc's array, updated in place
    ln_f_Xbar *= torch.reciprocal(ln_f_sigma)
    del ln_f_Xc
    ln_f_Y = ln_f_Xbar * ln_f_w  # (..., n_T, d), updated in place
    ln_f_Y += ln_f_b
    X_s = ln_f_Y[..., :n_T - 1, :]  # (..., n_T - 1, d)
    del ln_f_Y
    Z = torch.nn.functional.linear(X_s, W_head, b_head)  # (..., n_T - 1, n_vocab)
    softmax_Z = _softmax(Z, False)  # (..., n_T - 1, n_vocab)
    lse_Z = _logsumexp_of_softmax(Z, softmax_Z)  # (..., n_T - 1, 1)
    ell = lse_Z.sum(-2, keepdim=True) - Z.gather(-1, idx[..., 1:].unsqueeze(-1)).sum(-2, keepdim=True)  # (..., 1, 1)
    del Z, lse_Z
    loss = (1/(n_batch*(n_T - 1)) * ell.reshape(-1, 1, 1).sum(0)).reshape(())  # ()
    del ell
    cache = {"idx": idx, "ln_f_w": ln_f_w, "W_head": W_head, "ln_f_sigma": ln_f_sigma, "ln_f_Xbar": ln_f_Xbar, "X_s": X_s, "softmax_Z": softmax_Z, "blocks": blocks, "n_T": n_T, "n_vocab": n_vocab, "d": d, "n_context": n_context, "n_batch": n_batch, "out_shape": loss.shape, "out_dtype": loss.dtype, "dtype": dtype}
    return loss.to(dtype), cache


@_no_grad
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
    grad_out = torch.as_tensor(grad_out)
    if grad_out.shape != cache["out_shape"]:
        raise ValueError(f"grad_out: expected shape {cache['out_shape']}, got {grad_out.shape}")
    grad_out = grad_out.to(cache["out_dtype"])  # the dtype the forward computed in
    del cache  # each array is released after its last use below
    # grad of ell, used in: loss = (1/(n_batch (n_T − 1))) Σ_batch ell
    dell = 1/(n_batch*(n_T - 1)) * grad_out  # ()
    # grad of Z, used in: ell = 1ᵀ lse(Z) − 1ᵀ pick(Z, idx[1:])
    dZ = _add_at_targets(dell * softmax_Z, idx[..., 1:], -dell, fresh=True)  # (..., n_T - 1, n_vocab)
    del dell, softmax_Z
    # grad of X_s, used in: Z = X_s W_headᵀ + 1 b_headᵀ
    dX_s = dZ @ W_head  # (..., n_T - 1, d)
    # grad of ln_f_Y, used in: X_s = ln_f_Y[:n_T − 1]
    dln_f_Y = _pad_rows(dX_s, n_T)  # (..., n_T, d)
    del dX_s
    # grad of ln_f_Xbar, used in: ln_f_Y = ln_f_Xbar ∘ (1 ln_f_wᵀ) + 1 ln_f_bᵀ
    dln_f_Xbar = dln_f_Y * ln_f_w  # (..., n_T, d)
    # common subexpression
    t1 = torch.reciprocal(ln_f_sigma)  # (..., n_T, 1)
    # grad of ln_f_sigma, used in: ln_f_Xbar = ((1/ln_f_sigma) 1ᵀ) ∘ ln_f_Xc
    dln_f_sigma = -(t1 * (dln_f_Xbar * ln_f_Xbar).sum(-1, keepdim=True))  # (..., n_T, 1)
    # grad of ln_f_var, used in: ln_f_sigma = sqrt(eps + ln_f_var)
    dln_f_var = dln_f_sigma  # (..., n_T, 1), dln_f_sigma's array, updated in place
    dln_f_var *= t1
    dln_f_var *= 1/2
    del dln_f_sigma
    # grad of ln_f_Xc, used in: ln_f_var = (1/d) (ln_f_Xc ∘ ln_f_Xc) 1; ln_f_Xbar = ((1/ln_f_sigma) 1ᵀ) ∘ ln_f_Xc
    dln_f_Xc = dln_f_Xbar  # (..., n_T, d), dln_f_Xbar's array, updated in place
    dln_f_Xc *= t1
    dln_f_Xc.addcmul_(dln_f_var * ln_f_sigma, ln_f_Xbar, value=2/d)
    del dln_f_Xbar, dln_f_var, ln_f_sigma, t1
    # grad of ln_f_mu, used in: ln_f_Xc = X_L − ln_f_mu 1ᵀ
    dln_f_mu = -dln_f_Xc.sum(-1, keepdim=True)  # (..., n_T, 1)
    # grad of X_L, used in: ln_f_mu = (1/d) X_L 1; ln_f_Xc = X_L − ln_f_mu 1ᵀ
    dX_L = dln_f_Xc  # (..., n_T, d), dln_f_Xc's array, updated in place
    dX_L.add_(dln_f_mu, alpha=1/d)
    del dln_f_Xc, dln_f_mu
    # grad of X, used in: X_L = blocks(X)
    dX = blocks.backward(dX_L)  # (..., n_T, d)
    del dX_L
    # grad of W_tok, used in: X = ohe(idx) W_tok + W_pos[:n_T]
    dW_tok = _scatter_add_rows(idx, dX, n_vocab)  # (n_vocab, d)
    del idx
    # grad of W_pos, used in: X = ohe(idx) W_tok + W_pos[:n_T]
    dW_pos = _pad_rows(dX.reshape(-1, n_T, d).sum(0), n_context)  # (n_context, d)
    del dX
    # grad of ln_f_w, used in: ln_f_Y = ln_f_Xbar ∘ (1 ln_f_wᵀ) + 1 ln_f_bᵀ
    dln_f_w = (dln_f_Y * ln_f_Xbar).reshape(-1, d).sum(0)  # (d,)
    del ln_f_Xbar
    # grad of ln_f_b, used in: ln_f_Y = ln_f_Xbar ∘ (1 ln_f_wᵀ) + 1 ln_f_bᵀ
    dln_f_b = dln_f_Y.reshape(-1, d).sum(0)  # (d,)
    del dln_f_Y
    # grad of W_head, used in: Z = X_s W_headᵀ + 1 b_headᵀ
    dW_head = dZ.reshape(-1, n_vocab).mT @ X_s.reshape(-1, d)  # (n_vocab, d)
    del X_s
    # grad of b_head, used in: Z = X_s W_headᵀ + 1 b_headᵀ
    db_head = dZ.reshape(-1, n_vocab).sum(0)  # (n_vocab,)
    del dZ
    return {
        "W_tok": dW_tok.to(dtype),
        "W_pos": dW_pos.to(dtype),
        "ln_f_w": dln_f_w.to(dtype),
        "ln_f_b": dln_f_b.to(dtype),
        "W_head": dW_head.to(dtype),
        "b_head": db_head.to(dtype),
    }


@_no_grad
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
    idx = torch.as_tensor(idx)
    W_tok = torch.as_tensor(W_tok)
    W_pos = torch.as_tensor(W_pos)
    ln_f_w = torch.as_tensor(ln_f_w)
    ln_f_b = torch.as_tensor(ln_f_b)
    W_head = torch.as_tensor(W_head)
    b_head = torch.as_tensor(b_head)
    dtype, compute_dtype = _check_dtypes({"W_tok": W_tok, "W_pos": W_pos, "ln_f_w": ln_f_w, "ln_f_b": ln_f_b, "W_head": W_head, "b_head": b_head}, {"idx": idx})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        W_tok = W_tok.to(compute_dtype)
        W_pos = W_pos.to(compute_dtype)
        ln_f_w = ln_f_w.to(compute_dtype)
        ln_f_b = ln_f_b.to(compute_dtype)
        W_head = W_head.to(compute_dtype)
        b_head = b_head.to(compute_dtype)
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
    ln_f_mu = X_L.sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    ln_f_mu *= 1/d
    ln_f_Xc = X_L - ln_f_mu  # (..., n_T, d)
    del X_L, ln_f_mu
    ln_f_var = (ln_f_Xc * ln_f_Xc).sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    ln_f_var *= 1/d
    ln_f_sigma = ln_f_var  # (..., n_T, 1), ln_f_var's array, updated in place
    ln_f_sigma += eps
    ln_f_sigma.sqrt_()
    del ln_f_var
    ln_f_Xbar = ln_f_Xc  # (..., n_T, d), ln_f_Xc's array, updated in place
    ln_f_Xbar *= torch.reciprocal(ln_f_sigma)
    del ln_f_Xc, ln_f_sigma
    ln_f_Y = ln_f_Xbar  # (..., n_T, d), ln_f_Xbar's array, updated in place
    ln_f_Y *= ln_f_w
    ln_f_Y += ln_f_b
    del ln_f_Xbar
    logits = torch.nn.functional.linear(ln_f_Y, W_head, b_head)  # (..., n_T, n_vocab)
    del ln_f_Y
    cache = {"out_shape": logits.shape, "out_dtype": logits.dtype, "dtype": dtype}
    return logits.to(dtype), cache


@_no_grad
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
    X = torch.as_tensor(X)
    ln_1_w = torch.as_tensor(ln_1_w)
    ln_1_b = torch.as_tensor(ln_1_b)
    W_q = torch.as_tensor(W_q)
    b_q = torch.as_tensor(b_q)
    W_k = torch.as_tensor(W_k)
    b_k = torch.as_tensor(b_k)
    W_v = torch.as_tensor(W_v)
    b_v = torch.as_tensor(b_v)
    W_o = torch.as_tensor(W_o)
    b_o = torch.as_tensor(b_o)
    ln_2_w = torch.as_tensor(ln_2_w)
    ln_2_b = torch.as_tensor(ln_2_b)
    W_1 = torch.as_tensor(W_1)
    b_1 = torch.as_tensor(b_1)
    W_2 = torch.as_tensor(W_2)
    b_2 = torch.as_tensor(b_2)
    A_q = torch.as_tensor(A_q)
    B_q = torch.as_tensor(B_q)
    A_k = torch.as_tensor(A_k)
    B_k = torch.as_tensor(B_k)
    A_v = torch.as_tensor(A_v)
    B_v = torch.as_tensor(B_v)
    A_o = torch.as_tensor(A_o)
    B_o = torch.as_tensor(B_o)
    A_fc = torch.as_tensor(A_fc)
    B_fc = torch.as_tensor(B_fc)
    A_proj = torch.as_tensor(A_proj)
    B_proj = torch.as_tensor(B_proj)
    dtype, compute_dtype = _check_dtypes({"X": X, "ln_1_w": ln_1_w, "ln_1_b": ln_1_b, "W_q": W_q, "b_q": b_q, "W_k": W_k, "b_k": b_k, "W_v": W_v, "b_v": b_v, "W_o": W_o, "b_o": b_o, "ln_2_w": ln_2_w, "ln_2_b": ln_2_b, "W_1": W_1, "b_1": b_1, "W_2": W_2, "b_2": b_2, "A_q": A_q, "B_q": B_q, "A_k": A_k, "B_k": B_k, "A_v": A_v, "B_v": B_v, "A_o": A_o, "B_o": B_o, "A_fc": A_fc, "B_fc": B_fc, "A_proj": A_proj, "B_proj": B_proj}, {})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        X = X.to(compute_dtype)
        ln_1_w = ln_1_w.to(compute_dtype)
        ln_1_b = ln_1_b.to(compute_dtype)
        W_q = W_q.to(compute_dtype)
        b_q = b_q.to(compute_dtype)
        W_k = W_k.to(compute_dtype)
        b_k = b_k.to(compute_dtype)
        W_v = W_v.to(compute_dtype)
        b_v = b_v.to(compute_dtype)
        W_o = W_o.to(compute_dtype)
        b_o = b_o.to(compute_dtype)
        ln_2_w = ln_2_w.to(compute_dtype)
        ln_2_b = ln_2_b.to(compute_dtype)
        W_1 = W_1.to(compute_dtype)
        b_1 = b_1.to(compute_dtype)
        W_2 = W_2.to(compute_dtype)
        b_2 = b_2.to(compute_dtype)
        A_q = A_q.to(compute_dtype)
        B_q = B_q.to(compute_dtype)
        A_k = A_k.to(compute_dtype)
        B_k = B_k.to(compute_dtype)
        A_v = A_v.to(compute_dtype)
        B_v = B_v.to(compute_dtype)
        A_o = A_o.to(compute_dtype)
        B_o = B_o.to(compute_dtype)
        A_fc = A_fc.to(compute_dtype)
        B_fc = B_fc.to(compute_dtype)
        A_proj = A_proj.to(compute_dtype)
        B_proj = B_proj.to(compute_dtype)
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
    ln_1_mu = X.sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    ln_1_mu *= 1/d
    ln_1_Xc = X - ln_1_mu  # (..., n_T, d)
    del ln_1_mu
    ln_1_var = (ln_1_Xc * ln_1_Xc).sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    ln_1_var *= 1/d
    ln_1_sigma = eps + ln_1_var  # (..., n_T, 1), updated in place
    ln_1_sigma.sqrt_()
    ln_1_Xbar = torch.reciprocal(ln_1_sigma) * ln_1_Xc  # (..., n_T, d)
    ln_1_Y = ln_1_Xbar  # (..., n_T, d), ln_1_Xbar's array, updated in place
    ln_1_Y *= ln_1_w
    ln_1_Y += ln_1_b
    del ln_1_Xbar
    attn_Q = torch.nn.functional.linear(ln_1_Y, (W_q + alpha/r * (A_q @ B_q)).mT, b_q)  # (..., n_T, d)
    attn_K = torch.nn.functional.linear(ln_1_Y, (W_k + alpha/r * (A_k @ B_k)).mT, b_k)  # (..., n_T, d)
    attn_V = torch.nn.functional.linear(ln_1_Y, (W_v + alpha/r * (A_v @ B_v)).mT, b_v)  # (..., n_T, d)
    attn_Q_h = _split_heads(attn_Q, n_heads)  # (..., n_heads, n_T, d/n_heads)
    del attn_Q
    attn_K_h = _split_heads(attn_K, n_heads)  # (..., n_heads, n_T, d/n_heads)
    del attn_K
    attn_V_h = _split_heads(attn_V, n_heads)  # (..., n_heads, n_T, d/n_heads)
    del attn_V
    attn_S = attn_Q_h @ attn_K_h.mT  # (..., n_heads, n_T, n_T), updated in place
    attn_S *= math.sqrt(n_heads)/math.sqrt(d)
    attn_P = _softmax(attn_S, True, fresh=True)  # (..., n_heads, n_T, n_T), attn_S's array given to be written over
    del attn_S
    attn_A = _merge_heads(attn_P @ attn_V_h)  # (..., n_T, d)
    proj_Y = torch.nn.functional.linear(attn_A, (W_o + alpha/r * (A_o @ B_o)).mT, b_o)  # (..., n_T, d)
    a5 = proj_Y  # (..., n_T, d), proj_Y's array, updated in place
    a5 += X
    del proj_Y
    ln_2_mu = a5.sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    ln_2_mu *= 1/d
    ln_2_Xc = a5 - ln_2_mu  # (..., n_T, d)
    del ln_2_mu
    ln_2_var = (ln_2_Xc * ln_2_Xc).sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    ln_2_var *= 1/d
    ln_2_sigma = eps + ln_2_var  # (..., n_T, 1), updated in place
    ln_2_sigma.sqrt_()
    ln_2_Xbar = torch.reciprocal(ln_2_sigma) * ln_2_Xc  # (..., n_T, d)
    ln_2_Y = ln_2_Xbar  # (..., n_T, d), ln_2_Xbar's array, updated in place
    ln_2_Y *= ln_2_w
    ln_2_Y += ln_2_b
    del ln_2_Xbar
    mlp_H = torch.nn.functional.linear(ln_2_Y, (W_1 + alpha/r * (A_fc @ B_fc)).mT, b_1)  # (..., n_T, d_ff)
    mlp_A = _ACTIVATION[activation](mlp_H)  # (..., n_T, d_ff)
    mlp_Y = torch.nn.functional.linear(mlp_A, (W_2 + alpha/r * (A_proj @ B_proj)).mT, b_2)  # (..., n_T, d)
    Y = a5  # (..., n_T, d), a5's array, updated in place
    Y += mlp_Y
    del a5, mlp_Y
    cache = {"ln_1_w": ln_1_w, "W_q": W_q, "W_k": W_k, "W_v": W_v, "W_o": W_o, "ln_2_w": ln_2_w, "W_1": W_1, "W_2": W_2, "A_q": A_q, "B_q": B_q, "A_k": A_k, "B_k": B_k, "A_v": A_v, "B_v": B_v, "A_o": A_o, "B_o": B_o, "A_fc": A_fc, "B_fc": B_fc, "A_proj": A_proj, "B_proj": B_proj, "ln_1_Xc": ln_1_Xc, "ln_1_var": ln_1_var, "ln_1_sigma": ln_1_sigma, "ln_1_Y": ln_1_Y, "attn_Q_h": attn_Q_h, "attn_K_h": attn_K_h, "attn_V_h": attn_V_h, "attn_P": attn_P, "attn_A": attn_A, "ln_2_Xc": ln_2_Xc, "ln_2_var": ln_2_var, "ln_2_sigma": ln_2_sigma, "ln_2_Y": ln_2_Y, "mlp_H": mlp_H, "mlp_A": mlp_A, "n_heads": n_heads, "alpha": alpha, "eps": eps, "activation": activation, "d": d, "d_ff": d_ff, "r": r, "out_shape": Y.shape, "out_dtype": Y.dtype, "dtype": dtype}
    return Y.to(dtype), cache


@_no_grad
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
    grad_out = grad_out.to(cache["out_dtype"])  # the dtype the forward computed in
    del cache  # each array is released after its last use below
    # grad of mlp_Y, used in: Y = a5 + mlp_Y
    dmlp_Y = grad_out  # (..., n_T, d)
    # grad of mlp_A, used in: mlp_Y = mlp_A (W_2 + (alpha/r) A_proj B_proj) + 1 b_2ᵀ
    dmlp_A = dmlp_Y @ (W_2.mT + alpha/r * (B_proj.mT @ A_proj.mT))  # (..., n_T, d_ff)
    # grad of mlp_H, used in: mlp_A = activation(mlp_H)
    dmlp_H = dmlp_A  # (..., n_T, d_ff), dmlp_A's array, updated in place
    dmlp_H = _ACTIVATION_GRAD[activation](mlp_H, times=dmlp_H)
    del dmlp_A, mlp_H
    # grad of ln_2_Y, used in: mlp_H = ln_2_Y (W_1 + (alpha/r) A_fc B_fc) + 1 b_1ᵀ
    dln_2_Y = dmlp_H @ (W_1.mT + alpha/r * (B_fc.mT @ A_fc.mT))  # (..., n_T, d)
    # grad of ln_2_Xbar, used in: ln_2_Y = ln_2_Xbar ∘ (1 ln_2_wᵀ) + 1 ln_2_bᵀ
    dln_2_Xbar = dln_2_Y  # (..., n_T, d), dln_2_Y's array, updated in place
    dln_2_Xbar *= ln_2_w
    del dln_2_Y
    # grad of ln_2_sigma, used in: ln_2_Xbar = ((1/ln_2_sigma) 1ᵀ) ∘ ln_2_Xc
    dln_2_sigma = (dln_2_Xbar * ln_2_Xc).sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    dln_2_sigma *= -1/ln_2_sigma**2
    # grad of ln_2_var, used in: ln_2_sigma = sqrt(eps + ln_2_var)
    dln_2_var = dln_2_sigma  # (..., n_T, 1), dln_2_sigma's array, updated in place
    dln_2_var *= (1/2)/torch.sqrt(eps + ln_2_var)
    del dln_2_sigma, ln_2_var
    # grad of ln_2_Xc, used in: ln_2_var = (1/d) (ln_2_Xc ∘ ln_2_Xc) 1; ln_2_Xbar = ((1/ln_2_sigma) 1ᵀ) ∘ ln_2_Xc
    dln_2_Xc = dln_2_Xbar  # (..., n_T, d), dln_2_Xbar's array, updated in place
    dln_2_Xc *= torch.reciprocal(ln_2_sigma)
    dln_2_Xc.addcmul_(dln_2_var, ln_2_Xc, value=2/d)
    del dln_2_Xbar, dln_2_var, ln_2_Xc, ln_2_sigma
    # grad of ln_2_mu, used in: ln_2_Xc = a5 − ln_2_mu 1ᵀ
    dln_2_mu = -dln_2_Xc.sum(-1, keepdim=True)  # (..., n_T, 1)
    # grad of a5, used in: ln_2_mu = (1/d) a5 1; ln_2_Xc = a5 − ln_2_mu 1ᵀ; Y = a5 + mlp_Y
    da5 = dln_2_Xc  # (..., n_T, d), dln_2_Xc's array, updated in place
    da5 += grad_out
    da5.add_(dln_2_mu, alpha=1/d)
    del dln_2_Xc, dln_2_mu
    # grad of proj_Y, used in: a5 = X + proj_Y
    dproj_Y = da5  # (..., n_T, d)
    # grad of attn_A, used in: proj_Y = attn_A (W_o + (alpha/r) A_o B_o) + 1 b_oᵀ
    dattn_A = dproj_Y @ (W_o.mT + alpha/r * (B_o.mT @ A_o.mT))  # (..., n_T, d)
    # common subexpression
    t7 = _split_heads(dattn_A, n_heads)  # (..., n_heads, n_T, d/n_heads)
    del dattn_A
    # grad of attn_P, used in: attn_A = merge_h(attn_P attn_V_h)
    dattn_P = t7 @ attn_V_h.mT  # (..., n_heads, n_T, n_T)
    del attn_V_h
    # grad of attn_S, used in: attn_P = softmax[True](attn_S)
    dattn_S = dattn_P  # (..., n_heads, n_T, n_T), dattn_P's array, updated in place
    dattn_S -= (attn_P * dattn_P).sum(-1, keepdim=True)
    dattn_S *= attn_P
    del dattn_P
    # grad of attn_V_h, used in: attn_A = merge_h(attn_P attn_V_h)
    dattn_V_h = attn_P.mT @ t7  # (..., n_heads, n_T, d/n_heads)
    del attn_P, t7
    # grad of attn_K_h, used in: attn_S = (sqrt(n_heads)/sqrt(d)) attn_Q_h attn_K_hᵀ
    dattn_K_h = dattn_S.mT @ attn_Q_h  # (..., n_heads, n_T, d/n_heads), updated in place
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
    dln_1_Y = dattn_V @ (W_v.mT + alpha/r * (B_v.mT @ A_v.mT))  # (..., n_T, d), updated in place
    dln_1_Y += dattn_K @ (W_k.mT + alpha/r * (B_k.mT @ A_k.mT))
    dln_1_Y += dattn_Q @ (W_q.mT + alpha/r * (B_q.mT @ A_q.mT))
    # grad of ln_1_Xbar, used in: ln_1_Y = ln_1_Xbar ∘ (1 ln_1_wᵀ) + 1 ln_1_bᵀ
    dln_1_Xbar = dln_1_Y  # (..., n_T, d), dln_1_Y's array, updated in place
    dln_1_Xbar *= ln_1_w
    del dln_1_Y
    # grad of ln_1_sigma, used in: ln_1_Xbar = ((1/ln_1_sigma) 1ᵀ) ∘ ln_1_Xc
    dln_1_sigma = (dln_1_Xbar * ln_1_Xc).sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    dln_1_sigma *= -1/ln_1_sigma**2
    # grad of ln_1_var, used in: ln_1_sigma = sqrt(eps + ln_1_var)
    dln_1_var = dln_1_sigma  # (..., n_T, 1), dln_1_sigma's array, updated in place
    dln_1_var *= (1/2)/torch.sqrt(eps + ln_1_var)
    del dln_1_sigma, ln_1_var
    # grad of ln_1_Xc, used in: ln_1_var = (1/d) (ln_1_Xc ∘ ln_1_Xc) 1; ln_1_Xbar = ((1/ln_1_sigma) 1ᵀ) ∘ ln_1_Xc
    dln_1_Xc = dln_1_Xbar  # (..., n_T, d), dln_1_Xbar's array, updated in place
    dln_1_Xc *= torch.reciprocal(ln_1_sigma)
    dln_1_Xc.addcmul_(dln_1_var, ln_1_Xc, value=2/d)
    del dln_1_Xbar, dln_1_var, ln_1_Xc, ln_1_sigma
    # grad of ln_1_mu, used in: ln_1_Xc = X − ln_1_mu 1ᵀ
    dln_1_mu = -dln_1_Xc.sum(-1, keepdim=True)  # (..., n_T, 1)
    # grad of X, used in: ln_1_mu = (1/d) X 1; ln_1_Xc = X − ln_1_mu 1ᵀ; a5 = X + proj_Y
    dX = dln_1_Xc  # (..., n_T, d), dln_1_Xc's array, updated in place
    dX += da5
    dX.add_(dln_1_mu, alpha=1/d)
    del da5, dln_1_Xc, dln_1_mu
    # common subexpression
    t4 = ln_1_Y.reshape(-1, d).mT @ dattn_Q.reshape(-1, d)  # (d, d)
    del dattn_Q
    # grad of A_q, used in: attn_Q = ln_1_Y (W_q + (alpha/r) A_q B_q) + 1 b_qᵀ
    dA_q = t4 @ B_q.mT  # (d, r), updated in place
    dA_q *= alpha/r
    # grad of B_q, used in: attn_Q = ln_1_Y (W_q + (alpha/r) A_q B_q) + 1 b_qᵀ
    dB_q = A_q.mT @ t4  # (r, d), updated in place
    dB_q *= alpha/r
    del t4
    # common subexpression
    t5 = ln_1_Y.reshape(-1, d).mT @ dattn_K.reshape(-1, d)  # (d, d)
    del dattn_K
    # grad of A_k, used in: attn_K = ln_1_Y (W_k + (alpha/r) A_k B_k) + 1 b_kᵀ
    dA_k = t5 @ B_k.mT  # (d, r), updated in place
    dA_k *= alpha/r
    # grad of B_k, used in: attn_K = ln_1_Y (W_k + (alpha/r) A_k B_k) + 1 b_kᵀ
    dB_k = A_k.mT @ t5  # (r, d), updated in place
    dB_k *= alpha/r
    del t5
    # common subexpression
    t3 = ln_1_Y.reshape(-1, d).mT @ dattn_V.reshape(-1, d)  # (d, d)
    del dattn_V, ln_1_Y
    # grad of A_v, used in: attn_V = ln_1_Y (W_v + (alpha/r) A_v B_v) + 1 b_vᵀ
    dA_v = t3 @ B_v.mT  # (d, r), updated in place
    dA_v *= alpha/r
    # grad of B_v, used in: attn_V = ln_1_Y (W_v + (alpha/r) A_v B_v) + 1 b_vᵀ
    dB_v = A_v.mT @ t3  # (r, d), updated in place
    dB_v *= alpha/r
    del t3
    # common subexpression
    t6 = attn_A.reshape(-1, d).mT @ dproj_Y.reshape(-1, d)  # (d, d)
    del attn_A, dproj_Y
    # grad of A_o, used in: proj_Y = attn_A (W_o + (alpha/r) A_o B_o) + 1 b_oᵀ
    dA_o = t6 @ B_o.mT  # (d, r), updated in place
    dA_o *= alpha/r
    # grad of B_o, used in: proj_Y = attn_A (W_o + (alpha/r) A_o B_o) + 1 b_oᵀ
    dB_o = A_o.mT @ t6  # (r, d), updated in place
    dB_o *= alpha/r
    del t6
    # common subexpression
    t2 = ln_2_Y.reshape(-1, d).mT @ dmlp_H.reshape(-1, d_ff)  # (d, d_ff)
    del dmlp_H, ln_2_Y
    # grad of A_fc, used in: mlp_H = ln_2_Y (W_1 + (alpha/r) A_fc B_fc) + 1 b_1ᵀ
    dA_fc = t2 @ B_fc.mT  # (d, r), updated in place
    dA_fc *= alpha/r
    # grad of B_fc, used in: mlp_H = ln_2_Y (W_1 + (alpha/r) A_fc B_fc) + 1 b_1ᵀ
    dB_fc = A_fc.mT @ t2  # (r, d_ff), updated in place
    dB_fc *= alpha/r
    del t2
    # common subexpression
    t1 = mlp_A.reshape(-1, d_ff).mT @ dmlp_Y.reshape(-1, d)  # (d_ff, d)
    del dmlp_Y, mlp_A
    # grad of A_proj, used in: mlp_Y = mlp_A (W_2 + (alpha/r) A_proj B_proj) + 1 b_2ᵀ
    dA_proj = t1 @ B_proj.mT  # (d_ff, r), updated in place
    dA_proj *= alpha/r
    # grad of B_proj, used in: mlp_Y = mlp_A (W_2 + (alpha/r) A_proj B_proj) + 1 b_2ᵀ
    dB_proj = A_proj.mT @ t1  # (r, d), updated in place
    dB_proj *= alpha/r
    del t1
    return {
        "X": dX.to(dtype),
        "A_q": dA_q.to(dtype),
        "B_q": dB_q.to(dtype),
        "A_k": dA_k.to(dtype),
        "B_k": dB_k.to(dtype),
        "A_v": dA_v.to(dtype),
        "B_v": dB_v.to(dtype),
        "A_o": dA_o.to(dtype),
        "B_o": dB_o.to(dtype),
        "A_fc": dA_fc.to(dtype),
        "B_fc": dB_fc.to(dtype),
        "A_proj": dA_proj.to(dtype),
        "B_proj": dB_proj.to(dtype),
    }


@_no_grad
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
    idx = torch.as_tensor(idx)
    W_tok = torch.as_tensor(W_tok)
    W_pos = torch.as_tensor(W_pos)
    ln_f_w = torch.as_tensor(ln_f_w)
    ln_f_b = torch.as_tensor(ln_f_b)
    A_head = torch.as_tensor(A_head)
    B_head = torch.as_tensor(B_head)
    dtype, compute_dtype = _check_dtypes({"W_tok": W_tok, "W_pos": W_pos, "ln_f_w": ln_f_w, "ln_f_b": ln_f_b, "A_head": A_head, "B_head": B_head}, {"idx": idx})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        W_tok = W_tok.to(compute_dtype)
        W_pos = W_pos.to(compute_dtype)
        ln_f_w = ln_f_w.to(compute_dtype)
        ln_f_b = ln_f_b.to(compute_dtype)
        A_head = A_head.to(compute_dtype)
        B_head = B_head.to(compute_dtype)
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
    ln_f_mu = X_L.sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    ln_f_mu *= 1/d
    ln_f_Xc = X_L - ln_f_mu  # (..., n_T, d)
    del X_L, ln_f_mu
    ln_f_var = (ln_f_Xc * ln_f_Xc).sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    ln_f_var *= 1/d
    ln_f_sigma = eps + ln_f_var  # (..., n_T, 1), updated in place
    ln_f_sigma.sqrt_()
    ln_f_Xbar = torch.reciprocal(ln_f_sigma) * ln_f_Xc  # (..., n_T, d)
    ln_f_Y = ln_f_Xbar  # (..., n_T, d), ln_f_Xbar's array, updated in place
    ln_f_Y *= ln_f_w
    ln_f_Y += ln_f_b
    del ln_f_Xbar
    X_s = ln_f_Y[..., :n_T - 1, :]  # (..., n_T - 1, d)
    del ln_f_Y
    Z = X_s @ (W_tok.mT + alpha/r * (A_head @ B_head))  # (..., n_T - 1, n_vocab)
    softmax_Z = _softmax(Z, False)  # (..., n_T - 1, n_vocab)
    lse_Z = _logsumexp_of_softmax(Z, softmax_Z)  # (..., n_T - 1, 1)
    ell = lse_Z.sum(-2, keepdim=True) - Z.gather(-1, idx[..., 1:].unsqueeze(-1)).sum(-2, keepdim=True)  # (..., 1, 1)
    del Z, lse_Z
    loss = (1/(n_batch*(n_T - 1)) * ell.reshape(-1, 1, 1).sum(0)).reshape(())  # ()
    del ell
    cache = {"idx": idx, "W_tok": W_tok, "ln_f_w": ln_f_w, "A_head": A_head, "B_head": B_head, "ln_f_Xc": ln_f_Xc, "ln_f_var": ln_f_var, "ln_f_sigma": ln_f_sigma, "X_s": X_s, "softmax_Z": softmax_Z, "alpha": alpha, "eps": eps, "blocks": blocks, "n_T": n_T, "n_vocab": n_vocab, "d": d, "r": r, "n_batch": n_batch, "out_shape": loss.shape, "out_dtype": loss.dtype, "dtype": dtype}
    return loss.to(dtype), cache


@_no_grad
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
    grad_out = torch.as_tensor(grad_out)
    if grad_out.shape != cache["out_shape"]:
        raise ValueError(f"grad_out: expected shape {cache['out_shape']}, got {grad_out.shape}")
    grad_out = grad_out.to(cache["out_dtype"])  # the dtype the forward computed in
    del cache  # each array is released after its last use below
    # grad of ell, used in: loss = (1/(n_batch (n_T − 1))) Σ_batch ell
    dell = 1/(n_batch*(n_T - 1)) * grad_out  # ()
    # grad of Z, used in: ell = 1ᵀ lse(Z) − 1ᵀ pick(Z, idx[1:])
    dZ = _add_at_targets(dell * softmax_Z, idx[..., 1:], -dell, fresh=True)  # (..., n_T - 1, n_vocab)
    del dell, idx, softmax_Z
    # grad of X_s, used in: Z = X_s (W_tokᵀ + (alpha/r) A_head B_head)
    dX_s = dZ @ (W_tok + alpha/r * (B_head.mT @ A_head.mT))  # (..., n_T - 1, d)
    # grad of ln_f_Y, used in: X_s = ln_f_Y[:n_T − 1]
    dln_f_Y = _pad_rows(dX_s, n_T)  # (..., n_T, d)
    del dX_s
    # grad of ln_f_Xbar, used in: ln_f_Y = ln_f_Xbar ∘ (1 ln_f_wᵀ) + 1 ln_f_bᵀ
    dln_f_Xbar = dln_f_Y * ln_f_w  # (..., n_T, d)
    del dln_f_Y
    # grad of ln_f_sigma, used in: ln_f_Xbar = ((1/ln_f_sigma) 1ᵀ) ∘ ln_f_Xc
    dln_f_sigma = (dln_f_Xbar * ln_f_Xc).sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    dln_f_sigma *= -1/ln_f_sigma**2
    # grad of ln_f_var, used in: ln_f_sigma = sqrt(eps + ln_f_var)
    dln_f_var = dln_f_sigma  # (..., n_T, 1), dln_f_sigma's array, updated in place
    dln_f_var *= (1/2)/torch.sqrt(eps + ln_f_var)
    del dln_f_sigma, ln_f_var
    # grad of ln_f_Xc, used in: ln_f_var = (1/d) (ln_f_Xc ∘ ln_f_Xc) 1; ln_f_Xbar = ((1/ln_f_sigma) 1ᵀ) ∘ ln_f_Xc
    dln_f_Xc = dln_f_Xbar  # (..., n_T, d), dln_f_Xbar's array, updated in place
    dln_f_Xc *= torch.reciprocal(ln_f_sigma)
    dln_f_Xc.addcmul_(dln_f_var, ln_f_Xc, value=2/d)
    del dln_f_Xbar, dln_f_var, ln_f_Xc, ln_f_sigma
    # grad of ln_f_mu, used in: ln_f_Xc = X_L − ln_f_mu 1ᵀ
    dln_f_mu = -dln_f_Xc.sum(-1, keepdim=True)  # (..., n_T, 1)
    # grad of X_L, used in: ln_f_mu = (1/d) X_L 1; ln_f_Xc = X_L − ln_f_mu 1ᵀ
    dX_L = dln_f_Xc  # (..., n_T, d), dln_f_Xc's array, updated in place
    dX_L.add_(dln_f_mu, alpha=1/d)
    del dln_f_Xc, dln_f_mu
    # grad of X, used in: X_L = blocks(X)
    dX = blocks.backward(dX_L)  # (..., n_T, d)
    del dX, dX_L
    # common subexpression
    t1 = X_s.reshape(-1, d).mT @ dZ.reshape(-1, n_vocab)  # (d, n_vocab)
    del X_s, dZ
    # grad of A_head, used in: Z = X_s (W_tokᵀ + (alpha/r) A_head B_head)
    dA_head = t1 @ B_head.mT  # (d, r), updated in place
    dA_head *= alpha/r
    # grad of B_head, used in: Z = X_s (W_tokᵀ + (alpha/r) A_head B_head)
    dB_head = A_head.mT @ t1  # (r, n_vocab), updated in place
    dB_head *= alpha/r
    del t1
    return {
        "A_head": dA_head.to(dtype),
        "B_head": dB_head.to(dtype),
    }


@_no_grad
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
    idx = torch.as_tensor(idx)
    W_tok = torch.as_tensor(W_tok)
    W_pos = torch.as_tensor(W_pos)
    ln_f_w = torch.as_tensor(ln_f_w)
    ln_f_b = torch.as_tensor(ln_f_b)
    W_head = torch.as_tensor(W_head)
    b_head = torch.as_tensor(b_head)
    A_head = torch.as_tensor(A_head)
    B_head = torch.as_tensor(B_head)
    dtype, compute_dtype = _check_dtypes({"W_tok": W_tok, "W_pos": W_pos, "ln_f_w": ln_f_w, "ln_f_b": ln_f_b, "W_head": W_head, "b_head": b_head, "A_head": A_head, "B_head": B_head}, {"idx": idx})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        W_tok = W_tok.to(compute_dtype)
        W_pos = W_pos.to(compute_dtype)
        ln_f_w = ln_f_w.to(compute_dtype)
        ln_f_b = ln_f_b.to(compute_dtype)
        W_head = W_head.to(compute_dtype)
        b_head = b_head.to(compute_dtype)
        A_head = A_head.to(compute_dtype)
        B_head = B_head.to(compute_dtype)
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
    ln_f_mu = X_L.sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    ln_f_mu *= 1/d
    ln_f_Xc = X_L - ln_f_mu  # (..., n_T, d)
    del X_L, ln_f_mu
    ln_f_var = (ln_f_Xc * ln_f_Xc).sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    ln_f_var *= 1/d
    ln_f_sigma = eps + ln_f_var  # (..., n_T, 1), updated in place
    ln_f_sigma.sqrt_()
    ln_f_Xbar = torch.reciprocal(ln_f_sigma) * ln_f_Xc  # (..., n_T, d)
    ln_f_Y = ln_f_Xbar  # (..., n_T, d), ln_f_Xbar's array, updated in place
    ln_f_Y *= ln_f_w
    ln_f_Y += ln_f_b
    del ln_f_Xbar
    X_s = ln_f_Y[..., :n_T - 1, :]  # (..., n_T - 1, d)
    del ln_f_Y
    Z = torch.nn.functional.linear(X_s, (W_head.mT + alpha/r * (A_head @ B_head)).mT, b_head)  # (..., n_T - 1, n_vocab)
    softmax_Z = _softmax(Z, False)  # (..., n_T - 1, n_vocab)
    lse_Z = _logsumexp_of_softmax(Z, softmax_Z)  # (..., n_T - 1, 1)
    ell = lse_Z.sum(-2, keepdim=True) - Z.gather(-1, idx[..., 1:].unsqueeze(-1)).sum(-2, keepdim=True)  # (..., 1, 1)
    del Z, lse_Z
    loss = (1/(n_batch*(n_T - 1)) * ell.reshape(-1, 1, 1).sum(0)).reshape(())  # ()
    del ell
    cache = {"idx": idx, "ln_f_w": ln_f_w, "W_head": W_head, "A_head": A_head, "B_head": B_head, "ln_f_Xc": ln_f_Xc, "ln_f_var": ln_f_var, "ln_f_sigma": ln_f_sigma, "X_s": X_s, "softmax_Z": softmax_Z, "alpha": alpha, "eps": eps, "blocks": blocks, "n_T": n_T, "n_vocab": n_vocab, "d": d, "r": r, "n_batch": n_batch, "out_shape": loss.shape, "out_dtype": loss.dtype, "dtype": dtype}
    return loss.to(dtype), cache


@_no_grad
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
    grad_out = torch.as_tensor(grad_out)
    if grad_out.shape != cache["out_shape"]:
        raise ValueError(f"grad_out: expected shape {cache['out_shape']}, got {grad_out.shape}")
    grad_out = grad_out.to(cache["out_dtype"])  # the dtype the forward computed in
    del cache  # each array is released after its last use below
    # grad of ell, used in: loss = (1/(n_batch (n_T − 1))) Σ_batch ell
    dell = 1/(n_batch*(n_T - 1)) * grad_out  # ()
    # grad of Z, used in: ell = 1ᵀ lse(Z) − 1ᵀ pick(Z, idx[1:])
    dZ = _add_at_targets(dell * softmax_Z, idx[..., 1:], -dell, fresh=True)  # (..., n_T - 1, n_vocab)
    del dell, idx, softmax_Z
    # grad of X_s, used in: Z = X_s (W_headᵀ + (alpha/r) A_head B_head) + 1 b_headᵀ
    dX_s = dZ @ (W_head + alpha/r * (B_head.mT @ A_head.mT))  # (..., n_T - 1, d)
    # grad of ln_f_Y, used in: X_s = ln_f_Y[:n_T − 1]
    dln_f_Y = _pad_rows(dX_s, n_T)  # (..., n_T, d)
    del dX_s
    # grad of ln_f_Xbar, used in: ln_f_Y = ln_f_Xbar ∘ (1 ln_f_wᵀ) + 1 ln_f_bᵀ
    dln_f_Xbar = dln_f_Y * ln_f_w  # (..., n_T, d)
    del dln_f_Y
    # grad of ln_f_sigma, used in: ln_f_Xbar = ((1/ln_f_sigma) 1ᵀ) ∘ ln_f_Xc
    dln_f_sigma = (dln_f_Xbar * ln_f_Xc).sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    dln_f_sigma *= -1/ln_f_sigma**2
    # grad of ln_f_var, used in: ln_f_sigma = sqrt(eps + ln_f_var)
    dln_f_var = dln_f_sigma  # (..., n_T, 1), dln_f_sigma's array, updated in place
    dln_f_var *= (1/2)/torch.sqrt(eps + ln_f_var)
    del dln_f_sigma, ln_f_var
    # grad of ln_f_Xc, used in: ln_f_var = (1/d) (ln_f_Xc ∘ ln_f_Xc) 1; ln_f_Xbar = ((1/ln_f_sigma) 1ᵀ) ∘ ln_f_Xc
    dln_f_Xc = dln_f_Xbar  # (..., n_T, d), dln_f_Xbar's array, updated in place
    dln_f_Xc *= torch.reciprocal(ln_f_sigma)
    dln_f_Xc.addcmul_(dln_f_var, ln_f_Xc, value=2/d)
    del dln_f_Xbar, dln_f_var, ln_f_Xc, ln_f_sigma
    # grad of ln_f_mu, used in: ln_f_Xc = X_L − ln_f_mu 1ᵀ
    dln_f_mu = -dln_f_Xc.sum(-1, keepdim=True)  # (..., n_T, 1)
    # grad of X_L, used in: ln_f_mu = (1/d) X_L 1; ln_f_Xc = X_L − ln_f_mu 1ᵀ
    dX_L = dln_f_Xc  # (..., n_T, d), dln_f_Xc's array, updated in place
    dX_L.add_(dln_f_mu, alpha=1/d)
    del dln_f_Xc, dln_f_mu
    # grad of X, used in: X_L = blocks(X)
    dX = blocks.backward(dX_L)  # (..., n_T, d)
    del dX, dX_L
    # common subexpression
    t1 = X_s.reshape(-1, d).mT @ dZ.reshape(-1, n_vocab)  # (d, n_vocab)
    del X_s, dZ
    # grad of A_head, used in: Z = X_s (W_headᵀ + (alpha/r) A_head B_head) + 1 b_headᵀ
    dA_head = t1 @ B_head.mT  # (d, r), updated in place
    dA_head *= alpha/r
    # grad of B_head, used in: Z = X_s (W_headᵀ + (alpha/r) A_head B_head) + 1 b_headᵀ
    dB_head = A_head.mT @ t1  # (r, n_vocab), updated in place
    dB_head *= alpha/r
    del t1
    return {
        "A_head": dA_head.to(dtype),
        "B_head": dB_head.to(dtype),
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
            X, cache = self.block_forward(X.to(layer[0].dtype), *layer, **self.options)
            self.caches.append(cache)
        return X.to(computed)

    def backward(self, G):
        self.grads, computed = [], G.dtype
        while self.caches:  # last block first; each cache is dropped once its backward has run
            grads = self.block_backward(G, self.caches.pop())
            G = grads.pop("X")
            self.grads.insert(0, grads)
        return G.to(computed)


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
        out[f"h.{i}.{key}"] = torch.cat(parts, dim=-1)
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
        arguments.append(params.get("lm_head.bias", W_head.new_zeros(W_head.shape[0])))
    return tied, arguments


def loss_and_grads(params, idx, *, n_heads, eps=1e-5, activation="gelu_tanh", compile=False):
    """Mean next-token cross-entropy of ``idx`` (B, n_T) and the gradient of every parameter.

    With ``compile``, the whole step (forward and derived backward) runs under ``torch.compile``:
    compiled on the first call for each shape and configuration, which takes a while
    (``compile_seconds()`` says how long the last compilation took); the indices are checked
    before, eagerly.
    """
    if compile:
        _check_indices("idx", torch.as_tensor(idx), _get(params, "wte.weight").shape[0])
        return _compiled_step(params, idx, n_heads, eps, activation)
    return _step(params, idx, n_heads, eps, activation)


def _step(params, idx, n_heads, eps, activation):
    tied, arguments = _top_arguments(params)
    blocks = _stack(params, n_heads, eps, activation)
    forward, backward = (_tied_forward, _tied_backward) if tied else (_untied_forward, _untied_backward)
    loss, cache = forward(idx, *arguments, eps=eps, blocks=blocks)
    grads = backward(torch.ones_like(loss), cache)
    out = {key: grads[name] for name, key in _TOP_KEYS.items() if name in grads and key in params}
    for i, layer_grads in enumerate(blocks.grads):
        out.update(_block_gradients(layer_grads, i))
    return loss, out


_COMPILED = {"step": None, "seconds": 0.0, "signatures": set()}


def _compiled_step(params, idx, n_heads, eps, activation):
    """``_step`` under ``torch.compile``; the first call for a new shape or configuration compiles."""
    import time

    if _COMPILED["step"] is None:
        _COMPILED["step"] = torch.compile(_step, dynamic=False)
    signature = (tuple(idx.shape), tuple((k, tuple(v.shape), v.dtype) for k, v in sorted(params.items())),
                 n_heads, eps, activation)
    start = time.perf_counter()
    result = _COMPILED["step"](params, idx, n_heads, eps, activation)
    if signature not in _COMPILED["signatures"]:
        _COMPILED["signatures"].add(signature)
        _COMPILED["seconds"] = time.perf_counter() - start
    return result


def compile_seconds():
    """Seconds the last compilation of ``loss_and_grads(..., compile=True)`` took (its first call)."""
    return _COMPILED["seconds"]


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
    grads = backward(torch.ones_like(loss), cache)
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
                column = torch.zeros_like(merged[key])
                column[:, part * width:(part + 1) * width] = change
                merged[key] = merged[key] + column
    head = merged.get("lm_head.weight", params["wte.weight"])
    merged["lm_head.weight"] = head + delta("lm_head.lora").T
    return merged
