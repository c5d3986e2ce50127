"""The runtime helpers of the generated Torch modules, as real Python.

Each block after a ``# -- helper: NAME`` line is one helper; a generated module inlines, as text, the
blocks its code calls (``codegen.runtime.helper_blocks``), so it stays standalone.  Which other
helpers and standard modules a block needs is read off the names it uses.
"""
import functools
import math
import threading

import torch


# -- helper: causal_mask
def _causal_mask(n, device):
    """(n, n), True above the diagonal (s > t): made once per size and device (the last few are kept)."""
    if torch.compiler.is_compiling():  # a constant of the compiled graph
        return torch.ones(n, n, dtype=torch.bool, device=device).triu(1)
    return _causal_mask_kept(n, device)


@functools.lru_cache(maxsize=8)
def _causal_mask_kept(n, device):
    return torch.ones(n, n, dtype=torch.bool, device=device).triu(1)


# -- helper: rotary_angles
def _rotary_angles(n, d, theta, like):
    """(n, d): entry (t, j) = t · θ^(−2 (j mod d/2) / d) for positions t = 0 … n − 1, computed in float64
    and given in ``like``'s dtype on its device."""
    device = None if like is None else like.device
    frequencies = float(theta) ** (-torch.arange(0, d, 2, dtype=torch.float64, device=device) / d)
    angles = torch.arange(n, dtype=torch.float64, device=device)[:, None] * torch.cat((frequencies, frequencies))
    return angles if like is None else angles.to(like.dtype)


# -- helper: scatter_add_rows
def _scatter_add_rows(index, values, rows, into=None, fresh=False):
    """Σ over batch and tokens of ohe(index)ᵀ values: each row of ``values`` added into row ``index``
    of zeros, or of ``into`` (updated in place when ``fresh``: a new array nothing else reads)."""
    if into is None:
        out = values.new_zeros((rows, values.shape[-1]))
    else:
        out = into if fresh else into.clone()
    return out.index_add_(0, index.reshape(-1), values.reshape(-1, values.shape[-1]))


# -- helper: gather_rows
def _gather_rows(table, index):
    """Row index[t] of each sequence's own table: (..., V, d) at (..., n) → (..., n, d)."""
    batch = torch.broadcast_shapes(table.shape[:-2], index.shape[:-1])
    table = table.expand(*batch, *table.shape[-2:])
    index = index.expand(*batch, index.shape[-1])
    return table.gather(-2, index.unsqueeze(-1).expand(*index.shape, table.shape[-1]))


# -- helper: scatter_rows
def _scatter_rows(index, values, rows):
    """ohe(index)ᵀ values for each sequence: row t of ``values`` added into row index[t] of that sequence's
    zero (rows, d) matrix; (..., n) and (..., n, d) → (..., rows, d)."""
    batch = torch.broadcast_shapes(index.shape[:-1], values.shape[:-2])
    index = index.expand(*batch, index.shape[-1])
    values = values.expand(*batch, *values.shape[-2:])
    out = values.new_zeros(*batch, rows, values.shape[-1])
    return out.scatter_add_(-2, index.unsqueeze(-1).expand(*index.shape, values.shape[-1]), values)


# -- helper: check_indices
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



# -- helper: add_at_targets
def _add_at_targets(base, targets, values, fresh):
    """base + (values 1ᵀ) ∘ ohe(targets): ``values`` added at column targets[i] of each row i.

    ``fresh``: ``base`` is a new array that may be updated in place.
    """
    index = targets.unsqueeze(-1)
    values = torch.as_tensor(values, dtype=base.dtype, device=base.device).expand(index.shape)
    return base.scatter_add_(-1, index, values) if fresh else base.scatter_add(-1, index, values)


# -- helper: scatter_at_targets
def _scatter_at_targets(targets, values, columns):
    """(values 1ᵀ) ∘ ohe(targets): zeros with values[i] at column targets[i] of each row i."""
    out = values.new_zeros(targets.shape + (columns,))
    return out.scatter_(-1, targets.unsqueeze(-1), values.expand(targets.shape + (1,)))


# -- helper: side_by_side
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


