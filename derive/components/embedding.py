"""Token and position embedding: X = ohe(idx) W_tok + W_pos[:n_T]."""
import sympy as sp

from derive.api import Component, add, first_rows, gather


def build() -> Component:
    c = Component("embedding", "Token and position embedding", "X = ohe(idx) W_tok + ohe(1..n_T) W_pos")
    n_T, n_vocab, n_context, d = c.dims("n_T n_vocab n_context d")
    idx = c.input("idx", n_T, dtype="int", doc="token indices in [0, n_vocab)")
    W_tok = c.param("W_tok", n_vocab, d, doc="token embeddings")
    W_pos = c.param("W_pos", n_context, d, doc="position embeddings")
    c.require(sp.Le(n_T, n_context), "n_T must be at most n_context")
    c.output("X", add(gather(W_tok, idx), first_rows(W_pos, n_T)))
    return c
