# GENERATED FILE: DO NOT EDIT.
# Derived by pedestrian-backprop from the forward definition in derive/components/mlp.py.
# Regenerate with: backprop generate --target torch
"""Multi-layer perceptron (`mlp`): forward pass and derived backward pass.

Forward definition (one sequence; inputs may carry leading batch dimensions):
    H = X W_1 + 1 b_1ᵀ
    A = activation(H)
    Y = A W_2 + 1 b_2ᵀ

Gradients, as derived:
    ∂L/∂X = Δ_H W_1ᵀ
    ∂L/∂W_1 = Σ_batch (Xᵀ Δ_H)
    ∂L/∂b_1 = Σ_batch (1ᵀ Δ_H)
    ∂L/∂W_2 = Σ_batch (Aᵀ Δ_Y)
    ∂L/∂b_2 = Σ_batch (1ᵀ Δ_Y)

Optimisations (each keeps the values within rounding):
    - overwrite: dH updated in place (+=, *=) in the array the statement made or in one no longer needed, not a new array per operation
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
def forward(X, W_1, b_1, W_2, b_2, *, activation='gelu_tanh'):
    """Multi-layer perceptron: returns ``(out, cache)``.

    X: input (..., n_T, d)
    W_1: parameter (d, d_ff): expand weights
    b_1: parameter (d_ff,): expand bias
    W_2: parameter (d_ff, d): contract weights
    b_2: parameter (d,): contract bias
    activation: configuration, default 'gelu_tanh' (one of 'gelu_tanh', 'gelu', 'relu'): elementwise activation between the two layers
    """
    X = torch.as_tensor(X)
    W_1 = torch.as_tensor(W_1)
    b_1 = torch.as_tensor(b_1)
    W_2 = torch.as_tensor(W_2)
    b_2 = torch.as_tensor(b_2)
    dtype, compute_dtype = _check_dtypes({"X": X, "W_1": W_1, "b_1": b_1, "W_2": W_2, "b_2": b_2}, {})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        X = X.to(compute_dtype)
        W_1 = W_1.to(compute_dtype)
        b_1 = b_1.to(compute_dtype)
        W_2 = W_2.to(compute_dtype)
        b_2 = b_2.to(compute_dtype)
    if activation not in ('gelu_tanh', 'gelu', 'relu'):
        raise ValueError("activation must be one of ('gelu_tanh', 'gelu', 'relu'), got " + repr(activation))
    dims = {}
    _check_shape("X", X, ("n_T", "d"), dims, batched=True)
    _check_shape("W_1", W_1, ("d", "d_ff"), dims, batched=False)
    _check_shape("b_1", b_1, ("d_ff",), dims, batched=False)
    _check_shape("W_2", W_2, ("d_ff", "d"), dims, batched=False)
    _check_shape("b_2", b_2, ("d",), dims, batched=False)
    d, d_ff = dims["d"], dims["d_ff"]
    H = torch.nn.functional.linear(X, W_1.mT, b_1)  # (..., n_T, d_ff)
    A = _ACTIVATION[activation](H)  # (..., n_T, d_ff)
    Y = torch.nn.functional.linear(A, W_2.mT, b_2)  # (..., n_T, d)
    cache = {"X": X, "W_1": W_1, "W_2": W_2, "H": H, "A": A, "activation": activation, "d": d, "d_ff": d_ff, "out_shape": Y.shape, "out_dtype": Y.dtype, "dtype": dtype}
    return Y.to(dtype), cache


@_no_grad
def backward(grad_out, cache):
    """Gradients of the loss given ``grad_out`` = ∂L/∂Y: a dict keyed by argument name."""
    X = cache["X"]
    W_1 = cache["W_1"]
    W_2 = cache["W_2"]
    H = cache["H"]
    A = cache["A"]
    activation = cache["activation"]
    d = cache["d"]
    d_ff = cache["d_ff"]
    dtype = cache["dtype"]
    if grad_out.shape != cache["out_shape"]:
        raise ValueError(f"grad_out: expected shape {cache['out_shape']}, got {grad_out.shape}")
    grad_out = grad_out.to(cache["out_dtype"])  # the dtype the forward computed in
    del cache  # each array is released after its last use below
    # grad of A, used in: Y = A W_2 + 1 b_2ᵀ
    dA = grad_out @ W_2.mT  # (..., n_T, d_ff)
    # grad of H, used in: A = activation(H)
    dH = dA  # (..., n_T, d_ff), dA's array, updated in place
    dH = _ACTIVATION_GRAD[activation](H, times=dH)
    del H, dA
    # grad of X, used in: H = X W_1 + 1 b_1ᵀ
    dX = dH @ W_1.mT  # (..., n_T, d)
    # grad of W_1, used in: H = X W_1 + 1 b_1ᵀ
    dW_1 = X.reshape(-1, d).mT @ dH.reshape(-1, d_ff)  # (d, d_ff)
    del X
    # grad of b_1, used in: H = X W_1 + 1 b_1ᵀ
    db_1 = dH.reshape(-1, d_ff).sum(0)  # (d_ff,)
    del dH
    # grad of W_2, used in: Y = A W_2 + 1 b_2ᵀ
    dW_2 = A.reshape(-1, d_ff).mT @ grad_out.reshape(-1, d)  # (d_ff, d)
    del A
    # grad of b_2, used in: Y = A W_2 + 1 b_2ᵀ
    db_2 = grad_out.reshape(-1, d).sum(0)  # (d,)
    return {
        "X": dX.to(dtype),
        "W_1": dW_1.to(dtype),
        "b_1": db_1.to(dtype),
        "W_2": dW_2.to(dtype),
        "b_2": db_2.to(dtype),
    }


@_no_grad
def _jvp_forward(X, W_1, b_1, W_2, b_2, dX, dW_1, db_1, dW_2, db_2, *, activation='gelu_tanh'):
    """Multi-layer perceptron: returns ``(out, cache)``.

    X: input, frozen (..., n_T, d)
    W_1: parameter, frozen (d, d_ff): expand weights
    b_1: parameter, frozen (d_ff,): expand bias
    W_2: parameter, frozen (d_ff, d): contract weights
    b_2: parameter, frozen (d,): contract bias
    activation: configuration, default 'gelu_tanh' (one of 'gelu_tanh', 'gelu', 'relu'): elementwise activation between the two layers
    dX: input, frozen (..., n_T, d): the tangent of X
    dW_1: parameter, frozen (d, d_ff): the tangent of W_1
    db_1: parameter, frozen (d_ff,): the tangent of b_1
    dW_2: parameter, frozen (d_ff, d): the tangent of W_2
    db_2: parameter, frozen (d,): the tangent of b_2
    """
    X = torch.as_tensor(X)
    W_1 = torch.as_tensor(W_1)
    b_1 = torch.as_tensor(b_1)
    W_2 = torch.as_tensor(W_2)
    b_2 = torch.as_tensor(b_2)
    dX = torch.as_tensor(dX)
    dW_1 = torch.as_tensor(dW_1)
    db_1 = torch.as_tensor(db_1)
    dW_2 = torch.as_tensor(dW_2)
    db_2 = torch.as_tensor(db_2)
    dtype, compute_dtype = _check_dtypes({"X": X, "W_1": W_1, "b_1": b_1, "W_2": W_2, "b_2": b_2, "dX": dX, "dW_1": dW_1, "db_1": db_1, "dW_2": dW_2, "db_2": db_2}, {})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        X = X.to(compute_dtype)
        W_1 = W_1.to(compute_dtype)
        b_1 = b_1.to(compute_dtype)
        W_2 = W_2.to(compute_dtype)
        b_2 = b_2.to(compute_dtype)
        dX = dX.to(compute_dtype)
        dW_1 = dW_1.to(compute_dtype)
        db_1 = db_1.to(compute_dtype)
        dW_2 = dW_2.to(compute_dtype)
        db_2 = db_2.to(compute_dtype)
    if activation not in ('gelu_tanh', 'gelu', 'relu'):
        raise ValueError("activation must be one of ('gelu_tanh', 'gelu', 'relu'), got " + repr(activation))
    dims = {}
    _check_shape("X", X, ("n_T", "d"), dims, batched="shared")
    _check_shape("W_1", W_1, ("d", "d_ff"), dims, batched=False)
    _check_shape("b_1", b_1, ("d_ff",), dims, batched=False)
    _check_shape("W_2", W_2, ("d_ff", "d"), dims, batched=False)
    _check_shape("b_2", b_2, ("d",), dims, batched=False)
    _check_shape("dX", dX, ("n_T", "d"), dims, batched="shared")
    _check_shape("dW_1", dW_1, ("d", "d_ff"), dims, batched=False)
    _check_shape("db_1", db_1, ("d_ff",), dims, batched=False)
    _check_shape("dW_2", dW_2, ("d_ff", "d"), dims, batched=False)
    _check_shape("db_2", db_2, ("d",), dims, batched=False)
    X, dX = _broadcast_batches({"X": X, "dX": dX}, {"X": 2, "dX": 2}, dims)
    d_ff = dims["d_ff"]
    W_1_dW_1 = _side_by_side(W_1, dW_1)  # (d, 2*d_ff)
    X_W_1_dW_1 = X @ W_1_dW_1  # (..., n_T, 2*d_ff)
    del W_1_dW_1
    H = X_W_1_dW_1[..., 0:d_ff] + b_1  # (..., n_T, d_ff)
    A = _ACTIVATION[activation](H)  # (..., n_T, d_ff)
    dH = X_W_1_dW_1[..., d_ff:2*d_ff] + torch.nn.functional.linear(dX, W_1.mT, db_1)  # (..., n_T, d_ff)
    del X_W_1_dW_1
    dA = dH  # (..., n_T, d_ff), dH's array, updated in place
    dA = _ACTIVATION_GRAD[activation](H, times=dA)
    del H, dH
    dY = A @ dW_2  # (..., n_T, d), updated in place
    dY += torch.nn.functional.linear(dA, W_2.mT, db_2)
    del A, dA
    cache = {"out_shape": dY.shape, "out_dtype": dY.dtype, "dtype": dtype}
    return dY.to(dtype), cache


def jvp(X, W_1, b_1, W_2, b_2, dX=None, dW_1=None, db_1=None, dW_2=None, db_2=None, *, activation='gelu_tanh'):
    """The tangent of Y for the arguments' tangents: forward mode, pushed forward from each
    primitive's differential (``backprop show mlp --jvp``).

    dX: the tangent of X (its shape; None for zero)
    dW_1: the tangent of W_1 (its shape; None for zero)
    db_1: the tangent of b_1 (its shape; None for zero)
    dW_2: the tangent of W_2 (its shape; None for zero)
    db_2: the tangent of b_2 (its shape; None for zero)
    """
    if dX is None:  # no tangent: zero
        dX = torch.zeros_like(torch.as_tensor(X))
    if dW_1 is None:  # no tangent: zero
        dW_1 = torch.zeros_like(torch.as_tensor(W_1))
    if db_1 is None:  # no tangent: zero
        db_1 = torch.zeros_like(torch.as_tensor(b_1))
    if dW_2 is None:  # no tangent: zero
        dW_2 = torch.zeros_like(torch.as_tensor(W_2))
    if db_2 is None:  # no tangent: zero
        db_2 = torch.zeros_like(torch.as_tensor(b_2))
    return _jvp_forward(X, W_1, b_1, W_2, b_2, dX, dW_1, db_1, dW_2, db_2, activation=activation)[0]


def _unchanged(t):
    return t


def _recomputed(grad_out, arguments, config):
    """The gradients with the forward computed again from the arguments, autograd on."""
    _, cache = forward.__wrapped__(*arguments, **config)
    return backward.__wrapped__(grad_out, cache)


def _cached(arguments, arrays, constants):
    """The forward's cache from what the Function saved: its arrays, the arguments it holds (in the
    dtype computed in), and its numbers."""
    cache = dict(zip(("H", "A",), arrays), **constants)
    cache["X"] = arguments[0].to(constants["out_dtype"])
    cache["W_1"] = arguments[1].to(constants["out_dtype"])
    cache["W_2"] = arguments[3].to(constants["out_dtype"])
    return cache


def _cache_constants(X, W_1, b_1, W_2, b_2, *, activation='gelu_tanh'):
    """The numbers the backward reads from the cache (sizes, configuration, dtypes), from the arguments'
    shapes and dtypes and the configuration alone: no array is computed."""
    X = torch.as_tensor(X)
    W_1 = torch.as_tensor(W_1)
    b_1 = torch.as_tensor(b_1)
    W_2 = torch.as_tensor(W_2)
    b_2 = torch.as_tensor(b_2)
    dtype, compute_dtype = _check_dtypes({"X": X, "W_1": W_1, "b_1": b_1, "W_2": W_2, "b_2": b_2}, {})
    if activation not in ('gelu_tanh', 'gelu', 'relu'):
        raise ValueError("activation must be one of ('gelu_tanh', 'gelu', 'relu'), got " + repr(activation))
    dims = {}
    _check_shape("X", X, ("n_T", "d"), dims, batched=True)
    _check_shape("W_1", W_1, ("d", "d_ff"), dims, batched=False)
    _check_shape("b_1", b_1, ("d_ff",), dims, batched=False)
    _check_shape("W_2", W_2, ("d_ff", "d"), dims, batched=False)
    _check_shape("b_2", b_2, ("d",), dims, batched=False)
    d, d_ff = dims["d"], dims["d_ff"]
    return {"activation": activation, "d": d, "d_ff": d_ff, "out_dtype": compute_dtype, "dtype": dtype}


class _MLPCached(torch.autograd.Function):
    """The Function itself: its further outputs are the arrays the backward reads (without a gradient);
    ``MLPFunction`` gives the output alone."""

    generate_vmap_rule = True

    @staticmethod
    def forward(X, W_1, b_1, W_2, b_2, activation):
        out, cache = forward(X, W_1, b_1, W_2, b_2, activation=activation)
        # each cached array a tensor of its own (detach): one that is also an output stays differentiable there
        return (*_distinct_outputs((out,), (X, W_1, b_1, W_2, b_2,)), cache["H"].detach(), cache["A"].detach(),)

    @staticmethod
    def setup_context(ctx, inputs, output):
        X, W_1, b_1, W_2, b_2, activation = inputs
        ctx.mark_non_differentiable(*output[1:])
        ctx.set_materialize_grads(False)  # the cached arrays' gradients stay None, never zeros
        ctx.save_for_backward(X, W_1, b_1, W_2, b_2, *output[1:])
        ctx.save_for_forward(X, W_1, b_1, W_2, b_2)
        ctx.config = {"activation": activation}
        ctx.constants = dict(_cache_constants(X, W_1, b_1, W_2, b_2, activation=activation), out_shape=output[0].shape)

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
            grads["W_1"] if needs[1] and "W_1" in grads else None,
            grads["b_1"] if needs[2] and "b_1" in grads else None,
            grads["W_2"] if needs[3] and "W_2" in grads else None,
            grads["b_2"] if needs[4] and "b_2" in grads else None,
            None,  # activation
        )

    @staticmethod
    def jvp(ctx, dX, dW_1, db_1, dW_2, db_2, _tangent_5):
        X, W_1, b_1, W_2, b_2 = ctx.saved_tensors
        tangents = (dX, dW_1, db_1, dW_2, db_2, _tangent_5)
        if any(_transformed(t) for t in tangents if t is not None):  # under torch.func: no update in place
            tangent = torch.func.functionalize(lambda *a: jvp(*a, **ctx.config))(X, W_1, b_1, W_2, b_2, dX, dW_1, db_1, dW_2, db_2)
        else:
            tangent = jvp(X, W_1, b_1, W_2, b_2, dX, dW_1, db_1, dW_2, db_2, **ctx.config)
        return (tangent,) + (None,) * 2  # the cached arrays carry no gradient


class MLPFunction(_MLPCached):
    """``MLPFunction.apply(X, W_1, b_1, W_2, b_2, activation)`` with the derived backward pass.

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
    def apply(cls, X, W_1, b_1, W_2, b_2, activation):
        """The output."""
        return _MLPCached.apply(X, W_1, b_1, W_2, b_2, activation)[0]


