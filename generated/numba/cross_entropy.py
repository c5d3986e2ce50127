# GENERATED FILE: DO NOT EDIT.
# Derived by pedestrian-backprop from the forward definition in derive/components/cross_entropy.py.
# Regenerate with: backprop generate --target numba
"""Cross-entropy of next-token logits (`cross_entropy`): forward pass and derived backward pass.

Forward definition (one sequence; inputs may carry leading batch dimensions):
    X_s = X[:n_T − 1]
    Z = X_s W + 1 bᵀ
    ell = 1ᵀ (lse(Z) − pick(Z, idx[1:]))
    loss = weight Σ_batch ell

Gradients, as derived:
    ∂L/∂X = pad_n_T(Δ_X_s)
    ∂L/∂W = Σ_batch (X_sᵀ Δ_Z)
    ∂L/∂b = Σ_batch (1ᵀ Δ_Z)

Optimisations (each keeps the values within rounding):
    - reuse-log-sum-exp: softmax(Z) kept from the forward for the backward, and lse(Z) = max(Z) − log(max(softmax(Z))) read off it: the exponentials once per step
    - fused: 1 runs of entrywise statements and row reductions, each one Numba kernel making one pass over the rows (_backward_1)
    - overwrite: Z updated in place (+=, *=) in the array the statement made or in one no longer needed, not a new array per operation
    - rows-matmul: a batched value times a weight is one 2-D product over all its rows
    - causal mask: made once per size and reused
    - liveness: every array is released after its last use (del); the backward drops its cache
"""
import functools
import math
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


def _logsumexp_of_softmax(Z, P):
    """log Σ exp over the last axis read off P = softmax(Z): max(Z) − log(max(P)), since a row's
    largest probability is exp(0) / Σ exp(Z − max Z) (keeps that axis)."""
    return Z.max(axis=-1, keepdims=True) - np.log(P.max(axis=-1, keepdims=True))


def _pad_rows(A, rows):
    """A (..., k, d) followed by zero rows up to ``rows``."""
    out = np.zeros(A.shape[:-2] + (rows, A.shape[-1]), dtype=A.dtype)
    out[..., : A.shape[-2], :] = A
    return out


def _rows_matmul(A, W):
    """A (..., n, k) @ W (k, m) as one 2-D product over every row of A (one GEMM, not one per sequence)."""
    return (A.reshape(-1, A.shape[-1]) @ W).reshape(A.shape[:-1] + (W.shape[-1],))


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


@_kernel
def _backward_1_rows(a_dZ, o_db, n_n_vocab):
    """db: row by row."""
    T = a_dZ.dtype.type
    t_n_vocab = T(n_n_vocab)
    for r in range(a_dZ.shape[0]):
        # grad of b, used in: Z = X_s W + 1 bᵀ
        for j in range(n_n_vocab):
            o_db[j] += a_dZ[r, j]


def _backward_1(dZ, n_vocab):
    """db: one pass over the rows of dZ (``_backward_1_rows``)."""
    lead = dZ.shape[:-1]
    o_db = np.zeros(n_vocab, np.float64)
    _launch(_backward_1_rows, dZ.reshape(math.prod(dZ.shape[:-1]), dZ.shape[-1]), o_db, n_vocab)
    return o_db.astype(dZ.dtype)


