# GENERATED FILE: DO NOT EDIT.
# Derived by pedestrian-backprop from the forward definition in derive/components/llama_block.py.
# Regenerate with: backprop generate --target torch
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
    - overwrite: norm_1_ms, norm_1_Y, attn_S, attn_P, h, norm_2_ms, norm_2_Y, Y, dmlp_gate, dnorm_2_Y, dnorm_2_ms, dh, dattn_S, dattn_K_s, dattn_Q_r, dnorm_1_Y, dnorm_1_ms, dX updated in place (+=, *=) in the array the statement made or in one no longer needed, not a new array per operation
    - causal mask: made once per size and reused
    - in-place functions: each scalar function computes in buffers of its own (kept between calls)
    - liveness: every array is released after its last use (del); the backward drops its cache
"""
import functools
import math
import threading

import torch


def _broadcast_batches(arrays, cores, dims):
    """Frozen inputs (masks, tables) that carry fewer batch axes than the other inputs, or axes of size
    1, broadcast over theirs as views (nothing is copied); with no other batched input, over each
    other's.  ``cores``: each array's number of axes after the batch axes."""
    batches = {name: tuple(array.shape[: len(array.shape) - cores[name]]) for name, array in arrays.items()}
    full = dims.get("...")
    if full is None:
        try:
            full = tuple(torch.broadcast_shapes(*batches.values()))
        except (ValueError, RuntimeError):
            raise ValueError("frozen inputs with leading batch dimensions that do not broadcast: " + ", ".join(
                f"{n} {b}" for n, b in batches.items())) from None
        dims["..."] = full
    out = []
    for name, array in arrays.items():
        core = cores[name]
        try:
            fits = tuple(torch.broadcast_shapes(batches[name], full)) == tuple(full)
        except (ValueError, RuntimeError):
            fits = False
        if not fits:
            raise ValueError(f"{name}: leading batch dimensions {batches[name]} do not broadcast to the other "
                             f"inputs' {tuple(full)}")
        out.append(array.expand(tuple(full) + tuple(array.shape[len(array.shape) - core:])))
    return out


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


def _distinct_outputs(outputs, arguments):
    """The outputs of an autograd Function, each a tensor of its own: one that is an argument, or the
    same tensor as an earlier output (a value returned as it is), as a view of it, as autograd needs."""
    seen = list(arguments)
    distinct = []
    for o in outputs:
        distinct.append(o.view_as(o) if any(o is s for s in seen) else o)
        seen.append(o)
    return tuple(distinct)


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
    dX = torch.as_tensor(dX)
    dinput_norm_w = torch.as_tensor(dinput_norm_w)
    dW_q = torch.as_tensor(dW_q)
    dW_k = torch.as_tensor(dW_k)
    dW_v = torch.as_tensor(dW_v)
    dW_o = torch.as_tensor(dW_o)
    dpost_norm_w = torch.as_tensor(dpost_norm_w)
    dW_gate = torch.as_tensor(dW_gate)
    dW_up = torch.as_tensor(dW_up)
    dW_down = torch.as_tensor(dW_down)
    dtype, compute_dtype = _check_dtypes({"X": X, "input_norm_w": input_norm_w, "W_q": W_q, "W_k": W_k, "W_v": W_v, "W_o": W_o, "post_norm_w": post_norm_w, "W_gate": W_gate, "W_up": W_up, "W_down": W_down, "dX": dX, "dinput_norm_w": dinput_norm_w, "dW_q": dW_q, "dW_k": dW_k, "dW_v": dW_v, "dW_o": dW_o, "dpost_norm_w": dpost_norm_w, "dW_gate": dW_gate, "dW_up": dW_up, "dW_down": dW_down}, {})
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
        dX = dX.to(compute_dtype)
        dinput_norm_w = dinput_norm_w.to(compute_dtype)
        dW_q = dW_q.to(compute_dtype)
        dW_k = dW_k.to(compute_dtype)
        dW_v = dW_v.to(compute_dtype)
        dW_o = dW_o.to(compute_dtype)
        dpost_norm_w = dpost_norm_w.to(compute_dtype)
        dW_gate = dW_gate.to(compute_dtype)
        dW_up = dW_up.to(compute_dtype)
        dW_down = dW_down.to(compute_dtype)
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
    norm_1_ms = (X * X).sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    norm_1_ms *= 1/d
    norm_1_r = 1/torch.sqrt(eps + norm_1_ms)  # (..., n_T, 1)
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
    norm_2_Y = norm_2_r * h  # (..., n_T, d), updated in place
    norm_2_Y *= post_norm_w
    mlp_gate = norm_2_Y @ W_gate.mT  # (..., n_T, d_ff)
    mlp_up = norm_2_Y @ W_up.mT  # (..., n_T, d_ff)
    mlp_H = _silu(mlp_gate) * mlp_up  # (..., n_T, d_ff)
    dnorm_1_ms = (dX * X).sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    dnorm_1_ms *= 1/d
    dnorm_1_ms.add_((X * dX).sum(-1, keepdim=True), alpha=1/d)
    dnorm_1_r = dnorm_1_ms  # (..., n_T, 1), dnorm_1_ms's array, updated in place
    dnorm_1_r *= -(1/2)/(eps + norm_1_ms)**(3/2)
    del dnorm_1_ms, norm_1_ms
    dnorm_1_Y = dnorm_1_r * X  # (..., n_T, d), updated in place
    dnorm_1_Y *= input_norm_w
    dnorm_1_Y.addcmul_(norm_1_r * dX, input_norm_w)
    dnorm_1_Y.addcmul_(norm_1_r * X, dinput_norm_w)
    del dnorm_1_r, norm_1_r
    dattn_Q_h = _split_heads(dnorm_1_Y @ W_q.mT + norm_1_Y @ dW_q.mT, n_heads)  # (..., n_heads, n_T, d_h)
    dattn_K_h = _split_heads(dnorm_1_Y @ W_k.mT + norm_1_Y @ dW_k.mT, n_kv_heads)  # (..., n_kv_heads, n_T, d_h)
    dattn_V_h = _split_heads(dnorm_1_Y @ W_v.mT + norm_1_Y @ dW_v.mT, n_kv_heads)  # (..., n_kv_heads, n_T, d_h)
    del dnorm_1_Y, norm_1_Y
    dattn_Q_r = dattn_Q_h * attn_cos + _rotate_half(dattn_Q_h) * attn_sin  # (..., n_heads, n_T, d_h)
    del dattn_Q_h
    dattn_K_r = dattn_K_h * attn_cos + _rotate_half(dattn_K_h) * attn_sin  # (..., n_kv_heads, n_T, d_h)
    del attn_cos, attn_sin, dattn_K_h
    dattn_K_s = _share_heads(dattn_K_r, n_heads // n_kv_heads)  # (..., n_heads, n_T, d_h)
    del dattn_K_r
    dattn_V_s = _share_heads(dattn_V_h, n_heads // n_kv_heads)  # (..., n_heads, n_T, d_h)
    del dattn_V_h
    dattn_S = dattn_Q_r @ attn_K_s.mT  # (..., n_heads, n_T, n_T), updated in place
    dattn_S *= 1/math.sqrt(d_h)
    dattn_S.add_(attn_Q_r @ dattn_K_s.mT, alpha=1/math.sqrt(d_h))
    del attn_K_s, attn_Q_r, dattn_K_s, dattn_Q_r
    dattn_P = dattn_S  # (..., n_heads, n_T, n_T), dattn_S's array, updated in place
    dattn_P -= (attn_P * dattn_S).sum(-1, keepdim=True)
    dattn_P *= attn_P
    del dattn_S
    dattn_A = _merge_heads(dattn_P @ attn_V_s + attn_P @ dattn_V_s)  # (..., n_T, d_h*n_heads)
    del attn_P, attn_V_s, dattn_P, dattn_V_s
    dh = dattn_A @ W_o.mT  # (..., n_T, d), updated in place
    dh += dX
    dh += attn_A @ dW_o.mT
    del attn_A, dattn_A
    dnorm_2_ms = (dh * h).sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    dnorm_2_ms *= 1/d
    dnorm_2_ms.add_((h * dh).sum(-1, keepdim=True), alpha=1/d)
    dnorm_2_r = dnorm_2_ms  # (..., n_T, 1), dnorm_2_ms's array, updated in place
    dnorm_2_r *= -(1/2)/(eps + norm_2_ms)**(3/2)
    del dnorm_2_ms, norm_2_ms
    dnorm_2_Y = dnorm_2_r * h  # (..., n_T, d), updated in place
    dnorm_2_Y *= post_norm_w
    dnorm_2_Y.addcmul_(norm_2_r * dh, post_norm_w)
    dnorm_2_Y.addcmul_(norm_2_r * h, dpost_norm_w)
    del dnorm_2_r, h, norm_2_r
    dmlp_gate = dnorm_2_Y @ W_gate.mT  # (..., n_T, d_ff), updated in place
    dmlp_gate += norm_2_Y @ dW_gate.mT
    dmlp_up = dnorm_2_Y @ W_up.mT  # (..., n_T, d_ff), updated in place
    dmlp_up += norm_2_Y @ dW_up.mT
    del dnorm_2_Y, norm_2_Y
    dmlp_H = dmlp_gate  # (..., n_T, d_ff), dmlp_gate's array, updated in place
    dmlp_H = _silu_grad(mlp_gate, times=dmlp_H)
    dmlp_H *= mlp_up
    dmlp_H.addcmul_(_silu(mlp_gate), dmlp_up)
    del dmlp_gate, dmlp_up, mlp_gate, mlp_up
    dmlp_Y = dmlp_H @ W_down.mT  # (..., n_T, d), updated in place
    dmlp_Y += mlp_H @ dW_down.mT
    del dmlp_H, mlp_H
    dY = dh  # (..., n_T, d), dh's array, updated in place
    dY += dmlp_Y
    del dh, dmlp_Y
    cache = {"out_shape": dY.shape, "out_dtype": dY.dtype, "dtype": dtype}
    return dY.to(dtype), cache


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
        dX = torch.zeros_like(torch.as_tensor(X))
    if dinput_norm_w is None:  # no tangent: zero
        dinput_norm_w = torch.zeros_like(torch.as_tensor(input_norm_w))
    if dW_q is None:  # no tangent: zero
        dW_q = torch.zeros_like(torch.as_tensor(W_q))
    if dW_k is None:  # no tangent: zero
        dW_k = torch.zeros_like(torch.as_tensor(W_k))
    if dW_v is None:  # no tangent: zero
        dW_v = torch.zeros_like(torch.as_tensor(W_v))
    if dW_o is None:  # no tangent: zero
        dW_o = torch.zeros_like(torch.as_tensor(W_o))
    if dpost_norm_w is None:  # no tangent: zero
        dpost_norm_w = torch.zeros_like(torch.as_tensor(post_norm_w))
    if dW_gate is None:  # no tangent: zero
        dW_gate = torch.zeros_like(torch.as_tensor(W_gate))
    if dW_up is None:  # no tangent: zero
        dW_up = torch.zeros_like(torch.as_tensor(W_up))
    if dW_down is None:  # no tangent: zero
        dW_down = torch.zeros_like(torch.as_tensor(W_down))
    return _jvp_forward(X, input_norm_w, W_q, W_k, W_v, W_o, post_norm_w, W_gate, W_up, W_down, dX, dinput_norm_w, dW_q, dW_k, dW_v, dW_o, dpost_norm_w, dW_gate, dW_up, dW_down, n_heads=n_heads, n_kv_heads=n_kv_heads, rope_theta=rope_theta, eps=eps)[0]


def _unchanged(t):
    return t


def _recomputed(grad_out, arguments, config):
    """The gradients with the forward computed again from the arguments, autograd on."""
    _, cache = forward.__wrapped__(*arguments, **config)
    return backward.__wrapped__(grad_out, cache)


def _cached(arguments, arrays, constants):
    """The forward's cache from what the Function saved: its arrays, the arguments it holds (in the
    dtype computed in), and its numbers."""
    cache = dict(zip(("norm_1_r", "norm_1_Y", "attn_cos", "attn_sin", "attn_Q_r", "attn_K_s", "attn_V_s", "attn_P", "attn_A", "h", "norm_2_r", "norm_2_Y", "mlp_gate", "mlp_up", "mlp_H",), arrays), **constants)
    cache["X"] = arguments[0].to(constants["out_dtype"])
    cache["input_norm_w"] = arguments[1].to(constants["out_dtype"])
    cache["W_q"] = arguments[2].to(constants["out_dtype"])
    cache["W_k"] = arguments[3].to(constants["out_dtype"])
    cache["W_v"] = arguments[4].to(constants["out_dtype"])
    cache["W_o"] = arguments[5].to(constants["out_dtype"])
    cache["post_norm_w"] = arguments[6].to(constants["out_dtype"])
    cache["W_gate"] = arguments[7].to(constants["out_dtype"])
    cache["W_up"] = arguments[8].to(constants["out_dtype"])
    cache["W_down"] = arguments[9].to(constants["out_dtype"])
    return cache


def _cache_constants(X, input_norm_w, W_q, W_k, W_v, W_o, post_norm_w, W_gate, W_up, W_down, *, n_heads, n_kv_heads, rope_theta=10000.0, eps=1e-06):
    """The numbers the backward reads from the cache (sizes, configuration, dtypes), from the arguments'
    shapes and dtypes and the configuration alone: no array is computed."""
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
    return {"n_heads": n_heads, "n_kv_heads": n_kv_heads, "d": d, "d_h": d_h, "d_ff": d_ff, "out_dtype": compute_dtype, "dtype": dtype}


class _LlamaBlockCached(torch.autograd.Function):
    """The Function itself: its further outputs are the arrays the backward reads (without a gradient);
    ``LlamaBlockFunction`` gives the output alone."""

    generate_vmap_rule = True

    @staticmethod
    def forward(X, input_norm_w, W_q, W_k, W_v, W_o, post_norm_w, W_gate, W_up, W_down, n_heads, n_kv_heads, rope_theta, eps):
        out, cache = forward(X, input_norm_w, W_q, W_k, W_v, W_o, post_norm_w, W_gate, W_up, W_down, n_heads=n_heads, n_kv_heads=n_kv_heads, rope_theta=rope_theta, eps=eps)
        # each cached array a tensor of its own (detach): one that is also an output stays differentiable there
        return (*_distinct_outputs((out,), (X, input_norm_w, W_q, W_k, W_v, W_o, post_norm_w, W_gate, W_up, W_down,)), cache["norm_1_r"].detach(), cache["norm_1_Y"].detach(), cache["attn_cos"].detach(), cache["attn_sin"].detach(), cache["attn_Q_r"].detach(), cache["attn_K_s"].detach(), cache["attn_V_s"].detach(), cache["attn_P"].detach(), cache["attn_A"].detach(), cache["h"].detach(), cache["norm_2_r"].detach(), cache["norm_2_Y"].detach(), cache["mlp_gate"].detach(), cache["mlp_up"].detach(), cache["mlp_H"].detach(),)

    @staticmethod
    def setup_context(ctx, inputs, output):
        X, input_norm_w, W_q, W_k, W_v, W_o, post_norm_w, W_gate, W_up, W_down, n_heads, n_kv_heads, rope_theta, eps = inputs
        ctx.mark_non_differentiable(*output[1:])
        ctx.set_materialize_grads(False)  # the cached arrays' gradients stay None, never zeros
        ctx.save_for_backward(X, input_norm_w, W_q, W_k, W_v, W_o, post_norm_w, W_gate, W_up, W_down, *output[1:])
        ctx.save_for_forward(X, input_norm_w, W_q, W_k, W_v, W_o, post_norm_w, W_gate, W_up, W_down)
        ctx.config = {"n_heads": n_heads, "n_kv_heads": n_kv_heads, "rope_theta": rope_theta, "eps": eps}
        ctx.constants = dict(_cache_constants(X, input_norm_w, W_q, W_k, W_v, W_o, post_norm_w, W_gate, W_up, W_down, n_heads=n_heads, n_kv_heads=n_kv_heads, rope_theta=rope_theta, eps=eps), out_shape=output[0].shape)

    @staticmethod
    def backward(ctx, grad_out, *_):
        arguments, cached = ctx.saved_tensors[:10], ctx.saved_tensors[10:]
        needs = ctx.needs_input_grad
        if grad_out is None:  # the output did not reach the loss
            return (None,) * len(needs)
        if _transformed(grad_out):  # under torch.func: forward and backward again, seen by the transforms around
            # (a cached array carries no tangent, so a transform of this gradient must see it recomputed)
            # in-place updates become new arrays (functionalize), as the transforms need
            grads = torch.func.functionalize(_recomputed)(grad_out, arguments, ctx.config)
        elif torch.is_grad_enabled():  # create_graph=True: record the backward itself, from the arguments up
            # Autograd keeps copies of what it saves, so the statements that update arrays in place
            # (``+=``, ``*=``) cannot change a value the second derivative reads.
            with torch.autograd.graph.saved_tensors_hooks(torch.clone, _unchanged):
                _, cache = forward.__wrapped__(*arguments, **ctx.config)
                grads = backward.__wrapped__(grad_out, cache)
        else:
            grads = backward(grad_out, _cached(arguments, cached, ctx.constants))
        return (
            grads["X"] if needs[0] and "X" in grads else None,
            grads["input_norm_w"] if needs[1] and "input_norm_w" in grads else None,
            grads["W_q"] if needs[2] and "W_q" in grads else None,
            grads["W_k"] if needs[3] and "W_k" in grads else None,
            grads["W_v"] if needs[4] and "W_v" in grads else None,
            grads["W_o"] if needs[5] and "W_o" in grads else None,
            grads["post_norm_w"] if needs[6] and "post_norm_w" in grads else None,
            grads["W_gate"] if needs[7] and "W_gate" in grads else None,
            grads["W_up"] if needs[8] and "W_up" in grads else None,
            grads["W_down"] if needs[9] and "W_down" in grads else None,
            None,  # n_heads
            None,  # n_kv_heads
            None,  # rope_theta
            None,  # eps
        )

    @staticmethod
    def jvp(ctx, dX, dinput_norm_w, dW_q, dW_k, dW_v, dW_o, dpost_norm_w, dW_gate, dW_up, dW_down, _tangent_10, _tangent_11, _tangent_12, _tangent_13):
        X, input_norm_w, W_q, W_k, W_v, W_o, post_norm_w, W_gate, W_up, W_down = ctx.saved_tensors
        tangents = (dX, dinput_norm_w, dW_q, dW_k, dW_v, dW_o, dpost_norm_w, dW_gate, dW_up, dW_down, _tangent_10, _tangent_11, _tangent_12, _tangent_13)
        if any(_transformed(t) for t in tangents if t is not None):  # under torch.func: no update in place
            tangent = torch.func.functionalize(lambda *a: jvp(*a, **ctx.config))(X, input_norm_w, W_q, W_k, W_v, W_o, post_norm_w, W_gate, W_up, W_down, dX, dinput_norm_w, dW_q, dW_k, dW_v, dW_o, dpost_norm_w, dW_gate, dW_up, dW_down)
        else:
            tangent = jvp(X, input_norm_w, W_q, W_k, W_v, W_o, post_norm_w, W_gate, W_up, W_down, dX, dinput_norm_w, dW_q, dW_k, dW_v, dW_o, dpost_norm_w, dW_gate, dW_up, dW_down, **ctx.config)
        return (tangent,) + (None,) * 15  # the cached arrays carry no gradient


class LlamaBlockFunction(_LlamaBlockCached):
    """``LlamaBlockFunction.apply(X, input_norm_w, W_q, W_k, W_v, W_o, post_norm_w, W_gate, W_up, W_down, n_heads, n_kv_heads, rope_theta, eps)`` with the derived backward pass.

    Twice differentiable: under ``create_graph=True`` the backward recomputes the
    forward from the saved arguments and runs the derived backward with autograd
    recording, so a gradient penalty or a Hessian-vector product differentiates it
    exactly (``torch.autograd.gradgradcheck`` holds).

    A torch.func citizen: ``setup_context`` keeps what the backward reads, ``jvp`` is
    the derived forward mode (the module's ``jvp``), and vmap's rule is generated from
    them, so ``torch.func.grad``, ``vmap``, ``jvp``, ``jacrev``, ``jacfwd`` and
    ``hessian`` compose through it.
    """

    @classmethod
    def apply(cls, X, input_norm_w, W_q, W_k, W_v, W_o, post_norm_w, W_gate, W_up, W_down, n_heads, n_kv_heads, rope_theta, eps):
        """The output."""
        return _LlamaBlockCached.apply(X, input_norm_w, W_q, W_k, W_v, W_o, post_norm_w, W_gate, W_up, W_down, n_heads, n_kv_heads, rope_theta, eps)[0]


class LlamaBlock(torch.nn.Module):
    """LLaMA decoder layer owning its parameters (initialised as GPT-2 does)."""

    def __init__(self, d, d_h, d_ff, n_heads, n_kv_heads, rope_theta=10000.0, eps=1e-06, device=None, dtype=None):
        super().__init__()
        if not (d_h % 2 == 0):
            raise ValueError('llama_attention: cos: rotary angles need an even number of columns, d_h; got ' + f"d_h={d_h}")
        if not (n_heads % n_kv_heads == 0):
            raise ValueError('llama_attention: K_s: n_heads must be a multiple of n_kv_heads (heads shared in groups); got ' + f"n_heads={n_heads}, n_kv_heads={n_kv_heads}")
        self.d = d
        self.d_h = d_h
        self.d_ff = d_ff
        self.n_heads = n_heads
        self.n_kv_heads = n_kv_heads
        self.rope_theta = rope_theta
        self.eps = eps
        factory = {"device": device, "dtype": dtype}
        self.input_norm_w = torch.nn.Parameter(torch.ones((d,), **factory), requires_grad=True)
        self.W_q = torch.nn.Parameter(torch.empty((d_h*n_heads, d), **factory).normal_(0.0, 0.02), requires_grad=True)
        self.W_k = torch.nn.Parameter(torch.empty((d_h*n_kv_heads, d), **factory).normal_(0.0, 0.02), requires_grad=True)
        self.W_v = torch.nn.Parameter(torch.empty((d_h*n_kv_heads, d), **factory).normal_(0.0, 0.02), requires_grad=True)
        self.W_o = torch.nn.Parameter(torch.empty((d, d_h*n_heads), **factory).normal_(0.0, 0.02), requires_grad=True)
        self.post_norm_w = torch.nn.Parameter(torch.ones((d,), **factory), requires_grad=True)
        self.W_gate = torch.nn.Parameter(torch.empty((d_ff, d), **factory).normal_(0.0, 0.02), requires_grad=True)
        self.W_up = torch.nn.Parameter(torch.empty((d_ff, d), **factory).normal_(0.0, 0.02), requires_grad=True)
        self.W_down = torch.nn.Parameter(torch.empty((d, d_ff), **factory).normal_(0.0, 0.02), requires_grad=True)

    def forward(self, X):
        _check_shape("X", X, ("n_T", "d"), {"d": self.d, "d_h": self.d_h, "d_ff": self.d_ff}, batched=True)
        return LlamaBlockFunction.apply(X, self.input_norm_w, self.W_q, self.W_k, self.W_v, self.W_o, self.post_norm_w, self.W_gate, self.W_up, self.W_down, self.n_heads, self.n_kv_heads, self.rope_theta, self.eps)

    def extra_repr(self):
        return f"d={self.d}, d_h={self.d_h}, d_ff={self.d_ff}, n_heads={self.n_heads}, n_kv_heads={self.n_kv_heads}, rope_theta={self.rope_theta}, eps={self.eps}"
