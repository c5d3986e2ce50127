# GENERATED FILE: DO NOT EDIT.
# Derived by pedestrian-backprop from the forward definition in derive/components/layernorm.py.
# Regenerate with: backprop generate --target torch
"""Layer normalisation (`layernorm`): forward pass and derived backward pass.

Forward definition (one sequence; inputs may carry leading batch dimensions):
    mu = (1/d) X 1
    Xc = X − mu 1ᵀ
    var = (1/d) (Xc ∘ Xc) 1
    sigma = sqrt(eps + var)
    Xbar = ((1/sigma) 1ᵀ) ∘ Xc
    Y = Xbar ∘ (1 wᵀ) + 1 bᵀ

Gradients, as derived:
    ∂L/∂X = Δ_Xc + (1/d) Δ_mu 1ᵀ
    ∂L/∂w = Σ_batch (1ᵀ (Δ_Y ∘ Xbar))
    ∂L/∂b = Σ_batch (1ᵀ Δ_Y)

Optimisations (each keeps the values within rounding):
    - read-forward-values: the backward reads Xc, var through other forward values, so the cache does not hold them
    - overwrite: mu, var, sigma, Xbar, Y, dvar, dXc, dX updated in place (+=, *=) in the array the statement made or in one no longer needed, not a new array per operation
    - liveness: every array is released after its last use (del); the backward drops its cache
"""
import functools

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