class MLP(torch.nn.Module):
    """Multi-layer perceptron owning its parameters (initialised as GPT-2 does)."""

    def __init__(self, d, d_ff, activation='gelu_tanh', device=None, dtype=None):
        super().__init__()
        if activation not in ('gelu_tanh', 'gelu', 'relu'):
            raise ValueError("activation must be one of ('gelu_tanh', 'gelu', 'relu'), got " + repr(activation))
        self.d = d
        self.d_ff = d_ff
        self.activation = activation
        factory = {"device": device, "dtype": dtype}
        self.W_1 = torch.nn.Parameter(torch.empty((d, d_ff), **factory).normal_(0.0, 0.02), requires_grad=True)
        self.b_1 = torch.nn.Parameter(torch.zeros((d_ff,), **factory), requires_grad=True)
        self.W_2 = torch.nn.Parameter(torch.empty((d_ff, d), **factory).normal_(0.0, 0.02), requires_grad=True)
        self.b_2 = torch.nn.Parameter(torch.zeros((d,), **factory), requires_grad=True)

    def forward(self, X):
        _check_shape("X", X, ("n_T", "d"), {"d": self.d, "d_ff": self.d_ff}, batched=True)
        return MLPFunction.apply(X, self.W_1, self.b_1, self.W_2, self.b_2, self.activation)

    def extra_repr(self):
        return f"d={self.d}, d_ff={self.d_ff}, activation={self.activation}"
