"""One GPT-2 block (pre-LN): a2 = LN(a1); a3 = MHA(a2); a4 = FC_attProj(a3); a5 = a1 + a4;
a6 = LN(a5); a9 = MLP(a6); a10 = a5 + a9 — composed from the other components' definitions."""
import sympy as sp

from derive.api import Component, add
from derive.components import attention, layernorm, linear, mlp


def build() -> Component:
    c = Component("gpt2_block", "GPT-2 block", "pre-LN: a5 = a1 + attProj(MHA(LN(a1))); a10 = a5 + MLP(LN(a5))",
                  class_name="GPT2Block")
    n_T, d, d_ff = c.dims("n_T d d_ff")
    X = c.input("X", n_T, d, doc="a1, the block's input")
    ln_1_w, ln_1_b = c.param("ln_1_w", d, init="ones"), c.param("ln_1_b", d)
    W_q, b_q = c.param("W_q", d, d), c.param("b_q", d)
    W_k, b_k = c.param("W_k", d, d), c.param("b_k", d)
    W_v, b_v = c.param("W_v", d, d), c.param("b_v", d)
    W_o, b_o = c.param("W_o", d, d, doc="attProj"), c.param("b_o", d)
    ln_2_w, ln_2_b = c.param("ln_2_w", d, init="ones"), c.param("ln_2_b", d)
    W_1, b_1 = c.param("W_1", d, d_ff, doc="expand"), c.param("b_1", d_ff)
    W_2, b_2 = c.param("W_2", d_ff, d, doc="contract"), c.param("b_2", d)
    n_heads = c.integer_config("n_heads", doc="attention heads")
    eps = c.config("eps", 1e-5, doc="LayerNorm epsilon")
    c.activation("activation", "gelu_tanh", ("gelu_tanh", "gelu", "relu"), doc="MLP activation")
    a2 = c.include(layernorm.build(), "ln_1_", {"X": X, "w": ln_1_w, "b": ln_1_b, "eps": eps})
    a3 = c.include(attention.build(), "attn_", {"X": a2, "W_q": W_q, "b_q": b_q, "W_k": W_k, "b_k": b_k,
                                                "W_v": W_v, "b_v": b_v, "n_heads": n_heads, "causal": sp.true})
    a4 = c.include(linear.build(), "proj_", {"X": a3, "W": W_o, "b": b_o})
    a5 = c.let("a5", add(X, a4), doc="first residual")
    a6 = c.include(layernorm.build(), "ln_2_", {"X": a5, "w": ln_2_w, "b": ln_2_b, "eps": eps})
    a9 = c.include(mlp.build(), "mlp_", {"X": a6, "W_1": W_1, "b_1": b_1, "W_2": W_2, "b_2": b_2})
    c.output("Y", add(a5, a9), doc="second residual")
    return c
