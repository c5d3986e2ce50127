# GENERATED FILE: DO NOT EDIT.
# Derived by pedestrian-backprop from the forward definition in derive/components/mixtral_moe.py.
# Regenerate with: backprop generate --target numba
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
    - fused: 4 runs of entrywise statements and row reductions, each one Numba kernel making one pass over the rows (_forward_4, _backward_1, _backward_2, _backward_3)
    - overwrite: dgate updated in place (+=, *=) in the array the statement made or in one no longer needed, not a new array per operation
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


def _sum_batch_axes(A, kept):
    """A summed over its leading batch axes, the last ``kept`` axes kept (heads, rows, columns); any of
    them may have size 0."""
    batch, core = tuple(A.shape[:len(A.shape) - kept]), tuple(A.shape[len(A.shape) - kept:])
    return A.reshape((math.prod(batch),) + core).sum(axis=0)


def _sum_groups(A, groups):
    """(..., heads, n_T, d) → (..., groups, n_T, d): the sum over each group of heads / groups consecutive heads."""
    return A.reshape(*A.shape[:-3], groups, A.shape[-3] // groups, *A.shape[-2:]).sum(axis=-3)


def _sum_heads(A):
    """A (…, n_heads, rows, cols) summed over its heads axis: the cotangent of a value that every head reads."""
    return A.sum(axis=-3)


def _top_k_mask(S, k):
    """1 at the k largest entries of each row of S (the last axis), 0 elsewhere: a decision, never
    differentiated."""
    order = np.argpartition(-S, k - 1, axis=-1)[..., :k]
    mask = np.zeros_like(S)
    np.put_along_axis(mask, order, 1.0, axis=-1)
    return mask


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
def _backward_1_rows(a_t1, a_g, o_dY_e, n_d):
    """dY_e: row by row."""
    T = a_t1.dtype.type
    t_d = T(n_d)
    for r in range(a_t1.shape[0]):
        # grad of Y_e, used in: Y = merge_h(sum_groups_1((g 1ᵀ) ∘ Y_e))
        for j in range(n_d):
            o_dY_e[r, j] = (a_t1[r, j] * a_g[r, 0])


def _backward_1(t1, g, d):
    """dY_e: one pass over the rows of t1 (``_backward_1_rows``)."""
    lead = t1.shape[:-1]
    o_dY_e = np.empty(lead + (d,), t1.dtype)
    _launch(_backward_1_rows, t1.reshape(math.prod(t1.shape[:-1]), t1.shape[-1]), g.reshape(math.prod(g.shape[:-1]), g.shape[-1]), o_dY_e.reshape(math.prod(o_dY_e.shape[:-1]), o_dY_e.shape[-1]), d)
    return o_dY_e


@_kernel
def _backward_2_rows(a_t1, a_Y_e, o_dg, n_d):
    """dg: row by row."""
    T = a_t1.dtype.type
    t_d = T(n_d)
    for r in range(a_t1.shape[0]):
        # grad of g, used in: Y = merge_h(sum_groups_1((g 1ᵀ) ∘ Y_e))
        s1 = 0.0
        for j in range(n_d):
            s1 += (a_t1[r, j] * a_Y_e[r, j])
        v_dg = T(s1)
        o_dg[r, 0] = v_dg


def _backward_2(t1, Y_e, d):
    """dg: one pass over the rows of t1 (``_backward_2_rows``)."""
    lead = t1.shape[:-1]
    o_dg = np.empty(lead + (1,), t1.dtype)
    _launch(_backward_2_rows, t1.reshape(math.prod(t1.shape[:-1]), t1.shape[-1]), Y_e.reshape(math.prod(Y_e.shape[:-1]), Y_e.shape[-1]), o_dg.reshape(math.prod(o_dg.shape[:-1]), o_dg.shape[-1]), d)
    return o_dg


@_kernel
def _backward_3_rows(a_chosen, a_dgates, o_dchosen, n_n_experts):
    """t2, dchosen: row by row."""
    T = a_chosen.dtype.type
    t_n_experts = T(n_n_experts)
    for r in range(a_chosen.shape[0]):
        # common subexpression
        s1 = 0.0
        for j in range(n_n_experts):
            s1 += a_chosen[r, j]
        v_t2 = T(s1)
        # grad of chosen, used in: gates = ((1/(chosen 1)) 1ᵀ) ∘ chosen
        x2 = v_t2
        s3 = 0.0
        for j in range(n_n_experts):
            s3 += (a_dgates[r, j] * a_chosen[r, j])
        x4 = v_t2
        for j in range(n_n_experts):
            o_dchosen[r, j] = ((a_dgates[r, j] * ((T(1) / (x2)))) + (T(s3) * (-T(1)/(x4 * x4))))


def _backward_3(chosen, dgates, n_experts):
    """dchosen: one pass over the rows of chosen (``_backward_3_rows``)."""
    lead = chosen.shape[:-1]
    o_dchosen = np.empty(lead + (n_experts,), chosen.dtype)
    _launch(_backward_3_rows, chosen.reshape(math.prod(chosen.shape[:-1]), chosen.shape[-1]), dgates.reshape(math.prod(dgates.shape[:-1]), dgates.shape[-1]), o_dchosen.reshape(math.prod(o_dchosen.shape[:-1]), o_dchosen.shape[-1]), n_experts)
    return o_dchosen


@_kernel
def _forward_4_rows(a_chosen, o_gates, n_n_experts):
    """gates: row by row."""
    T = a_chosen.dtype.type
    t_n_experts = T(n_n_experts)
    for r in range(a_chosen.shape[0]):
        # renormalised to sum to 1 per token
        s2 = 0.0
        for j in range(n_n_experts):
            s2 += a_chosen[r, j]
        x1 = T(s2)
        for j in range(n_n_experts):
            o_gates[r, j] = (((T(1) / (x1))) * a_chosen[r, j])


def _forward_4(chosen, n_experts):
    """gates: one pass over the rows of chosen (``_forward_4_rows``)."""
    lead = chosen.shape[:-1]
    o_gates = np.empty(lead + (n_experts,), chosen.dtype)
    _launch(_forward_4_rows, chosen.reshape(math.prod(chosen.shape[:-1]), chosen.shape[-1]), o_gates.reshape(math.prod(o_gates.shape[:-1]), o_gates.shape[-1]), n_experts)
    return o_gates


@_kernel
def _jvp_forward_5_rows(a_chosen, o_gates, n_n_experts):
    """gates: row by row."""
    T = a_chosen.dtype.type
    t_n_experts = T(n_n_experts)
    for r in range(a_chosen.shape[0]):
        # renormalised to sum to 1 per token
        s2 = 0.0
        for j in range(n_n_experts):
            s2 += a_chosen[r, j]
        x1 = T(s2)
        for j in range(n_n_experts):
            o_gates[r, j] = (((T(1) / (x1))) * a_chosen[r, j])


def _jvp_forward_5(chosen, n_experts):
    """gates: one pass over the rows of chosen (``_jvp_forward_5_rows``)."""
    lead = chosen.shape[:-1]
    o_gates = np.empty(lead + (n_experts,), chosen.dtype)
    _launch(_jvp_forward_5_rows, chosen.reshape(math.prod(chosen.shape[:-1]), chosen.shape[-1]), o_gates.reshape(math.prod(o_gates.shape[:-1]), o_gates.shape[-1]), n_experts)
    return o_gates


@_kernel
def _jvp_forward_6_rows(a_chosen, a_dchosen, o_dgates, n_n_experts):
    """dgates: row by row."""
    T = a_chosen.dtype.type
    t_n_experts = T(n_n_experts)
    for r in range(a_chosen.shape[0]):
        # the tangent of gates
        s2 = 0.0
        for j in range(n_n_experts):
            s2 += a_chosen[r, j]
        x1 = T(s2)
        s3 = 0.0
        for j in range(n_n_experts):
            s3 += a_dchosen[r, j]
        s5 = 0.0
        for j in range(n_n_experts):
            s5 += a_chosen[r, j]
        x4 = T(s5)
        for j in range(n_n_experts):
            o_dgates[r, j] = ((((-T(1)/(x1 * x1)) * T(s3)) * a_chosen[r, j]) + (((T(1) / (x4))) * a_dchosen[r, j]))


def _jvp_forward_6(chosen, dchosen, n_experts):
    """dgates: one pass over the rows of chosen (``_jvp_forward_6_rows``)."""
    lead = chosen.shape[:-1]
    o_dgates = np.empty(lead + (n_experts,), chosen.dtype)
    _launch(_jvp_forward_6_rows, chosen.reshape(math.prod(chosen.shape[:-1]), chosen.shape[-1]), dchosen.reshape(math.prod(dchosen.shape[:-1]), dchosen.shape[-1]), o_dgates.reshape(math.prod(o_dgates.shape[:-1]), o_dgates.shape[-1]), n_experts)
    return o_dgates


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
    X = np.asarray(X)
    W_router = np.asarray(W_router)
    W_gate = np.asarray(W_gate)
    W_up = np.asarray(W_up)
    W_down = np.asarray(W_down)
    dtype, compute_dtype = _check_dtypes({"X": X, "W_router": W_router, "W_gate": W_gate, "W_up": W_up, "W_down": W_down}, {})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        X = X.astype(compute_dtype, copy=False)
        W_router = W_router.astype(compute_dtype, copy=False)
        W_gate = W_gate.astype(compute_dtype, copy=False)
        W_up = W_up.astype(compute_dtype, copy=False)
        W_down = W_down.astype(compute_dtype, copy=False)
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
    P = _softmax(_rows_matmul(X, W_router.swapaxes(-1, -2)), False)  # (..., n_T, n_experts)
    chosen = _top_k_mask(P, top_k) * P  # (..., n_T, n_experts)
    gates = _forward_4(chosen, n_experts)  # (..., n_T, n_experts)
    g = _split_heads(gates, n_experts)  # (..., n_experts, n_T, 1)
    del gates
    gate = X[..., None, :, :] @ W_gate.swapaxes(-1, -2)  # (..., n_experts, n_T, d_ff)
    up = X[..., None, :, :] @ W_up.swapaxes(-1, -2)  # (..., n_experts, n_T, d_ff)
    H = _silu(gate) * up  # (..., n_experts, n_T, d_ff)
    Y_e = H @ W_down.swapaxes(-1, -2)  # (..., n_experts, n_T, d)
    Y = _merge_heads(_sum_groups(g * Y_e, 1))  # (..., n_T, d)
    cache = {"X": X, "W_router": W_router, "W_gate": W_gate, "W_up": W_up, "W_down": W_down, "P": P, "chosen": chosen, "g": g, "gate": gate, "up": up, "H": H, "Y_e": Y_e, "n_experts": n_experts, "top_k": top_k, "d": d, "out_shape": Y.shape, "out_dtype": Y.dtype, "dtype": dtype}
    return Y.astype(dtype, copy=False), cache


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
    grad_out = grad_out.astype(cache["out_dtype"], copy=False)  # the dtype the forward computed in
    del cache  # each array is released after its last use below
    # common subexpression
    t1 = _share_heads(_split_heads(grad_out, 1), n_experts)  # (..., n_experts, n_T, d)
    # fused: dY_e (one pass over the rows, _backward_1_rows)
    dY_e = _backward_1(t1, g, d)  # (..., n_experts, n_T, d)
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
    # fused: dg (one pass over the rows, _backward_2_rows)
    dg = _backward_2(t1, Y_e, d)  # (..., n_experts, n_T, 1)
    del Y_e, t1
    # grad of gates, used in: g = split_h(gates)
    dgates = _merge_heads(dg)  # (..., n_T, n_experts)
    del dg
    # fused: t2, dchosen (one pass over the rows, _backward_3_rows)
    dchosen = _backward_3(chosen, dgates, n_experts)  # (..., n_T, n_experts)
    del chosen, dgates
    # grad of P, used in: chosen = topk_top_k(P) ∘ P
    dP = dchosen * _top_k_mask(P, top_k)  # (..., n_T, n_experts)
    del dchosen
    # grad of X, used in: P = softmax(X W_routerᵀ); gate = X W_gateᵀ; up = X W_upᵀ
    dX = _sum_heads(dup @ W_up + dgate @ W_gate) + _rows_matmul((P * (dP - _row_dot(P, dP))), W_router)  # (..., n_T, d)
    # grad of W_router, used in: P = softmax(X W_routerᵀ)
    dW_router = ((P.swapaxes(-1, -2) * (dP.swapaxes(-1, -2) - (P.swapaxes(-1, -2) * dP.swapaxes(-1, -2)).sum(axis=-2, keepdims=True))) @ X).reshape(-1, n_experts, d).sum(axis=0)  # (n_experts, d)
    del P, dP
    # grad of W_gate, used in: gate = X W_gateᵀ
    dW_gate = _sum_batch_axes(dgate.swapaxes(-1, -2) @ X[..., None, :, :], 3)  # (n_experts, d_ff, d)
    del dgate
    # grad of W_up, used in: up = X W_upᵀ
    dW_up = _sum_batch_axes(dup.swapaxes(-1, -2) @ X[..., None, :, :], 3)  # (n_experts, d_ff, d)
    del X, dup
    # grad of W_down, used in: Y_e = H W_downᵀ
    dW_down = _sum_batch_axes(dY_e.swapaxes(-1, -2) @ H, 3)  # (n_experts, d, d_ff)
    del H, dY_e
    return {
        "X": dX.astype(dtype, copy=False),
        "W_router": dW_router.astype(dtype, copy=False),
        "W_gate": dW_gate.astype(dtype, copy=False),
        "W_up": dW_up.astype(dtype, copy=False),
        "W_down": dW_down.astype(dtype, copy=False),
    }


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
    X = np.asarray(X)
    W_router = np.asarray(W_router)
    W_gate = np.asarray(W_gate)
    W_up = np.asarray(W_up)
    W_down = np.asarray(W_down)
    dX = np.asarray(dX)
    dW_router = np.asarray(dW_router)
    dW_gate = np.asarray(dW_gate)
    dW_up = np.asarray(dW_up)
    dW_down = np.asarray(dW_down)
    dtype, compute_dtype = _check_dtypes({"X": X, "W_router": W_router, "W_gate": W_gate, "W_up": W_up, "W_down": W_down, "dX": dX, "dW_router": dW_router, "dW_gate": dW_gate, "dW_up": dW_up, "dW_down": dW_down}, {})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        X = X.astype(compute_dtype, copy=False)
        W_router = W_router.astype(compute_dtype, copy=False)
        W_gate = W_gate.astype(compute_dtype, copy=False)
        W_up = W_up.astype(compute_dtype, copy=False)
        W_down = W_down.astype(compute_dtype, copy=False)
        dX = dX.astype(compute_dtype, copy=False)
        dW_router = dW_router.astype(compute_dtype, copy=False)
        dW_gate = dW_gate.astype(compute_dtype, copy=False)
        dW_up = dW_up.astype(compute_dtype, copy=False)
        dW_down = dW_down.astype(compute_dtype, copy=False)
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
    P = _softmax(_rows_matmul(X, W_router.swapaxes(-1, -2)), False)  # (..., n_T, n_experts)
    chosen = _top_k_mask(P, top_k) * P  # (..., n_T, n_experts)
    gates = _jvp_forward_5(chosen, n_experts)  # (..., n_T, n_experts)
    g = _split_heads(gates, n_experts)  # (..., n_experts, n_T, 1)
    del gates
    gate = X[..., None, :, :] @ W_gate.swapaxes(-1, -2)  # (..., n_experts, n_T, d_ff)
    up = X[..., None, :, :] @ W_up.swapaxes(-1, -2)  # (..., n_experts, n_T, d_ff)
    H = _silu(gate) * up  # (..., n_experts, n_T, d_ff)
    Y_e = H @ W_down.swapaxes(-1, -2)  # (..., n_experts, n_T, d)
    dP = _rows_matmul(dX, W_router.swapaxes(-1, -2))  # (..., n_T, n_experts), updated in place
    dP += _rows_matmul(X, dW_router.swapaxes(-1, -2))
    dP -= (P * _rows_matmul(dX, W_router.swapaxes(-1, -2))).sum(axis=-1, keepdims=True)
    dP -= (P * _rows_matmul(X, dW_router.swapaxes(-1, -2))).sum(axis=-1, keepdims=True)
    dP *= P
    dchosen = _top_k_mask(P, top_k) * dP  # (..., n_T, n_experts)
    del P, dP
    dgates = _jvp_forward_6(chosen, dchosen, n_experts)  # (..., n_T, n_experts)
    del chosen, dchosen
    dg = _split_heads(dgates, n_experts)  # (..., n_experts, n_T, 1)
    del dgates
    dgate = dX[..., None, :, :] @ W_gate.swapaxes(-1, -2) + X[..., None, :, :] @ dW_gate.swapaxes(-1, -2)  # (..., n_experts, n_T, d_ff)
    dup = dX[..., None, :, :] @ W_up.swapaxes(-1, -2) + X[..., None, :, :] @ dW_up.swapaxes(-1, -2)  # (..., n_experts, n_T, d_ff)
    dH = dgate  # (..., n_experts, n_T, d_ff), dgate's array, updated in place
    dH = _silu_grad(gate, times=dH)
    dH *= up
    dH += _silu(gate) * dup
    del dgate, dup, gate, up
    dY_e = dH @ W_down.swapaxes(-1, -2)  # (..., n_experts, n_T, d), updated in place
    dY_e += H @ dW_down.swapaxes(-1, -2)
    del H, dH
    dY = _merge_heads(_sum_groups(dg * Y_e + g * dY_e, 1))  # (..., n_T, d)
    del Y_e, dY_e, dg, g
    cache = {"out_shape": dY.shape, "out_dtype": dY.dtype, "dtype": dtype}
    return dY.astype(dtype, copy=False), cache


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
        dX = np.zeros_like(np.asarray(X))
    if dW_router is None:  # no tangent: zero
        dW_router = np.zeros_like(np.asarray(W_router))
    if dW_gate is None:  # no tangent: zero
        dW_gate = np.zeros_like(np.asarray(W_gate))
    if dW_up is None:  # no tangent: zero
        dW_up = np.zeros_like(np.asarray(W_up))
    if dW_down is None:  # no tangent: zero
        dW_down = np.zeros_like(np.asarray(W_down))
    return _jvp_forward(X, W_router, W_gate, W_up, W_down, dX, dW_router, dW_gate, dW_up, dW_down, n_experts=n_experts, top_k=top_k)[0]
