"""Grouped-query attention's heads shared in groups, and the adjoint that sums each group, declared
once (``derive.declare``).  Split and merge, which make and remove the heads axis, are the sweep's
own nodes (``derive.primitives``)."""
from __future__ import annotations

import sympy as sp

from ..declare import define_primitive


def _quotient(numerator: str, denominator: str) -> str:
    """numerator / denominator as exact integer code (both atomic: the printed heads and groups)."""
    atomic = lambda code: code if code.isidentifier() or code.isdigit() else f"({code})"  # noqa: E731
    return numerator if denominator == "1" else f"{atomic(numerator)} // {atomic(denominator)}"


def _heads_made(own, given, made):
    """The head count of the result, ``made``, from a value split into ``given`` heads (``own``)."""
    if own is None:
        raise ValueError("its argument has no heads to share or sum (split it with split_heads first)")
    if own != given and sp.simplify(sp.sympify(own) - given) != 0:
        raise ValueError(f"expects a value split into {given} heads, got one split into {own}")
    return made


def _multiple(heads, groups):
    return [(sp.Eq(sp.Mod(heads, groups), 0), f"{heads} must be a multiple of {groups} (heads shared in groups)")]


def _share_vjp(G, A, groups, heads):
    """Ḡ · share(A) = sum_groups(Ḡ) · A: each shared head receives the sum of its group's cotangents."""
    return sum_groups(G, heads, groups)


def _share_reference(A, groups, heads):
    """Each of the ``groups`` heads of A shared by heads / groups consecutive heads:
    (…, groups, n, d) → (…, heads, n, d).  Grouped-query attention's keys and values (one group:
    multi-query; as many groups as heads: multi-head); no expander matrix is built."""
    k = heads // groups
    return A[..., [h // k for h in range(heads)], :, :]  # kv head j serves query heads j·k … j·k + k − 1


def _sum_vjp(G, A, heads, groups):
    """Ḡ · sum_groups(A) = share(Ḡ) · A: every head of a group receives its group's cotangent."""
    return share_heads(G, groups, heads)


def _sum_reference(A, heads, groups):
    """Each group of heads / groups consecutive heads of A summed: (…, heads, n, d) → (…, groups, n, d);
    the adjoint of ``share_heads``."""
    return A.reshape(*A.shape[:-3], groups, heads // groups, *A.shape[-2:]).sum(-3)


_SHARE_NUMPY = '''def _share_heads(A, group):
    """(..., groups, n_T, d) → (..., groups · group, n_T, d): each head shared by ``group`` consecutive heads."""
    return np.repeat(A, group, axis=-3)'''

_SHARE_TORCH = '''def _share_heads(A, group):
    """(..., groups, n_T, d) → (..., groups · group, n_T, d): each head shared by ``group`` consecutive heads."""
    return A.repeat_interleave(group, dim=-3)'''

_SUM_NUMPY = '''def _sum_groups(A, groups):
    """(..., heads, n_T, d) → (..., groups, n_T, d): the sum over each group of heads / groups consecutive heads."""
    return A.reshape(*A.shape[:-3], groups, A.shape[-3] // groups, *A.shape[-2:]).sum(axis=-3)'''

_SUM_TORCH = '''def _sum_groups(A, groups):
    """(..., heads, n_T, d) → (..., groups, n_T, d): the sum over each group of heads / groups consecutive heads."""
    return A.reshape(*A.shape[:-3], groups, A.shape[-3] // groups, *A.shape[-2:]).sum(-3)'''

#: A split into ``groups`` heads, each shared by heads / groups consecutive heads: grouped-query
#: attention's keys and values (groups = 1: multi-query; groups = heads: multi-head).
share_heads = define_primitive(
    "share_heads",
    params=("groups", "heads"),
    shape=lambda a, groups, heads: a,
    vjp=_share_vjp,
    jvp=lambda T, A, groups, heads: share_heads(T, groups, heads),
    reference=_share_reference,
    numpy=lambda a, groups, heads: f"_share_heads({a}, {_quotient(heads, groups)})",
    torch=lambda a, groups, heads: f"_share_heads({a}, {_quotient(heads, groups)})",
    runtime={"numpy": {"share_heads": _SHARE_NUMPY}, "torch": {"share_heads": _SHARE_TORCH}},
    notation="share_{2}({0})",
    latex=r"\operatorname{{share}}_{{{2}}}\left({0}\right)",
    linear=True,
    requires=lambda a, groups, heads: _multiple(heads, groups),
    heads=lambda own, groups, heads: _heads_made(own, groups, heads),
    examples=((((3, 2),), (2, 4), 2), (((2, 3),), (1, 3), 1)),
    builtin=True,
)

#: Each group of heads / groups consecutive heads summed (the adjoint of ``share_heads``).
sum_groups = define_primitive(
    "sum_groups",
    params=("heads", "groups"),
    shape=lambda a, heads, groups: a,
    vjp=_sum_vjp,
    jvp=lambda T, A, heads, groups: sum_groups(T, heads, groups),
    reference=_sum_reference,
    numpy="_sum_groups({0}, {2})",
    torch="_sum_groups({0}, {2})",
    runtime={"numpy": {"sum_groups": _SUM_NUMPY}, "torch": {"sum_groups": _SUM_TORCH}},
    notation="sum_groups_{2}({0})",
    latex=r"\operatorname{{sumgroups}}_{{{2}}}\left({0}\right)",
    linear=True,
    requires=lambda a, heads, groups: _multiple(heads, groups),
    heads=lambda own, heads, groups: _heads_made(own, heads, groups),
    examples=((((3, 2),), (4, 2), 4), (((2, 3),), (3, 3), 3)),
    builtin=True,
)
