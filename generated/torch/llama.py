# GENERATED FILE: DO NOT EDIT.
# Derived by pedestrian-backprop from the forward definitions in derive/components/llama.py
# and derive/components/llama_block.py.
# Regenerate with: backprop generate --target torch
"""LLaMA (`llama`): LlamaForCausalLM's forward and derived backward pass.

``loss_and_grads(params, idx, *, n_heads, n_kv_heads, rope_theta=10000.0, eps=1e-6)`` returns the
mean next-token cross-entropy of ``idx`` (B, n_T) and a dict of gradients with the keys and shapes
of ``params``; ``logits(params, idx, ...)`` returns (B, n_T, n_vocab) logits.

``params`` is LlamaForCausalLM's state dict without the ``model.`` prefix, the tensors as they
are: ``embed_tokens.weight`` (V, d), ``layers.{i}.input_layernorm.weight`` (d,),
``layers.{i}.self_attn.q_proj.weight`` (n_heads · d_h, d), ``.k_proj.weight`` and
``.v_proj.weight`` (n_kv_heads · d_h, d), ``.o_proj.weight`` (d, n_heads · d_h),
``layers.{i}.post_attention_layernorm.weight`` (d,), ``layers.{i}.mlp.gate_proj.weight`` and
``.up_proj.weight`` (d_ff, d), ``.down_proj.weight`` (d, d_ff), ``norm.weight`` (d,) and
``lm_head.weight`` (V, d).  Without ``lm_head.weight``, or with it the very tensor of
``embed_tokens.weight`` (a tied model's state dict), the logits reuse the embeddings and the
summed gradient of the two uses is returned once, under ``embed_tokens.weight``.  The head width
d_h is read from the weights (q_proj's rows over n_heads), the number of layers from the keys.

Each block (one sweep over its composition, residual branches included):
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

The model (one sweep; tied, W_tok's two uses summed):
    X_0 = ohe(idx) W_tok
    X_L = blocks(X_0)
    norm_ms = (1/d) (X_L ∘ X_L) 1
    norm_r = 1/sqrt(eps + norm_ms)
    norm_Y = (norm_r 1ᵀ) ∘ X_L ∘ (1 norm_wᵀ)
    X_s = norm_Y[:n_T − 1]
    Z = X_s W_tokᵀ
    ell = 1ᵀ lse(Z) − 1ᵀ pick(Z, idx[1:])
    loss = (1/(n_batch (n_T − 1))) Σ_batch ell

Optimisations (each keeps the values within rounding):
    - block: read-forward-values: the backward reads norm_1_ms, norm_2_ms through other forward values, so the cache does not hold them
    - block: overwrite: norm_1_ms, norm_1_Y, attn_S, attn_P, h, norm_2_ms, norm_2_Y, Y, dmlp_gate, dnorm_2_Y, dnorm_2_ms, dh, dattn_S, dattn_K_s, dattn_Q_r, dnorm_1_Y, dnorm_1_ms, dX updated in place (+=, *=) in the array the statement made or in one no longer needed, not a new array per operation
    - tied: read-forward-values: the backward reads norm_ms through other forward values, so the cache does not hold it
    - tied: reuse-log-sum-exp: softmax(Z) kept from the forward for the backward, and lse(Z) = max(Z) − log(max(softmax(Z))) read off it: the exponentials once per step
    - tied: overwrite: norm_ms, norm_Y, dnorm_ms, dX_L updated in place (+=, *=) in the array the statement made or in one no longer needed, not a new array per operation
    - tied_logits: overwrite: norm_ms, norm_Y updated in place (+=, *=) in the array the statement made or in one no longer needed, not a new array per operation
    - untied: read-forward-values: the backward reads norm_ms through other forward values, so the cache does not hold it
    - untied: reuse-log-sum-exp: softmax(Z) kept from the forward for the backward, and lse(Z) = max(Z) − log(max(softmax(Z))) read off it: the exponentials once per step
    - untied: overwrite: norm_ms, norm_Y, dnorm_ms, dX_L updated in place (+=, *=) in the array the statement made or in one no longer needed, not a new array per operation
    - untied_logits: overwrite: norm_ms, norm_Y updated in place (+=, *=) in the array the statement made or in one no longer needed, not a new array per operation
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


def _rotary_angles(n, d, theta, like):
    """(n, d): entry (t, j) = t · θ^(−2 (j mod d/2) / d) for positions t = 0 … n − 1, computed in float64
    and given in ``like``'s dtype on its device."""
    device = None if like is None else like.device
    frequencies = float(theta) ** (-torch.arange(0, d, 2, dtype=torch.float64, device=device) / d)
    angles = torch.arange(n, dtype=torch.float64, device=device)[:, None] * torch.cat((frequencies, frequencies))
    return angles if like is None else angles.to(like.dtype)


def _rotate_half(A):
    """[−A₂, A₁] for A = [A₁, A₂] split at half its last axis."""
    half = A.shape[-1] // 2
    return torch.cat((-A[..., half:], A[..., :half]), dim=-1)


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


def _share_heads(A, group):
    """(..., groups, n_T, d) → (..., groups · group, n_T, d): each head shared by ``group`` consecutive heads."""
    return A.repeat_interleave(group, dim=-3)


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


