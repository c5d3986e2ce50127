# GENERATED FILE: DO NOT EDIT.
# Derived by pedestrian-backprop from the forward definition in derive/components/gpt2_block.py.
# Regenerate with: backprop generate --target torch
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
    - overwrite: ln_1_mu, ln_1_var, ln_1_sigma, ln_1_Xbar, ln_1_Y, attn_S, attn_P, a5, ln_2_mu, ln_2_var, ln_2_sigma, ln_2_Xbar, ln_2_Y, Y, dmlp_H, dln_2_var, dln_2_Xc, da5, dattn_S, dattn_K_h, dattn_Q_h, dln_1_var, dln_1_Xc, dX, ln_1_Y, ln_2_Y updated in place (+=, *=) in the array the statement made or in one no longer needed, not a new array per operation
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
    dX = torch.as_tensor(dX)
    dln_1_w = torch.as_tensor(dln_1_w)
    dln_1_b = torch.as_tensor(dln_1_b)
    dW_q = torch.as_tensor(dW_q)
    db_q = torch.as_tensor(db_q)
    dW_k = torch.as_tensor(dW_k)
    db_k = torch.as_tensor(db_k)
    dW_v = torch.as_tensor(dW_v)
    db_v = torch.as_tensor(db_v)
    dW_o = torch.as_tensor(dW_o)
    db_o = torch.as_tensor(db_o)
    dln_2_w = torch.as_tensor(dln_2_w)
    dln_2_b = torch.as_tensor(dln_2_b)
    dW_1 = torch.as_tensor(dW_1)
    db_1 = torch.as_tensor(db_1)
    dW_2 = torch.as_tensor(dW_2)
    db_2 = torch.as_tensor(db_2)
    dtype, compute_dtype = _check_dtypes({"X": X, "ln_1_w": ln_1_w, "ln_1_b": ln_1_b, "W_q": W_q, "b_q": b_q, "W_k": W_k, "b_k": b_k, "W_v": W_v, "b_v": b_v, "W_o": W_o, "b_o": b_o, "ln_2_w": ln_2_w, "ln_2_b": ln_2_b, "W_1": W_1, "b_1": b_1, "W_2": W_2, "b_2": b_2, "dX": dX, "dln_1_w": dln_1_w, "dln_1_b": dln_1_b, "dW_q": dW_q, "db_q": db_q, "dW_k": dW_k, "db_k": db_k, "dW_v": dW_v, "db_v": db_v, "dW_o": dW_o, "db_o": db_o, "dln_2_w": dln_2_w, "dln_2_b": dln_2_b, "dW_1": dW_1, "db_1": db_1, "dW_2": dW_2, "db_2": db_2}, {})
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
        dX = dX.to(compute_dtype)
        dln_1_w = dln_1_w.to(compute_dtype)
        dln_1_b = dln_1_b.to(compute_dtype)
        dW_q = dW_q.to(compute_dtype)
        db_q = db_q.to(compute_dtype)
        dW_k = dW_k.to(compute_dtype)
        db_k = db_k.to(compute_dtype)
        dW_v = dW_v.to(compute_dtype)
        db_v = db_v.to(compute_dtype)
        dW_o = dW_o.to(compute_dtype)
        db_o = db_o.to(compute_dtype)
        dln_2_w = dln_2_w.to(compute_dtype)
        dln_2_b = dln_2_b.to(compute_dtype)
        dW_1 = dW_1.to(compute_dtype)
        db_1 = db_1.to(compute_dtype)
        dW_2 = dW_2.to(compute_dtype)
        db_2 = db_2.to(compute_dtype)
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
    ln_1_mu = X.sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    ln_1_mu *= 1/d
    ln_1_Xc = X - ln_1_mu  # (..., n_T, d)
    del ln_1_mu
    ln_1_var = (ln_1_Xc * ln_1_Xc).sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    ln_1_var *= 1/d
    ln_1_sigma = eps + ln_1_var  # (..., n_T, 1), updated in place
    ln_1_sigma.sqrt_()
    ln_1_Xbar = torch.reciprocal(ln_1_sigma) * ln_1_Xc  # (..., n_T, d)
    ln_1_Y = ln_1_Xbar * ln_1_w  # (..., n_T, d), updated in place
    ln_1_Y += ln_1_b
    W_q_W_k_W_v_dW_q_dW_k_dW_v = _side_by_side(W_q, W_k, W_v, dW_q, dW_k, dW_v)  # (d, 6*d)
    ln_1_Y_W_q_W_k_W_v_dW_q_dW_k_dW_v = ln_1_Y @ W_q_W_k_W_v_dW_q_dW_k_dW_v  # (..., n_T, 6*d)
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
    attn_S = attn_Q_h @ attn_K_h.mT  # (..., n_heads, n_T, n_T), updated in place
    attn_S *= math.sqrt(n_heads)/math.sqrt(d)
    attn_P = _softmax(attn_S, True, fresh=True)  # (..., n_heads, n_T, n_T), attn_S's array given to be written over
    del attn_S
    attn_A = _merge_heads(attn_P @ attn_V_h)  # (..., n_T, d)
    W_o_dW_o = _side_by_side(W_o, dW_o)  # (d, 2*d)
    attn_A_W_o_dW_o = attn_A @ W_o_dW_o  # (..., n_T, 2*d)
    del W_o_dW_o, attn_A
    proj_Y = attn_A_W_o_dW_o[..., 0:d] + b_o  # (..., n_T, d)
    a5 = proj_Y  # (..., n_T, d), proj_Y's array, updated in place
    a5 += X
    del proj_Y
    ln_2_mu = a5.sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    ln_2_mu *= 1/d
    ln_2_Xc = a5  # (..., n_T, d), a5's array, updated in place
    ln_2_Xc -= ln_2_mu
    del a5, ln_2_mu
    ln_2_var = (ln_2_Xc * ln_2_Xc).sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    ln_2_var *= 1/d
    ln_2_sigma = eps + ln_2_var  # (..., n_T, 1), updated in place
    ln_2_sigma.sqrt_()
    ln_2_Xbar = torch.reciprocal(ln_2_sigma) * ln_2_Xc  # (..., n_T, d)
    ln_2_Y = ln_2_Xbar * ln_2_w  # (..., n_T, d), updated in place
    ln_2_Y += ln_2_b
    W_1_dW_1 = _side_by_side(W_1, dW_1)  # (d, 2*d_ff)
    ln_2_Y_W_1_dW_1 = ln_2_Y @ W_1_dW_1  # (..., n_T, 2*d_ff)
    del W_1_dW_1, ln_2_Y
    mlp_H = ln_2_Y_W_1_dW_1[..., 0:d_ff] + b_1  # (..., n_T, d_ff)
    mlp_A = _ACTIVATION[activation](mlp_H)  # (..., n_T, d_ff)
    dln_1_mu = dX.sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    dln_1_mu *= 1/d
    dln_1_Xc = dX - dln_1_mu  # (..., n_T, d)
    del dln_1_mu
    dln_1_var = (dln_1_Xc * ln_1_Xc).sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    dln_1_var *= 1/d
    dln_1_var.add_((ln_1_Xc * dln_1_Xc).sum(-1, keepdim=True), alpha=1/d)
    dln_1_sigma = dln_1_var  # (..., n_T, 1), dln_1_var's array, updated in place
    dln_1_sigma *= (1/2)/torch.sqrt(eps + ln_1_var)
    del dln_1_var, ln_1_var
    dln_1_Xbar = ln_1_Xc  # (..., n_T, d), ln_1_Xc's array, updated in place
    dln_1_Xbar *= (-1/ln_1_sigma**2) * dln_1_sigma
    dln_1_Xbar.addcmul_(torch.reciprocal(ln_1_sigma), dln_1_Xc)
    del dln_1_Xc, dln_1_sigma, ln_1_Xc, ln_1_sigma
    dln_1_Y = dln_1_Xbar  # (..., n_T, d), dln_1_Xbar's array, updated in place
    dln_1_Y *= ln_1_w
    dln_1_Y.addcmul_(ln_1_Xbar, dln_1_w)
    dln_1_Y += dln_1_b
    del dln_1_Xbar, ln_1_Xbar
    W_q_W_k_W_v = _side_by_side(W_q, W_k, W_v)  # (d, 3*d)
    dln_1_Y_W_q_W_k_W_v = dln_1_Y @ W_q_W_k_W_v  # (..., n_T, 3*d)
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
    dattn_S = dattn_Q_h @ attn_K_h.mT  # (..., n_heads, n_T, n_T), updated in place
    dattn_S *= math.sqrt(n_heads)/math.sqrt(d)
    dattn_S.add_(attn_Q_h @ dattn_K_h.mT, alpha=math.sqrt(n_heads)/math.sqrt(d))
    del attn_K_h, attn_Q_h, dattn_K_h, dattn_Q_h
    dattn_P = dattn_S  # (..., n_heads, n_T, n_T), dattn_S's array, updated in place
    dattn_P -= (attn_P * dattn_S).sum(-1, keepdim=True)
    dattn_P *= attn_P
    del dattn_S
    dattn_A = _merge_heads(dattn_P @ attn_V_h + attn_P @ dattn_V_h)  # (..., n_T, d)
    del attn_P, attn_V_h, dattn_P, dattn_V_h
    dproj_Y = attn_A_W_o_dW_o[..., d:2*d] + torch.nn.functional.linear(dattn_A, W_o.mT, db_o)  # (..., n_T, d)
    del attn_A_W_o_dW_o, dattn_A
    da5 = dproj_Y  # (..., n_T, d), dproj_Y's array, updated in place
    da5 += dX
    del dproj_Y
    dln_2_mu = da5.sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    dln_2_mu *= 1/d
    dln_2_Xc = da5 - dln_2_mu  # (..., n_T, d)
    del dln_2_mu
    dln_2_var = (dln_2_Xc * ln_2_Xc).sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    dln_2_var *= 1/d
    dln_2_var.add_((ln_2_Xc * dln_2_Xc).sum(-1, keepdim=True), alpha=1/d)
    dln_2_sigma = dln_2_var  # (..., n_T, 1), dln_2_var's array, updated in place
    dln_2_sigma *= (1/2)/torch.sqrt(eps + ln_2_var)
    del dln_2_var, ln_2_var
    dln_2_Xbar = ln_2_Xc  # (..., n_T, d), ln_2_Xc's array, updated in place
    dln_2_Xbar *= (-1/ln_2_sigma**2) * dln_2_sigma
    dln_2_Xbar.addcmul_(torch.reciprocal(ln_2_sigma), dln_2_Xc)
    del dln_2_Xc, dln_2_sigma, ln_2_Xc, ln_2_sigma
    dln_2_Y = dln_2_Xbar  # (..., n_T, d), dln_2_Xbar's array, updated in place
    dln_2_Y *= ln_2_w
    dln_2_Y.addcmul_(ln_2_Xbar, dln_2_w)
    dln_2_Y += dln_2_b
    del dln_2_Xbar, ln_2_Xbar
    dmlp_H = ln_2_Y_W_1_dW_1[..., d_ff:2*d_ff] + torch.nn.functional.linear(dln_2_Y, W_1.mT, db_1)  # (..., n_T, d_ff)
    del dln_2_Y, ln_2_Y_W_1_dW_1
    dmlp_A = dmlp_H  # (..., n_T, d_ff), dmlp_H's array, updated in place
    dmlp_A = _ACTIVATION_GRAD[activation](mlp_H, times=dmlp_A)
    del dmlp_H, mlp_H
    dmlp_Y = mlp_A @ dW_2  # (..., n_T, d), updated in place
    dmlp_Y += torch.nn.functional.linear(dmlp_A, W_2.mT, db_2)
    del dmlp_A, mlp_A
    dY = da5  # (..., n_T, d), da5's array, updated in place
    dY += dmlp_Y
    del da5, dmlp_Y
    cache = {"out_shape": dY.shape, "out_dtype": dY.dtype, "dtype": dtype}
    return dY.to(dtype), cache


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
        dX = torch.zeros_like(torch.as_tensor(X))
    if dln_1_w is None:  # no tangent: zero
        dln_1_w = torch.zeros_like(torch.as_tensor(ln_1_w))
    if dln_1_b is None:  # no tangent: zero
        dln_1_b = torch.zeros_like(torch.as_tensor(ln_1_b))
    if dW_q is None:  # no tangent: zero
        dW_q = torch.zeros_like(torch.as_tensor(W_q))
    if db_q is None:  # no tangent: zero
        db_q = torch.zeros_like(torch.as_tensor(b_q))
    if dW_k is None:  # no tangent: zero
        dW_k = torch.zeros_like(torch.as_tensor(W_k))
    if db_k is None:  # no tangent: zero
        db_k = torch.zeros_like(torch.as_tensor(b_k))
    if dW_v is None:  # no tangent: zero
        dW_v = torch.zeros_like(torch.as_tensor(W_v))
    if db_v is None:  # no tangent: zero
        db_v = torch.zeros_like(torch.as_tensor(b_v))
    if dW_o is None:  # no tangent: zero
        dW_o = torch.zeros_like(torch.as_tensor(W_o))
    if db_o is None:  # no tangent: zero
        db_o = torch.zeros_like(torch.as_tensor(b_o))
    if dln_2_w is None:  # no tangent: zero
        dln_2_w = torch.zeros_like(torch.as_tensor(ln_2_w))
    if dln_2_b is None:  # no tangent: zero
        dln_2_b = torch.zeros_like(torch.as_tensor(ln_2_b))
    if dW_1 is None:  # no tangent: zero
        dW_1 = torch.zeros_like(torch.as_tensor(W_1))
    if db_1 is None:  # no tangent: zero
        db_1 = torch.zeros_like(torch.as_tensor(b_1))
    if dW_2 is None:  # no tangent: zero
        dW_2 = torch.zeros_like(torch.as_tensor(W_2))
    if db_2 is None:  # no tangent: zero
        db_2 = torch.zeros_like(torch.as_tensor(b_2))
    return _jvp_forward(X, ln_1_w, ln_1_b, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, ln_2_w, ln_2_b, W_1, b_1, W_2, b_2, dX, dln_1_w, dln_1_b, dW_q, db_q, dW_k, db_k, dW_v, db_v, dW_o, db_o, dln_2_w, dln_2_b, dW_1, db_1, dW_2, db_2, n_heads=n_heads, eps=eps, activation=activation)[0]


