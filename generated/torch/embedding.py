# GENERATED FILE: DO NOT EDIT.
# Derived by pedestrian-backprop from the forward definition in derive/components/embedding.py.
# Regenerate with: backprop generate --target torch
"""Token and position embedding (`embedding`): forward pass and derived backward pass.

Forward definition (one sequence; inputs may carry leading batch dimensions):
    X = ohe(idx) W_tok + W_pos[:n_T]

Gradients, as derived:
    ∂L/∂W_tok = Σ_batch (ohe(idx)ᵀ Δ_X)
    ∂L/∂W_pos = pad_n_context(Σ_batch Δ_X)

Optimisations (each keeps the values within rounding):
    - liveness: every array is released after its last use (del); the backward drops its cache
"""
import functools

import torch


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


def _scatter_add_rows(index, values, rows, into=None, fresh=False):
    """Σ over batch and tokens of ohe(index)ᵀ values: each row of ``values`` added into row ``index``
    of zeros, or of ``into`` (updated in place when ``fresh``: a new array nothing else reads)."""
    if into is None:
        out = values.new_zeros((rows, values.shape[-1]))
    else:
        out = into if fresh else into.clone()
    return out.index_add_(0, index.reshape(-1), values.reshape(-1, values.shape[-1]))


def _transformed(t):
    """Whether ``t`` is a value a torch.func transform (vmap, grad, jvp) is tracing, not a plain tensor:
    then no buffer is kept between calls and no storage is inspected.  Never while compiling (the
    compiler traces plain tensors, and the question would break its graph)."""
    return not torch.compiler.is_compiling() and torch._C._functorch.is_functorch_wrapped_tensor(t)


@_no_grad
def forward(idx, W_tok, W_pos):
    """Token and position embedding: returns ``(out, cache)``.

    idx: integer input (n_T,): token indices in [0, n_vocab)
    W_tok: parameter (n_vocab, d): token embeddings
    W_pos: parameter (n_context, d): position embeddings
    """
    idx = torch.as_tensor(idx)
    W_tok = torch.as_tensor(W_tok)
    W_pos = torch.as_tensor(W_pos)
    dtype, compute_dtype = _check_dtypes({"W_tok": W_tok, "W_pos": W_pos}, {"idx": idx})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        W_tok = W_tok.to(compute_dtype)
        W_pos = W_pos.to(compute_dtype)
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
    return X.to(dtype), cache


@_no_grad
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
    grad_out = grad_out.to(cache["out_dtype"])  # the dtype the forward computed in
    del cache  # each array is released after its last use below
    # grad of W_tok, used in: X = ohe(idx) W_tok + W_pos[:n_T]
    dW_tok = _scatter_add_rows(idx, grad_out, n_vocab)  # (n_vocab, d)
    del idx
    # grad of W_pos, used in: X = ohe(idx) W_tok + W_pos[:n_T]
    dW_pos = _pad_rows(grad_out.reshape(-1, n_T, d).sum(0), n_context)  # (n_context, d)
    return {
        "W_tok": dW_tok.to(dtype),
        "W_pos": dW_pos.to(dtype),
    }


@_no_grad
def _jvp_forward(idx, W_tok, W_pos, dW_tok, dW_pos):
    """Token and position embedding: returns ``(out, cache)``.

    idx: integer input (n_T,): token indices in [0, n_vocab)
    W_tok: parameter, frozen (n_vocab, d): token embeddings
    W_pos: parameter, frozen (n_context, d): position embeddings
    dW_tok: parameter, frozen (n_vocab, d): the tangent of W_tok
    dW_pos: parameter, frozen (n_context, d): the tangent of W_pos
    """
    idx = torch.as_tensor(idx)
    W_tok = torch.as_tensor(W_tok)
    W_pos = torch.as_tensor(W_pos)
    dW_tok = torch.as_tensor(dW_tok)
    dW_pos = torch.as_tensor(dW_pos)
    dtype, compute_dtype = _check_dtypes({"W_tok": W_tok, "W_pos": W_pos, "dW_tok": dW_tok, "dW_pos": dW_pos}, {"idx": idx})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        W_tok = W_tok.to(compute_dtype)
        W_pos = W_pos.to(compute_dtype)
        dW_tok = dW_tok.to(compute_dtype)
        dW_pos = dW_pos.to(compute_dtype)
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
    return dX.to(dtype), cache


def jvp(idx, W_tok, W_pos, dW_tok=None, dW_pos=None):
    """The tangent of X for the arguments' tangents: forward mode, pushed forward from each
    primitive's differential (``backprop show embedding --jvp``).

    dW_tok: the tangent of W_tok (its shape; None for zero)
    dW_pos: the tangent of W_pos (its shape; None for zero)
    """
    if dW_tok is None:  # no tangent: zero
        dW_tok = torch.zeros_like(torch.as_tensor(W_tok))
    if dW_pos is None:  # no tangent: zero
        dW_pos = torch.zeros_like(torch.as_tensor(W_pos))
    return _jvp_forward(idx, W_tok, W_pos, dW_tok, dW_pos)[0]


