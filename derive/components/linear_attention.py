"""Linear (kernelised) attention: the paper's third open question, derived.

A = diag(φ(Q) (φ(K)ᵀ 1))⁻¹ φ(Q) (φ(K)ᵀ V) per head, φ a positive feature map.  Neither the
forward nor the derived backward builds an n_T × n_T array: the non-causal form by ordering
its matrix chains by cost (φ(K)ᵀ V first, a d_h × d_h matrix), the causal form through prefix
sums over tokens of the rows' outer products φ(k_s) v_sᵀ (the adjoint of a prefix sum is the
reverse prefix sum).
"""
from derive.api import (
    Component,
    T,
    cols,
    elementwise,
    hadamard,
    matmul,
    merge_heads,
    pointwise,
    prefix_sum,
    row_contract,
    row_outer,
    row_sum,
    split_heads,
    x,
)
from derive.components.attention import query_key_value


def _projections(c):
    n_T, H, Q, K, V = query_key_value(c)
    phi = c.activation("feature_map", "elu_plus_one", ("elu_plus_one", "softplus"), doc="positive feature map φ")
    phi_Q = c.let("phi_Q", elementwise(phi, split_heads(Q, H)), doc="φ(Q_h)")
    phi_K = c.let("phi_K", elementwise(phi, split_heads(K, H)), doc="φ(K_h)")
    V_h = c.let("V_h", split_heads(V, H))
    return c, H, phi_Q, phi_K, V_h


def _normalise(c, H, numerator, denominator):
    d_h = numerator.shape[1]
    A_h = c.let("A_h", hadamard(cols(pointwise(1 / x, denominator), d_h), numerator),
                doc="each row divided by its normaliser")
    c.output("A", merge_heads(A_h, H))
    return c


def build() -> Component:
    c = Component("linear_attention", "Linear attention (non-causal)",
                  "per head: A_h = diag(φ(Q_h) (φ(K_h)ᵀ 1))⁻¹ φ(Q_h) (φ(K_h)ᵀ V_h)", class_name="LinearAttention")
    c, H, phi_Q, phi_K, V_h = _projections(c)
    numerator = c.let("num", matmul(phi_Q, T(phi_K), V_h), doc="φ(Q) φ(K)ᵀ V, ordered by cost")
    denominator = c.let("den", matmul(phi_Q, row_sum(T(phi_K))), doc="φ(Q) (φ(K)ᵀ 1)")
    return _normalise(c, H, numerator, denominator)


def build_causal() -> Component:
    c = Component("causal_linear_attention", "Linear attention (causal)",
                  "per head: a_t = φ(q_t)ᵀ Σ_s≤t φ(k_s) v_sᵀ / φ(q_t)ᵀ Σ_s≤t φ(k_s)",
                  class_name="CausalLinearAttention")
    c, H, phi_Q, phi_K, V_h = _projections(c)
    states = c.let("states", prefix_sum(row_outer(phi_K, V_h)), doc="Σ_s≤t vec(φ(k_s) v_sᵀ)")
    sums = c.let("sums", prefix_sum(phi_K), doc="Σ_s≤t φ(k_s)")
    numerator = c.let("num", row_contract(phi_Q, states), doc="φ(q_t)ᵀ S_t")
    denominator = c.let("den", row_sum(hadamard(phi_Q, sums)), doc="φ(q_t)ᵀ z_t")
    return _normalise(c, H, numerator, denominator)
