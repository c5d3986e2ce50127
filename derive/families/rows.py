"""Row-wise products, declared once (``derive.declare``): row t of the result reads row t of each
operand only.  Linear attention's running sums of outer products are written with them."""
from __future__ import annotations

import sympy as sp

from ..declare import define_primitive, sizes_differ


def _same_rows(a, b):
    if sizes_differ(a[0], b[0]):
        raise ValueError(f"the operands have {a[0]} and {b[0]} rows; a row-wise product needs the same rows")


def _outer_shape(a, b):
    _same_rows(a, b)
    return (a[0], a[1] * b[1])


def _outer_vjp(G, A, B):
    """Ḡ · d vec(a bᵀ) per row = (G_t b_t) · da_t + (G_tᵀ a_t) · db_t, G_t row t of Ḡ read as p × q."""
    return row_contract(B, row_transpose(G, A.shape[1])), row_contract(A, G)


def _outer_jvp(T, A, B):
    """d rowouter(A, B) = rowouter(dA, B) + rowouter(A, dB)."""
    dA, dB = T
    return sp.MatAdd(row_outer(dA, B), row_outer(A, dB))


def _outer_reference(A, B):
    """Row t is vec(a_t b_tᵀ), a_t and b_t row t of A (n, p) and B (n, q): shape (n, p·q)
    (the row-wise Kronecker product; vec runs over b fastest)."""
    outer = A[..., :, None] * B[..., None, :]  # (…, n, p, q), the leading axes broadcast
    return outer.reshape(*outer.shape[:-2], A.shape[-1] * B.shape[-1])


def _contract_shape(q, table):
    _same_rows(q, table)
    return (q[0], table[1] / q[1])


def _contract_vjp(G, Q, C):
    """Ḡ · d(q_tᵀ C_t) per row = (C_t g_t) · dq_t + vec(q_t g_tᵀ) · dC_t."""
    return row_contract(G, row_transpose(C, Q.shape[1])), row_outer(Q, G)


def _contract_jvp(T, Q, C):
    """d rowcontract(Q, C) = rowcontract(dQ, C) + rowcontract(Q, dC)."""
    dQ, dC = T
    return sp.MatAdd(row_contract(dQ, C), row_contract(Q, dC))


def _contract_reference(Q, C):
    """Row t is q_tᵀ C_t with q_t row t of Q (n, p) and C_t row t of C (n, p·q) read as a p × q
    matrix: shape (n, q)."""
    p = Q.shape[-1]
    matrices = C.reshape(*C.shape[:-1], p, C.shape[-1] // p)  # (…, n, p, q)
    return (Q[..., :, None] * matrices).sum(-2)  # Σ_i q_i C_t[i, :], the leading axes broadcast


def _transpose_vjp(G, C, rows):
    """Ḡ · vec(C_tᵀ) per row = vec(G_tᵀ) · vec(C_t): transposing each row's matrix is its own adjoint."""
    return row_transpose(G, C.shape[1] / rows)


def _transpose_reference(C, rows):
    """Each row of C (n, p·q), read as a p × q matrix (p = ``rows``), transposed: vec(C_tᵀ), shape (n, p·q)."""
    blocks = C.reshape(*C.shape[:-1], rows, C.shape[-1] // rows)
    return blocks.swapaxes(-1, -2).reshape(*C.shape)


_OUTER = '''def _row_outer(A, B):
    """Row t: vec(a_t b_tᵀ), (..., n, p) and (..., n, q) → (..., n, p·q)."""
    outer = A[..., :, None] * B[..., None, :]  # (..., n, p, q): A and B may differ in their batch axes
    return outer.reshape(outer.shape[:-2] + (A.shape[-1] * B.shape[-1],))'''

_CONTRACT = '''def _row_contract(Q, C):
    """Row t: q_tᵀ C_t with row t of C read as a p × r matrix, (..., n, p), (..., n, p·r) → (..., n, r)."""
    p = Q.shape[-1]
    matrices = C.reshape(C.shape[:-1] + (p, C.shape[-1] // p))
    return (Q[..., None, :] @ matrices)[..., 0, :]'''

_TRANSPOSE = '''def _row_transpose(C, rows):
    """Row t: vec(C_tᵀ), row t of C read as a ``rows`` × (columns/rows) matrix."""
    rows = int(rows)  # a size such as d / n_heads, exact
    matrices = C.reshape(C.shape[:-1] + (rows, C.shape[-1] // rows))
    return matrices.swapaxes(-1, -2).reshape(C.shape)'''

#: Row t is vec(a_t b_tᵀ): (n, p) and (n, q) → (n, p·q).
row_outer = define_primitive(
    "row_outer",
    shape=_outer_shape,
    vjp=_outer_vjp,
    jvp=_outer_jvp,
    reference=_outer_reference,
    numpy="_row_outer({0}, {1})",
    torch="_row_outer({0}, {1})",
    runtime={"numpy": {"row_outer": _OUTER}, "torch": {"row_outer": _OUTER}},
    notation="rowouter({0}, {1})",
    latex=r"\operatorname{{rowouter}}\left({0}, {1}\right)",
    linear=True,
    examples=((((3, 2), (3, 3)), (), None), (((1, 1), (1, 2)), (), 2)),
    builtin=True,
)

#: Row t is q_tᵀ C_t, row t of ``table`` read as a p × (columns/p) matrix: (n, p), (n, p·r) → (n, r).
row_contract = define_primitive(
    "row_contract",
    shape=_contract_shape,
    vjp=_contract_vjp,
    jvp=_contract_jvp,
    reference=_contract_reference,
    numpy="_row_contract({0}, {1})",
    torch="_row_contract({0}, {1})",
    runtime={"numpy": {"row_contract": _CONTRACT}, "torch": {"row_contract": _CONTRACT}},
    notation="rowcontract({0}, {1})",
    latex=r"\operatorname{{rowcontract}}\left({0}, {1}\right)",
    linear=True,
    examples=((((3, 2), (3, 6)), (), None), (((2, 1), (2, 2)), (), 2)),
    builtin=True,
)

#: Each row of C (n, p·q), read as a p × q matrix, transposed (``rows`` = p).
row_transpose = define_primitive(
    "row_transpose",
    params=("rows",),
    sizes=("rows",),
    shape=lambda c, rows: c,
    vjp=_transpose_vjp,
    jvp=lambda T, C, rows: row_transpose(T, rows),
    reference=_transpose_reference,
    numpy="_row_transpose({0}, {1})",
    torch="_row_transpose({0}, {1})",
    runtime={"numpy": {"row_transpose": _TRANSPOSE}, "torch": {"row_transpose": _TRANSPOSE}},
    notation="rowT({0})",
    latex=r"\operatorname{{rowT}}\left({0}\right)",
    linear=True,
    examples=((((3, 6),), (2,), None), (((2, 4),), (4,), 2)),
    builtin=True,
)