def _unchanged(t):
    return t


def _recomputed(grad_out, arguments, config):
    """The gradients with the forward computed again from the arguments, autograd on."""
    _, cache = forward.__wrapped__(*arguments, **config)
    return backward.__wrapped__(grad_out, cache)


def _cached(arguments, arrays, constants):
    """The forward's cache from what the Function saved: its arrays, the arguments it holds (in the
    dtype computed in), and its numbers."""
    cache = dict(zip(("ln_1_sigma", "ln_1_Xbar", "W_q_W_k_W_v", "attn_Q_h", "attn_K_h", "attn_V_h", "attn_P", "attn_A", "ln_2_sigma", "ln_2_Xbar", "mlp_H", "mlp_A",), arrays), **constants)
    cache["ln_1_w"] = arguments[1].to(constants["out_dtype"])
    cache["ln_1_b"] = arguments[2].to(constants["out_dtype"])
    cache["W_q"] = arguments[3].to(constants["out_dtype"])
    cache["b_k"] = arguments[6].to(constants["out_dtype"])
    cache["W_v"] = arguments[7].to(constants["out_dtype"])
    cache["W_o"] = arguments[9].to(constants["out_dtype"])
    cache["ln_2_w"] = arguments[11].to(constants["out_dtype"])
    cache["ln_2_b"] = arguments[12].to(constants["out_dtype"])
    cache["W_1"] = arguments[13].to(constants["out_dtype"])
    cache["W_2"] = arguments[15].to(constants["out_dtype"])
    return cache


