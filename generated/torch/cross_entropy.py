# GENERATED FILE: DO NOT EDIT.
# Derived by pedestrian-backprop from the forward definition in derive/components/cross_entropy.py.
# Regenerate with: backprop generate --target torch
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
    - causal mask: made once per size and reused
    - liveness: every array is released after its last use (del); the backward drops its cache
"""
import functools
import math

import torch


def _add_at_targets(base, targets, values, fresh):
    """base + (values 1ᵀ) ∘ ohe(targets): ``values`` added at column targets[i] of each row i.

    ``fresh``: ``base`` is a new array that may be updated in place.
    """
    index = targets.unsqueeze(-1)
    values = torch.as_tensor(values, dtype=base.dtype, device=base.device).expand(index.shape)
    return base.scatter_add_(-1, index, values) if fresh else base.scatter_add(-1, index, values)


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


def _logsumexp_of_softmax(Z, P):
    """log Σ exp over the last axis read off P = softmax(Z): max(Z) − log(max(P)), since a row's
    largest probability is exp(0) / Σ exp(Z − max Z) (keeps that axis)."""
    return Z.amax(-1, keepdim=True) - torch.log(P.amax(-1, keepdim=True))


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


def _transformed(t):
    """Whether ``t`` is a value a torch.func transform (vmap, grad, jvp) is tracing, not a plain tensor:
    then no buffer is kept between calls and no storage is inspected.  Never while compiling (the
    compiler traces plain tensors, and the question would break its graph)."""
    return not torch.compiler.is_compiling() and torch._C._functorch.is_functorch_wrapped_tensor(t)


@_no_grad
def forward(X, W, b, idx, *, reduction='mean'):
    """Cross-entropy of next-token logits: returns ``(out, cache)``.

    X: input (..., n_T, d)
    W: parameter (d, n_vocab): head weights
    b: parameter (n_vocab,): head bias
    idx: integer input (n_T,): the sequence's tokens: position t predicts idx[t + 1]
    reduction: configuration, default 'mean' (one of 'mean', 'sum'): "mean" averages the scored terms of the batch, "sum" adds them (the paper)
    """
    X = torch.as_tensor(X)
    W = torch.as_tensor(W)
    b = torch.as_tensor(b)
    idx = torch.as_tensor(idx)
    dtype, compute_dtype = _check_dtypes({"X": X, "W": W, "b": b}, {"idx": idx})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        X = X.to(compute_dtype)
        W = W.to(compute_dtype)
        b = b.to(compute_dtype)
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
    Z = torch.nn.functional.linear(X_s, W.mT, b)  # (..., n_T - 1, n_vocab)
    softmax_Z = _softmax(Z, False)  # (..., n_T - 1, n_vocab)
    lse_Z = _logsumexp_of_softmax(Z, softmax_Z)  # (..., n_T - 1, 1)
    ell = (lse_Z - Z.gather(-1, idx[..., 1:].unsqueeze(-1))).sum(-2, keepdim=True)  # (..., 1, 1)
    del Z, lse_Z
    loss = (weight * ell.reshape(-1, 1, 1).sum(0)).reshape(())  # ()
    del ell
    cache = {"W": W, "idx": idx, "X_s": X_s, "softmax_Z": softmax_Z, "weight": weight, "n_T": n_T, "d": d, "n_vocab": n_vocab, "out_shape": loss.shape, "out_dtype": loss.dtype, "dtype": dtype}
    return loss.to(dtype), cache


@_no_grad
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
    grad_out = torch.as_tensor(grad_out)
    if grad_out.shape != cache["out_shape"]:
        raise ValueError(f"grad_out: expected shape {cache['out_shape']}, got {grad_out.shape}")
    grad_out = grad_out.to(cache["out_dtype"])  # the dtype the forward computed in
    del cache  # each array is released after its last use below
    # grad of ell, used in: loss = weight Σ_batch ell
    dell = weight * grad_out  # ()
    # grad of Z, used in: ell = 1ᵀ (lse(Z) − pick(Z, idx[1:]))
    dZ = _add_at_targets(dell * softmax_Z, idx[..., 1:], -dell, fresh=True)  # (..., n_T - 1, n_vocab)
    del dell, idx, softmax_Z
    # grad of X_s, used in: Z = X_s W + 1 bᵀ
    dX_s = dZ @ W.mT  # (..., n_T - 1, d)
    # grad of X, used in: X_s = X[:n_T − 1]
    dX = _pad_rows(dX_s, n_T)  # (..., n_T, d)
    del dX_s
    # grad of W, used in: Z = X_s W + 1 bᵀ
    dW = X_s.reshape(-1, d).mT @ dZ.reshape(-1, n_vocab)  # (d, n_vocab)
    del X_s
    # grad of b, used in: Z = X_s W + 1 bᵀ
    db = dZ.reshape(-1, n_vocab).sum(0)  # (n_vocab,)
    del dZ
    return {
        "X": dX.to(dtype),
        "W": dW.to(dtype),
        "b": db.to(dtype),
    }


@_no_grad
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
    X = torch.as_tensor(X)
    W = torch.as_tensor(W)
    b = torch.as_tensor(b)
    idx = torch.as_tensor(idx)
    dX = torch.as_tensor(dX)
    dW = torch.as_tensor(dW)
    db = torch.as_tensor(db)
    dtype, compute_dtype = _check_dtypes({"X": X, "W": W, "b": b, "dX": dX, "dW": dW, "db": db}, {"idx": idx})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        X = X.to(compute_dtype)
        W = W.to(compute_dtype)
        b = b.to(compute_dtype)
        dX = dX.to(compute_dtype)
        dW = dW.to(compute_dtype)
        db = db.to(compute_dtype)
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
    X_s_W_dW = X_s @ W_dW  # (..., n_T - 1, 2*n_vocab)
    del W_dW, X_s
    Z = X_s_W_dW[..., 0:n_vocab] + b  # (..., n_T - 1, n_vocab)
    dX_s = dX[..., :n_T - 1, :]  # (..., n_T - 1, d)
    dZ = X_s_W_dW[..., n_vocab:2*n_vocab] + torch.nn.functional.linear(dX_s, W.mT, db)  # (..., n_T - 1, n_vocab)
    del X_s_W_dW, dX_s
    dell = (_softmax(Z, False) * dZ).sum(-1, keepdim=True).sum(-2, keepdim=True) - dZ.gather(-1, idx[..., 1:].unsqueeze(-1)).sum(-2, keepdim=True)  # (..., 1, 1)
    del Z, dZ
    dloss = (weight * dell.reshape(-1, 1, 1).sum(0)).reshape(())  # ()
    del dell
    cache = {"out_shape": dloss.shape, "out_dtype": dloss.dtype, "dtype": dtype}
    return dloss.to(dtype), cache


def jvp(X, W, b, idx, dX=None, dW=None, db=None, *, reduction='mean'):
    """The tangent of loss for the arguments' tangents: forward mode, pushed forward from each
    primitive's differential (``backprop show cross_entropy --jvp``).

    dX: the tangent of X (its shape; None for zero)
    dW: the tangent of W (its shape; None for zero)
    db: the tangent of b (its shape; None for zero)
    """
    if dX is None:  # no tangent: zero
        dX = torch.zeros_like(torch.as_tensor(X))
    if dW is None:  # no tangent: zero
        dW = torch.zeros_like(torch.as_tensor(W))
    if db is None:  # no tangent: zero
        db = torch.zeros_like(torch.as_tensor(b))
    return _jvp_forward(X, W, b, idx, dX, dW, db, reduction=reduction)[0]


def _unchanged(t):
    return t


def _recomputed(grad_out, arguments, config):
    """The gradients with the forward computed again from the arguments, autograd on."""
    _, cache = forward.__wrapped__(*arguments, **config)
    return backward.__wrapped__(grad_out, cache)


def _cached(arguments, arrays, constants):
    """The forward's cache from what the Function saved: its arrays, the arguments it holds (in the
    dtype computed in), and its numbers."""
    cache = dict(zip(("X_s", "softmax_Z",), arrays), **constants)
    cache["W"] = arguments[1].to(constants["out_dtype"])
    cache["idx"] = arguments[3]
    return cache


def _cache_constants(X, W, b, idx, *, reduction='mean'):
    """The numbers the backward reads from the cache (sizes, configuration, dtypes), from the arguments'
    shapes and dtypes and the configuration alone: no array is computed."""
    X = torch.as_tensor(X)
    W = torch.as_tensor(W)
    b = torch.as_tensor(b)
    idx = torch.as_tensor(idx)
    dtype, compute_dtype = _check_dtypes({"X": X, "W": W, "b": b}, {"idx": idx})
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
    weight = 1/(n_batch*(n_T - 1)) if reduction == 'mean' else 1
    return {"weight": weight, "n_T": n_T, "d": d, "n_vocab": n_vocab, "out_dtype": compute_dtype, "dtype": dtype}


class _CrossEntropyCached(torch.autograd.Function):
    """The Function itself: its further outputs are the arrays the backward reads (without a gradient);
    ``CrossEntropyFunction`` gives the output alone."""

    generate_vmap_rule = True

    @staticmethod
    def forward(X, W, b, idx, reduction):
        out, cache = forward(X, W, b, idx, reduction=reduction)
        # each cached array a tensor of its own (detach): one that is also an output stays differentiable there
        return (*_distinct_outputs((out,), (X, W, b, idx,)), cache["X_s"].detach(), cache["softmax_Z"].detach(),)

    @staticmethod
    def setup_context(ctx, inputs, output):
        X, W, b, idx, reduction = inputs
        ctx.mark_non_differentiable(*output[1:])
        ctx.set_materialize_grads(False)  # the cached arrays' gradients stay None, never zeros
        ctx.save_for_backward(X, W, b, idx, *output[1:])
        ctx.save_for_forward(X, W, b, idx)
        ctx.config = {"reduction": reduction}
        ctx.constants = dict(_cache_constants(X, W, b, idx, reduction=reduction), out_shape=output[0].shape)

    @staticmethod
    def backward(ctx, grad_out, *_):
        arguments, cached = ctx.saved_tensors[:4], ctx.saved_tensors[4:]
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
            grads["W"] if needs[1] and "W" in grads else None,
            grads["b"] if needs[2] and "b" in grads else None,
            grads["idx"] if needs[3] and "idx" in grads else None,
            None,  # reduction
        )

    @staticmethod
    def jvp(ctx, dX, dW, db, _tangent_3, _tangent_4):
        X, W, b, idx = ctx.saved_tensors
        tangents = (dX, dW, db, _tangent_3, _tangent_4)
        if any(_transformed(t) for t in tangents if t is not None):  # under torch.func: no update in place
            tangent = torch.func.functionalize(lambda *a: jvp(*a, **ctx.config))(X, W, b, idx, dX, dW, db)
        else:
            tangent = jvp(X, W, b, idx, dX, dW, db, **ctx.config)
        return (tangent,) + (None,) * 2  # the cached arrays carry no gradient


class CrossEntropyFunction(_CrossEntropyCached):
    """``CrossEntropyFunction.apply(X, W, b, idx, reduction)`` with the derived backward pass.

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
    def apply(cls, X, W, b, idx, reduction):
        """The output."""
        return _CrossEntropyCached.apply(X, W, b, idx, reduction)[0]


class CrossEntropy(torch.nn.Module):
    """Cross-entropy of next-token logits owning its parameters (initialised as GPT-2 does)."""

    def __init__(self, d, n_vocab, reduction='mean', device=None, dtype=None):
        super().__init__()
        if reduction not in ('mean', 'sum'):
            raise ValueError("reduction must be one of ('mean', 'sum'), got " + repr(reduction))
        self.d = d
        self.n_vocab = n_vocab
        self.reduction = reduction
        factory = {"device": device, "dtype": dtype}
        self.W = torch.nn.Parameter(torch.empty((d, n_vocab), **factory).normal_(0.0, 0.02), requires_grad=True)
        self.b = torch.nn.Parameter(torch.zeros((n_vocab,), **factory), requires_grad=True)

    def forward(self, X, idx):
        _check_shape("X", X, ("n_T", "d"), {"d": self.d, "n_vocab": self.n_vocab}, batched=True)
        return CrossEntropyFunction.apply(X, self.W, self.b, idx, self.reduction)

    def extra_repr(self):
        return f"d={self.d}, n_vocab={self.n_vocab}, reduction={self.reduction}"
