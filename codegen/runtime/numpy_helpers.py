"""The runtime helpers of the generated NumPy (and Numba) modules, as real Python.

Each block after a ``# -- helper: NAME`` line is one helper; a generated module inlines, as text, the
blocks its code calls (``codegen.runtime.helper_blocks``), so it stays standalone.  Which other
helpers and standard modules a block needs is read off the names it uses.
"""
import functools
import math
import threading

import numpy as np


# -- helper: erf
def _erf(x):
    """The error function, entrywise, in ``x``'s dtype."""
    return np.vectorize(math.erf, otypes=[x.dtype])(x)


# -- helper: causal_mask
@functools.lru_cache(maxsize=8)
def _causal_mask(n):
    """(n, n), True above the diagonal (s > t): made once per size (the last few sizes are kept)."""
    mask = np.triu(np.ones((n, n), dtype=bool), 1)
    mask.flags.writeable = False
    return mask


# -- helper: rotary_angles
def _rotary_angles(n, d, theta, like):
    """(n, d): entry (t, j) = t · θ^(−2 (j mod d/2) / d) for positions t = 0 … n − 1, computed in float64
    and given in ``like``'s dtype."""
    frequencies = float(theta) ** (-np.arange(0, d, 2, dtype=np.float64) / d)
    angles = np.arange(n, dtype=np.float64)[:, None] * np.concatenate((frequencies, frequencies))
    return angles if like is None else angles.astype(like.dtype)


# -- helper: scatter_add_rows
def _scatter_add_rows(index, values, rows, into=None, fresh=False):
    """Σ over batch and tokens of ohe(index)ᵀ values: each row of ``values`` added into row ``index``
    of zeros, or of ``into`` (updated in place when ``fresh``: a new array nothing else reads)."""
    if into is None:
        out = np.zeros((rows, values.shape[-1]), dtype=values.dtype)
    else:
        out = into if fresh else into.copy()
    np.add.at(out, index.reshape(-1), values.reshape(-1, values.shape[-1]))
    return out


# -- helper: gather_rows
def _gather_rows(table, index):
    """Row index[t] of each sequence's own table: (..., V, d) at (..., n) → (..., n, d)."""
    batch = np.broadcast_shapes(table.shape[:-2], index.shape[:-1])
    table = np.broadcast_to(table, batch + table.shape[-2:])
    index = np.broadcast_to(index, batch + index.shape[-1:])
    return np.take_along_axis(table, index[..., None], axis=-2)


# -- helper: scatter_rows
def _scatter_rows(index, values, rows):
    """ohe(index)ᵀ values for each sequence: row t of ``values`` added into row index[t] of that sequence's
    zero (rows, d) matrix; (..., n) and (..., n, d) → (..., rows, d)."""
    batch = np.broadcast_shapes(index.shape[:-1], values.shape[:-2])
    index = np.broadcast_to(index, batch + index.shape[-1:]).reshape(-1, index.shape[-1])
    values = np.broadcast_to(values, batch + values.shape[-2:]).reshape(-1, *values.shape[-2:])
    out = np.zeros((index.shape[0], rows, values.shape[-1]), dtype=values.dtype)
    flat = (index + rows * np.arange(index.shape[0])[:, None]).reshape(-1)  # each sequence's rows, one after another
    np.add.at(out.reshape(-1, values.shape[-1]), flat, values.reshape(-1, values.shape[-1]))
    return out.reshape(batch + (rows, values.shape[-1]))


# -- helper: check_indices
def _check_indices(name, index, size):
    """Integer indices in [0, size); the error names an offending value."""
    if not np.issubdtype(index.dtype, np.integer):
        raise ValueError(f"{name}: expected integer indices, got dtype {index.dtype}")
    if index.size == 0:
        return
    low, high = int(index.min()), int(index.max())
    if low < 0 or high >= size:
        raise ValueError(f"{name}: index {low if low < 0 else high} outside [0, {size})")



# -- helper: add_at_targets
def _add_at_targets(base, targets, values, fresh):
    """base + (values 1ᵀ) ∘ ohe(targets): ``values`` added at column targets[i] of each row i.

    ``fresh``: ``base`` is a new array that may be updated in place.
    """
    out = base if fresh else base.copy()
    index = targets[..., None]
    np.put_along_axis(out, index, np.take_along_axis(out, index, axis=-1) + values, axis=-1)
    return out