def _check_number(name, value):
    """A finite real number (a Python, NumPy or 0-d tensor number); returns a float."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = None
    if isinstance(value, bool) or number is None or number != number or abs(number) == float("inf"):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return number


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


def _transformed(t):
    """Whether ``t`` is a value a torch.func transform (vmap, grad, jvp) is tracing, not a plain tensor:
    then no buffer is kept between calls and no storage is inspected.  Never while compiling (the
    compiler traces plain tensors, and the question would break its graph)."""
    return not torch.compiler.is_compiling() and torch._C._functorch.is_functorch_wrapped_tensor(t)


@_no_grad
def forward(X, w, b, *, eps=1e-05):
    """Layer normalisation: returns ``(out, cache)``.

    X: input (..., n_T, d)
    w: parameter (d,): scale
    b: parameter (d,): shift
    eps: configuration, default 1e-05: added to the variance; 0 reproduces the paper
    """
    X = torch.as_tensor(X)
    w = torch.as_tensor(w)
    b = torch.as_tensor(b)
    dtype, compute_dtype = _check_dtypes({"X": X, "w": w, "b": b}, {})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        X = X.to(compute_dtype)
        w = w.to(compute_dtype)
        b = b.to(compute_dtype)
    eps = _check_number("eps", eps)
    dims = {}
    _check_shape("X", X, ("n_T", "d"), dims, batched=True)
    _check_shape("w", w, ("d",), dims, batched=False)
    _check_shape("b", b, ("d",), dims, batched=False)
    d = dims["d"]
    mu = X.sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    mu *= 1/d
    Xc = X - mu  # (..., n_T, d)
    del mu
    var = (Xc * Xc).sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    var *= 1/d
    sigma = var  # (..., n_T, 1), var's array, updated in place
    sigma += eps
    sigma.sqrt_()
    del var
    Xbar = Xc  # (..., n_T, d), Xc's array, updated in place
    Xbar *= torch.reciprocal(sigma)
    del Xc
    Y = Xbar * w  # (..., n_T, d), updated in place
    Y += b
    cache = {"w": w, "sigma": sigma, "Xbar": Xbar, "d": d, "out_shape": Y.shape, "out_dtype": Y.dtype, "dtype": dtype}
    return Y.to(dtype), cache


@_no_grad
def backward(grad_out, cache):
    """Gradients of the loss given ``grad_out`` = ∂L/∂Y: a dict keyed by argument name."""
    w = cache["w"]
    sigma = cache["sigma"]
    Xbar = cache["Xbar"]
    d = cache["d"]
    dtype = cache["dtype"]
    if grad_out.shape != cache["out_shape"]:
        raise ValueError(f"grad_out: expected shape {cache['out_shape']}, got {grad_out.shape}")
    grad_out = grad_out.to(cache["out_dtype"])  # the dtype the forward computed in
    del cache  # each array is released after its last use below
    # grad of Xbar, used in: Y = Xbar ∘ (1 wᵀ) + 1 bᵀ
    dXbar = grad_out * w  # (..., n_T, d)
    # common subexpression
    t1 = torch.reciprocal(sigma)  # (..., n_T, 1)
    # grad of sigma, used in: Xbar = ((1/sigma) 1ᵀ) ∘ Xc
    dsigma = -(t1 * (dXbar * Xbar).sum(-1, keepdim=True))  # (..., n_T, 1)
    # grad of var, used in: sigma = sqrt(eps + var)
    dvar = dsigma  # (..., n_T, 1), dsigma's array, updated in place
    dvar *= t1
    dvar *= 1/2
    del dsigma
    # grad of Xc, used in: var = (1/d) (Xc ∘ Xc) 1; Xbar = ((1/sigma) 1ᵀ) ∘ Xc
    dXc = dXbar  # (..., n_T, d), dXbar's array, updated in place
    dXc *= t1
    dXc.addcmul_(dvar * sigma, Xbar, value=2/d)
    del dXbar, dvar, sigma, t1
    # grad of mu, used in: Xc = X − mu 1ᵀ
    dmu = -dXc.sum(-1, keepdim=True)  # (..., n_T, 1)
    # grad of X, used in: mu = (1/d) X 1; Xc = X − mu 1ᵀ
    dX = dXc  # (..., n_T, d), dXc's array, updated in place
    dX.add_(dmu, alpha=1/d)
    del dXc, dmu
    # grad of w, used in: Y = Xbar ∘ (1 wᵀ) + 1 bᵀ
    dw = (grad_out * Xbar).reshape(-1, d).sum(0)  # (d,)
    del Xbar
    # grad of b, used in: Y = Xbar ∘ (1 wᵀ) + 1 bᵀ
    db = grad_out.reshape(-1, d).sum(0)  # (d,)
    return {
        "X": dX.to(dtype),
        "w": dw.to(dtype),
        "b": db.to(dtype),
    }


@_no_grad
def _jvp_forward(X, w, b, dX, dw, db, *, eps=1e-05):
    """Layer normalisation: returns ``(out, cache)``.

    X: input, frozen (..., n_T, d)
    w: parameter, frozen (d,): scale
    b: parameter, frozen (d,): shift
    eps: configuration, default 1e-05: added to the variance; 0 reproduces the paper
    dX: input, frozen (..., n_T, d): the tangent of X
    dw: parameter, frozen (d,): the tangent of w
    db: parameter, frozen (d,): the tangent of b
    """
    X = torch.as_tensor(X)
    w = torch.as_tensor(w)
    b = torch.as_tensor(b)
    dX = torch.as_tensor(dX)
    dw = torch.as_tensor(dw)
    db = torch.as_tensor(db)
    dtype, compute_dtype = _check_dtypes({"X": X, "w": w, "b": b, "dX": dX, "dw": dw, "db": db}, {})
    if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate
        X = X.to(compute_dtype)
        w = w.to(compute_dtype)
        b = b.to(compute_dtype)
        dX = dX.to(compute_dtype)
        dw = dw.to(compute_dtype)
        db = db.to(compute_dtype)
    eps = _check_number("eps", eps)
    dims = {}
    _check_shape("X", X, ("n_T", "d"), dims, batched="shared")
    _check_shape("w", w, ("d",), dims, batched=False)
    _check_shape("b", b, ("d",), dims, batched=False)
    _check_shape("dX", dX, ("n_T", "d"), dims, batched="shared")
    _check_shape("dw", dw, ("d",), dims, batched=False)
    _check_shape("db", db, ("d",), dims, batched=False)
    X, dX = _broadcast_batches({"X": X, "dX": dX}, {"X": 2, "dX": 2}, dims)
    d = dims["d"]
    mu = X.sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    mu *= 1/d
    Xc = X - mu  # (..., n_T, d)
    del mu
    var = (Xc * Xc).sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    var *= 1/d
    sigma = eps + var  # (..., n_T, 1), updated in place
    sigma.sqrt_()
    Xbar = torch.reciprocal(sigma) * Xc  # (..., n_T, d)
    dmu = dX.sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    dmu *= 1/d
    dXc = dX - dmu  # (..., n_T, d)
    del dmu
    dvar = (dXc * Xc).sum(-1, keepdim=True)  # (..., n_T, 1), updated in place
    dvar += (Xc * dXc).sum(-1, keepdim=True)
    dvar *= 1/d
    dsigma = dvar  # (..., n_T, 1), dvar's array, updated in place
    dsigma *= (1/2)/torch.sqrt(eps + var)
    del dvar, var
    dXbar = Xc  # (..., n_T, d), Xc's array, updated in place
    dXbar *= (-1/sigma**2) * dsigma
    dXbar.addcmul_(torch.reciprocal(sigma), dXc)
    del Xc, dXc, dsigma, sigma
    dY = dXbar  # (..., n_T, d), dXbar's array, updated in place
    dY *= w
    dY.addcmul_(Xbar, dw)
    dY += db
    del Xbar, dXbar
    cache = {"out_shape": dY.shape, "out_dtype": dY.dtype, "dtype": dtype}
    return dY.to(dtype), cache


def jvp(X, w, b, dX=None, dw=None, db=None, *, eps=1e-05):
    """The tangent of Y for the arguments' tangents: forward mode, pushed forward from each
    primitive's differential (``backprop show layernorm --jvp``).

    dX: the tangent of X (its shape; None for zero)
    dw: the tangent of w (its shape; None for zero)
    db: the tangent of b (its shape; None for zero)
    """
    if dX is None:  # no tangent: zero
        dX = torch.zeros_like(torch.as_tensor(X))
    if dw is None:  # no tangent: zero
        dw = torch.zeros_like(torch.as_tensor(w))
    if db is None:  # no tangent: zero
        db = torch.zeros_like(torch.as_tensor(b))
    return _jvp_forward(X, w, b, dX, dw, db, eps=eps)[0]


def _unchanged(t):
    return t


def _recomputed(grad_out, arguments, config):
    """The gradients with the forward computed again from the arguments, autograd on."""
    _, cache = forward.__wrapped__(*arguments, **config)
    return backward.__wrapped__(grad_out, cache)


def _cached(arguments, arrays, constants):
    """The forward's cache from what the Function saved: its arrays, the arguments it holds (in the
    dtype computed in), and its numbers."""
    cache = dict(zip(("sigma", "Xbar",), arrays), **constants)
    cache["w"] = arguments[1].to(constants["out_dtype"])
    return cache


def _cache_constants(X, w, b, *, eps=1e-05):
    """The numbers the backward reads from the cache (sizes, configuration, dtypes), from the arguments'
    shapes and dtypes and the configuration alone: no array is computed."""
    X = torch.as_tensor(X)
    w = torch.as_tensor(w)
    b = torch.as_tensor(b)
    dtype, compute_dtype = _check_dtypes({"X": X, "w": w, "b": b}, {})
    eps = _check_number("eps", eps)
    dims = {}
    _check_shape("X", X, ("n_T", "d"), dims, batched=True)
    _check_shape("w", w, ("d",), dims, batched=False)
    _check_shape("b", b, ("d",), dims, batched=False)
    d = dims["d"]
    return {"d": d, "out_dtype": compute_dtype, "dtype": dtype}


class _LayerNormCached(torch.autograd.Function):
    """The Function itself: its further outputs are the arrays the backward reads (without a gradient);
    ``LayerNormFunction`` gives the output alone."""

    generate_vmap_rule = True

    @staticmethod
    def forward(X, w, b, eps):
        out, cache = forward(X, w, b, eps=eps)
        # each cached array a tensor of its own (detach): one that is also an output stays differentiable there
        return (*_distinct_outputs((out,), (X, w, b,)), cache["sigma"].detach(), cache["Xbar"].detach(),)

    @staticmethod
    def setup_context(ctx, inputs, output):
        X, w, b, eps = inputs
        ctx.mark_non_differentiable(*output[1:])
        ctx.set_materialize_grads(False)  # the cached arrays' gradients stay None, never zeros
        ctx.save_for_backward(X, w, b, *output[1:])
        ctx.save_for_forward(X, w, b)
        ctx.config = {"eps": eps}
        ctx.constants = dict(_cache_constants(X, w, b, eps=eps), out_shape=output[0].shape)

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
            grads["X"] if needs[0] and "X" in grads else None,
            grads["w"] if needs[1] and "w" in grads else None,
            grads["b"] if needs[2] and "b" in grads else None,
            None,  # eps
        )

    @staticmethod
    def jvp(ctx, dX, dw, db, _tangent_3):
        X, w, b = ctx.saved_tensors
        tangents = (dX, dw, db, _tangent_3)
        if any(_transformed(t) for t in tangents if t is not None):  # under torch.func: no update in place
            tangent = torch.func.functionalize(lambda *a: jvp(*a, **ctx.config))(X, w, b, dX, dw, db)
        else:
            tangent = jvp(X, w, b, dX, dw, db, **ctx.config)
        return (tangent,) + (None,) * 2  # the cached arrays carry no gradient


class LayerNormFunction(_LayerNormCached):
    """``LayerNormFunction.apply(X, w, b, eps)`` with the derived backward pass.

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
    def apply(cls, X, w, b, eps):
        """The output."""
        return _LayerNormCached.apply(X, w, b, eps)[0]


class LayerNorm(torch.nn.Module):
    """Layer normalisation owning its parameters (initialised as GPT-2 does)."""

    def __init__(self, d, eps=1e-05, device=None, dtype=None):
        super().__init__()
        self.d = d
        self.eps = eps
        factory = {"device": device, "dtype": dtype}
        self.w = torch.nn.Parameter(torch.ones((d,), **factory), requires_grad=True)
        self.b = torch.nn.Parameter(torch.zeros((d,), **factory), requires_grad=True)

    def forward(self, X):
        _check_shape("X", X, ("n_T", "d"), {"d": self.d}, batched=True)
        return LayerNormFunction.apply(X, self.w, self.b, self.eps)

    def extra_repr(self):
        return f"d={self.d}, eps={self.eps}"