def _cache_constants(X, ln_1_w, ln_1_b, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, ln_2_w, ln_2_b, W_1, b_1, W_2, b_2, *, n_heads, eps=1e-05, activation='gelu_tanh'):
    """The numbers the backward reads from the cache (sizes, configuration, dtypes), from the arguments'
    shapes and dtypes and the configuration alone: no array is computed."""
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
    return {"n_heads": n_heads, "activation": activation, "d": d, "d_ff": d_ff, "out_dtype": compute_dtype, "dtype": dtype}


class _GPT2BlockCached(torch.autograd.Function):
    """The Function itself: its further outputs are the arrays the backward reads (without a gradient);
    ``GPT2BlockFunction`` gives the output alone."""

    generate_vmap_rule = True

    @staticmethod
    def forward(X, ln_1_w, ln_1_b, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, ln_2_w, ln_2_b, W_1, b_1, W_2, b_2, n_heads, eps, activation):
        out, cache = forward(X, ln_1_w, ln_1_b, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, ln_2_w, ln_2_b, W_1, b_1, W_2, b_2, n_heads=n_heads, eps=eps, activation=activation)
        # each cached array a tensor of its own (detach): one that is also an output stays differentiable there
        return (*_distinct_outputs((out,), (X, ln_1_w, ln_1_b, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, ln_2_w, ln_2_b, W_1, b_1, W_2, b_2,)), cache["ln_1_sigma"].detach(), cache["ln_1_Xbar"].detach(), cache["W_q_W_k_W_v"].detach(), cache["attn_Q_h"].detach(), cache["attn_K_h"].detach(), cache["attn_V_h"].detach(), cache["attn_P"].detach(), cache["attn_A"].detach(), cache["ln_2_sigma"].detach(), cache["ln_2_Xbar"].detach(), cache["mlp_H"].detach(), cache["mlp_A"].detach(),)

    @staticmethod
    def setup_context(ctx, inputs, output):
        X, ln_1_w, ln_1_b, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, ln_2_w, ln_2_b, W_1, b_1, W_2, b_2, n_heads, eps, activation = inputs
        ctx.mark_non_differentiable(*output[1:])
        ctx.set_materialize_grads(False)  # the cached arrays' gradients stay None, never zeros
        ctx.save_for_backward(X, ln_1_w, ln_1_b, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, ln_2_w, ln_2_b, W_1, b_1, W_2, b_2, *output[1:])
        ctx.save_for_forward(X, ln_1_w, ln_1_b, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, ln_2_w, ln_2_b, W_1, b_1, W_2, b_2)
        ctx.config = {"n_heads": n_heads, "eps": eps, "activation": activation}
        ctx.constants = dict(_cache_constants(X, ln_1_w, ln_1_b, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, ln_2_w, ln_2_b, W_1, b_1, W_2, b_2, n_heads=n_heads, eps=eps, activation=activation), out_shape=output[0].shape)

    @staticmethod
    def backward(ctx, grad_out, *_):
        arguments, cached = ctx.saved_tensors[:17], ctx.saved_tensors[17:]
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
            grads["ln_1_w"] if needs[1] and "ln_1_w" in grads else None,
            grads["ln_1_b"] if needs[2] and "ln_1_b" in grads else None,
            grads["W_q"] if needs[3] and "W_q" in grads else None,
            grads["b_q"] if needs[4] and "b_q" in grads else None,
            grads["W_k"] if needs[5] and "W_k" in grads else None,
            grads["b_k"] if needs[6] and "b_k" in grads else None,
            grads["W_v"] if needs[7] and "W_v" in grads else None,
            grads["b_v"] if needs[8] and "b_v" in grads else None,
            grads["W_o"] if needs[9] and "W_o" in grads else None,
            grads["b_o"] if needs[10] and "b_o" in grads else None,
            grads["ln_2_w"] if needs[11] and "ln_2_w" in grads else None,
            grads["ln_2_b"] if needs[12] and "ln_2_b" in grads else None,
            grads["W_1"] if needs[13] and "W_1" in grads else None,
            grads["b_1"] if needs[14] and "b_1" in grads else None,
            grads["W_2"] if needs[15] and "W_2" in grads else None,
            grads["b_2"] if needs[16] and "b_2" in grads else None,
            None,  # n_heads
            None,  # eps
            None,  # activation
        )

    @staticmethod
    def jvp(ctx, dX, dln_1_w, dln_1_b, dW_q, db_q, dW_k, db_k, dW_v, db_v, dW_o, db_o, dln_2_w, dln_2_b, dW_1, db_1, dW_2, db_2, _tangent_17, _tangent_18, _tangent_19):
        X, ln_1_w, ln_1_b, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, ln_2_w, ln_2_b, W_1, b_1, W_2, b_2 = ctx.saved_tensors
        tangents = (dX, dln_1_w, dln_1_b, dW_q, db_q, dW_k, db_k, dW_v, db_v, dW_o, db_o, dln_2_w, dln_2_b, dW_1, db_1, dW_2, db_2, _tangent_17, _tangent_18, _tangent_19)
        if any(_transformed(t) for t in tangents if t is not None):  # under torch.func: no update in place
            tangent = torch.func.functionalize(lambda *a: jvp(*a, **ctx.config))(X, ln_1_w, ln_1_b, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, ln_2_w, ln_2_b, W_1, b_1, W_2, b_2, dX, dln_1_w, dln_1_b, dW_q, db_q, dW_k, db_k, dW_v, db_v, dW_o, db_o, dln_2_w, dln_2_b, dW_1, db_1, dW_2, db_2)
        else:
            tangent = jvp(X, ln_1_w, ln_1_b, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, ln_2_w, ln_2_b, W_1, b_1, W_2, b_2, dX, dln_1_w, dln_1_b, dW_q, db_q, dW_k, db_k, dW_v, db_v, dW_o, db_o, dln_2_w, dln_2_b, dW_1, db_1, dW_2, db_2, **ctx.config)
        return (tangent,) + (None,) * 12  # the cached arrays carry no gradient


