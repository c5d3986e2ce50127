# GENERATED FILE: DO NOT EDIT.
# Derived by pedestrian-backprop from the forward definition in derive/components/embedding.py.
# Regenerate with: backprop generate --target numba
"""Token and position embedding (`embedding`): forward pass and derived backward pass.

Forward definition (one sequence; inputs may carry leading batch dimensions):
    X = ohe(idx) W_tok + W_pos[:n_T]

Gradients, as derived:
    ∂L/∂W_tok = Σ_batch (ohe(idx)ᵀ Δ_X)
    ∂L/∂W_pos = pad_n_context(Σ_batch Δ_X)

Optimisations (each keeps the values within rounding):
    - liveness: every array is released after its last use (del); the backward drops its cache
"""
import numba
import numpy as np


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


def _pad_rows(A, rows):
    """A (..., k, d) followed by zero rows up to ``rows``."""
    out = np.zeros(A.shape[:-2] + (rows, A.shape[-1]), dtype=A.dtype)
    out[..., : A.shape[-2], :] = A
    return out


def _scatter_add_rows(index, values, rows, into=None, fresh=False):
    """Σ over batch and tokens of ohe(index)ᵀ values: each row of ``values`` added into row ``index``
    of zeros, or of ``into`` (updated in place when ``fresh``: a new array nothing else reads)."""
    if into is None:
        out = np.zeros((rows, values.shape[-1]), dtype=values.dtype)
    else:
        out = into if fresh else into.copy()
    np.add.at(out, index.reshape(-1), values.reshape(-1, values.shape[-1]))
    return out


def forward(idx, W_tok, W_pos):
    """Token and position embedding: returns ``(out, cache)``.

    idx: integer input (n_T,): token indices in [0, n_vocab)
    W_tok: parameter (n_vocab, d): token embeddings
    W_pos: parameter (n_context, d): position embeddings
    """
    idx = np.asarray(idx)
    W_tok = np.asarray(W_tok)
    W_pos = np.asarray(W_pos)
    dtype, compute_dtype = _check_dtypes({"W_tok": W_tok, "W_pos": W_pos}, {"idx": idx})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        W_tok = W_tok.astype(compute_dtype, copy=False)
        W_pos = W_pos.astype(compute_dtype, copy=False)
    dims = {}
    _check_shape("idx", idx, ("n_T",), dims, batched=True)
    _check_shape("W_tok", W_tok, ("n_vocab", "d"), dims, batched=False)
    _check_shape("W_pos", W_pos, ("n_context", "d"), dims, batched=False)
    n_T, n_vocab, d, n_context = dims["n_T"], dims["n_vocab"], dims["d"], dims["n_context"]
    if not (n_T <= n_context):
        raise ValueError('n_T must be at most n_context; got ' + f"n_T={n_T}, n_context={n_context}")
    _check_indices("idx", idx, n_vocab)
    X = W_tok[idx] + W_pos[..., :n_T, :]  # (..., n_T, d)
    cache = {"idx": idx, "n_T": n_T, "n_vocab": n_vocab, "d": d, "n_context": n_context, "out_shape": X.shape, "out_dtype": X.dtype, "dtype": dtype}
    return X.astype(dtype, copy=False), cache


def backward(grad_out, cache):
    """Gradients of the loss given ``grad_out`` = ∂L/∂X: a dict keyed by argument name."""
    idx = cache["idx"]
    n_T = cache["n_T"]
    n_vocab = cache["n_vocab"]
    d = cache["d"]
    n_context = cache["n_context"]
    dtype = cache["dtype"]
    if grad_out.shape != cache["out_shape"]:
        raise ValueError(f"grad_out: expected shape {cache['out_shape']}, got {grad_out.shape}")
    grad_out = grad_out.astype(cache["out_dtype"], copy=False)  # the dtype the forward computed in
    del cache  # each array is released after its last use below
    # grad of W_tok, used in: X = ohe(idx) W_tok + W_pos[:n_T]
    dW_tok = _scatter_add_rows(idx, grad_out, n_vocab)  # (n_vocab, d)
    del idx
    # grad of W_pos, used in: X = ohe(idx) W_tok + W_pos[:n_T]
    dW_pos = _pad_rows(grad_out.reshape(-1, n_T, d).sum(axis=0), n_context)  # (n_context, d)
    return {
        "W_tok": dW_tok.astype(dtype, copy=False),
        "W_pos": dW_pos.astype(dtype, copy=False),
    }


def _jvp_forward(idx, W_tok, W_pos, dW_tok, dW_pos):
    """Token and position embedding: returns ``(out, cache)``.

    idx: integer input (n_T,): token indices in [0, n_vocab)
    W_tok: parameter, frozen (n_vocab, d): token embeddings
    W_pos: parameter, frozen (n_context, d): position embeddings
    dW_tok: parameter, frozen (n_vocab, d): the tangent of W_tok
    dW_pos: parameter, frozen (n_context, d): the tangent of W_pos
    """
    idx = np.asarray(idx)
    W_tok = np.asarray(W_tok)
    W_pos = np.asarray(W_pos)
    dW_tok = np.asarray(dW_tok)
    dW_pos = np.asarray(dW_pos)
    dtype, compute_dtype = _check_dtypes({"W_tok": W_tok, "W_pos": W_pos, "dW_tok": dW_tok, "dW_pos": dW_pos}, {"idx": idx})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        W_tok = W_tok.astype(compute_dtype, copy=False)
        W_pos = W_pos.astype(compute_dtype, copy=False)
        dW_tok = dW_tok.astype(compute_dtype, copy=False)
        dW_pos = dW_pos.astype(compute_dtype, copy=False)
    dims = {}
    _check_shape("idx", idx, ("n_T",), dims, batched=True)
    _check_shape("W_tok", W_tok, ("n_vocab", "d"), dims, batched=False)
    _check_shape("W_pos", W_pos, ("n_context", "d"), dims, batched=False)
    _check_shape("dW_tok", dW_tok, ("n_vocab", "d"), dims, batched=False)
    _check_shape("dW_pos", dW_pos, ("n_context", "d"), dims, batched=False)
    n_T, n_vocab, n_context = dims["n_T"], dims["n_vocab"], dims["n_context"]
    if not (n_T <= n_context):
        raise ValueError('n_T must be at most n_context; got ' + f"n_T={n_T}, n_context={n_context}")
    _check_indices("idx", idx, n_vocab)
    dX = dW_tok[idx] + dW_pos[..., :n_T, :]  # (..., n_T, d)
    cache = {"out_shape": dX.shape, "out_dtype": dX.dtype, "dtype": dtype}
    return dX.astype(dtype, copy=False), cache


def jvp(idx, W_tok, W_pos, dW_tok=None, dW_pos=None):
    """The tangent of X for the arguments' tangents: forward mode, pushed forward from each
    primitive's differential (``backprop show embedding --jvp``).

    dW_tok: the tangent of W_tok (its shape; None for zero)
    dW_pos: the tangent of W_pos (its shape; None for zero)
    """
    if dW_tok is None:  # no tangent: zero
        dW_tok = np.zeros_like(np.asarray(W_tok))
    if dW_pos is None:  # no tangent: zero
        dW_pos = np.zeros_like(np.asarray(W_pos))
    return _jvp_forward(idx, W_tok, W_pos, dW_tok, dW_pos)[0]
