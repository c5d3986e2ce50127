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


def _first_rows_vjp(G, A, k):
    """Ḡ · dA[:k] = pad(Ḡ) · dA: rows past k get zero."""
    return pad_rows(G, A.shape[0])


def _first_rows_reference(A, k):
    """``A[:k]``, the first k rows (ohe(1..k) A in the paper's notation)."""
    return A[..., :k, :]


def _pad_rows_vjp(G, A, rows):
    """Ḡ · d pad(A) = Ḡ[:k] · dA: the padding receives nothing."""
    return first_rows(G, A.shape[0])


def _pad_rows_reference(A, rows):
    """A (k, d) followed by zero rows up to ``rows``: the adjoint of ``first_rows``."""
    out = A.sum(-2)[..., None, :][..., [0] * rows, :] * 0  # (…, rows, d) of zeros in A's library (A may have no rows)
    out[..., :A.shape[-2], :] = A
    return out


_PAD_NUMPY = '''def _pad_rows(A, rows):
    """A (..., k, d) followed by zero rows up to ``rows``."""
    out = np.zeros(A.shape[:-2] + (rows, A.shape[-1]), dtype=A.dtype)
    out[..., : A.shape[-2], :] = A
    return out'''

_PAD_TORCH = '''def _pad_rows(A, rows):
    """A (..., k, d) followed by zero rows up to ``rows`` (one out-of-place operation, which every
    torch.func transform, forward mode included, can see through)."""
    return torch.nn.functional.pad(A, (0, 0, 0, rows - A.shape[-2]))'''

#: A[:k], the first k rows.
first_rows = define_primitive(
    "first_rows",
    params=("k",),
    sizes=("k",),
    shape=lambda a, k: (k, a[1]),
    vjp=_first_rows_vjp,
    jvp=lambda T, A, k: first_rows(T, k),
    reference=_first_rows_reference,
    numpy="{0}[..., :{1}, :]",
    torch="{0}[..., :{1}, :]",
    notation="{0}[:{1}]",
    latex=lambda a, k: f"{{{a}}}_{{[:{k}]}}",
    linear=True,
    examples=((((4, 3),), (2,), None), (((3, 2),), (3,), 2)),
    builtin=True,
)

#: A (k, d) followed by zero rows up to ``rows``.
pad_rows = define_primitive(
    "pad_rows",
    params=("rows",),
    sizes=("rows",),
    shape=lambda a, rows: (rows, a[1]),
    vjp=_pad_rows_vjp,
    jvp=lambda T, A, rows: pad_rows(T, rows),
    reference=_pad_rows_reference,
    numpy="_pad_rows({0}, {1})",
    torch="_pad_rows({0}, {1})",
    runtime={"numpy": {"pad_rows": _PAD_NUMPY}, "torch": {"pad_rows": _PAD_TORCH}},
    notation="pad_{1}({0})",
    latex=lambda a, rows: rf"\operatorname{{pad}}_{{{rows}}}\left({a}\right)",
    linear=True,
    examples=((((2, 3),), (4,), None), (((1, 2),), (3,), 2)),
    builtin=True,
)