class GPT2BlockFunction(_GPT2BlockCached):
    """``GPT2BlockFunction.apply(X, ln_1_w, ln_1_b, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, ln_2_w, ln_2_b, W_1, b_1, W_2, b_2, n_heads, eps, activation)`` with the derived backward pass.

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
    def apply(cls, X, ln_1_w, ln_1_b, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, ln_2_w, ln_2_b, W_1, b_1, W_2, b_2, n_heads, eps, activation):
        """The output."""
        return _GPT2BlockCached.apply(X, ln_1_w, ln_1_b, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, ln_2_w, ln_2_b, W_1, b_1, W_2, b_2, n_heads, eps, activation)[0]


class GPT2Block(torch.nn.Module):
    """GPT-2 block owning its parameters (initialised as GPT-2 does)."""

    def __init__(self, d, d_ff, n_heads, eps=1e-05, activation='gelu_tanh', device=None, dtype=None):
        super().__init__()
        if not (d % n_heads == 0):
            raise ValueError('attention: d must be divisible by n_heads; got ' + f"d={d}, n_heads={n_heads}")
        if activation not in ('gelu_tanh', 'gelu', 'relu'):
            raise ValueError("activation must be one of ('gelu_tanh', 'gelu', 'relu'), got " + repr(activation))
        self.d = d
        self.d_ff = d_ff
        self.n_heads = n_heads
        self.eps = eps
        self.activation = activation
        factory = {"device": device, "dtype": dtype}
        self.ln_1_w = torch.nn.Parameter(torch.ones((d,), **factory), requires_grad=True)
        self.ln_1_b = torch.nn.Parameter(torch.zeros((d,), **factory), requires_grad=True)
        self.W_q = torch.nn.Parameter(torch.empty((d, d), **factory).normal_(0.0, 0.02), requires_grad=True)
        self.b_q = torch.nn.Parameter(torch.zeros((d,), **factory), requires_grad=True)
        self.W_k = torch.nn.Parameter(torch.empty((d, d), **factory).normal_(0.0, 0.02), requires_grad=True)
        self.b_k = torch.nn.Parameter(torch.zeros((d,), **factory), requires_grad=True)
        self.W_v = torch.nn.Parameter(torch.empty((d, d), **factory).normal_(0.0, 0.02), requires_grad=True)
        self.b_v = torch.nn.Parameter(torch.zeros((d,), **factory), requires_grad=True)
        self.W_o = torch.nn.Parameter(torch.empty((d, d), **factory).normal_(0.0, 0.02), requires_grad=True)
        self.b_o = torch.nn.Parameter(torch.zeros((d,), **factory), requires_grad=True)
        self.ln_2_w = torch.nn.Parameter(torch.ones((d,), **factory), requires_grad=True)
        self.ln_2_b = torch.nn.Parameter(torch.zeros((d,), **factory), requires_grad=True)
        self.W_1 = torch.nn.Parameter(torch.empty((d, d_ff), **factory).normal_(0.0, 0.02), requires_grad=True)
        self.b_1 = torch.nn.Parameter(torch.zeros((d_ff,), **factory), requires_grad=True)
        self.W_2 = torch.nn.Parameter(torch.empty((d_ff, d), **factory).normal_(0.0, 0.02), requires_grad=True)
        self.b_2 = torch.nn.Parameter(torch.zeros((d,), **factory), requires_grad=True)

    def forward(self, X):
        _check_shape("X", X, ("n_T", "d"), {"d": self.d, "d_ff": self.d_ff}, batched=True)
        return GPT2BlockFunction.apply(X, self.ln_1_w, self.ln_1_b, self.W_q, self.b_q, self.W_k, self.b_k, self.W_v, self.b_v, self.W_o, self.b_o, self.ln_2_w, self.ln_2_b, self.W_1, self.b_1, self.W_2, self.b_2, self.n_heads, self.eps, self.activation)

    def extra_repr(self):
        return f"d={self.d}, d_ff={self.d_ff}, n_heads={self.n_heads}, eps={self.eps}, activation={self.activation}"
