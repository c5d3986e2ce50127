# GENERATED FILE: DO NOT EDIT.
# Derived by pedestrian-backprop from the forward definition in derive/components/mixtral_moe.py.
# Regenerate with: backprop generate --target torch
"""Mixtral sparse mixture of experts (`mixtral_moe`): forward pass and derived backward pass.

Forward definition (one sequence; inputs may carry leading batch dimensions):
    P = softmax(X W_routerᵀ)
    chosen = topk_top_k(P) ∘ P
    gates = ((1/(chosen 1)) 1ᵀ) ∘ chosen
    g = split_h(gates)
    gate = X W_gateᵀ
    up = X W_upᵀ
    H = silu(gate) ∘ up
    Y_e = H W_downᵀ
    Y = merge_h(sum_groups_1((g 1ᵀ) ∘ Y_e))

Gradients, as derived:
    ∂L/∂X = Δ_up W_up + Δ_gate W_gate + (softmax(X W_routerᵀ) ∘ (Δ_P − (softmax(X W_routerᵀ) ∘ Δ_P) 1 1ᵀ)) W_router
    ∂L/∂W_router = Σ_batch ((softmax(X W_routerᵀ)ᵀ ∘ (Δ_Pᵀ − 1 1ᵀ (softmax(X W_routerᵀ)ᵀ ∘ Δ_Pᵀ))) X)
    ∂L/∂W_gate = Σ_batch (Δ_gateᵀ X)
    ∂L/∂W_up = Σ_batch (Δ_upᵀ X)
    ∂L/∂W_down = Σ_batch (Δ_Y_eᵀ H)

Optimisations (each keeps the values within rounding):
    - overwrite: dgate, dchosen updated in place (+=, *=) in the array the statement made or in one no longer needed, not a new array per operation
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


def _sum_batch_axes(A, kept):
    """A summed over its leading batch axes, the last ``kept`` axes kept (heads, rows, columns); any of
    them may have size 0."""
    batch, core = tuple(A.shape[:len(A.shape) - kept]), tuple(A.shape[len(A.shape) - kept:])
    return A.reshape((math.prod(batch),) + core).sum(0)


def _sum_groups(A, groups):
    """(..., heads, n_T, d) → (..., groups, n_T, d): the sum over each group of heads / groups consecutive heads."""
    return A.reshape(*A.shape[:-3], groups, A.shape[-3] // groups, *A.shape[-2:]).sum(-3)


def _sum_heads(A):
    """A (…, n_heads, rows, cols) summed over its heads axis: the cotangent of a value that every head reads."""
    return A.sum(-3)


def _top_k_mask(S, k):
    """1 at the k largest entries of each row of S (the last axis), 0 elsewhere: a decision, never
    differentiated (``torch.topk``'s indices)."""
    return torch.zeros_like(S).scatter_(-1, S.topk(k, dim=-1).indices, 1.0)


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
def forward(X, W_router, W_gate, W_up, W_down, *, n_experts=8, top_k=2):
    """Mixtral sparse mixture of experts: returns ``(out, cache)``.

    n_experts: configuration, default 8: num_local_experts
    top_k: configuration, default 2: num_experts_per_tok: experts chosen per token
    X: input (..., n_T, d)
    W_router: parameter (n_experts, d): gate.weight
    W_gate: parameter (n_experts, d_ff, d): experts.gate_up_proj[:, :d_ff]
    W_up: parameter (n_experts, d_ff, d): experts.gate_up_proj[:, d_ff:]
    W_down: parameter (n_experts, d, d_ff): experts.down_proj
    """
    X = torch.as_tensor(X)
    W_router = torch.as_tensor(W_router)
    W_gate = torch.as_tensor(W_gate)
    W_up = torch.as_tensor(W_up)
    W_down = torch.as_tensor(W_down)
    dtype, compute_dtype = _check_dtypes({"X": X, "W_router": W_router, "W_gate": W_gate, "W_up": W_up, "W_down": W_down}, {})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        X = X.to(compute_dtype)
        W_router = W_router.to(compute_dtype)
        W_gate = W_gate.to(compute_dtype)
        W_up = W_up.to(compute_dtype)
        W_down = W_down.to(compute_dtype)
    n_experts = _check_count("n_experts", n_experts)
    top_k = _check_count("top_k", top_k)
    dims = {}
    _check_shape("X", X, ("n_T", "d"), dims, batched=True)
    _check_shape("W_router", W_router, (n_experts, "d"), dims, batched=False)
    _check_shape("W_gate", W_gate, (n_experts, "d_ff", "d"), dims, batched=False)
    _check_shape("W_up", W_up, (n_experts, "d_ff", "d"), dims, batched=False)
    _check_shape("W_down", W_down, (n_experts, "d", "d_ff"), dims, batched=False)
    d = dims["d"]
    if not (top_k <= n_experts):
        raise ValueError('chosen: top-k routing picks at most n_experts of n_experts columns, k = top_k; got ' + f"n_experts={n_experts}, top_k={top_k}")
    P = _softmax(X @ W_router.mT, False)  # (..., n_T, n_experts)
    chosen = _top_k_mask(P, top_k) * P  # (..., n_T, n_experts)
    gates = torch.reciprocal(chosen.sum(-1, keepdim=True)) * chosen  # (..., n_T, n_experts)
    g = _split_heads(gates, n_experts)  # (..., n_experts, n_T, 1)
    del gates
    gate = X[..., None, :, :] @ W_gate.mT  # (..., n_experts, n_T, d_ff)
    up = X[..., None, :, :] @ W_up.mT  # (..., n_experts, n_T, d_ff)
    H = _silu(gate) * up  # (..., n_experts, n_T, d_ff)
    Y_e = H @ W_down.mT  # (..., n_experts, n_T, d)
    Y = _merge_heads(_sum_groups(g * Y_e, 1))  # (..., n_T, d)
    cache = {"X": X, "W_router": W_router, "W_gate": W_gate, "W_up": W_up, "W_down": W_down, "P": P, "chosen": chosen, "g": g, "gate": gate, "up": up, "H": H, "Y_e": Y_e, "n_experts": n_experts, "top_k": top_k, "d": d, "out_shape": Y.shape, "out_dtype": Y.dtype, "dtype": dtype}
    return Y.to(dtype), cache


@_no_grad
def backward(grad_out, cache):
    """Gradients of the loss given ``grad_out`` = ∂L/∂Y: a dict keyed by argument name."""
    X = cache["X"]
    W_router = cache["W_router"]
    W_gate = cache["W_gate"]
    W_up = cache["W_up"]
    W_down = cache["W_down"]
    P = cache["P"]
    chosen = cache["chosen"]
    g = cache["g"]
    gate = cache["gate"]
    up = cache["up"]
    H = cache["H"]
    Y_e = cache["Y_e"]
    n_experts = cache["n_experts"]
    top_k = cache["top_k"]
    d = cache["d"]
    dtype = cache["dtype"]
    if grad_out.shape != cache["out_shape"]:
        raise ValueError(f"grad_out: expected shape {cache['out_shape']}, got {grad_out.shape}")
    grad_out = grad_out.to(cache["out_dtype"])  # the dtype the forward computed in
    del cache  # each array is released after its last use below
    # common subexpression
    t1 = _share_heads(_split_heads(grad_out, 1), n_experts)  # (..., n_experts, n_T, d)
    # grad of Y_e, used in: Y = merge_h(sum_groups_1((g 1ᵀ) ∘ Y_e))
    dY_e = t1 * g  # (..., n_experts, n_T, d)
    del g
    # grad of H, used in: Y_e = H W_downᵀ
    dH = dY_e @ W_down  # (..., n_experts, n_T, d_ff)
    # grad of up, used in: H = silu(gate) ∘ up
    dup = dH * _silu(gate)  # (..., n_experts, n_T, d_ff)
    # grad of gate, used in: H = silu(gate) ∘ up
    dgate = dH  # (..., n_experts, n_T, d_ff), dH's array, updated in place
    dgate *= up
    dgate = _silu_grad(gate, times=dgate)
    del dH, gate, up
    # grad of g, used in: Y = merge_h(sum_groups_1((g 1ᵀ) ∘ Y_e))
    dg = (t1 * Y_e).sum(-1, keepdim=True)  # (..., n_experts, n_T, 1)
    del Y_e, t1
    # grad of gates, used in: g = split_h(gates)
    dgates = _merge_heads(dg)  # (..., n_T, n_experts)
    del dg
    # common subexpression
    t2 = chosen.sum(-1, keepdim=True)  # (..., n_T, 1)
    # grad of chosen, used in: gates = ((1/(chosen 1)) 1ᵀ) ∘ chosen
    dchosen = dgates * torch.reciprocal(t2)  # (..., n_T, n_experts), updated in place
    dchosen.addcmul_((dgates * chosen).sum(-1, keepdim=True), -1/t2**2)
    del chosen, dgates, t2
    # grad of P, used in: chosen = topk_top_k(P) ∘ P
    dP = dchosen * _top_k_mask(P, top_k)  # (..., n_T, n_experts)
    del dchosen
    # grad of X, used in: P = softmax(X W_routerᵀ); gate = X W_gateᵀ; up = X W_upᵀ
    dX = _sum_heads(dup @ W_up + dgate @ W_gate) + ((P * (dP - (P * dP).sum(-1, keepdim=True))) @ W_router)  # (..., n_T, d)
    # grad of W_router, used in: P = softmax(X W_routerᵀ)
    dW_router = ((P.mT * (dP.mT - (P.mT * dP.mT).sum(-2, keepdim=True))) @ X).reshape(-1, n_experts, d).sum(0)  # (n_experts, d)
    del P, dP
    # grad of W_gate, used in: gate = X W_gateᵀ
    dW_gate = _sum_batch_axes(dgate.mT @ X[..., None, :, :], 3)  # (n_experts, d_ff, d)
    del dgate
    # grad of W_up, used in: up = X W_upᵀ
    dW_up = _sum_batch_axes(dup.mT @ X[..., None, :, :], 3)  # (n_experts, d_ff, d)
    del X, dup
    # grad of W_down, used in: Y_e = H W_downᵀ
    dW_down = _sum_batch_axes(dY_e.mT @ H, 3)  # (n_experts, d, d_ff)
    del H, dY_e
    return {
        "X": dX.to(dtype),
        "W_router": dW_router.to(dtype),
        "W_gate": dW_gate.to(dtype),
        "W_up": dW_up.to(dtype),
        "W_down": dW_down.to(dtype),
    }


@_no_grad
def _jvp_forward(X, W_router, W_gate, W_up, W_down, dX, dW_router, dW_gate, dW_up, dW_down, *, n_experts=8, top_k=2):
    """Mixtral sparse mixture of experts: returns ``(out, cache)``.

    n_experts: configuration, default 8: num_local_experts
    top_k: configuration, default 2: num_experts_per_tok: experts chosen per token
    X: input, frozen (..., n_T, d)
    W_router: parameter, frozen (n_experts, d): gate.weight
    W_gate: parameter, frozen (n_experts, d_ff, d): experts.gate_up_proj[:, :d_ff]
    W_up: parameter, frozen (n_experts, d_ff, d): experts.gate_up_proj[:, d_ff:]
    W_down: parameter, frozen (n_experts, d, d_ff): experts.down_proj
    dX: input, frozen (..., n_T, d): the tangent of X
    dW_router: parameter, frozen (n_experts, d): the tangent of W_router
    dW_gate: parameter, frozen (n_experts, d_ff, d): the tangent of W_gate
    dW_up: parameter, frozen (n_experts, d_ff, d): the tangent of W_up
    dW_down: parameter, frozen (n_experts, d, d_ff): the tangent of W_down
    """
    X = torch.as_tensor(X)
    W_router = torch.as_tensor(W_router)
    W_gate = torch.as_tensor(W_gate)
    W_up = torch.as_tensor(W_up)
    W_down = torch.as_tensor(W_down)
    dX = torch.as_tensor(dX)
    dW_router = torch.as_tensor(dW_router)
    dW_gate = torch.as_tensor(dW_gate)
    dW_up = torch.as_tensor(dW_up)
    dW_down = torch.as_tensor(dW_down)
    dtype, compute_dtype = _check_dtypes({"X": X, "W_router": W_router, "W_gate": W_gate, "W_up": W_up, "W_down": W_down, "dX": dX, "dW_router": dW_router, "dW_gate": dW_gate, "dW_up": dW_up, "dW_down": dW_down}, {})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        X = X.to(compute_dtype)
        W_router = W_router.to(compute_dtype)
        W_gate = W_gate.to(compute_dtype)
        W_up = W_up.to(compute_dtype)
        W_down = W_down.to(compute_dtype)
        dX = dX.to(compute_dtype)
        dW_router = dW_router.to(compute_dtype)
        dW_gate = dW_gate.to(compute_dtype)
        dW_up = dW_up.to(compute_dtype)
        dW_down = dW_down.to(compute_dtype)
    n_experts = _check_count("n_experts", n_experts)
    top_k = _check_count("top_k", top_k)
    dims = {}
    _check_shape("X", X, ("n_T", "d"), dims, batched="shared")
    _check_shape("W_router", W_router, (n_experts, "d"), dims, batched=False)
    _check_shape("W_gate", W_gate, (n_experts, "d_ff", "d"), dims, batched=False)
    _check_shape("W_up", W_up, (n_experts, "d_ff", "d"), dims, batched=False)
    _check_shape("W_down", W_down, (n_experts, "d", "d_ff"), dims, batched=False)
    _check_shape("dX", dX, ("n_T", "d"), dims, batched="shared")
    _check_shape("dW_router", dW_router, (n_experts, "d"), dims, batched=False)
    _check_shape("dW_gate", dW_gate, (n_experts, "d_ff", "d"), dims, batched=False)
    _check_shape("dW_up", dW_up, (n_experts, "d_ff", "d"), dims, batched=False)
    _check_shape("dW_down", dW_down, (n_experts, "d", "d_ff"), dims, batched=False)
    X, dX = _broadcast_batches({"X": X, "dX": dX}, {"X": 2, "dX": 2}, dims)
    if not (top_k <= n_experts):
        raise ValueError('chosen: top-k routing picks at most n_experts of n_experts columns, k = top_k; got ' + f"n_experts={n_experts}, top_k={top_k}")
    P = _softmax(X @ W_router.mT, False)  # (..., n_T, n_experts)
    chosen = _top_k_mask(P, top_k) * P  # (..., n_T, n_experts)
    gates = torch.reciprocal(chosen.sum(-1, keepdim=True)) * chosen  # (..., n_T, n_experts)
    g = _split_heads(gates, n_experts)  # (..., n_experts, n_T, 1)
    del gates
    gate = X[..., None, :, :] @ W_gate.mT  # (..., n_experts, n_T, d_ff)
    up = X[..., None, :, :] @ W_up.mT  # (..., n_experts, n_T, d_ff)
    H = _silu(gate) * up  # (..., n_experts, n_T, d_ff)
    Y_e = H @ W_down.mT  # (..., n_experts, n_T, d)
    dP = dX @ W_router.mT  # (..., n_T, n_experts), updated in place
    dP += X @ dW_router.mT
    dP -= (P * (dX @ W_router.mT)).sum(-1, keepdim=True)
    dP -= (P * (X @ dW_router.mT)).sum(-1, keepdim=True)
    dP *= P
    dchosen = _top_k_mask(P, top_k) * dP  # (..., n_T, n_experts)
    del P, dP
    dgates = ((-1/chosen.sum(-1, keepdim=True)**2) * dchosen.sum(-1, keepdim=True)) * chosen  # (..., n_T, n_experts), updated in place
    dgates.addcmul_(torch.reciprocal(chosen.sum(-1, keepdim=True)), dchosen)
    del chosen, dchosen
    dg = _split_heads(dgates, n_experts)  # (..., n_experts, n_T, 1)
    del dgates
    dgate = dX[..., None, :, :] @ W_gate.mT + X[..., None, :, :] @ dW_gate.mT  # (..., n_experts, n_T, d_ff)
    dup = dX[..., None, :, :] @ W_up.mT + X[..., None, :, :] @ dW_up.mT  # (..., n_experts, n_T, d_ff)
    dH = dgate  # (..., n_experts, n_T, d_ff), dgate's array, updated in place
    dH = _silu_grad(gate, times=dH)
    dH *= up
    dH.addcmul_(_silu(gate), dup)
    del dgate, dup, gate, up
    dY_e = dH @ W_down.mT  # (..., n_experts, n_T, d), updated in place
    dY_e += H @ dW_down.mT
    del H, dH
    dY = _merge_heads(_sum_groups(dg * Y_e + g * dY_e, 1))  # (..., n_T, d)
    del Y_e, dY_e, dg, g
    cache = {"out_shape": dY.shape, "out_dtype": dY.dtype, "dtype": dtype}
    return dY.to(dtype), cache


def jvp(X, W_router, W_gate, W_up, W_down, dX=None, dW_router=None, dW_gate=None, dW_up=None, dW_down=None, *, n_experts=8, top_k=2):
    """The tangent of Y for the arguments' tangents: forward mode, pushed forward from each
    primitive's differential (``backprop show mixtral_moe --jvp``).

    dX: the tangent of X (its shape; None for zero)
    dW_router: the tangent of W_router (its shape; None for zero)
    dW_gate: the tangent of W_gate (its shape; None for zero)
    dW_up: the tangent of W_up (its shape; None for zero)
    dW_down: the tangent of W_down (its shape; None for zero)
    """
    if dX is None:  # no tangent: zero
        dX = torch.zeros_like(torch.as_tensor(X))
    if dW_router is None:  # no tangent: zero
        dW_router = torch.zeros_like(torch.as_tensor(W_router))
    if dW_gate is None:  # no tangent: zero
        dW_gate = torch.zeros_like(torch.as_tensor(W_gate))
    if dW_up is None:  # no tangent: zero
        dW_up = torch.zeros_like(torch.as_tensor(W_up))
    if dW_down is None:  # no tangent: zero
        dW_down = torch.zeros_like(torch.as_tensor(W_down))
    return _jvp_forward(X, W_router, W_gate, W_up, W_down, dX, dW_router, dW_gate, dW_up, dW_down, n_experts=n_experts, top_k=top_k)[0]


def _unchanged(t):
    return t


def _recomputed(grad_out, arguments, config):
    """The gradients with the forward computed again from the arguments, autograd on."""
    _, cache = forward.__wrapped__(*arguments, **config)
    return backward.__wrapped__(grad_out, cache)


def _cached(arguments, arrays, constants):
    """The forward's cache from what the Function saved: its arrays, the arguments it holds (in the
    dtype computed in), and its numbers."""
    cache = dict(zip(("P", "chosen", "g", "gate", "up", "H", "Y_e",), arrays), **constants)
    cache["X"] = arguments[0].to(constants["out_dtype"])
    cache["W_router"] = arguments[1].to(constants["out_dtype"])
    cache["W_gate"] = arguments[2].to(constants["out_dtype"])
    cache["W_up"] = arguments[3].to(constants["out_dtype"])
    cache["W_down"] = arguments[4].to(constants["out_dtype"])
    return cache


def _cache_constants(X, W_router, W_gate, W_up, W_down, *, n_experts=8, top_k=2):
    """The numbers the backward reads from the cache (sizes, configuration, dtypes), from the arguments'
    shapes and dtypes and the configuration alone: no array is computed."""
    X = torch.as_tensor(X)
    W_router = torch.as_tensor(W_router)
    W_gate = torch.as_tensor(W_gate)
    W_up = torch.as_tensor(W_up)
    W_down = torch.as_tensor(W_down)
    dtype, compute_dtype = _check_dtypes({"X": X, "W_router": W_router, "W_gate": W_gate, "W_up": W_up, "W_down": W_down}, {})
    n_experts = _check_count("n_experts", n_experts)
    top_k = _check_count("top_k", top_k)
    dims = {}
    _check_shape("X", X, ("n_T", "d"), dims, batched=True)
    _check_shape("W_router", W_router, (n_experts, "d"), dims, batched=False)
    _check_shape("W_gate", W_gate, (n_experts, "d_ff", "d"), dims, batched=False)
    _check_shape("W_up", W_up, (n_experts, "d_ff", "d"), dims, batched=False)
    _check_shape("W_down", W_down, (n_experts, "d", "d_ff"), dims, batched=False)
    d = dims["d"]
    if not (top_k <= n_experts):
        raise ValueError('chosen: top-k routing picks at most n_experts of n_experts columns, k = top_k; got ' + f"n_experts={n_experts}, top_k={top_k}")
    return {"n_experts": n_experts, "top_k": top_k, "d": d, "out_dtype": compute_dtype, "dtype": dtype}


class _MixtralSparseMoECached(torch.autograd.Function):
    """The Function itself: its further outputs are the arrays the backward reads (without a gradient);
    ``MixtralSparseMoEFunction`` gives the output alone."""

    generate_vmap_rule = True

    @staticmethod
    def forward(X, W_router, W_gate, W_up, W_down, n_experts, top_k):
        out, cache = forward(X, W_router, W_gate, W_up, W_down, n_experts=n_experts, top_k=top_k)
        # each cached array a tensor of its own (detach): one that is also an output stays differentiable there
        return (*_distinct_outputs((out,), (X, W_router, W_gate, W_up, W_down,)), cache["P"].detach(), cache["chosen"].detach(), cache["g"].detach(), cache["gate"].detach(), cache["up"].detach(), cache["H"].detach(), cache["Y_e"].detach(),)

    @staticmethod
    def setup_context(ctx, inputs, output):
        X, W_router, W_gate, W_up, W_down, n_experts, top_k = inputs
        ctx.mark_non_differentiable(*output[1:])
        ctx.set_materialize_grads(False)  # the cached arrays' gradients stay None, never zeros
        ctx.save_for_backward(X, W_router, W_gate, W_up, W_down, *output[1:])
        ctx.save_for_forward(X, W_router, W_gate, W_up, W_down)
        ctx.config = {"n_experts": n_experts, "top_k": top_k}
        ctx.constants = dict(_cache_constants(X, W_router, W_gate, W_up, W_down, n_experts=n_experts, top_k=top_k), out_shape=output[0].shape)

    @staticmethod
    def backward(ctx, grad_out, *_):
        arguments, cached = ctx.saved_tensors[:5], ctx.saved_tensors[5:]
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
            grads["W_router"] if needs[1] and "W_router" in grads else None,
            grads["W_gate"] if needs[2] and "W_gate" in grads else None,
            grads["W_up"] if needs[3] and "W_up" in grads else None,
            grads["W_down"] if needs[4] and "W_down" in grads else None,
            None,  # n_experts
            None,  # top_k
        )

    @staticmethod
    def jvp(ctx, dX, dW_router, dW_gate, dW_up, dW_down, _tangent_5, _tangent_6):
        X, W_router, W_gate, W_up, W_down = ctx.saved_tensors
        tangents = (dX, dW_router, dW_gate, dW_up, dW_down, _tangent_5, _tangent_6)
        if any(_transformed(t) for t in tangents if t is not None):  # under torch.func: no update in place
            tangent = torch.func.functionalize(lambda *a: jvp(*a, **ctx.config))(X, W_router, W_gate, W_up, W_down, dX, dW_router, dW_gate, dW_up, dW_down)
        else:
            tangent = jvp(X, W_router, W_gate, W_up, W_down, dX, dW_router, dW_gate, dW_up, dW_down, **ctx.config)
        return (tangent,) + (None,) * 7  # the cached arrays carry no gradient