def forward(X, W, b, idx, *, reduction='mean'):
    """Cross-entropy of next-token logits: returns ``(out, cache)``.

    X: input (..., n_T, d)
    W: parameter (d, n_vocab): head weights
    b: parameter (n_vocab,): head bias
    idx: integer input (n_T,): the sequence's tokens: position t predicts idx[t + 1]
    reduction: configuration, default 'mean' (one of 'mean', 'sum'): "mean" averages the scored terms of the batch, "sum" adds them (the paper)
    """
    X = np.asarray(X)
    W = np.asarray(W)
    b = np.asarray(b)
    idx = np.asarray(idx)
    dtype, compute_dtype = _check_dtypes({"X": X, "W": W, "b": b}, {"idx": idx})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        X = X.astype(compute_dtype, copy=False)
        W = W.astype(compute_dtype, copy=False)
        b = b.astype(compute_dtype, copy=False)
    if reduction not in ('mean', 'sum'):
        raise ValueError("reduction must be one of ('mean', 'sum'), got " + repr(reduction))
    dims = {}
    _check_shape("X", X, ("n_T", "d"), dims, batched=True)
    _check_shape("W", W, ("d", "n_vocab"), dims, batched=False)
    _check_shape("b", b, ("n_vocab",), dims, batched=False)
    _check_shape("idx", idx, ("n_T",), dims, batched=True)
    n_T, d, n_vocab = dims["n_T"], dims["d"], dims["n_vocab"]
    n_batch = math.prod(dims["..."])  # sequences in the batch
    if n_batch < 1:
        raise ValueError(f"the batch is empty (leading dimensions {dims['...']}): cross_entropy needs at least one sequence")
    if not (n_T >= 2):
        raise ValueError('n_T must be at least 2: position t is scored against token t + 1; got ' + f"n_T={n_T}")
    _check_indices("idx", idx, n_vocab)
    weight = 1/(n_batch*(n_T - 1)) if reduction == 'mean' else 1
    X_s = X[..., :n_T - 1, :]  # (..., n_T - 1, d)
    Z = _rows_matmul(X_s, W)  # (..., n_T - 1, n_vocab), updated in place
    Z += b
    softmax_Z = _softmax(Z, False)  # (..., n_T - 1, n_vocab)
    lse_Z = _logsumexp_of_softmax(Z, softmax_Z)  # (..., n_T - 1, 1)
    ell = (lse_Z - np.take_along_axis(Z, idx[..., 1:][..., None], axis=-1)).sum(axis=-2, keepdims=True)  # (..., 1, 1)
    del Z, lse_Z
    loss = (weight * ell.reshape(-1, 1, 1).sum(axis=0)).reshape(())  # ()
    del ell
    cache = {"W": W, "idx": idx, "X_s": X_s, "softmax_Z": softmax_Z, "weight": weight, "n_T": n_T, "d": d, "n_vocab": n_vocab, "out_shape": loss.shape, "out_dtype": loss.dtype, "dtype": dtype}
    return loss.astype(dtype, copy=False), cache


def backward(grad_out, cache):
    """Gradients of the loss given ``grad_out`` = ∂L/∂loss: a dict keyed by argument name."""
    W = cache["W"]
    idx = cache["idx"]
    X_s = cache["X_s"]
    softmax_Z = cache["softmax_Z"]
    weight = cache["weight"]
    n_T = cache["n_T"]
    d = cache["d"]
    n_vocab = cache["n_vocab"]
    dtype = cache["dtype"]
    grad_out = np.asarray(grad_out)
    if grad_out.shape != cache["out_shape"]:
        raise ValueError(f"grad_out: expected shape {cache['out_shape']}, got {grad_out.shape}")
    grad_out = grad_out.astype(cache["out_dtype"], copy=False)  # the dtype the forward computed in
    del cache  # each array is released after its last use below
    # grad of ell, used in: loss = weight Σ_batch ell
    dell = weight * grad_out  # ()
    # grad of Z, used in: ell = 1ᵀ (lse(Z) − pick(Z, idx[1:]))
    dZ = _add_at_targets(dell * softmax_Z, idx[..., 1:], -dell, fresh=True)  # (..., n_T - 1, n_vocab)
    del dell, idx, softmax_Z
    # grad of X_s, used in: Z = X_s W + 1 bᵀ
    dX_s = _rows_matmul(dZ, W.swapaxes(-1, -2))  # (..., n_T - 1, d)
    # grad of X, used in: X_s = X[:n_T − 1]
    dX = _pad_rows(dX_s, n_T)  # (..., n_T, d)
    del dX_s
    # grad of W, used in: Z = X_s W + 1 bᵀ
    dW = X_s.reshape(-1, d).T @ dZ.reshape(-1, n_vocab)  # (d, n_vocab)
    del X_s
    # fused: db (one pass over the rows, _backward_1_rows)
    db = _backward_1(dZ, n_vocab)  # (n_vocab,)
    del dZ
    return {
        "X": dX.astype(dtype, copy=False),
        "W": dW.astype(dtype, copy=False),
        "b": db.astype(dtype, copy=False),
    }


