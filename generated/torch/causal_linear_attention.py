# GENERATED FILE: DO NOT EDIT.
# Derived by pedestrian-backprop from the forward definition in derive/components/causal_linear_attention.py.
# Regenerate with: backprop generate --target torch
"""Linear attention (causal) (`causal_linear_attention`): forward pass and derived backward pass.

Forward definition (one sequence; inputs may carry leading batch dimensions):
    Q = X W_q + 1 b_qᵀ
    K = X W_k + 1 b_kᵀ
    V = X W_v + 1 b_vᵀ
    phi_Q = feature_map(split_h(Q))
    phi_K = feature_map(split_h(K))
    V_h = split_h(V)
    states = cumsum(rowouter(phi_K, V_h))
    sums = cumsum(phi_K)
    num = rowcontract(phi_Q, states)
    den = (phi_Q ∘ sums) 1
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
    - fuse-shared-operand: X W_q, X W_k, X W_v as one product with the weights side by side, forward and backward
    - overwrite: dden updated in place (+=, *=) in the array the statement made or in one no longer needed, not a new array per operation
    - in-place functions: each scalar function computes in buffers of its own (kept between calls)
    - liveness: every array is released after its last use (del); the backward drops its cache
"""
import functools
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


def _prefix_sum(A, reverse):
    """Row t: Σ_{s ≤ t} A_s over the tokens (the second-to-last axis); with ``reverse``, Σ_{s ≥ t} A_s."""
    if reverse:
        return torch.flip(torch.cumsum(torch.flip(A, (-2,)), dim=-2), (-2,))
    return torch.cumsum(A, dim=-2)


