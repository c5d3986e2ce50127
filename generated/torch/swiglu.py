# GENERATED FILE: DO NOT EDIT.
# Derived by pedestrian-backprop from the forward definition in derive/components/swiglu.py.
# Regenerate with: backprop generate --target torch
"""SwiGLU feed-forward layer (`swiglu`): forward pass and derived backward pass.

Forward definition (one sequence; inputs may carry leading batch dimensions):
    gate = X W_gateᵀ
    up = X W_upᵀ
    H = silu(gate) ∘ up
    Y = H W_downᵀ

Gradients, as derived:
    ∂L/∂X = Δ_up W_up + Δ_gate W_gate
    ∂L/∂W_gate = Σ_batch (Δ_gateᵀ X)
    ∂L/∂W_up = Σ_batch (Δ_upᵀ X)
    ∂L/∂W_down = Σ_batch (Δ_Yᵀ H)

Optimisations (each keeps the values within rounding):
    - overwrite: dgate, dX updated in place (+=, *=) in the array the statement made or in one no longer needed, not a new array per operation
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
def forward(X, W_gate, W_up, W_down):
    """SwiGLU feed-forward layer: returns ``(out, cache)``.

    X: input (..., n_T, d)
    W_gate: parameter (d_ff, d): gate_proj
    W_up: parameter (d_ff, d): up_proj
    W_down: parameter (d, d_ff): down_proj
    """
    X = torch.as_tensor(X)
    W_gate = torch.as_tensor(W_gate)
    W_up = torch.as_tensor(W_up)
    W_down = torch.as_tensor(W_down)
    dtype, compute_dtype = _check_dtypes({"X": X, "W_gate": W_gate, "W_up": W_up, "W_down": W_down}, {})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        X = X.to(compute_dtype)
        W_gate = W_gate.to(compute_dtype)
        W_up = W_up.to(compute_dtype)
        W_down = W_down.to(compute_dtype)
    dims = {}
    _check_shape("X", X, ("n_T", "d"), dims, batched=True)
    _check_shape("W_gate", W_gate, ("d_ff", "d"), dims, batched=False)
    _check_shape("W_up", W_up, ("d_ff", "d"), dims, batched=False)
    _check_shape("W_down", W_down, ("d", "d_ff"), dims, batched=False)
    d, d_ff = dims["d"], dims["d_ff"]
    gate = X @ W_gate.mT  # (..., n_T, d_ff)
    up = X @ W_up.mT  # (..., n_T, d_ff)
    H = _silu(gate) * up  # (..., n_T, d_ff)
    Y = H @ W_down.mT  # (..., n_T, d)
    cache = {"X": X, "W_gate": W_gate, "W_up": W_up, "W_down": W_down, "gate": gate, "up": up, "H": H, "d": d, "d_ff": d_ff, "out_shape": Y.shape, "out_dtype": Y.dtype, "dtype": dtype}
    return Y.to(dtype), cache


@_no_grad
def backward(grad_out, cache):
    """Gradients of the loss given ``grad_out`` = ∂L/∂Y: a dict keyed by argument name."""
    X = cache["X"]
    W_gate = cache["W_gate"]
    W_up = cache["W_up"]
    W_down = cache["W_down"]
    gate = cache["gate"]
    up = cache["up"]
    H = cache["H"]
    d = cache["d"]
    d_ff = cache["d_ff"]
    dtype = cache["dtype"]
    if grad_out.shape != cache["out_shape"]:
        raise ValueError(f"grad_out: expected shape {cache['out_shape']}, got {grad_out.shape}")
    grad_out = grad_out.to(cache["out_dtype"])  # the dtype the forward computed in
    del cache  # each array is released after its last use below
    # grad of H, used in: Y = H W_downᵀ
    dH = grad_out @ W_down  # (..., n_T, d_ff)
    # grad of up, used in: H = silu(gate) ∘ up
    dup = dH * _silu(gate)  # (..., n_T, d_ff)
    # grad of gate, used in: H = silu(gate) ∘ up
    dgate = dH  # (..., n_T, d_ff), dH's array, updated in place
    dgate *= up
    dgate = _silu_grad(gate, times=dgate)
    del dH, gate, up
    # grad of X, used in: gate = X W_gateᵀ; up = X W_upᵀ
    dX = dup @ W_up  # (..., n_T, d), updated in place
    dX += dgate @ W_gate
    # grad of W_gate, used in: gate = X W_gateᵀ
    dW_gate = dgate.reshape(-1, d_ff).mT @ X.reshape(-1, d)  # (d_ff, d)
    del dgate
    # grad of W_up, used in: up = X W_upᵀ
    dW_up = dup.reshape(-1, d_ff).mT @ X.reshape(-1, d)  # (d_ff, d)
    del X, dup
    # grad of W_down, used in: Y = H W_downᵀ
    dW_down = grad_out.reshape(-1, d).mT @ H.reshape(-1, d_ff)  # (d, d_ff)
    del H
    return {
        "X": dX.to(dtype),
        "W_gate": dW_gate.to(dtype),
        "W_up": dW_up.to(dtype),
        "W_down": dW_down.to(dtype),
    }


@_no_grad
def _jvp_forward(X, W_gate, W_up, W_down, dX, dW_gate, dW_up, dW_down):
    """SwiGLU feed-forward layer: returns ``(out, cache)``.

    X: input, frozen (..., n_T, d)
    W_gate: parameter, frozen (d_ff, d): gate_proj
    W_up: parameter, frozen (d_ff, d): up_proj
    W_down: parameter, frozen (d, d_ff): down_proj
    dX: input, frozen (..., n_T, d): the tangent of X
    dW_gate: parameter, frozen (d_ff, d): the tangent of W_gate
    dW_up: parameter, frozen (d_ff, d): the tangent of W_up
    dW_down: parameter, frozen (d, d_ff): the tangent of W_down
    """
    X = torch.as_tensor(X)
    W_gate = torch.as_tensor(W_gate)
    W_up = torch.as_tensor(W_up)
    W_down = torch.as_tensor(W_down)
    dX = torch.as_tensor(dX)
    dW_gate = torch.as_tensor(dW_gate)
    dW_up = torch.as_tensor(dW_up)
    dW_down = torch.as_tensor(dW_down)
    dtype, compute_dtype = _check_dtypes({"X": X, "W_gate": W_gate, "W_up": W_up, "W_down": W_down, "dX": dX, "dW_gate": dW_gate, "dW_up": dW_up, "dW_down": dW_down}, {})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        X = X.to(compute_dtype)
        W_gate = W_gate.to(compute_dtype)
        W_up = W_up.to(compute_dtype)
        W_down = W_down.to(compute_dtype)
        dX = dX.to(compute_dtype)
        dW_gate = dW_gate.to(compute_dtype)
        dW_up = dW_up.to(compute_dtype)
        dW_down = dW_down.to(compute_dtype)
    dims = {}
    _check_shape("X", X, ("n_T", "d"), dims, batched="shared")
    _check_shape("W_gate", W_gate, ("d_ff", "d"), dims, batched=False)
    _check_shape("W_up", W_up, ("d_ff", "d"), dims, batched=False)
    _check_shape("W_down", W_down, ("d", "d_ff"), dims, batched=False)
    _check_shape("dX", dX, ("n_T", "d"), dims, batched="shared")
    _check_shape("dW_gate", dW_gate, ("d_ff", "d"), dims, batched=False)
    _check_shape("dW_up", dW_up, ("d_ff", "d"), dims, batched=False)
    _check_shape("dW_down", dW_down, ("d", "d_ff"), dims, batched=False)
    X, dX = _broadcast_batches({"X": X, "dX": dX}, {"X": 2, "dX": 2}, dims)
    gate = X @ W_gate.mT  # (..., n_T, d_ff)
    up = X @ W_up.mT  # (..., n_T, d_ff)
    H = _silu(gate) * up  # (..., n_T, d_ff)
    dgate = dX @ W_gate.mT  # (..., n_T, d_ff), updated in place
    dgate += X @ dW_gate.mT
    dup = dX @ W_up.mT  # (..., n_T, d_ff), updated in place
    dup += X @ dW_up.mT
    dH = dgate  # (..., n_T, d_ff), dgate's array, updated in place
    dH = _silu_grad(gate, times=dH)
    dH *= up
    dH.addcmul_(_silu(gate), dup)
    del dgate, dup, gate, up
    dY = dH @ W_down.mT  # (..., n_T, d), updated in place
    dY += H @ dW_down.mT
    del H, dH
    cache = {"out_shape": dY.shape, "out_dtype": dY.dtype, "dtype": dtype}
    return dY.to(dtype), cache


def jvp(X, W_gate, W_up, W_down, dX=None, dW_gate=None, dW_up=None, dW_down=None):
    """The tangent of Y for the arguments' tangents: forward mode, pushed forward from each
    primitive's differential (``backprop show swiglu --jvp``).

    dX: the tangent of X (its shape; None for zero)
    dW_gate: the tangent of W_gate (its shape; None for zero)
    dW_up: the tangent of W_up (its shape; None for zero)
    dW_down: the tangent of W_down (its shape; None for zero)
    """
    if dX is None:  # no tangent: zero
        dX = torch.zeros_like(torch.as_tensor(X))
    if dW_gate is None:  # no tangent: zero
        dW_gate = torch.zeros_like(torch.as_tensor(W_gate))
    if dW_up is None:  # no tangent: zero
        dW_up = torch.zeros_like(torch.as_tensor(W_up))
    if dW_down is None:  # no tangent: zero
        dW_down = torch.zeros_like(torch.as_tensor(W_down))
    return _jvp_forward(X, W_gate, W_up, W_down, dX, dW_gate, dW_up, dW_down)[0]


def _unchanged(t):
    return t


def _recomputed(grad_out, arguments, config):
    """The gradients with the forward computed again from the arguments, autograd on."""
    _, cache = forward.__wrapped__(*arguments, **config)
    return backward.__wrapped__(grad_out, cache)


def _cached(arguments, arrays, constants):
    """The forward's cache from what the Function saved: its arrays, the arguments it holds (in the
    dtype computed in), and its numbers."""
    cache = dict(zip(("gate", "up", "H",), arrays), **constants)
    cache["X"] = arguments[0].to(constants["out_dtype"])
    cache["W_gate"] = arguments[1].to(constants["out_dtype"])
    cache["W_up"] = arguments[2].to(constants["out_dtype"])
    cache["W_down"] = arguments[3].to(constants["out_dtype"])
    return cache


def _cache_constants(X, W_gate, W_up, W_down):
    """The numbers the backward reads from the cache (sizes, configuration, dtypes), from the arguments'
    shapes and dtypes and the configuration alone: no array is computed."""
    X = torch.as_tensor(X)
    W_gate = torch.as_tensor(W_gate)
    W_up = torch.as_tensor(W_up)
    W_down = torch.as_tensor(W_down)
    dtype, compute_dtype = _check_dtypes({"X": X, "W_gate": W_gate, "W_up": W_up, "W_down": W_down}, {})
    dims = {}
    _check_shape("X", X, ("n_T", "d"), dims, batched=True)
    _check_shape("W_gate", W_gate, ("d_ff", "d"), dims, batched=False)
    _check_shape("W_up", W_up, ("d_ff", "d"), dims, batched=False)
    _check_shape("W_down", W_down, ("d", "d_ff"), dims, batched=False)
    d, d_ff = dims["d"], dims["d_ff"]
    return {"d": d, "d_ff": d_ff, "out_dtype": compute_dtype, "dtype": dtype}


class _SwiGLUCached(torch.autograd.Function):
    """The Function itself: its further outputs are the arrays the backward reads (without a gradient);
    ``SwiGLUFunction`` gives the output alone."""

    generate_vmap_rule = True

    @staticmethod
    def forward(X, W_gate, W_up, W_down):
        out, cache = forward(X, W_gate, W_up, W_down)
        # each cached array a tensor of its own (detach): one that is also an output stays differentiable there
        return (*_distinct_outputs((out,), (X, W_gate, W_up, W_down,)), cache["gate"].detach(), cache["up"].detach(), cache["H"].detach(),)

    @staticmethod
    def setup_context(ctx, inputs, output):
        X, W_gate, W_up, W_down = inputs
        ctx.mark_non_differentiable(*output[1:])
        ctx.set_materialize_grads(False)  # the cached arrays' gradients stay None, never zeros
        ctx.save_for_backward(X, W_gate, W_up, W_down, *output[1:])
        ctx.save_for_forward(X, W_gate, W_up, W_down)
        ctx.config = {}
        ctx.constants = dict(_cache_constants(X, W_gate, W_up, W_down), out_shape=output[0].shape)

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
            grads["W_gate"] if needs[1] and "W_gate" in grads else None,
            grads["W_up"] if needs[2] and "W_up" in grads else None,
            grads["W_down"] if needs[3] and "W_down" in grads else None,
        )

    @staticmethod
    def jvp(ctx, dX, dW_gate, dW_up, dW_down):
        X, W_gate, W_up, W_down = ctx.saved_tensors
        tangents = (dX, dW_gate, dW_up, dW_down)
        if any(_transformed(t) for t in tangents if t is not None):  # under torch.func: no update in place
            tangent = torch.func.functionalize(lambda *a: jvp(*a, **ctx.config))(X, W_gate, W_up, W_down, dX, dW_gate, dW_up, dW_down)
        else:
            tangent = jvp(X, W_gate, W_up, W_down, dX, dW_gate, dW_up, dW_down, **ctx.config)
        return (tangent,) + (None,) * 3  # the cached arrays carry no gradient


class SwiGLUFunction(_SwiGLUCached):
    """``SwiGLUFunction.apply(X, W_gate, W_up, W_down)`` with the derived backward pass.

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
    def apply(cls, X, W_gate, W_up, W_down):
        """The output."""
        return _SwiGLUCached.apply(X, W_gate, W_up, W_down)[0]


class SwiGLU(torch.nn.Module):
    """SwiGLU feed-forward layer owning its parameters (initialised as GPT-2 does)."""

    def __init__(self, d_ff, d, device=None, dtype=None):
        super().__init__()
        self.d_ff = d_ff
        self.d = d
        factory = {"device": device, "dtype": dtype}
        self.W_gate = torch.nn.Parameter(torch.empty((d_ff, d), **factory).normal_(0.0, 0.02), requires_grad=True)
        self.W_up = torch.nn.Parameter(torch.empty((d_ff, d), **factory).normal_(0.0, 0.02), requires_grad=True)
        self.W_down = torch.nn.Parameter(torch.empty((d, d_ff), **factory).normal_(0.0, 0.02), requires_grad=True)

    def forward(self, X):
        _check_shape("X", X, ("n_T", "d"), {"d_ff": self.d_ff, "d": self.d}, batched=True)
        return SwiGLUFunction.apply(X, self.W_gate, self.W_up, self.W_down)

    def extra_repr(self):
        return f"d_ff={self.d_ff}, d={self.d}"
