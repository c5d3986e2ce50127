"""One LLaMA decoder layer (pre-norm): h = X + attn(RMSNorm(X)) W_oᵀ; Y = h + SwiGLU(RMSNorm(h)) —
composed from the other components' definitions."""
from derive.api import Component, T, add, matmul
from derive.components import llama_attention, rmsnorm, swiglu


def build() -> Component:
    c = Component("llama_block", "LLaMA decoder layer",
                  "pre-norm: h = X + o_proj(GQA(RMSNorm(X))); Y = h + SwiGLU(RMSNorm(h))", class_name="LlamaBlock")
    n_T, d, d_h, d_ff = c.dims("n_T d d_h d_ff")
    H = c.integer_config("n_heads", doc="query heads")
    H_kv = c.integer_config("n_kv_heads", doc="key and value heads")
    theta = c.config("rope_theta", 10000.0, doc="the rotary embeddings' base")
    eps = c.config("eps", 1e-6, doc="RMSNorm epsilon")
    X = c.input("X", n_T, d, doc="the layer's input (the residual stream)")
    norm_1 = c.param("input_norm_w", d, init="ones", doc="input_layernorm")
    W_q = c.param("W_q", H * d_h, d, doc="q_proj")
    W_k = c.param("W_k", H_kv * d_h, d, doc="k_proj")
    W_v = c.param("W_v", H_kv * d_h, d, doc="v_proj")
    W_o = c.param("W_o", d, H * d_h, doc="o_proj")
    norm_2 = c.param("post_norm_w", d, init="ones", doc="post_attention_layernorm")
    W_gate = c.param("W_gate", d_ff, d, doc="gate_proj")
    W_up = c.param("W_up", d_ff, d, doc="up_proj")
    W_down = c.param("W_down", d, d_ff, doc="down_proj")
    h1 = c.include(rmsnorm.build(), "norm_1_", {"X": X, "w": norm_1, "eps": eps})
    A = c.include(llama_attention.build(), "attn_", {"X": h1, "W_q": W_q, "W_k": W_k, "W_v": W_v, "n_heads": H,
                                                     "n_kv_heads": H_kv, "rope_theta": theta})
    h = c.let("h", add(X, matmul(A, T(W_o))), doc="first residual")
    h2 = c.include(rmsnorm.build(), "norm_2_", {"X": h, "w": norm_2, "eps": eps})
    F = c.include(swiglu.build(), "mlp_", {"X": h2, "W_gate": W_gate, "W_up": W_up, "W_down": W_down})
    c.output("Y", add(h, F), doc="second residual")
    return c
