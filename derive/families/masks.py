"""The causal mask for normalisations that are not a softmax, declared once (``derive.declare``).
The softmax's own mask (−∞ before the exponential) is part of the softmax."""
from __future__ import annotations

import sympy as sp

from ..declare import define_primitive, sizes_differ


def _square(a, causal):
    if sizes_differ(a[0], a[1]):
        raise ValueError(f"a causal mask needs a square value, got ({a[0]}, {a[1]})")
    return a


def _vjp(G, A, causal):
    """Ḡ · d mask(A) = mask(Ḡ) · dA: the masked entries (above the diagonal) pass no gradient."""
    return _causal_zero(G, causal)


def _reference(A, causal):
    """``A`` with every entry above the diagonal set to exactly 0 when ``causal`` holds (else ``A``).

    The causal mask for normalisations that are not a softmax (sigmoid, ReLU): masked entries
    contribute nothing, as the softmax's −∞ makes them."""
    if not causal:
        return A
    out = A + 0  # a new array (NumPy) or tensor (torch)
    for t in range(A.shape[-2]):
        out[..., t, t + 1:] = 0  # row t sees columns s ≤ t
    return out


_NUMPY = '''def _causal_zero(A, causal):
    """A with every entry above the diagonal set to exactly 0 when ``causal`` (position t sees s ≤ t)."""
    if not causal:
        return A
    return np.where(_causal_mask(A.shape[-1]), 0, A)'''

_TORCH = '''def _causal_zero(A, causal):
    """A with every entry above the diagonal set to exactly 0 when ``causal`` (position t sees s ≤ t)."""
    if not causal:
        return A
    return A.masked_fill(_causal_mask(A.shape[-1], A.device), 0)'''

_causal_zero = define_primitive(
    "causal_zero",
    params=("causal",),
    shape=_square,
    vjp=_vjp,
    jvp=lambda T, A, causal: _causal_zero(T, causal),
    reference=_reference,
    numpy="_causal_zero({0}, {1})",
    torch="_causal_zero({0}, {1})",
    runtime={"numpy": {"causal_zero": _NUMPY}, "torch": {"causal_zero": _TORCH}},
    notation="mask[{1}]({0})",
    latex=r"\operatorname{{mask}}\left({0}\right)",
    linear=True,
    examples=((((3, 3),), (sp.true,), None), (((2, 2),), (sp.false,), 2), (((1, 1),), (sp.true,), None)),
    builtin=True,
)

CausalZero = _causal_zero.primitive.node


def causal_zero(a, causal=sp.true):
    """A with the entries above the diagonal set to 0 when ``causal`` holds (a square A)."""
    return _causal_zero(a, causal)