def _unchanged(t):
    return t


def _recomputed(grad_out, arguments, config):
    """The gradients with the forward computed again from the arguments, autograd on."""
    _, cache = forward.__wrapped__(*arguments, **config)
    return backward.__wrapped__(grad_out, cache)


def _cached(arguments, arrays, constants):
    """The forward's cache from what the Function saved: its arrays, the arguments it holds (in the
    dtype computed in), and its numbers."""
    cache = dict(zip((), arrays), **constants)
    cache["idx"] = arguments[0]
    return cache


def _cache_constants(idx, W_tok, W_pos):
    """The numbers the backward reads from the cache (sizes, configuration, dtypes), from the arguments'
    shapes and dtypes and the configuration alone: no array is computed."""
    idx = torch.as_tensor(idx)
    W_tok = torch.as_tensor(W_tok)
    W_pos = torch.as_tensor(W_pos)
    dtype, compute_dtype = _check_dtypes({"W_tok": W_tok, "W_pos": W_pos}, {"idx": idx})
    dims = {}
    _check_shape("idx", idx, ("n_T",), dims, batched=True)
    _check_shape("W_tok", W_tok, ("n_vocab", "d"), dims, batched=False)
    _check_shape("W_pos", W_pos, ("n_context", "d"), dims, batched=False)
    n_T, n_vocab, d, n_context = dims["n_T"], dims["n_vocab"], dims["d"], dims["n_context"]
    if not (n_T <= n_context):
        raise ValueError('n_T must be at most n_context; got ' + f"n_T={n_T}, n_context={n_context}")
    return {"n_T": n_T, "n_vocab": n_vocab, "d": d, "n_context": n_context, "out_dtype": compute_dtype, "dtype": dtype}


class _EmbeddingCached(torch.autograd.Function):
    """The Function itself: its further outputs are the arrays the backward reads (without a gradient);
    ``EmbeddingFunction`` gives the output alone."""

    generate_vmap_rule = True

    @staticmethod
    def forward(idx, W_tok, W_pos):
        out, cache = forward(idx, W_tok, W_pos)
        # each cached array a tensor of its own (detach): one that is also an output stays differentiable there
        return (*_distinct_outputs((out,), (idx, W_tok, W_pos,)),)

    @staticmethod
    def setup_context(ctx, inputs, output):
        idx, W_tok, W_pos = inputs
        ctx.mark_non_differentiable(*output[1:])
        ctx.set_materialize_grads(False)  # the cached arrays' gradients stay None, never zeros
        ctx.save_for_backward(idx, W_tok, W_pos, *output[1:])
        ctx.save_for_forward(idx, W_tok, W_pos)
        ctx.config = {}
        ctx.constants = dict(_cache_constants(idx, W_tok, W_pos), out_shape=output[0].shape)

    @staticmethod
    def backward(ctx, grad_out, *_):
        arguments, cached = ctx.saved_tensors[:3], ctx.saved_tensors[3:]
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
            grads["idx"] if needs[0] and "idx" in grads else None,
            grads["W_tok"] if needs[1] and "W_tok" in grads else None,
            grads["W_pos"] if needs[2] and "W_pos" in grads else None,
        )

    @staticmethod
    def jvp(ctx, _tangent_0, dW_tok, dW_pos):
        idx, W_tok, W_pos = ctx.saved_tensors
        tangents = (_tangent_0, dW_tok, dW_pos)
        if any(_transformed(t) for t in tangents if t is not None):  # under torch.func: no update in place
            tangent = torch.func.functionalize(lambda *a: jvp(*a, **ctx.config))(idx, W_tok, W_pos, dW_tok, dW_pos)
        else:
            tangent = jvp(idx, W_tok, W_pos, dW_tok, dW_pos, **ctx.config)
        return (tangent,) + (None,) * 0  # the cached arrays carry no gradient


class EmbeddingFunction(_EmbeddingCached):
    """``EmbeddingFunction.apply(idx, W_tok, W_pos)`` with the derived backward pass.

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
    def apply(cls, idx, W_tok, W_pos):
        """The output."""
        return _EmbeddingCached.apply(idx, W_tok, W_pos)[0]


class Embedding(torch.nn.Module):
    """Token and position embedding owning its parameters (initialised as GPT-2 does)."""

    def __init__(self, n_vocab, d, n_context, device=None, dtype=None):
        super().__init__()
        self.n_vocab = n_vocab
        self.d = d
        self.n_context = n_context
        factory = {"device": device, "dtype": dtype}
        self.W_tok = torch.nn.Parameter(torch.empty((n_vocab, d), **factory).normal_(0.0, 0.02), requires_grad=True)
        self.W_pos = torch.nn.Parameter(torch.empty((n_context, d), **factory).normal_(0.0, 0.02), requires_grad=True)

    def forward(self, idx):
        return EmbeddingFunction.apply(idx, self.W_tok, self.W_pos)

    def extra_repr(self):
        return f"n_vocab={self.n_vocab}, d={self.d}, n_context={self.n_context}"
