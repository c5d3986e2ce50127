"""Sums over the tokens up to each one, declared once (``derive.declare``): causal linear attention's
running sums."""
from __future__ import annotations

import sympy as sp

from ..declare import define_primitive


def _vjp(G, A, reverse):
    """Ḡ · d(L A) = (Lᵀ Ḡ) · dA: the cotangent of a prefix sum is the reverse prefix sum (and back)."""
    return prefix_sum(G, sp.Not(reverse))


def _reference(A, reverse):
    """``cumsum(A)``: row t is Σ_{s ≤ t} A_s (the sum over tokens up to t); with ``reverse``,
    Σ_{s ≥ t} A_s.  In the paper's notation, L A with L the lower-triangular all-ones matrix
    (Lᵀ A for ``reverse``), never built."""
    running = A.cumsum(-2)
    return A.sum(-2)[..., None, :] - running + A if reverse else running  # from the end: the total less before t


def _text(a, reverse):
    return f"{'revcumsum' if reverse == 'True' else 'cumsum'}({a})"


def _latex(a, reverse):
    name = "revcumsum" if reverse == "True" else "cumsum"
    return rf"\operatorname{{{name}}}\left({a}\right)"


_NUMPY = '''def _prefix_sum(A, reverse):
    """Row t: Σ_{s ≤ t} A_s over the tokens (the second-to-last axis); with ``reverse``, Σ_{s ≥ t} A_s."""
    if reverse:
        return np.flip(np.cumsum(np.flip(A, -2), axis=-2), -2)
    return np.cumsum(A, axis=-2)'''

_TORCH = '''def _prefix_sum(A, reverse):
    """Row t: Σ_{s ≤ t} A_s over the tokens (the second-to-last axis); with ``reverse``, Σ_{s ≥ t} A_s."""
    if reverse:
        return torch.flip(torch.cumsum(torch.flip(A, (-2,)), dim=-2), (-2,))
    return torch.cumsum(A, dim=-2)'''

_prefix_sum = define_primitive(
    "prefix_sum",
    params=("reverse",),
    shape=lambda a, reverse: a,
    vjp=_vjp,
    jvp=lambda T, A, reverse: prefix_sum(T, reverse),
    reference=_reference,
    numpy="_prefix_sum({0}, reverse={1})",
    torch="_prefix_sum({0}, reverse={1})",
    runtime={"numpy": {"prefix_sum": _NUMPY}, "torch": {"prefix_sum": _TORCH}},
    notation=_text,
    latex=_latex,
    linear=True,
    examples=((((4, 3),), (sp.false,), None), (((3, 2),), (sp.true,), 2)),
    builtin=True,
)


def prefix_sum(a, reverse=sp.false):
    """cumsum over tokens: row t is Σ_{s ≤ t} A_s (with ``reverse``, Σ_{s ≥ t} A_s)."""
    return _prefix_sum(a, reverse)


PrefixSum = _prefix_sum.primitive.node
