"""Rotary embeddings' rotate-half, declared once (``derive.declare``)."""
from __future__ import annotations

import sympy as sp

from ..declare import define_primitive


def _vjp(G, A):
    """Ḡ · R(A) = (Rᵀ Ḡ) · A = −R(Ḡ) · A: [−A₂, A₁]'s adjoint is [Ḡ₂, −Ḡ₁]."""
    return sp.MatMul(-1, rotate_half(G))


def _jvp(T, A):
    """d R(A) = R(dA): R is linear."""
    return rotate_half(T)


def _reference(A):
    """``[−A₂, A₁]`` for A = [A₁, A₂] split at half its columns: rotary embeddings' rotate-half, the
    linear map R with R² = −I and Rᵀ = −R (no d × d permutation matrix is built)."""
    half = A.shape[-1] // 2
    out = A + 0  # a new array (NumPy) or tensor (torch): the reference runs on either
    out[..., :half] = -A[..., half:]
    out[..., half:] = A[..., :half]
    return out


def _even_columns(a):
    return [(sp.Eq(sp.Mod(a[1], 2), 0), f"rotate_half needs an even number of columns, {a[1]}")]


_NUMPY = '''def _rotate_half(A):
    """[−A₂, A₁] for A = [A₁, A₂] split at half its last axis."""
    half = A.shape[-1] // 2
    return np.concatenate((-A[..., half:], A[..., :half]), axis=-1)'''

_TORCH = '''def _rotate_half(A):
    """[−A₂, A₁] for A = [A₁, A₂] split at half its last axis."""
    half = A.shape[-1] // 2
    return torch.cat((-A[..., half:], A[..., :half]), dim=-1)'''

#: [−A₂, A₁] for A = [A₁, A₂] split at half its columns (an even number of them).
rotate_half = define_primitive(
    "rotate_half",
    shape=lambda a: a,
    vjp=_vjp,
    jvp=_jvp,
    reference=_reference,
    numpy="_rotate_half({0})",
    torch="_rotate_half({0})",
    runtime={"numpy": {"rotate_half": _NUMPY}, "torch": {"rotate_half": _TORCH}},
    notation="rotate_half({0})",
    latex=r"\operatorname{{rotate}}\left({0}\right)",
    linear=True,
    requires=_even_columns,
    examples=((((3, 4),), (), None), (((1, 2),), (), 2)),
    builtin=True,
)