def _jvp_forward(X, W, b, idx, dX, dW, db, *, reduction='mean'):
    """Cross-entropy of next-token logits: returns ``(out, cache)``.

    X: input, frozen (..., n_T, d)
    W: parameter, frozen (d, n_vocab): head weights
    b: parameter, frozen (n_vocab,): head bias
    idx: integer input (n_T,): the sequence's tokens: position t predicts idx[t + 1]
    reduction: configuration, default 'mean' (one of 'mean', 'sum'): "mean" averages the scored terms of the batch, "sum" adds them (the paper)
    dX: input, frozen (..., n_T, d): the tangent of X
    dW: parameter, frozen (d, n_vocab): the tangent of W
    db: parameter, frozen (n_vocab,): the tangent of b
    """
    X = np.asarray(X)
    W = np.asarray(W)
    b = np.asarray(b)
    idx = np.asarray(idx)
    dX = np.asarray(dX)
    dW = np.asarray(dW)
    db = np.asarray(db)
    dtype, compute_dtype = _check_dtypes({"X": X, "W": W, "b": b, "dX": dX, "dW": dW, "db": db}, {"idx": idx})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        X = X.astype(compute_dtype, copy=False)
        W = W.astype(compute_dtype, copy=False)
        b = b.astype(compute_dtype, copy=False)
        dX = dX.astype(compute_dtype, copy=False)
        dW = dW.astype(compute_dtype, copy=False)
        db = db.astype(compute_dtype, copy=False)
    if reduction not in ('mean', 'sum'):
        raise ValueError("reduction must be one of ('mean', 'sum'), got " + repr(reduction))
    dims = {}
    _check_shape("X", X, ("n_T", "d"), dims, batched="shared")
    _check_shape("W", W, ("d", "n_vocab"), dims, batched=False)
    _check_shape("b", b, ("n_vocab",), dims, batched=False)
    _check_shape("idx", idx, ("n_T",), dims, batched=True)
    _check_shape("dX", dX, ("n_T", "d"), dims, batched="shared")
    _check_shape("dW", dW, ("d", "n_vocab"), dims, batched=False)
    _check_shape("db", db, ("n_vocab",), dims, batched=False)
    X, dX = _broadcast_batches({"X": X, "dX": dX}, {"X": 2, "dX": 2}, dims)
    n_T, n_vocab = dims["n_T"], dims["n_vocab"]
    n_batch = math.prod(dims["..."])  # sequences in the batch
    if n_batch < 1:
        raise ValueError(f"the batch is empty (leading dimensions {dims['...']}): cross_entropy needs at least one sequence")
    if not (n_T >= 2):
        raise ValueError('n_T must be at least 2: position t is scored against token t + 1; got ' + f"n_T={n_T}")
    _check_indices("idx", idx, n_vocab)
    weight = 1/(n_batch*(n_T - 1)) if reduction == 'mean' else 1
    X_s = X[..., :n_T - 1, :]  # (..., n_T - 1, d)
    W_dW = _side_by_side(W, dW)  # (d, 2*n_vocab)
    X_s_W_dW = _rows_matmul(X_s, W_dW)  # (..., n_T - 1, 2*n_vocab)
    del W_dW, X_s
    Z = X_s_W_dW[..., 0:n_vocab] + b  # (..., n_T - 1, n_vocab)
    dX_s = dX[..., :n_T - 1, :]  # (..., n_T - 1, d)
    dZ = _rows_matmul(dX_s, W) + X_s_W_dW[..., n_vocab:2*n_vocab] + db  # (..., n_T - 1, n_vocab)
    del X_s_W_dW, dX_s
    dell = (_softmax(Z, False) * dZ).sum(axis=-1, keepdims=True).sum(axis=-2, keepdims=True) - np.take_along_axis(dZ, idx[..., 1:][..., None], axis=-1).sum(axis=-2, keepdims=True)  # (..., 1, 1)
    del Z, dZ
    dloss = (weight * dell.reshape(-1, 1, 1).sum(axis=0)).reshape(())  # ()
    del dell
    cache = {"out_shape": dloss.shape, "out_dtype": dloss.dtype, "dtype": dtype}
    return dloss.astype(dtype, copy=False), cache


def jvp(X, W, b, idx, dX=None, dW=None, db=None, *, reduction='mean'):
    """The tangent of loss for the arguments' tangents: forward mode, pushed forward from each
    primitive's differential (``backprop show cross_entropy --jvp``).

    dX: the tangent of X (its shape; None for zero)
    dW: the tangent of W (its shape; None for zero)
    db: the tangent of b (its shape; None for zero)
    """
    if dX is None:  # no tangent: zero
        dX = np.zeros_like(np.asarray(X))
    if dW is None:  # no tangent: zero
        dW = np.zeros_like(np.asarray(W))
    if db is None:  # no tangent: zero
        db = np.zeros_like(np.asarray(b))
    return _jvp_forward(X, W, b, idx, dX, dW, db, reduction=reduction)[0]