# -- helper: scatter_at_targets
def _scatter_at_targets(targets, values, columns):
    """(values 1ᵀ) ∘ ohe(targets): zeros with values[i] at column targets[i] of each row i."""
    out = np.zeros(targets.shape + (columns,), dtype=values.dtype)
    np.put_along_axis(out, targets[..., None], np.broadcast_to(values, targets.shape + (1,)), axis=-1)
    return out


# -- helper: side_by_side
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


# -- helper: scratch
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


# -- helper: row_dot
def _row_dot(A, B):
    """(A ∘ B) 1, (..., n, 1): each row's dot product, contracted by ``einsum`` without the product
    array (about four times faster than multiplying and summing)."""
    return np.einsum("...i,...i->...", A, B)[..., None]


def _column_dot(A, B):
    """Σ_batch 1ᵀ (A ∘ B), (d,): each column's dot product over every row of the batch."""
    return np.einsum("ij,ij->j", A.reshape(-1, A.shape[-1]), B.reshape(-1, B.shape[-1]))


# -- helper: logsumexp_of_softmax
def _logsumexp_of_softmax(Z, P):
    """log Σ exp over the last axis read off P = softmax(Z): max(Z) − log(max(P)), since a row's
    largest probability is exp(0) / Σ exp(Z − max Z) (keeps that axis)."""
    return Z.max(axis=-1, keepdims=True) - np.log(P.max(axis=-1, keepdims=True))


# -- helper: expand
def _expand(A, rows, cols):
    """A (…, 1 or rows, 1 or cols) repeated to (…, rows, cols): a broadcast made an array of its own,
    for an operation that reads the extent of an axis."""
    return np.broadcast_to(A, A.shape[:-2] + (rows, cols)).copy()


# -- helper: sum_batch_axes
def _sum_batch_axes(A, kept):
    """A summed over its leading batch axes, the last ``kept`` axes kept (heads, rows, columns); any of
    them may have size 0."""
    batch, core = tuple(A.shape[:len(A.shape) - kept]), tuple(A.shape[len(A.shape) - kept:])
    return A.reshape((math.prod(batch),) + core).sum(axis=0)


# -- helper: expand_batch
def _expand_batch(A, batch):
    """A value that is the same for every sequence, repeated over the leading batch axes ``batch``."""
    return np.broadcast_to(A, tuple(batch) + A.shape[-2:]).copy()


# -- helper: sum_heads
def _sum_heads(A):
    """A (…, n_heads, rows, cols) summed over its heads axis: the cotangent of a value that every head reads."""
    return A.sum(axis=-3)


# -- helper: expand_heads
def _expand_heads(A, heads):
    """A (…, rows, cols) that is the same for every head, given a heads axis: (…, heads, rows, cols)."""
    return np.broadcast_to(A[..., None, :, :], A.shape[:-2] + (heads,) + A.shape[-2:])


# -- helper: check_dtypes
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


# -- helper: upstream_gradients
def _upstream_gradients(grad_out, names, shapes, dtype, device=None):
    """The upstream gradients of a component with several outputs, one per output in order: each an
    array of its output's shape in the dtype the forward computed in; None is zero."""
    if not isinstance(grad_out, (tuple, list)) or len(grad_out) != len(names):
        raise ValueError(f"grad_out: expected a tuple of {len(names)} upstream gradients "
                         f"(∂L/∂{', ∂L/∂'.join(names)}; None for zero), got {type(grad_out).__name__}"
                         + (f" of {len(grad_out)}" if isinstance(grad_out, (tuple, list)) else ""))
    given = []
    for name, G, shape in zip(names, grad_out, shapes):
        G = np.zeros(shape, dtype=dtype) if G is None else np.asarray(G)
        if G.shape != shape:
            raise ValueError(f"grad_out for {name}: expected shape {shape}, got {G.shape}")
        given.append(G.astype(dtype, copy=False))
    return given


# -- helper: broadcast_batches
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
