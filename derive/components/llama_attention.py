"""Grouped-query self-attention with rotary position embeddings (LLaMA's), without output projection.

Q is split into n_heads heads, K and V into n_kv_heads heads of the same width d_h (its own
dimension: d_h · n_heads need not be d); each key and value head is shared by n_heads / n_kv_heads
consecutive query heads (n_kv_heads = n_heads: multi-head; 1: multi-query).  Q and K are rotated
by the angles t · θ^(−2i/d_h) of their positions before the scores; no biases.  The weights are in
nn.Linear's (out, in) layout, as Hugging Face stores them.
"""
import sympy as sp

from derive.api import (
    Component,
    T,
    add,
    hadamard,
    matmul,
    merge_heads,
    pointwise,
    rotary_angles,
    rotate_half,
    scale,
    share_heads,
    softmax,
    split_heads,
    x,
)


def build() -> Component:
    c = Component("llama_attention", "Grouped-query attention with rotary embeddings",
                  "per head h: Q_h, K_h rotated, P = softmax(Q_h K_gᵀ / √d_h), A_h = P V_g (g the group of h)",
                  class_name="LlamaAttention")
    n_T, d, d_h = c.dims("n_T d d_h")
    H = c.integer_config("n_heads", doc="query heads")
    H_kv = c.integer_config("n_kv_heads", doc="key and value heads, each shared by n_heads / n_kv_heads query heads")
    theta = c.config("rope_theta", 10000.0, doc="the rotary embeddings' base")
    X = c.input("X", n_T, d)
    W_q = c.param("W_q", H * d_h, d, doc="q_proj")
    W_k = c.param("W_k", H_kv * d_h, d, doc="k_proj")
    W_v = c.param("W_v", H_kv * d_h, d, doc="v_proj")
    Q_h = c.let("Q_h", split_heads(matmul(X, T(W_q)), H), doc="queries, per head")
    K_h = c.let("K_h", split_heads(matmul(X, T(W_k)), H_kv), doc="keys, per key head")
    V_h = c.let("V_h", split_heads(matmul(X, T(W_v)), H_kv), doc="values, per key head")
    angles = rotary_angles(n_T, d_h, theta)
    cos = c.let("cos", pointwise(sp.cos(x), angles), doc="cos of the rotary angles (n_T, d_h)")
    sin = c.let("sin", pointwise(sp.sin(x), angles), doc="sin of the rotary angles (n_T, d_h)")
    Q_r = c.let("Q_r", add(hadamard(Q_h, cos), hadamard(rotate_half(Q_h), sin)), doc="rotated queries")
    K_r = c.let("K_r", add(hadamard(K_h, cos), hadamard(rotate_half(K_h), sin)), doc="rotated keys")
    K_s = c.let("K_s", share_heads(K_r, H_kv, H), doc="each key head shared by its group of query heads")
    V_s = c.let("V_s", share_heads(V_h, H_kv, H), doc="each value head shared by its group")
    S = c.let("S", scale(1 / sp.sqrt(d_h), matmul(Q_r, T(K_s))), doc="scores")
    P = c.let("P", softmax(S, sp.true), doc="causal attention probabilities")
    c.output("A", merge_heads(matmul(P, V_s), H))
    return c
