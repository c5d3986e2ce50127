"""Multi-head self-attention without output projection (the paper's MHA; GPT-2's c_attn split in q, k, v)."""
import sympy as sp

from derive.api import Component, T, add, matmul, merge_heads, rows, scale, softmax, split_heads


def build() -> Component:
    c = Component("attention", "Multi-head attention",
                  "per head h: P = softmax(Q_h K_hᵀ / √d_h), A_h = P V_h; A = concat_h A_h", class_name="Attention")
    n_T, d = c.dims("n_T d")
    X = c.input("X", n_T, d)
    W_q, b_q = c.param("W_q", d, d), c.param("b_q", d)
    W_k, b_k = c.param("W_k", d, d), c.param("b_k", d)
    W_v, b_v = c.param("W_v", d, d), c.param("b_v", d)
    H = c.integer_config("n_heads", doc="number of heads; head h uses column block h")
    causal = c.flag("causal", True, doc="position t attends to positions ≤ t only")
    c.require(sp.Eq(sp.Mod(d, H), 0), "d must be divisible by n_heads")
    Q = c.let("Q", add(matmul(X, W_q), rows(b_q, n_T)), doc="queries")
    K = c.let("K", add(matmul(X, W_k), rows(b_k, n_T)), doc="keys")
    V = c.let("V", add(matmul(X, W_v), rows(b_v, n_T)), doc="values")
    Q_h = c.let("Q_h", split_heads(Q, H))
    K_h = c.let("K_h", split_heads(K, H))
    V_h = c.let("V_h", split_heads(V, H))
    S = c.let("S", scale(1 / sp.sqrt(d / H), matmul(Q_h, T(K_h))), doc="scores")
    P = c.let("P", softmax(S, causal), doc="attention probabilities")
    c.output("A", merge_heads(matmul(P, V_h), H))
    return c