class MixtralSparseMoEFunction(_MixtralSparseMoECached):
    """``MixtralSparseMoEFunction.apply(X, W_router, W_gate, W_up, W_down, n_experts, top_k)`` with the derived backward pass.

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
    def apply(cls, X, W_router, W_gate, W_up, W_down, n_experts, top_k):
        """The output."""
        return _MixtralSparseMoECached.apply(X, W_router, W_gate, W_up, W_down, n_experts, top_k)[0]


class MixtralSparseMoE(torch.nn.Module):
    """Mixtral sparse mixture of experts owning its parameters (initialised as GPT-2 does)."""

    def __init__(self, d, d_ff, n_experts=8, top_k=2, device=None, dtype=None):
        super().__init__()
        if not (top_k <= n_experts):
            raise ValueError('chosen: top-k routing picks at most n_experts of n_experts columns, k = top_k; got ' + f"n_experts={n_experts}, top_k={top_k}")
        self.d = d
        self.d_ff = d_ff
        self.n_experts = n_experts
        self.top_k = top_k
        factory = {"device": device, "dtype": dtype}
        self.W_router = torch.nn.Parameter(torch.empty((n_experts, d), **factory).normal_(0.0, 0.02), requires_grad=True)
        self.W_gate = torch.nn.Parameter(torch.empty((n_experts, d_ff, d), **factory).normal_(0.0, 0.02), requires_grad=True)
        self.W_up = torch.nn.Parameter(torch.empty((n_experts, d_ff, d), **factory).normal_(0.0, 0.02), requires_grad=True)
        self.W_down = torch.nn.Parameter(torch.empty((n_experts, d, d_ff), **factory).normal_(0.0, 0.02), requires_grad=True)

    def forward(self, X):
        _check_shape("X", X, ("n_T", "d"), {"d": self.d, "d_ff": self.d_ff}, batched=True)
        return MixtralSparseMoEFunction.apply(X, self.W_router, self.W_gate, self.W_up, self.W_down, self.n_experts, self.top_k)

    def extra_repr(self):
        return f"d={self.d}, d_ff={self.d_ff}, n_experts={self.n_experts}, top_k={self.top_k}"
