"""Routing, declared once (``derive.declare``): the top-k decision of a mixture of experts.

``top_k_mask(S, k)`` is 1 at each row's k largest entries and 0 elsewhere: a decision, piecewise
constant in S, that is never differentiated (as ``torch.topk``'s indices are not): its differential is
zero almost everywhere, so its VJP and JVP are zero and the gradient flows through the values it
selects (the gates of the chosen experts), never through the choice.
"""
from __future__ import annotations

import sympy as sp

from ..declare import define_primitive


def _vjp(G, S, k):
    """Ḡ · d topk(S) = 0: the mask is constant wherever it is differentiable (no tie among the k largest)."""
    return sp.ZeroMatrix(*S.shape)


def _reference(S, k, *, xp):
    """1 at the k largest entries of each row of S (the last axis), 0 elsewhere."""
    if xp.name == "torch":
        return xp.torch.zeros_like(S).scatter_(-1, S.topk(int(k), dim=-1).indices, 1.0)
    import numpy as np

    order = np.argsort(-S, axis=-1, kind="stable")[..., : int(k)]
    mask = np.zeros_like(S)
    np.put_along_axis(mask, order, 1.0, axis=-1)
    return mask


_NUMPY = '''def _top_k_mask(S, k):
    """1 at the k largest entries of each row of S (the last axis), 0 elsewhere: a decision, never
    differentiated."""
    order = np.argpartition(-S, k - 1, axis=-1)[..., :k]
    mask = np.zeros_like(S)
    np.put_along_axis(mask, order, 1.0, axis=-1)
    return mask'''

_TORCH = '''def _top_k_mask(S, k):
    """1 at the k largest entries of each row of S (the last axis), 0 elsewhere: a decision, never
    differentiated (``torch.topk``'s indices)."""
    return torch.zeros_like(S).scatter_(-1, S.topk(k, dim=-1).indices, 1.0)'''


#: 1 at each row's k largest entries of S, 0 elsewhere: top-k routing's decision.
top_k_mask = define_primitive(
    "top_k_mask",
    params=("k",),
    sizes=("k",),
    shape=lambda s, k: s,
    vjp=_vjp,
    jvp=lambda T, S, k: sp.ZeroMatrix(*S.shape),
    reference=_reference,
    numpy="_top_k_mask({0}, {1})",
    torch="_top_k_mask({0}, {1})",
    runtime={"numpy": {"top_k_mask": _NUMPY}, "torch": {"top_k_mask": _TORCH}},
    notation="topk_{1}({0})",
    latex=lambda s, k: rf"\operatorname{{topk}}_{{{k}}}\left({s}\right)",
    requires=lambda s, k: [(sp.Le(k, s[1]), f"top-k routing picks at most {s[1]} of {s[1]} columns, k = {k}")],
    examples=((((3, 4),), (2,), None), (((2, 3),), (1,), None), (((2, 3),), (3,), 2)),
    builtin=True,
)
