"""Row-wise normalisers, declared once (``derive.declare``): the log-sum-exp of each row, whose
derivative is the row's softmax.  (The softmax itself is still a node of ``derive.primitives``: its
in-place helpers, fused kernels and the reuse-log-sum-exp pass key on that node.)"""
from __future__ import annotations

import sympy as sp
from sympy import HadamardProduct, MatMul, OneMatrix

from ..declare import define_primitive
from ..primitives import Softmax


def _vjp(G, arg):
    """Ḡ · d lse(Z) = ((Ḡ 1ᵀ) ∘ softmax(Z)) · dZ."""
    return HadamardProduct(MatMul(G, OneMatrix(1, arg.shape[1])), Softmax(arg, sp.false))


def _jvp(T, arg):
    """d lse(Z) = (softmax(Z) ∘ dZ) 1."""
    return MatMul(HadamardProduct(Softmax(arg, sp.false), T), OneMatrix(arg.shape[1], 1))


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
