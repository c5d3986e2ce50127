"""Mixtral's sparse mixture of experts (Hugging Face's MixtralSparseMoeBlock): a router picks the top k
of n_experts SwiGLU experts for each token, and the token's output is their sum weighted by the
renormalised router probabilities.

    P = softmax(X W_routerᵀ)                  router probabilities (n_T, n_experts)
    gates = renormalised topk_k(P) ∘ P        the chosen experts' probabilities, summing to 1 per token
    Y = Σ_e diag(gates_e) SwiGLU_e(X)

The weights are in Hugging Face's layout: the router's (n_experts, d) and one (out, in) matrix per
expert, the count first (``experts.gate_up_proj`` holds W_gate then W_up along its rows, and
``experts.down_proj`` is W_down).  Every expert is computed for every token and the unchosen ones
weighted by 0: the choice itself is never differentiated; the gradient flows through the gates.
"""
from derive.activations import SILU
from derive.api import (Component, T, cols, elementwise, hadamard, head_sum, matmul, pointwise, row_sum,
                        softmax, split_heads, top_k_mask, x)


def build() -> Component:
    c = Component("mixtral_moe", "Mixtral sparse mixture of experts",
                  "P = softmax(X W_routerᵀ); gates = topk(P) ∘ P renormalised; Y = Σ_e diag(gates_e) SwiGLU_e(X)",
                  class_name="MixtralSparseMoE")
    n_T, d, d_ff = c.dims("n_T d d_ff")
    E = c.integer_config("n_experts", 8, doc="num_local_experts")
    k = c.integer_config("top_k", 2, doc="num_experts_per_tok: experts chosen per token")
    X = c.input("X", n_T, d)
    W_router = c.param("W_router", E, d, doc="gate.weight")
    W_gate = c.param("W_gate", E, d_ff, d, doc="experts.gate_up_proj[:, :d_ff]")
    W_up = c.param("W_up", E, d_ff, d, doc="experts.gate_up_proj[:, d_ff:]")
    W_down = c.param("W_down", E, d, d_ff, doc="experts.down_proj")
    P = c.let("P", softmax(matmul(X, T(W_router))), doc="router probabilities")
    chosen = c.let("chosen", hadamard(top_k_mask(P, k), P), doc="the k largest probabilities, the rest 0")
    gates = c.let("gates", hadamard(cols(pointwise(1 / x, row_sum(chosen)), E), chosen),
                  doc="renormalised to sum to 1 per token")
    g = c.let("g", split_heads(gates, E), doc="each expert's gate, a column per expert")
    gate = c.let("gate", matmul(X, T(W_gate)), doc="each expert's gate pre-activation")
    up = c.let("up", matmul(X, T(W_up)), doc="each expert's up projection")
    H = c.let("H", hadamard(elementwise(SILU, gate), up), doc="each expert's gated hidden layer")
    Y_e = c.let("Y_e", matmul(H, T(W_down)), doc="each expert's output")
    c.output("Y", head_sum(hadamard(cols(g, d), Y_e), E))
    return c