# -- helper: no_grad
def _no_grad(fn):
    """``fn`` run with autograd off (as ``torch.no_grad()`` does), in a form ``torch.compile`` traces
    without breaking its graph; ``fn.__wrapped__`` runs with autograd on."""
    @functools.wraps(fn)
    def without_grad(*args, **kwargs):
        with torch.no_grad():
            return fn(*args, **kwargs)
    return without_grad


# -- helper: transformed
def _transformed(t):
    """Whether ``t`` is a value a torch.func transform (vmap, grad, jvp) is tracing, not a plain tensor:
    then no buffer is kept between calls and no storage is inspected.  Never while compiling (the
    compiler traces plain tensors, and the question would break its graph)."""
    return not torch.compiler.is_compiling() and torch._C._functorch.is_functorch_wrapped_tensor(t)


# -- helper: scratch
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


# -- helper: logsumexp_of_softmax
def _logsumexp_of_softmax(Z, P):
    """log Σ exp over the last axis read off P = softmax(Z): max(Z) − log(max(P)), since a row's
    largest probability is exp(0) / Σ exp(Z − max Z) (keeps that axis)."""
    return Z.amax(-1, keepdim=True) - torch.log(P.amax(-1, keepdim=True))


# -- helper: expand
def _expand(A, rows, cols):
    """A (…, 1 or rows, 1 or cols) repeated to (…, rows, cols): a broadcast made an array of its own,
    for an operation that reads the extent of an axis."""
    return A.expand(*A.shape[:-2], rows, cols).contiguous()


# -- helper: sum_batch_axes
def _sum_batch_axes(A, kept):
    """A summed over its leading batch axes, the last ``kept`` axes kept (heads, rows, columns); any of
    them may have size 0."""
    batch, core = tuple(A.shape[:len(A.shape) - kept]), tuple(A.shape[len(A.shape) - kept:])
    return A.reshape((math.prod(batch),) + core).sum(0)


# -- helper: expand_batch
def _expand_batch(A, batch):
    """A value that is the same for every sequence, repeated over the leading batch axes ``batch``."""
    return A.expand(*batch, *A.shape[-2:]).contiguous()


# -- helper: sum_heads
def _sum_heads(A):
    """A (…, n_heads, rows, cols) summed over its heads axis: the cotangent of a value that every head reads."""
    return A.sum(-3)


# -- helper: expand_heads
def _expand_heads(A, heads):
    """A (…, rows, cols) that is the same for every head, given a heads axis: (…, heads, rows, cols)."""
    return A.unsqueeze(-3).expand(*A.shape[:-2], heads, *A.shape[-2:])


# -- helper: check_dtypes
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


# -- helper: upstream_gradients
def _upstream_gradients(grad_out, names, shapes, dtype, device=None):
    """The upstream gradients of a component with several outputs, one per output in order: each a
    tensor of its output's shape in the dtype the forward computed in; None is zero."""
    if not isinstance(grad_out, (tuple, list)) or len(grad_out) != len(names):
        raise ValueError(f"grad_out: expected a tuple of {len(names)} upstream gradients "
                         f"(∂L/∂{', ∂L/∂'.join(names)}; None for zero), got {type(grad_out).__name__}"
                         + (f" of {len(grad_out)}" if isinstance(grad_out, (tuple, list)) else ""))
    given = []
    for name, G, shape in zip(names, grad_out, shapes):
        G = torch.zeros(shape, dtype=dtype, device=device) if G is None else torch.as_tensor(G)
        if G.shape != shape:
            raise ValueError(f"grad_out for {name}: expected shape {tuple(shape)}, got {tuple(G.shape)}")
        given.append(G.to(dtype))
    return given


# -- helper: distinct_outputs
def _distinct_outputs(outputs, arguments):
    """The outputs of an autograd Function, each a tensor of its own: one that is an argument, or the
    same tensor as an earlier output (a value returned as it is), as a view of it, as autograd needs."""
    seen = list(arguments)
    distinct = []
    for o in outputs:
        distinct.append(o.view_as(o) if any(o is s for s in seen) else o)
        seen.append(o)
    return tuple(distinct)


# -- helper: broadcast_batches
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
