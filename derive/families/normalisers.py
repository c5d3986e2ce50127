"""Row-wise normalisers, declared once (``derive.declare``): the softmax of each row (optionally
causal) and the log-sum-exp, whose derivative is the softmax."""
from __future__ import annotations

import sympy as sp
from sympy import HadamardProduct, MatAdd, MatMul, OneMatrix

from ..declare import define_primitive, sizes_differ


def _softmax_shape(s, causal):
    if causal != sp.false and sizes_differ(s[0], s[1]):
        raise ValueError(f"a causal mask needs a square value, got ({s[0]}, {s[1]})")
    return s


def _softmax_vjp(G, arg, causal):
    """Ḡ · d softmax(S) = (P ∘ (Ḡ − ((P ∘ Ḡ) 1) 1ᵀ)) · dS, P = softmax(S) (masked entries of P are 0)."""
    P, m = _softmax(arg, causal), arg.shape[1]
    row_dot = MatMul(HadamardProduct(P, G), OneMatrix(m, 1))
    return HadamardProduct(P, MatAdd(G, MatMul(-1, row_dot, OneMatrix(1, m))))


def _softmax_jvp(T, arg, causal):
    """d softmax(S) = P ∘ (dS − ((P ∘ dS) 1) 1ᵀ): each row's Jacobian diag(p) − p pᵀ is symmetric, so
    the tangent map is the cotangent map."""
    return _softmax_vjp(T, arg, causal)


def _softmax_reference(arg, causal, *, xp):
    """``softmax(S)`` over each row; with ``causal``, row t sees columns ≤ t only: masked entries get
    probability exactly 0 (−∞ added before the exponential)."""
    if causal:
        arg = xp.fill(arg, xp.upper(*arg.shape[-2:]), float("-inf"))
    return xp.softmax(arg)


def _softmax_text(arg, causal):
    return f"softmax({arg})" if causal == "False" else f"softmax[{causal}]({arg})"


_SOFTMAX_NUMPY = '''def _softmax(S, causal, fresh=False):
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
    return E'''

_SOFTMAX_TORCH = '''def _softmax(S, causal, fresh=False):
    """Softmax over the last axis; with ``causal``, entry (t, s > t) gets probability exactly 0.

    ``fresh``: ``S`` is a new array nothing else reads, and the mask is applied in it.
    """
    if causal:
        mask = _causal_mask(S.shape[-1], S.device)
        S = S.masked_fill_(mask, float("-inf")) if fresh else S.masked_fill(mask, float("-inf"))
    return torch.softmax(S, dim=-1)'''

_softmax = define_primitive(
    "softmax",
    params=("causal",),
    shape=_softmax_shape,
    vjp=_softmax_vjp,
    jvp=_softmax_jvp,
    reference=_softmax_reference,
    numpy="_softmax({0}, {1})",
    torch="_softmax({0}, {1})",
    runtime={"numpy": {"softmax": _SOFTMAX_NUMPY}, "torch": {"softmax": _SOFTMAX_TORCH}},
    notation=_softmax_text,
    latex=r"\operatorname{{softmax}}\left({0}\right)",
    examples=((((3, 3),), (sp.true,), None), (((2, 4),), (sp.false,), None), (((2, 2),), (sp.true,), 2)),
    builtin=True,
)

Softmax = _softmax.primitive.node


def softmax(s, causal=sp.false):
    """softmax over each row of S; ``causal`` (a configuration symbol or a bool) masks columns > row."""
    return _softmax(s, causal)


def _vjp(G, arg):
    """Ḡ · d lse(Z) = ((Ḡ 1ᵀ) ∘ softmax(Z)) · dZ."""
    return HadamardProduct(MatMul(G, OneMatrix(1, arg.shape[1])), softmax(arg))


def _jvp(T, arg):
    """d lse(Z) = (softmax(Z) ∘ dZ) 1."""
    return MatMul(HadamardProduct(softmax(arg), T), OneMatrix(arg.shape[1], 1))


def _reference(arg, *, xp):
    """``log Σ_j exp(Z_ij)`` for each row i, shape (n, 1): one line of the library the reference
    runs on (``xp``, torch's or NumPy's)."""
    return xp.logsumexp(arg)


_NUMPY = '''def _logsumexp(Z):
    """log Σ exp over the last axis, stable for large logits (keeps that axis)."""
    m = Z.max(axis=-1, keepdims=True)
    E = Z - m
    np.exp(E, out=E)  # in the array just made: one array of Z's size, not two
    return m + np.log(E.sum(axis=-1, keepdims=True))'''

_TORCH = '''def _logsumexp(Z):
    """log Σ exp over the last axis, stable for large logits (keeps that axis)."""
    return torch.logsumexp(Z, dim=-1, keepdim=True)'''

logsumexp = define_primitive(
    "logsumexp",
    shape=lambda arg: (arg[0], 1),
    vjp=_vjp,
    jvp=_jvp,
    reference=_reference,
    numpy="_logsumexp({0})",
    torch="_logsumexp({0})",
    runtime={"numpy": {"logsumexp": _NUMPY}, "torch": {"logsumexp": _TORCH}},
    notation="lse({0})",
    latex=r"\operatorname{{lse}}\left({0}\right)",
    examples=((((3, 4),), (), None), (((2, 1),), (), 2)),
    builtin=True,
)
logsumexp.__doc__ = "log Σ exp over each row of Z, shape (n, 1)."

LogSumExp = logsumexp.primitive.node