def _sum_groups(A, groups):
    """(..., heads, n_T, d) → (..., groups, n_T, d): the sum over each group of heads / groups consecutive heads."""
    return A.reshape(*A.shape[:-3], groups, A.shape[-3] // groups, *A.shape[-2:]).sum(-3)


def _transformed(t):
    """Whether ``t`` is a value a torch.func transform (vmap, grad, jvp) is tracing, not a plain tensor:
    then no buffer is kept between calls and no storage is inspected.  Never while compiling (the
    compiler traces plain tensors, and the question would break its graph)."""
    return not torch.compiler.is_compiling() and torch._C._functorch.is_functorch_wrapped_tensor(t)


def _silu(x, times=None):
    """Exactly the defined function, as torch's fused kernel."""
    if times is None:
        return torch.nn.functional.silu(x)
    times *= torch.nn.functional.silu(x)
    return times


def _silu_grad(x, times=None):
    """Computed in buffers of its own, each operation in place; ``times``: multiplied into it."""
    if torch.is_grad_enabled() or _transformed(x):
        value = x*torch.exp(-x)/(1 + torch.exp(-x))**2 + torch.reciprocal((1 + torch.exp(-x)))
        return value if times is None else times * value
    t0 = torch.multiply(x, -1.0, out=None if times is None else _scratch("silu_grad.t0", x))
    torch.exp(t0, out=t0)
    t1 = t0.clone()
    t1 += 1.0
    torch.reciprocal(t1, out=t1)
    torch.multiply(t0, t1, out=t0)
    torch.multiply(t0, x, out=t0)
    t0 += 1.0
    torch.multiply(t0, t1, out=t0)
    if times is None:
        return t0
    times *= t0
    return times


@_no_grad
def _block_forward(X, input_norm_w, W_q, W_k, W_v, W_o, post_norm_w, W_gate, W_up, W_down, *, n_heads, n_kv_heads, rope_theta=10000.0, eps=1e-06):
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
    X = torch.as_tensor(X)
    input_norm_w = torch.as_tensor(input_norm_w)
    W_q = torch.as_tensor(W_q)
    W_k = torch.as_tensor(W_k)
    W_v = torch.as_tensor(W_v)
    W_o = torch.as_tensor(W_o)
    post_norm_w = torch.as_tensor(post_norm_w)
    W_gate = torch.as_tensor(W_gate)
    W_up = torch.as_tensor(W_up)
    W_down = torch.as_tensor(W_down)
    dtype, compute_dtype = _check_dtypes({"X": X, "input_norm_w": input_norm_w, "W_q": W_q, "W_k": W_k, "W_v": W_v, "W_o": W_o, "post_norm_w": post_norm_w, "W_gate": W_gate, "W_up": W_up, "W_down": W_down}, {})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        X = X.to(compute_dtype)
        input_norm_w = input_norm_w.to(compute_dtype)
        W_q = W_q.to(compute_dtype)
        W_k = W_k.to(compute_dtype)
        W_v = W_v.to(compute_dtype)
        W_o = W_o.to(compute_dtype)
        post_norm_w = post_norm_w.to(compute_dtype)
        W_gate = W_gate.to(compute_dtype)
        W_up = W_up.to(compute_dtype)
        W_down = W_down.to(compute_dtype)
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
    norm_1_ms = (X * X).sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    norm_1_ms *= 1/d
    norm_1_r = 1/torch.sqrt(eps + norm_1_ms)  # (..., n_T, 1)
    del norm_1_ms
    norm_1_Y = norm_1_r * X  # (..., n_T, d), updated in place
    norm_1_Y *= input_norm_w
    attn_Q_h = _split_heads(norm_1_Y @ W_q.mT, n_heads)  # (..., n_heads, n_T, d_h)
    attn_K_h = _split_heads(norm_1_Y @ W_k.mT, n_kv_heads)  # (..., n_kv_heads, n_T, d_h)
    attn_V_h = _split_heads(norm_1_Y @ W_v.mT, n_kv_heads)  # (..., n_kv_heads, n_T, d_h)
    attn_cos = torch.cos(_rotary_angles(n_T, d_h, rope_theta, like=X))  # (n_T, d_h)
    attn_sin = torch.sin(_rotary_angles(n_T, d_h, rope_theta, like=X))  # (n_T, d_h)
    attn_Q_r = attn_Q_h * attn_cos + _rotate_half(attn_Q_h) * attn_sin  # (..., n_heads, n_T, d_h)
    del attn_Q_h
    attn_K_r = attn_K_h * attn_cos + _rotate_half(attn_K_h) * attn_sin  # (..., n_kv_heads, n_T, d_h)
    del attn_K_h
    attn_K_s = _share_heads(attn_K_r, n_heads // n_kv_heads)  # (..., n_heads, n_T, d_h)
    del attn_K_r
    attn_V_s = _share_heads(attn_V_h, n_heads // n_kv_heads)  # (..., n_heads, n_T, d_h)
    del attn_V_h
    attn_S = attn_Q_r @ attn_K_s.mT  # (..., n_heads, n_T, n_T), updated in place
    attn_S *= 1/math.sqrt(d_h)
    attn_P = _softmax(attn_S, True, fresh=True)  # (..., n_heads, n_T, n_T), attn_S's array given to be written over
    del attn_S
    attn_A = _merge_heads(attn_P @ attn_V_s)  # (..., n_T, d_h*n_heads)
    h = attn_A @ W_o.mT  # (..., n_T, d), updated in place
    h += X
    norm_2_ms = (h * h).sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    norm_2_ms *= 1/d
    norm_2_r = 1/torch.sqrt(eps + norm_2_ms)  # (..., n_T, 1)
    del norm_2_ms
    norm_2_Y = norm_2_r * h  # (..., n_T, d), updated in place
    norm_2_Y *= post_norm_w
    mlp_gate = norm_2_Y @ W_gate.mT  # (..., n_T, d_ff)
    mlp_up = norm_2_Y @ W_up.mT  # (..., n_T, d_ff)
    mlp_H = _silu(mlp_gate) * mlp_up  # (..., n_T, d_ff)
    mlp_Y = mlp_H @ W_down.mT  # (..., n_T, d)
    Y = mlp_Y  # (..., n_T, d), mlp_Y's array, updated in place
    Y += h
    del mlp_Y
    cache = {"X": X, "input_norm_w": input_norm_w, "W_q": W_q, "W_k": W_k, "W_v": W_v, "W_o": W_o, "post_norm_w": post_norm_w, "W_gate": W_gate, "W_up": W_up, "W_down": W_down, "norm_1_r": norm_1_r, "norm_1_Y": norm_1_Y, "attn_cos": attn_cos, "attn_sin": attn_sin, "attn_Q_r": attn_Q_r, "attn_K_s": attn_K_s, "attn_V_s": attn_V_s, "attn_P": attn_P, "attn_A": attn_A, "h": h, "norm_2_r": norm_2_r, "norm_2_Y": norm_2_Y, "mlp_gate": mlp_gate, "mlp_up": mlp_up, "mlp_H": mlp_H, "n_heads": n_heads, "n_kv_heads": n_kv_heads, "d": d, "d_h": d_h, "d_ff": d_ff, "out_shape": Y.shape, "out_dtype": Y.dtype, "dtype": dtype}
    return Y.to(dtype), cache


@_no_grad
def _block_backward(grad_out, cache):
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
    grad_out = grad_out.to(cache["out_dtype"])  # the dtype the forward computed in
    del cache  # each array is released after its last use below
    # grad of mlp_Y, used in: Y = h + mlp_Y
    dmlp_Y = grad_out  # (..., n_T, d)
    # grad of mlp_H, used in: mlp_Y = mlp_H W_downᵀ
    dmlp_H = dmlp_Y @ W_down  # (..., n_T, d_ff)
    # grad of mlp_up, used in: mlp_H = silu(mlp_gate) ∘ mlp_up
    dmlp_up = dmlp_H * _silu(mlp_gate)  # (..., n_T, d_ff)
    # grad of mlp_gate, used in: mlp_H = silu(mlp_gate) ∘ mlp_up
    dmlp_gate = dmlp_H  # (..., n_T, d_ff), dmlp_H's array, updated in place
    dmlp_gate *= mlp_up
    dmlp_gate = _silu_grad(mlp_gate, times=dmlp_gate)
    del dmlp_H, mlp_gate, mlp_up
    # grad of norm_2_Y, used in: mlp_gate = norm_2_Y W_gateᵀ; mlp_up = norm_2_Y W_upᵀ
    dnorm_2_Y = dmlp_up @ W_up  # (..., n_T, d), updated in place
    dnorm_2_Y += dmlp_gate @ W_gate
    # grad of norm_2_r, used in: norm_2_Y = (norm_2_r 1ᵀ) ∘ h ∘ (1 post_norm_wᵀ)
    dnorm_2_r = (dnorm_2_Y * h * post_norm_w).sum(-1, keepdim=True)  # (..., n_T, 1)
    # grad of norm_2_ms, used in: norm_2_r = 1/sqrt(eps + norm_2_ms)
    dnorm_2_ms = dnorm_2_r  # (..., n_T, 1), dnorm_2_r's array, updated in place
    dnorm_2_ms *= norm_2_r**3
    dnorm_2_ms *= -1/2
    del dnorm_2_r
    # grad of h, used in: norm_2_ms = (1/d) (h ∘ h) 1; norm_2_Y = (norm_2_r 1ᵀ) ∘ h ∘ (1 post_norm_wᵀ); Y = h + mlp_Y
    dh = dnorm_2_Y * norm_2_r  # (..., n_T, d), updated in place
    dh *= post_norm_w
    dh += grad_out
    dh.addcmul_(dnorm_2_ms, h, value=2/d)
    del dnorm_2_ms
    # grad of attn_A, used in: h = X + attn_A W_oᵀ
    dattn_A = dh @ W_o  # (..., n_T, d_h*n_heads)
    # common subexpression
    t1 = _split_heads(dattn_A, n_heads)  # (..., n_heads, n_T, d_h)
    del dattn_A
    # grad of attn_P, used in: attn_A = merge_h(attn_P attn_V_s)
    dattn_P = t1 @ attn_V_s.mT  # (..., n_heads, n_T, n_T)
    del attn_V_s
    # grad of attn_S, used in: attn_P = softmax[True](attn_S)
    dattn_S = dattn_P  # (..., n_heads, n_T, n_T), dattn_P's array, updated in place
    dattn_S -= (attn_P * dattn_P).sum(-1, keepdim=True)
    dattn_S *= attn_P
    del dattn_P
    # grad of attn_V_s, used in: attn_A = merge_h(attn_P attn_V_s)
    dattn_V_s = attn_P.mT @ t1  # (..., n_heads, n_T, d_h)
    del attn_P, t1
    # grad of attn_K_s, used in: attn_S = (1/sqrt(d_h)) attn_Q_r attn_K_sᵀ
    dattn_K_s = dattn_S.mT @ attn_Q_r  # (..., n_heads, n_T, d_h), updated in place
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
    dnorm_1_Y = t2 @ W_v  # (..., n_T, d), updated in place
    dnorm_1_Y += t4 @ W_k
    dnorm_1_Y += t3 @ W_q
    # grad of norm_1_r, used in: norm_1_Y = (norm_1_r 1ᵀ) ∘ X ∘ (1 input_norm_wᵀ)
    dnorm_1_r = (dnorm_1_Y * X * input_norm_w).sum(-1, keepdim=True)  # (..., n_T, 1)
    # grad of norm_1_ms, used in: norm_1_r = 1/sqrt(eps + norm_1_ms)
    dnorm_1_ms = dnorm_1_r  # (..., n_T, 1), dnorm_1_r's array, updated in place
    dnorm_1_ms *= norm_1_r**3
    dnorm_1_ms *= -1/2
    del dnorm_1_r
    # grad of X, used in: norm_1_ms = (1/d) (X ∘ X) 1; norm_1_Y = (norm_1_r 1ᵀ) ∘ X ∘ (1 input_norm_wᵀ); h = X + attn_A W_oᵀ
    dX = dnorm_1_Y * norm_1_r  # (..., n_T, d), updated in place
    dX *= input_norm_w
    dX += dh
    dX.addcmul_(dnorm_1_ms, X, value=2/d)
    del dnorm_1_ms
    # grad of input_norm_w, used in: norm_1_Y = (norm_1_r 1ᵀ) ∘ X ∘ (1 input_norm_wᵀ)
    dinput_norm_w = (dnorm_1_Y * norm_1_r * X).reshape(-1, d).sum(0)  # (d,)
    del X, dnorm_1_Y, norm_1_r
    # grad of W_q, used in: attn_Q_h = split_h(norm_1_Y W_qᵀ)
    dW_q = t3.reshape(-1, d_h*n_heads).mT @ norm_1_Y.reshape(-1, d)  # (d_h*n_heads, d)
    del t3
    # grad of W_k, used in: attn_K_h = split_h(norm_1_Y W_kᵀ)
    dW_k = t4.reshape(-1, d_h*n_kv_heads).mT @ norm_1_Y.reshape(-1, d)  # (d_h*n_kv_heads, d)
    del t4
    # grad of W_v, used in: attn_V_h = split_h(norm_1_Y W_vᵀ)
    dW_v = t2.reshape(-1, d_h*n_kv_heads).mT @ norm_1_Y.reshape(-1, d)  # (d_h*n_kv_heads, d)
    del norm_1_Y, t2
    # grad of W_o, used in: h = X + attn_A W_oᵀ
    dW_o = dh.reshape(-1, d).mT @ attn_A.reshape(-1, d_h*n_heads)  # (d, d_h*n_heads)
    del attn_A, dh
    # grad of post_norm_w, used in: norm_2_Y = (norm_2_r 1ᵀ) ∘ h ∘ (1 post_norm_wᵀ)
    dpost_norm_w = (dnorm_2_Y * norm_2_r * h).reshape(-1, d).sum(0)  # (d,)
    del dnorm_2_Y, h, norm_2_r
    # grad of W_gate, used in: mlp_gate = norm_2_Y W_gateᵀ
    dW_gate = dmlp_gate.reshape(-1, d_ff).mT @ norm_2_Y.reshape(-1, d)  # (d_ff, d)
    del dmlp_gate
    # grad of W_up, used in: mlp_up = norm_2_Y W_upᵀ
    dW_up = dmlp_up.reshape(-1, d_ff).mT @ norm_2_Y.reshape(-1, d)  # (d_ff, d)
    del dmlp_up, norm_2_Y
    # grad of W_down, used in: mlp_Y = mlp_H W_downᵀ
    dW_down = dmlp_Y.reshape(-1, d).mT @ mlp_H.reshape(-1, d_ff)  # (d, d_ff)
    del dmlp_Y, mlp_H
    return {
        "X": dX.to(dtype),
        "input_norm_w": dinput_norm_w.to(dtype),
        "W_q": dW_q.to(dtype),
        "W_k": dW_k.to(dtype),
        "W_v": dW_v.to(dtype),
        "W_o": dW_o.to(dtype),
        "post_norm_w": dpost_norm_w.to(dtype),
        "W_gate": dW_gate.to(dtype),
        "W_up": dW_up.to(dtype),
        "W_down": dW_down.to(dtype),
    }


@_no_grad
def _tied_forward(idx, W_tok, norm_w, *, eps=1e-06, blocks):
    """LLaMA (tied logits), loss: returns ``(out, cache)``.

    idx: integer input (n_T,): token indices
    W_tok: parameter (n_vocab, d): embed_tokens
    norm_w: parameter (d,): norm
    eps: configuration, default 1e-06: RMSNorm epsilon
    blocks: configuration, required: the llama_block stack
    """
    idx = torch.as_tensor(idx)
    W_tok = torch.as_tensor(W_tok)
    norm_w = torch.as_tensor(norm_w)
    dtype, compute_dtype = _check_dtypes({"W_tok": W_tok, "norm_w": norm_w}, {"idx": idx})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        W_tok = W_tok.to(compute_dtype)
        norm_w = norm_w.to(compute_dtype)
    eps = _check_number("eps", eps)
    dims = {}
    _check_shape("idx", idx, ("n_T",), dims, batched=True)
    _check_shape("W_tok", W_tok, ("n_vocab", "d"), dims, batched=False)
    _check_shape("norm_w", norm_w, ("d",), dims, batched=False)
    n_T, n_vocab, d = dims["n_T"], dims["n_vocab"], dims["d"]
    n_batch = math.prod(dims["..."])  # sequences in the batch
    if n_batch < 1:
        raise ValueError(f"the batch is empty (leading dimensions {dims['...']}): llama_tied_loss needs at least one sequence")
    if not (n_T >= 2):
        raise ValueError('cross_entropy: n_T must be at least 2: position t is scored against token t + 1; got ' + f"n_T={n_T}")
    _check_indices("idx", idx, n_vocab)
    X_0 = W_tok[idx]  # (..., n_T, d)
    X_L = blocks.forward(X_0)  # (..., n_T, d)
    del X_0
    norm_ms = (X_L * X_L).sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    norm_ms *= 1/d
    norm_r = 1/torch.sqrt(eps + norm_ms)  # (..., n_T, 1)
    del norm_ms
    norm_Y = norm_r * X_L  # (..., n_T, d), updated in place
    norm_Y *= norm_w
    X_s = norm_Y[..., :n_T - 1, :]  # (..., n_T - 1, d)
    del norm_Y
    Z = X_s @ W_tok.mT  # (..., n_T - 1, n_vocab)
    softmax_Z = _softmax(Z, False)  # (..., n_T - 1, n_vocab)
    lse_Z = _logsumexp_of_softmax(Z, softmax_Z)  # (..., n_T - 1, 1)
    ell = lse_Z.sum(-2, keepdim=True) - Z.gather(-1, idx[..., 1:].unsqueeze(-1)).sum(-2, keepdim=True)  # (..., 1, 1)
    del Z, lse_Z
    loss = (1/(n_batch*(n_T - 1)) * ell.reshape(-1, 1, 1).sum(0)).reshape(())  # ()
    del ell
    cache = {"idx": idx, "W_tok": W_tok, "norm_w": norm_w, "X_L": X_L, "norm_r": norm_r, "X_s": X_s, "softmax_Z": softmax_Z, "blocks": blocks, "n_T": n_T, "n_vocab": n_vocab, "d": d, "n_batch": n_batch, "out_shape": loss.shape, "out_dtype": loss.dtype, "dtype": dtype}
    return loss.to(dtype), cache


@_no_grad
def _tied_backward(grad_out, cache):
    """Gradients of the loss given ``grad_out`` = ∂L/∂loss: a dict keyed by argument name."""
    idx = cache["idx"]
    W_tok = cache["W_tok"]
    norm_w = cache["norm_w"]
    X_L = cache["X_L"]
    norm_r = cache["norm_r"]
    X_s = cache["X_s"]
    softmax_Z = cache["softmax_Z"]
    blocks = cache["blocks"]
    n_T = cache["n_T"]
    n_vocab = cache["n_vocab"]
    d = cache["d"]
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
    # grad of norm_Y, used in: X_s = norm_Y[:n_T − 1]
    dnorm_Y = _pad_rows(dX_s, n_T)  # (..., n_T, d)
    del dX_s
    # grad of norm_r, used in: norm_Y = (norm_r 1ᵀ) ∘ X_L ∘ (1 norm_wᵀ)
    dnorm_r = (dnorm_Y * X_L * norm_w).sum(-1, keepdim=True)  # (..., n_T, 1)
    # grad of norm_ms, used in: norm_r = 1/sqrt(eps + norm_ms)
    dnorm_ms = dnorm_r  # (..., n_T, 1), dnorm_r's array, updated in place
    dnorm_ms *= norm_r**3
    dnorm_ms *= -1/2
    del dnorm_r
    # grad of X_L, used in: norm_ms = (1/d) (X_L ∘ X_L) 1; norm_Y = (norm_r 1ᵀ) ∘ X_L ∘ (1 norm_wᵀ)
    dX_L = dnorm_Y * norm_r  # (..., n_T, d), updated in place
    dX_L *= norm_w
    dX_L.addcmul_(dnorm_ms, X_L, value=2/d)
    del dnorm_ms
    # grad of X_0, used in: X_L = blocks(X_0)
    dX_0 = blocks.backward(dX_L)  # (..., n_T, d)
    del dX_L
    # grad of W_tok, used in: X_0 = ohe(idx) W_tok; Z = X_s W_tokᵀ
    dW_tok = _scatter_add_rows(idx, dX_0, n_vocab, into=dZ.reshape(-1, n_vocab).mT @ X_s.reshape(-1, d), fresh=True)  # (n_vocab, d)
    del X_s, dX_0, dZ, idx
    # grad of norm_w, used in: norm_Y = (norm_r 1ᵀ) ∘ X_L ∘ (1 norm_wᵀ)
    dnorm_w = (dnorm_Y * norm_r * X_L).reshape(-1, d).sum(0)  # (d,)
    del X_L, dnorm_Y, norm_r
    return {
        "W_tok": dW_tok.to(dtype),
        "norm_w": dnorm_w.to(dtype),
    }


@_no_grad
def _tied_logits_forward(idx, W_tok, norm_w, *, eps=1e-06, blocks):
    """LLaMA (tied logits), logits: returns ``(out, cache)``.

    idx: integer input (n_T,): token indices
    W_tok: parameter (n_vocab, d): embed_tokens
    norm_w: parameter (d,): norm
    eps: configuration, default 1e-06: RMSNorm epsilon
    blocks: configuration, required: the llama_block stack
    """
    idx = torch.as_tensor(idx)
    W_tok = torch.as_tensor(W_tok)
    norm_w = torch.as_tensor(norm_w)
    dtype, compute_dtype = _check_dtypes({"W_tok": W_tok, "norm_w": norm_w}, {"idx": idx})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        W_tok = W_tok.to(compute_dtype)
        norm_w = norm_w.to(compute_dtype)
    eps = _check_number("eps", eps)
    dims = {}
    _check_shape("idx", idx, ("n_T",), dims, batched=True)
    _check_shape("W_tok", W_tok, ("n_vocab", "d"), dims, batched=False)
    _check_shape("norm_w", norm_w, ("d",), dims, batched=False)
    n_vocab, d = dims["n_vocab"], dims["d"]
    _check_indices("idx", idx, n_vocab)
    X_0 = W_tok[idx]  # (..., n_T, d)
    X_L = blocks.forward(X_0)  # (..., n_T, d)
    del X_0
    norm_ms = (X_L * X_L).sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    norm_ms *= 1/d
    norm_r = 1/torch.sqrt(eps + norm_ms)  # (..., n_T, 1)
    del norm_ms
    norm_Y = norm_r * X_L  # (..., n_T, d), updated in place
    norm_Y *= norm_w
    del X_L, norm_r
    logits = norm_Y @ W_tok.mT  # (..., n_T, n_vocab)
    del norm_Y
    cache = {"out_shape": logits.shape, "out_dtype": logits.dtype, "dtype": dtype}
    return logits.to(dtype), cache


@_no_grad
def _untied_forward(idx, W_tok, norm_w, W_head, *, eps=1e-06, blocks):
    """LLaMA (untied logits), loss: returns ``(out, cache)``.

    idx: integer input (n_T,): token indices
    W_tok: parameter (n_vocab, d): embed_tokens
    norm_w: parameter (d,): norm
    W_head: parameter (n_vocab, d): lm_head
    eps: configuration, default 1e-06: RMSNorm epsilon
    blocks: configuration, required: the llama_block stack
    """
    idx = torch.as_tensor(idx)
    W_tok = torch.as_tensor(W_tok)
    norm_w = torch.as_tensor(norm_w)
    W_head = torch.as_tensor(W_head)
    dtype, compute_dtype = _check_dtypes({"W_tok": W_tok, "norm_w": norm_w, "W_head": W_head}, {"idx": idx})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        W_tok = W_tok.to(compute_dtype)
        norm_w = norm_w.to(compute_dtype)
        W_head = W_head.to(compute_dtype)
    eps = _check_number("eps", eps)
    dims = {}
    _check_shape("idx", idx, ("n_T",), dims, batched=True)
    _check_shape("W_tok", W_tok, ("n_vocab", "d"), dims, batched=False)
    _check_shape("norm_w", norm_w, ("d",), dims, batched=False)
    _check_shape("W_head", W_head, ("n_vocab", "d"), dims, batched=False)
    n_T, n_vocab, d = dims["n_T"], dims["n_vocab"], dims["d"]
    n_batch = math.prod(dims["..."])  # sequences in the batch
    if n_batch < 1:
        raise ValueError(f"the batch is empty (leading dimensions {dims['...']}): llama_untied_loss needs at least one sequence")
    if not (n_T >= 2):
        raise ValueError('cross_entropy: n_T must be at least 2: position t is scored against token t + 1; got ' + f"n_T={n_T}")
    _check_indices("idx", idx, n_vocab)
    X_0 = W_tok[idx]  # (..., n_T, d)
    X_L = blocks.forward(X_0)  # (..., n_T, d)
    del X_0
    norm_ms = (X_L * X_L).sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    norm_ms *= 1/d
    norm_r = 1/torch.sqrt(eps + norm_ms)  # (..., n_T, 1)
    del norm_ms
    norm_Y = norm_r * X_L  # (..., n_T, d), updated in place
    norm_Y *= norm_w
    X_s = norm_Y[..., :n_T - 1, :]  # (..., n_T - 1, d)
    del norm_Y
    Z = X_s @ W_head.mT  # (..., n_T - 1, n_vocab)
    softmax_Z = _softmax(Z, False)  # (..., n_T - 1, n_vocab)
    lse_Z = _logsumexp_of_softmax(Z, softmax_Z)  # (..., n_T - 1, 1)
    ell = lse_Z.sum(-2, keepdim=True) - Z.gather(-1, idx[..., 1:].unsqueeze(-1)).sum(-2, keepdim=True)  # (..., 1, 1)
    del Z, lse_Z
    loss = (1/(n_batch*(n_T - 1)) * ell.reshape(-1, 1, 1).sum(0)).reshape(())  # ()
    del ell
    cache = {"idx": idx, "norm_w": norm_w, "W_head": W_head, "X_L": X_L, "norm_r": norm_r, "X_s": X_s, "softmax_Z": softmax_Z, "blocks": blocks, "n_T": n_T, "n_vocab": n_vocab, "d": d, "n_batch": n_batch, "out_shape": loss.shape, "out_dtype": loss.dtype, "dtype": dtype}
    return loss.to(dtype), cache


@_no_grad
def _untied_backward(grad_out, cache):
    """Gradients of the loss given ``grad_out`` = ∂L/∂loss: a dict keyed by argument name."""
    idx = cache["idx"]
    norm_w = cache["norm_w"]
    W_head = cache["W_head"]
    X_L = cache["X_L"]
    norm_r = cache["norm_r"]
    X_s = cache["X_s"]
    softmax_Z = cache["softmax_Z"]
    blocks = cache["blocks"]
    n_T = cache["n_T"]
    n_vocab = cache["n_vocab"]
    d = cache["d"]
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
    # grad of X_s, used in: Z = X_s W_headᵀ
    dX_s = dZ @ W_head  # (..., n_T - 1, d)
    # grad of norm_Y, used in: X_s = norm_Y[:n_T − 1]
    dnorm_Y = _pad_rows(dX_s, n_T)  # (..., n_T, d)
    del dX_s
    # grad of norm_r, used in: norm_Y = (norm_r 1ᵀ) ∘ X_L ∘ (1 norm_wᵀ)
    dnorm_r = (dnorm_Y * X_L * norm_w).sum(-1, keepdim=True)  # (..., n_T, 1)
    # grad of norm_ms, used in: norm_r = 1/sqrt(eps + norm_ms)
    dnorm_ms = dnorm_r  # (..., n_T, 1), dnorm_r's array, updated in place
    dnorm_ms *= norm_r**3
    dnorm_ms *= -1/2
    del dnorm_r
    # grad of X_L, used in: norm_ms = (1/d) (X_L ∘ X_L) 1; norm_Y = (norm_r 1ᵀ) ∘ X_L ∘ (1 norm_wᵀ)
    dX_L = dnorm_Y * norm_r  # (..., n_T, d), updated in place
    dX_L *= norm_w
    dX_L.addcmul_(dnorm_ms, X_L, value=2/d)
    del dnorm_ms
    # grad of X_0, used in: X_L = blocks(X_0)
    dX_0 = blocks.backward(dX_L)  # (..., n_T, d)
    del dX_L
    # grad of W_tok, used in: X_0 = ohe(idx) W_tok
    dW_tok = _scatter_add_rows(idx, dX_0, n_vocab)  # (n_vocab, d)
    del dX_0, idx
    # grad of norm_w, used in: norm_Y = (norm_r 1ᵀ) ∘ X_L ∘ (1 norm_wᵀ)
    dnorm_w = (dnorm_Y * norm_r * X_L).reshape(-1, d).sum(0)  # (d,)
    del X_L, dnorm_Y, norm_r
    # grad of W_head, used in: Z = X_s W_headᵀ
    dW_head = dZ.reshape(-1, n_vocab).mT @ X_s.reshape(-1, d)  # (n_vocab, d)
    del X_s, dZ
    return {
        "W_tok": dW_tok.to(dtype),
        "norm_w": dnorm_w.to(dtype),
        "W_head": dW_head.to(dtype),
    }


@_no_grad
def _untied_logits_forward(idx, W_tok, norm_w, W_head, *, eps=1e-06, blocks):
    """LLaMA (untied logits), logits: returns ``(out, cache)``.

    idx: integer input (n_T,): token indices
    W_tok: parameter (n_vocab, d): embed_tokens
    norm_w: parameter (d,): norm
    W_head: parameter (n_vocab, d): lm_head
    eps: configuration, default 1e-06: RMSNorm epsilon
    blocks: configuration, required: the llama_block stack
    """
    idx = torch.as_tensor(idx)
    W_tok = torch.as_tensor(W_tok)
    norm_w = torch.as_tensor(norm_w)
    W_head = torch.as_tensor(W_head)
    dtype, compute_dtype = _check_dtypes({"W_tok": W_tok, "norm_w": norm_w, "W_head": W_head}, {"idx": idx})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        W_tok = W_tok.to(compute_dtype)
        norm_w = norm_w.to(compute_dtype)
        W_head = W_head.to(compute_dtype)
    eps = _check_number("eps", eps)
    dims = {}
    _check_shape("idx", idx, ("n_T",), dims, batched=True)
    _check_shape("W_tok", W_tok, ("n_vocab", "d"), dims, batched=False)
    _check_shape("norm_w", norm_w, ("d",), dims, batched=False)
    _check_shape("W_head", W_head, ("n_vocab", "d"), dims, batched=False)
    n_vocab, d = dims["n_vocab"], dims["d"]
    _check_indices("idx", idx, n_vocab)
    X_0 = W_tok[idx]  # (..., n_T, d)
    X_L = blocks.forward(X_0)  # (..., n_T, d)
    del X_0
    norm_ms = (X_L * X_L).sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    norm_ms *= 1/d
    norm_r = 1/torch.sqrt(eps + norm_ms)  # (..., n_T, 1)
    del norm_ms
    norm_Y = norm_r * X_L  # (..., n_T, d), updated in place
    norm_Y *= norm_w
    del X_L, norm_r
    logits = norm_Y @ W_head.mT  # (..., n_T, n_vocab)
    del norm_Y
    cache = {"out_shape": logits.shape, "out_dtype": logits.dtype, "dtype": dtype}
    return logits.to(dtype), cache


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


#: llama_block argument → Hugging Face key after ``layers.{i}.``.
_BLOCK_KEYS = {
    "input_norm_w": "input_layernorm.weight",
    "W_q": "self_attn.q_proj.weight",
    "W_k": "self_attn.k_proj.weight",
    "W_v": "self_attn.v_proj.weight",
    "W_o": "self_attn.o_proj.weight",
    "post_norm_w": "post_attention_layernorm.weight",
    "W_gate": "mlp.gate_proj.weight",
    "W_up": "mlp.up_proj.weight",
    "W_down": "mlp.down_proj.weight",
}
#: top-level argument → Hugging Face key.
_TOP_KEYS = {
    "W_tok": "embed_tokens.weight",
    "norm_w": "norm.weight",
    "W_head": "lm_head.weight",
}


def n_layers(params):
    """The number of blocks, read from the ``layers.{i}.`` keys."""
    layers = {int(key.split(".")[1]) for key in params if key.startswith("layers.")}
    if layers != set(range(len(layers))):
        raise ValueError(f"params: layer indices {sorted(layers)} are not 0 … n_layer − 1")
    return len(layers)


def _get(params, key):
    if key not in params:
        raise ValueError(f"params: missing {key!r}")
    return params[key]


def _tied(params):
    """Whether the logits reuse the embeddings: no ``lm_head.weight``, or the same tensor."""
    if "lm_head.weight" not in params:
        return True
    head, embeddings = params["lm_head.weight"], _get(params, "embed_tokens.weight")
    return head is embeddings or (head.shape == embeddings.shape and head.data_ptr() == embeddings.data_ptr()
                                  and head.stride() == embeddings.stride())


def _stack(params, options):
    """The model's blocks, each with its layer's arguments."""
    layers = [[_get(params, f"layers.{i}.{key}") for key in _BLOCK_KEYS.values()] for i in range(n_layers(params))]
    return _Blocks(layers, options)


def _top_arguments(params):
    tied = _tied(params)
    return tied, [_get(params, _TOP_KEYS[n]) for n in _TOP_KEYS if not (tied and n == "W_head")]


def _options(n_heads, n_kv_heads, rope_theta, eps):
    return {"n_heads": n_heads, "n_kv_heads": n_kv_heads, "rope_theta": rope_theta, "eps": eps}


def loss_and_grads(params, idx, *, n_heads, n_kv_heads, rope_theta=10000.0, eps=1e-6):
    """Mean next-token cross-entropy of ``idx`` (B, n_T) and the gradient of every parameter."""
    tied, arguments = _top_arguments(params)
    blocks = _stack(params, _options(n_heads, n_kv_heads, rope_theta, eps))
    forward, backward = (_tied_forward, _tied_backward) if tied else (_untied_forward, _untied_backward)
    loss, cache = forward(idx, *arguments, eps=eps, blocks=blocks)
    grads = backward(torch.ones_like(loss), cache)
    out = {_TOP_KEYS[name]: g for name, g in grads.items()}
    for i, layer_grads in enumerate(blocks.grads):
        out.update({f"layers.{i}.{_BLOCK_KEYS[name]}": g for name, g in layer_grads.items()})
    return loss, out


def logits(params, idx, *, n_heads, n_kv_heads, rope_theta=10000.0, eps=1e-6):
    """Logits (B, n_T, n_vocab) of every position of ``idx`` (B, n_T)."""
    tied, arguments = _top_arguments(params)
    blocks = _stack(params, _options(n_heads, n_kv_heads, rope_theta, eps))
    forward = _tied_logits_forward if tied else _untied_logits_forward
    return forward(idx, *arguments, eps=eps, blocks=blocks)[0]
