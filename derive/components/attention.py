"""Multi-head self-attention without output projection (the paper's MHA; GPT-2's c_attn split in q, k, v)."""
import sympy as sp

from derive.api import Component, T, add, causal_zero, matmul, merge_heads, pointwise, rows, scale, softmax, \
    split_heads, x

#: The normalisations of the scores a variant can use: softmax over each row (the paper's), or an
#: entrywise function whose masked entries are set to 0 (rows then need not sum to one).
NORMALISATIONS = {
    "softmax": None,
    "sigmoid": 1 / (1 + sp.exp(-x)),
    "relu": sp.Max(x, 0),
}


def build() -> Component:
    return build_normalised("softmax")


def query_key_value(c: Component):
    """X (..., n_T, d), the projections' weights and biases and n_heads; Q, K, V = X W + 1 bᵀ.

    Returns (n_T, n_heads, Q, K, V); shared by the attention variants.
    """
    n_T, d = c.dims("n_T d")
    X = c.input("X", n_T, d)
    W_q, b_q = c.param("W_q", d, d), c.param("b_q", d)
    W_k, b_k = c.param("W_k", d, d), c.param("b_k", d)
    W_v, b_v = c.param("W_v", d, d), c.param("b_v", d)
    H = c.integer_config("n_heads", doc="number of heads; head h uses column block h")
    c.require(sp.Eq(sp.Mod(d, H), 0), "d must be divisible by n_heads")
    Q = c.let("Q", add(matmul(X, W_q), rows(b_q, n_T)), doc="queries")
    K = c.let("K", add(matmul(X, W_k), rows(b_k, n_T)), doc="keys")
    V = c.let("V", add(matmul(X, W_v), rows(b_v, n_T)), doc="values")
    return n_T, H, Q, K, V


def build_normalised(normalisation: str) -> Component:
    """Multi-head attention with the scores normalised by ``normalisation`` (see ``NORMALISATIONS``)."""
    name = "attention" if normalisation == "softmax" else f"{normalisation}_attention"
    title = "Multi-head attention" if normalisation == "softmax" else f"Multi-head attention, {normalisation} scores"
    formula = "softmax(Q_h K_hᵀ / √d_h)" if normalisation == "softmax" else f"mask({normalisation}(Q_h K_hᵀ / √d_h))"
    classes = {"softmax": "Attention", "sigmoid": "SigmoidAttention", "relu": "ReLUAttention"}
    c = Component(name, title, f"per head h: P = {formula}, A_h = P V_h; A = concat_h A_h",
                  class_name=classes[normalisation])
    n_T, H, Q, K, V = query_key_value(c)
    causal = c.flag("causal", True, doc="position t attends to positions ≤ t only")
    Q_h = c.let("Q_h", split_heads(Q, H))
    K_h = c.let("K_h", split_heads(K, H))
    V_h = c.let("V_h", split_heads(V, H))
    S = c.let("S", scale(1 / sp.sqrt(Q.shape[1] / H), matmul(Q_h, T(K_h))), doc="scores")
    if normalisation == "softmax":
        P = c.let("P", softmax(S, causal), doc="attention probabilities")
    else:
        P = c.let("P", causal_zero(pointwise(NORMALISATIONS[normalisation], S), causal),
                  doc=f"{normalisation} of the scores, masked entries exactly 0")
    c.output("A", merge_heads(matmul(P, V_h), H))
    return c