def _row_contract(Q, C):
    """Row t: q_tᵀ C_t with row t of C read as a p × r matrix, (..., n, p), (..., n, p·r) → (..., n, r)."""
    p = Q.shape[-1]
    matrices = C.reshape(C.shape[:-1] + (p, C.shape[-1] // p))
    return (Q[..., None, :] @ matrices)[..., 0, :]


def _row_outer(A, B):
    """Row t: vec(a_t b_tᵀ), (..., n, p) and (..., n, q) → (..., n, p·q)."""
    outer = A[..., :, None] * B[..., None, :]  # (..., n, p, q): A and B may differ in their batch axes
    return outer.reshape(outer.shape[:-2] + (A.shape[-1] * B.shape[-1],))


def _row_transpose(C, rows):
    """Row t: vec(C_tᵀ), row t of C read as a ``rows`` × (columns/rows) matrix."""
    rows = int(rows)  # a size such as d / n_heads, exact
    matrices = C.reshape(C.shape[:-1] + (rows, C.shape[-1] // rows))
    return matrices.swapaxes(-1, -2).reshape(C.shape)


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


def _split_heads(A, n_heads):
    """(..., n_T, d) → (..., n_heads, n_T, d / n_heads): head h takes column block h, laid out
    head by head once (each product with the heads would otherwise copy them)."""
    return A.reshape(*A.shape[:-1], n_heads, A.shape[-1] // n_heads).swapaxes(-2, -3).contiguous()


def _transformed(t):
    """Whether ``t`` is a value a torch.func transform (vmap, grad, jvp) is tracing, not a plain tensor:
    then no buffer is kept between calls and no storage is inspected.  Never while compiling (the
    compiler traces plain tensors, and the question would break its graph)."""
    return not torch.compiler.is_compiling() and torch._C._functorch.is_functorch_wrapped_tensor(t)


def _elu_plus_one(x, times=None):
    if times is None:
        return torch.where(x > 0, x + 1, torch.exp(x))
    times *= torch.where(x > 0, x + 1, torch.exp(x))
    return times


def _elu_plus_one_grad(x, times=None):
    if times is None:
        return torch.where(x > 0, 1, torch.exp(x))
    times *= torch.where(x > 0, 1, torch.exp(x))
    return times


def _softplus(x, times=None):
    """Computed in buffers of its own, each operation in place; ``times``: multiplied into it."""
    if torch.is_grad_enabled() or _transformed(x):
        value = torch.log(torch.exp(x) + 1)
        return value if times is None else times * value
    b1 = torch.exp(x, out=None if times is None else _scratch("softplus.b1", x))
    b1 += 1.0
    torch.log(b1, out=b1)
    if times is None:
        return b1
    times *= b1
    return times


def _softplus_grad(x, times=None):
    """Computed in buffers of its own, each operation in place; ``times``: multiplied into it."""
    if torch.is_grad_enabled() or _transformed(x):
        value = torch.exp(x)/(torch.exp(x) + 1)
        return value if times is None else times * value
    t0 = torch.exp(x, out=_scratch("softplus_grad.t0", x))
    b2 = t0.clone()
    b2 += 1.0
    torch.reciprocal(b2, out=b2)
    torch.multiply(b2, t0, out=b2)
    if times is None:
        return b2
    times *= b2
    return times


_FEATURE_MAP = {"elu_plus_one": _elu_plus_one, "softplus": _softplus}


_FEATURE_MAP_GRAD = {"elu_plus_one": _elu_plus_one_grad, "softplus": _softplus_grad}


@_no_grad
def forward(X, W_q, b_q, W_k, b_k, W_v, b_v, *, n_heads, feature_map='elu_plus_one'):
    """Linear attention (causal): returns ``(out, cache)``.

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
    X = torch.as_tensor(X)
    W_q = torch.as_tensor(W_q)
    b_q = torch.as_tensor(b_q)
    W_k = torch.as_tensor(W_k)
    b_k = torch.as_tensor(b_k)
    W_v = torch.as_tensor(W_v)
    b_v = torch.as_tensor(b_v)
    dtype, compute_dtype = _check_dtypes({"X": X, "W_q": W_q, "b_q": b_q, "W_k": W_k, "b_k": b_k, "W_v": W_v, "b_v": b_v}, {})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        X = X.to(compute_dtype)
        W_q = W_q.to(compute_dtype)
        b_q = b_q.to(compute_dtype)
        W_k = W_k.to(compute_dtype)
        b_k = b_k.to(compute_dtype)
        W_v = W_v.to(compute_dtype)
        b_v = b_v.to(compute_dtype)
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
    X_W_q_W_k_W_v = X @ W_q_W_k_W_v  # (..., n_T, 3*d)
    Q = X_W_q_W_k_W_v[..., 0:d] + b_q  # (..., n_T, d)
    K = X_W_q_W_k_W_v[..., d:2*d] + b_k  # (..., n_T, d)
    V = X_W_q_W_k_W_v[..., 2*d:3*d] + b_v  # (..., n_T, d)
    del X_W_q_W_k_W_v
    phi_Q = _FEATURE_MAP[feature_map](_split_heads(Q, n_heads))  # (..., n_heads, n_T, d/n_heads)
    phi_K = _FEATURE_MAP[feature_map](_split_heads(K, n_heads))  # (..., n_heads, n_T, d/n_heads)
    V_h = _split_heads(V, n_heads)  # (..., n_heads, n_T, d/n_heads)
    del V
    states = _prefix_sum(_row_outer(phi_K, V_h), reverse=False)  # (..., n_heads, n_T, d**2/n_heads**2)
    sums = _prefix_sum(phi_K, reverse=False)  # (..., n_heads, n_T, d/n_heads)
    num = _row_contract(phi_Q, states)  # (..., n_heads, n_T, d/n_heads)
    den = (phi_Q * sums).sum(-1, keepdim=True)  # (..., n_heads, n_T, 1)
    A_h = torch.reciprocal(den) * num  # (..., n_heads, n_T, d/n_heads)
    A = _merge_heads(A_h)  # (..., n_T, d)
    del A_h
    cache = {"X": X, "W_q_W_k_W_v": W_q_W_k_W_v, "Q": Q, "K": K, "phi_Q": phi_Q, "phi_K": phi_K, "V_h": V_h, "states": states, "sums": sums, "num": num, "den": den, "n_heads": n_heads, "feature_map": feature_map, "d": d, "out_shape": A.shape, "out_dtype": A.dtype, "dtype": dtype}
    return A.to(dtype), cache


@_no_grad
def backward(grad_out, cache):
    """Gradients of the loss given ``grad_out`` = ∂L/∂A: a dict keyed by argument name."""
    X = cache["X"]
    W_q_W_k_W_v = cache["W_q_W_k_W_v"]
    Q = cache["Q"]
    K = cache["K"]
    phi_Q = cache["phi_Q"]
    phi_K = cache["phi_K"]
    V_h = cache["V_h"]
    states = cache["states"]
    sums = cache["sums"]
    num = cache["num"]
    den = cache["den"]
    n_heads = cache["n_heads"]
    feature_map = cache["feature_map"]
    d = cache["d"]
    dtype = cache["dtype"]
    if grad_out.shape != cache["out_shape"]:
        raise ValueError(f"grad_out: expected shape {cache['out_shape']}, got {grad_out.shape}")
    grad_out = grad_out.to(cache["out_dtype"])  # the dtype the forward computed in
    del cache  # each array is released after its last use below
    # grad of A_h, used in: A = merge_h(A_h)
    dA_h = _split_heads(grad_out, n_heads)  # (..., n_heads, n_T, d/n_heads)
    # grad of den, used in: A_h = ((1/den) 1ᵀ) ∘ num
    dden = (dA_h * num).sum(-1, keepdim=True)  # (..., n_heads, n_T, 1), updated in place
    dden *= -1/den**2
    del num
    # grad of num, used in: A_h = ((1/den) 1ᵀ) ∘ num
    dnum = dA_h * torch.reciprocal(den)  # (..., n_heads, n_T, d/n_heads)
    del dA_h, den
    # grad of sums, used in: den = (phi_Q ∘ sums) 1
    dsums = dden * phi_Q  # (..., n_heads, n_T, d/n_heads)
    # grad of states, used in: num = rowcontract(phi_Q, states)
    dstates = _row_outer(phi_Q, dnum)  # (..., n_heads, n_T, d**2/n_heads**2)
    del phi_Q
    # common subexpression
    t2 = _prefix_sum(dstates, reverse=True)  # (..., n_heads, n_T, d**2/n_heads**2)
    del dstates
    # grad of V_h, used in: states = cumsum(rowouter(phi_K, V_h))
    dV_h = _row_contract(phi_K, t2)  # (..., n_heads, n_T, d/n_heads)
    del phi_K
    # grad of phi_K, used in: states = cumsum(rowouter(phi_K, V_h)); sums = cumsum(phi_K)
    dphi_K = _prefix_sum(dsums, reverse=True) + _row_contract(V_h, _row_transpose(t2, d // n_heads))  # (..., n_heads, n_T, d/n_heads)
    del V_h, dsums, t2
    # grad of phi_Q, used in: num = rowcontract(phi_Q, states); den = (phi_Q ∘ sums) 1
    dphi_Q = dden * sums + _row_contract(dnum, _row_transpose(states, d // n_heads))  # (..., n_heads, n_T, d/n_heads)
    del dden, dnum, states, sums
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
    dX = t1 @ W_q_W_k_W_v.mT  # (..., n_T, d)
    del W_q_W_k_W_v
    # the weights' gradients as one product
    dW_q_W_k_W_v = X.reshape(-1, d).mT @ t1.reshape(-1, 3*d)  # (d, 3*d)
    del X, t1
    # grad of W_q, used in: Q = X W_q + 1 b_qᵀ
    dW_q = dW_q_W_k_W_v[..., 0:d]  # (d, d)
    # grad of b_q, used in: Q = X W_q + 1 b_qᵀ
    db_q = dQ.reshape(-1, d).sum(0)  # (d,)
    del dQ
    # grad of W_k, used in: K = X W_k + 1 b_kᵀ
    dW_k = dW_q_W_k_W_v[..., d:2*d]  # (d, d)
    # grad of b_k, used in: K = X W_k + 1 b_kᵀ
    db_k = dK.reshape(-1, d).sum(0)  # (d,)
    del dK
    # grad of W_v, used in: V = X W_v + 1 b_vᵀ
    dW_v = dW_q_W_k_W_v[..., 2*d:3*d]  # (d, d)
    del dW_q_W_k_W_v
    # grad of b_v, used in: V = X W_v + 1 b_vᵀ
    db_v = dV.reshape(-1, d).sum(0)  # (d,)
    del dV
    return {
        "X": dX.to(dtype),
        "W_q": dW_q.to(dtype),
        "b_q": db_q.to(dtype),
        "W_k": dW_k.to(dtype),
        "b_k": db_k.to(dtype),
        "W_v": dW_v.to(dtype),
        "b_v": db_v.to(dtype),
    }


@_no_grad
def _jvp_forward(X, W_q, b_q, W_k, b_k, W_v, b_v, dX, dW_q, db_q, dW_k, db_k, dW_v, db_v, *, n_heads, feature_map='elu_plus_one'):
    """Linear attention (causal): returns ``(out, cache)``.

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
    X = torch.as_tensor(X)
    W_q = torch.as_tensor(W_q)
    b_q = torch.as_tensor(b_q)
    W_k = torch.as_tensor(W_k)
    b_k = torch.as_tensor(b_k)
    W_v = torch.as_tensor(W_v)
    b_v = torch.as_tensor(b_v)
    dX = torch.as_tensor(dX)
    dW_q = torch.as_tensor(dW_q)
    db_q = torch.as_tensor(db_q)
    dW_k = torch.as_tensor(dW_k)
    db_k = torch.as_tensor(db_k)
    dW_v = torch.as_tensor(dW_v)
    db_v = torch.as_tensor(db_v)
    dtype, compute_dtype = _check_dtypes({"X": X, "W_q": W_q, "b_q": b_q, "W_k": W_k, "b_k": b_k, "W_v": W_v, "b_v": b_v, "dX": dX, "dW_q": dW_q, "db_q": db_q, "dW_k": dW_k, "db_k": db_k, "dW_v": dW_v, "db_v": db_v}, {})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        X = X.to(compute_dtype)
        W_q = W_q.to(compute_dtype)
        b_q = b_q.to(compute_dtype)
        W_k = W_k.to(compute_dtype)
        b_k = b_k.to(compute_dtype)
        W_v = W_v.to(compute_dtype)
        b_v = b_v.to(compute_dtype)
        dX = dX.to(compute_dtype)
        dW_q = dW_q.to(compute_dtype)
        db_q = db_q.to(compute_dtype)
        dW_k = dW_k.to(compute_dtype)
        db_k = db_k.to(compute_dtype)
        dW_v = dW_v.to(compute_dtype)
        db_v = db_v.to(compute_dtype)
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
    X_W_q_W_k_W_v_dW_q_dW_k_dW_v = X @ W_q_W_k_W_v_dW_q_dW_k_dW_v  # (..., n_T, 6*d)
    del W_q_W_k_W_v_dW_q_dW_k_dW_v
    Q = X_W_q_W_k_W_v_dW_q_dW_k_dW_v[..., 0:d] + b_q  # (..., n_T, d)
    K = X_W_q_W_k_W_v_dW_q_dW_k_dW_v[..., d:2*d] + b_k  # (..., n_T, d)
    V = X_W_q_W_k_W_v_dW_q_dW_k_dW_v[..., 2*d:3*d] + b_v  # (..., n_T, d)
    phi_Q = _FEATURE_MAP[feature_map](_split_heads(Q, n_heads))  # (..., n_heads, n_T, d/n_heads)
    phi_K = _FEATURE_MAP[feature_map](_split_heads(K, n_heads))  # (..., n_heads, n_T, d/n_heads)
    V_h = _split_heads(V, n_heads)  # (..., n_heads, n_T, d/n_heads)
    del V
    states = _prefix_sum(_row_outer(phi_K, V_h), reverse=False)  # (..., n_heads, n_T, d**2/n_heads**2)
    sums = _prefix_sum(phi_K, reverse=False)  # (..., n_heads, n_T, d/n_heads)
    num = _row_contract(phi_Q, states)  # (..., n_heads, n_T, d/n_heads)
    den = (phi_Q * sums).sum(-1, keepdim=True)  # (..., n_heads, n_T, 1)
    W_q_W_k_W_v = _side_by_side(W_q, W_k, W_v)  # (d, 3*d)
    dX_W_q_W_k_W_v = dX @ W_q_W_k_W_v  # (..., n_T, 3*d)
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
    dstates = _prefix_sum(_row_outer(dphi_K, V_h) + _row_outer(phi_K, dV_h), reverse=False)  # (..., n_heads, n_T, d**2/n_heads**2)
    del V_h, dV_h, phi_K
    dsums = _prefix_sum(dphi_K, reverse=False)  # (..., n_heads, n_T, d/n_heads)
    del dphi_K
    dnum = _row_contract(dphi_Q, states) + _row_contract(phi_Q, dstates)  # (..., n_heads, n_T, d/n_heads)
    del dstates, states
    dden = (dphi_Q * sums).sum(-1, keepdim=True)  # (..., n_heads, n_T, 1), updated in place
    dden += (phi_Q * dsums).sum(-1, keepdim=True)
    del dphi_Q, dsums, phi_Q, sums
    dA_h = dnum  # (..., n_heads, n_T, d/n_heads), dnum's array, updated in place
    dA_h *= torch.reciprocal(den)
    dA_h.addcmul_((-1/den**2) * dden, num)
    del dden, den, dnum, num
    dA = _merge_heads(dA_h)  # (..., n_T, d)
    del dA_h
    cache = {"out_shape": dA.shape, "out_dtype": dA.dtype, "dtype": dtype}
    return dA.to(dtype), cache


def jvp(X, W_q, b_q, W_k, b_k, W_v, b_v, dX=None, dW_q=None, db_q=None, dW_k=None, db_k=None, dW_v=None, db_v=None, *, n_heads, feature_map='elu_plus_one'):
    """The tangent of A for the arguments' tangents: forward mode, pushed forward from each
    primitive's differential (``backprop show causal_linear_attention --jvp``).

    dX: the tangent of X (its shape; None for zero)
    dW_q: the tangent of W_q (its shape; None for zero)
    db_q: the tangent of b_q (its shape; None for zero)
    dW_k: the tangent of W_k (its shape; None for zero)
    db_k: the tangent of b_k (its shape; None for zero)
    dW_v: the tangent of W_v (its shape; None for zero)
    db_v: the tangent of b_v (its shape; None for zero)
    """
    if dX is None:  # no tangent: zero
        dX = torch.zeros_like(torch.as_tensor(X))
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
    return _jvp_forward(X, W_q, b_q, W_k, b_k, W_v, b_v, dX, dW_q, db_q, dW_k, db_k, dW_v, db_v, n_heads=n_heads, feature_map=feature_map)[0]


def _unchanged(t):
    return t


def _recomputed(grad_out, arguments, config):
    """The gradients with the forward computed again from the arguments, autograd on."""
    _, cache = forward.__wrapped__(*arguments, **config)
    return backward.__wrapped__(grad_out, cache)


def _cached(arguments, arrays, constants):
    """The forward's cache from what the Function saved: its arrays, the arguments it holds (in the
    dtype computed in), and its numbers."""
    cache = dict(zip(("W_q_W_k_W_v", "Q", "K", "phi_Q", "phi_K", "V_h", "states", "sums", "num", "den",), arrays), **constants)
    cache["X"] = arguments[0].to(constants["out_dtype"])
    return cache


def _cache_constants(X, W_q, b_q, W_k, b_k, W_v, b_v, *, n_heads, feature_map='elu_plus_one'):
    """The numbers the backward reads from the cache (sizes, configuration, dtypes), from the arguments'
    shapes and dtypes and the configuration alone: no array is computed."""
    X = torch.as_tensor(X)
    W_q = torch.as_tensor(W_q)
    b_q = torch.as_tensor(b_q)
    W_k = torch.as_tensor(W_k)
    b_k = torch.as_tensor(b_k)
    W_v = torch.as_tensor(W_v)
    b_v = torch.as_tensor(b_v)
    dtype, compute_dtype = _check_dtypes({"X": X, "W_q": W_q, "b_q": b_q, "W_k": W_k, "b_k": b_k, "W_v": W_v, "b_v": b_v}, {})
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
    return {"n_heads": n_heads, "feature_map": feature_map, "d": d, "out_dtype": compute_dtype, "dtype": dtype}


class _CausalLinearAttentionCached(torch.autograd.Function):
    """The Function itself: its further outputs are the arrays the backward reads (without a gradient);
    ``CausalLinearAttentionFunction`` gives the output alone."""

    generate_vmap_rule = True

    @staticmethod
    def forward(X, W_q, b_q, W_k, b_k, W_v, b_v, n_heads, feature_map):
        out, cache = forward(X, W_q, b_q, W_k, b_k, W_v, b_v, n_heads=n_heads, feature_map=feature_map)
        # each cached array a tensor of its own (detach): one that is also an output stays differentiable there
        return (*_distinct_outputs((out,), (X, W_q, b_q, W_k, b_k, W_v, b_v,)), cache["W_q_W_k_W_v"].detach(), cache["Q"].detach(), cache["K"].detach(), cache["phi_Q"].detach(), cache["phi_K"].detach(), cache["V_h"].detach(), cache["states"].detach(), cache["sums"].detach(), cache["num"].detach(), cache["den"].detach(),)

    @staticmethod
    def setup_context(ctx, inputs, output):
        X, W_q, b_q, W_k, b_k, W_v, b_v, n_heads, feature_map = inputs
        ctx.mark_non_differentiable(*output[1:])
        ctx.set_materialize_grads(False)  # the cached arrays' gradients stay None, never zeros
        ctx.save_for_backward(X, W_q, b_q, W_k, b_k, W_v, b_v, *output[1:])
        ctx.save_for_forward(X, W_q, b_q, W_k, b_k, W_v, b_v)
        ctx.config = {"n_heads": n_heads, "feature_map": feature_map}
        ctx.constants = dict(_cache_constants(X, W_q, b_q, W_k, b_k, W_v, b_v, n_heads=n_heads, feature_map=feature_map), out_shape=output[0].shape)

    @staticmethod
    def backward(ctx, grad_out, *_):
        arguments, cached = ctx.saved_tensors[:7], ctx.saved_tensors[7:]
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
            grads["W_q"] if needs[1] and "W_q" in grads else None,
            grads["b_q"] if needs[2] and "b_q" in grads else None,
            grads["W_k"] if needs[3] and "W_k" in grads else None,
            grads["b_k"] if needs[4] and "b_k" in grads else None,
            grads["W_v"] if needs[5] and "W_v" in grads else None,
            grads["b_v"] if needs[6] and "b_v" in grads else None,
            None,  # n_heads
            None,  # feature_map
        )

    @staticmethod
    def jvp(ctx, dX, dW_q, db_q, dW_k, db_k, dW_v, db_v, _tangent_7, _tangent_8):
        X, W_q, b_q, W_k, b_k, W_v, b_v = ctx.saved_tensors
        tangents = (dX, dW_q, db_q, dW_k, db_k, dW_v, db_v, _tangent_7, _tangent_8)
        if any(_transformed(t) for t in tangents if t is not None):  # under torch.func: no update in place
            tangent = torch.func.functionalize(lambda *a: jvp(*a, **ctx.config))(X, W_q, b_q, W_k, b_k, W_v, b_v, dX, dW_q, db_q, dW_k, db_k, dW_v, db_v)
        else:
            tangent = jvp(X, W_q, b_q, W_k, b_k, W_v, b_v, dX, dW_q, db_q, dW_k, db_k, dW_v, db_v, **ctx.config)
        return (tangent,) + (None,) * 10  # the cached arrays carry no gradient


class CausalLinearAttentionFunction(_CausalLinearAttentionCached):
    """``CausalLinearAttentionFunction.apply(X, W_q, b_q, W_k, b_k, W_v, b_v, n_heads, feature_map)`` with the derived backward pass.

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
    def apply(cls, X, W_q, b_q, W_k, b_k, W_v, b_v, n_heads, feature_map):
        """The output."""
        return _CausalLinearAttentionCached.apply(X, W_q, b_q, W_k, b_k, W_v, b_v, n_heads, feature_map)[0]


class CausalLinearAttention(torch.nn.Module):
    """Linear attention (causal) owning its parameters (initialised as GPT-2 does)."""

    def __init__(self, d, n_heads, feature_map='elu_plus_one', device=None, dtype=None):
        super().__init__()
        if not (d % n_heads == 0):
            raise ValueError('d must be divisible by n_heads; got ' + f"d={d}, n_heads={n_heads}")
        if feature_map not in ('elu_plus_one', 'softplus'):
            raise ValueError("feature_map must be one of ('elu_plus_one', 'softplus'), got " + repr(feature_map))
        self.d = d
        self.n_heads = n_heads
        self.feature_map = feature_map
        factory = {"device": device, "dtype": dtype}
        self.W_q = torch.nn.Parameter(torch.empty((d, d), **factory).normal_(0.0, 0.02), requires_grad=True)
        self.b_q = torch.nn.Parameter(torch.zeros((d,), **factory), requires_grad=True)
        self.W_k = torch.nn.Parameter(torch.empty((d, d), **factory).normal_(0.0, 0.02), requires_grad=True)
        self.b_k = torch.nn.Parameter(torch.zeros((d,), **factory), requires_grad=True)
        self.W_v = torch.nn.Parameter(torch.empty((d, d), **factory).normal_(0.0, 0.02), requires_grad=True)
        self.b_v = torch.nn.Parameter(torch.zeros((d,), **factory), requires_grad=True)

    def forward(self, X):
        _check_shape("X", X, ("n_T", "d"), {"d": self.d}, batched=True)
        return CausalLinearAttentionFunction.apply(X, self.W_q, self.b_q, self.W_k, self.b_k, self.W_v, self.b_v, self.n_heads, self.feature_map)

    def extra_repr(self):
        return f"d={self.d}, n_heads={self.n_heads}, feature_map={self.feature_map}"
