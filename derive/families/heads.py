"""The heads axis, declared once (``derive.declare``): split a value's columns into heads and merge
them back, share grouped-query attention's heads in groups and sum each group (the adjoint).  Each
says how it changes the head count (``heads``), from which the well-formedness check, the sweep and
the printers know which values carry a heads axis."""
from __future__ import annotations

import sympy as sp

from ..declare import define_primitive, sizes_differ


def _quotient(numerator: str, denominator: str) -> str:
    """numerator / denominator as exact integer code (both atomic: the printed heads and groups)."""
    atomic = lambda code: code if code.isidentifier() or code.isdigit() else f"({code})"  # noqa: E731
    return numerator if denominator == "1" else f"{atomic(numerator)} // {atomic(denominator)}"


def _heads_made(own, given, made):
    """The head count of the result, ``made``, from a value split into ``given`` heads (``own``)."""
    if own is None:
        raise ValueError("its argument has no heads to share or sum (split it with split_heads first)")
    if sizes_differ(own, given):
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


def _split_made(own, heads):
    if own is not None:
        raise ValueError("its argument is already split into heads")
    return heads


def _merge_made(own, heads):
    if own is None:
        raise ValueError("its argument has no heads to merge (split it with split_heads first)")
    if sizes_differ(own, heads):
        raise ValueError(f"merges {heads} heads of a value split into {own}")
    return None


def _split_vjp(G, arg, heads):
    """Ḡ · split(A) = merge(Ḡ) · A: the heads' blocks go back to their columns."""
    return merge_heads(G, heads)


def _split_reference(arg, heads):
    """Column block h of A (n, d) for every head h: shape (n, d / heads), heads a batch axis (before the rows)."""
    blocks = arg.reshape(*arg.shape[:-3], arg.shape[-2], heads, arg.shape[-1] // heads)  # (…, n, heads, d_h)
    return blocks.swapaxes(-3, -2)  # (…, heads, n, d_h): the heads axis of size 1 it had is replaced


def _merge_vjp(G, arg, heads):
    """Ḡ · merge(A) = split(Ḡ) · A."""
    return split_heads(G, heads)


def _merge_reference(arg, heads):
    """The heads' blocks (n, d_h) concatenated back in order: shape (n, d_h · heads)."""
    rows = arg.swapaxes(-3, -2)  # (…, n, heads, d_h)
    return rows.reshape(*rows.shape[:-3], 1, rows.shape[-3], heads * rows.shape[-1])  # a heads axis of 1


def _columns_split(a, heads):
    return [(sp.Eq(sp.Mod(a[1], heads), 0), f"{a[1]} columns must split into {heads} heads")]


_SPLIT_NUMPY = '''def _split_heads(A, n_heads):
    """(..., n_T, d) → (..., n_heads, n_T, d / n_heads): head h takes column block h."""
    return A.reshape(*A.shape[:-1], n_heads, A.shape[-1] // n_heads).swapaxes(-2, -3)'''

_SPLIT_TORCH = '''def _split_heads(A, n_heads):
    """(..., n_T, d) → (..., n_heads, n_T, d / n_heads): head h takes column block h, laid out
    head by head once (each product with the heads would otherwise copy them)."""
    return A.reshape(*A.shape[:-1], n_heads, A.shape[-1] // n_heads).swapaxes(-2, -3).contiguous()'''

_MERGE = '''def _merge_heads(A):
    """(..., n_heads, n_T, d_h) → (..., n_T, n_heads · d_h): the heads' blocks side by side."""
    A = A.swapaxes(-2, -3)
    return A.reshape(*A.shape[:-2], A.shape[-2] * A.shape[-1])'''

#: Column block h of A for each head h = 1 … heads, the heads a batch axis: (n, d / heads).
split_heads = define_primitive(
    "split_heads",
    params=("heads",),
    shape=lambda a, heads: (a[0], a[1] / heads),
    vjp=_split_vjp,
    jvp=lambda T, arg, heads: split_heads(T, heads),
    reference=_split_reference,
    numpy="_split_heads({0}, {1})",
    torch="_split_heads({0}, {1})",
    runtime={"numpy": {"split_heads": _SPLIT_NUMPY}, "torch": {"split_heads": _SPLIT_TORCH}},
    notation="split_h({0})",
    latex=r"\operatorname{{split}}_h\left({0}\right)",
    linear=True,
    requires=_columns_split,
    heads=_split_made,
    examples=((((3, 4),), (2,), None), (((2, 3),), (1,), None)),
    builtin=True,
)

#: The heads' blocks side by side again: (n, d_h · heads).
merge_heads = define_primitive(
    "merge_heads",
    params=("heads",),
    shape=lambda a, heads: (a[0], a[1] * heads),
    vjp=_merge_vjp,
    jvp=lambda T, arg, heads: merge_heads(T, heads),
    reference=_merge_reference,
    numpy="_merge_heads({0})",
    torch="_merge_heads({0})",
    runtime={"numpy": {"merge_heads": _MERGE}, "torch": {"merge_heads": _MERGE}},
    notation="merge_h({0})",
    latex=r"\operatorname{{merge}}_h\left({0}\right)",
    linear=True,
    heads=_merge_made,
    examples=((((3, 2),), (2,), 2), (((2, 3),), (1,), 1)),
    builtin=True,
)

SplitHeads, MergeHeads = split_heads.primitive.node, merge_heads.primitive.node
