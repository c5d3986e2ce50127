"""GPT-2 with LoRA adapters (Hu et al.): the base model frozen, W + (alpha / r) A B in place of
each adapted weight — q, k, v, attProj, expand, contract in every block, and the logits layer.

Written by composition, like ``gpt2``: the same component definitions with each adapted weight
bound to its LoRA form, so the adapters' gradients come out of the same reverse sweep.
"""
import sympy as sp

from derive.api import Component, T, add, matmul, scale
from derive.components import attention, cross_entropy, embedding, layernorm, linear, mlp

#: adapter name → the block weight it adapts (the paper's q, k, v, attProj, expand, contract).
BLOCK_ADAPTERS = {"q": "W_q", "k": "W_k", "v": "W_v", "o": "W_o", "fc": "W_1", "proj": "W_2"}


def _adapted(c: Component, W, name: str, alpha, r):
    """W + (alpha / r) A B with trainable A (d_in, r) ~ N(0, 0.02) and B (r, d_out) = 0 at start."""
    d_in, d_out = W.shape
    A = c.param(f"A_{name}", d_in, r, init="normal", doc=f"LoRA down projection of {name}")
    B = c.param(f"B_{name}", r, d_out, init="zeros", doc=f"LoRA up projection of {name}")
    return add(W, scale(alpha / r, matmul(A, B)))


def block() -> Component:
    c = Component("gpt2_lora_block", "GPT-2 block with LoRA adapters", "frozen block, W + (alpha/r) A B")
    n_T, d, d_ff, r = c.dims("n_T d d_ff r")
    X = c.input("X", n_T, d)
    frozen = {}
    for name, dims in (("ln_1_w", (d,)), ("ln_1_b", (d,)), ("W_q", (d, d)), ("b_q", (d,)), ("W_k", (d, d)),
                       ("b_k", (d,)), ("W_v", (d, d)), ("b_v", (d,)), ("W_o", (d, d)), ("b_o", (d,)),
                       ("ln_2_w", (d,)), ("ln_2_b", (d,)), ("W_1", (d, d_ff)), ("b_1", (d_ff,)),
                       ("W_2", (d_ff, d)), ("b_2", (d,))):
        frozen[name] = c.param(name, *dims, frozen=True)
    n_heads = c.integer_config("n_heads", doc="attention heads")
    alpha = c.config("alpha", doc="LoRA scale numerator: adapters are multiplied by alpha / r")
    eps = c.config("eps", 1e-5, doc="LayerNorm epsilon")
    c.activation("activation", "gelu_tanh", ("gelu_tanh", "gelu", "relu"), doc="MLP activation")
    w = {name: _adapted(c, frozen[weight], name, alpha, r) for name, weight in BLOCK_ADAPTERS.items()}
    f = frozen
    a2 = c.include(layernorm.build(), "ln_1_", {"X": X, "w": f["ln_1_w"], "b": f["ln_1_b"], "eps": eps})
    a3 = c.include(attention.build(), "attn_", {"X": a2, "W_q": w["q"], "b_q": f["b_q"], "W_k": w["k"],
                                                "b_k": f["b_k"], "W_v": w["v"], "b_v": f["b_v"],
                                                "n_heads": n_heads, "causal": sp.true})
    a4 = c.include(linear.build(), "proj_", {"X": a3, "W": w["o"], "b": f["b_o"]})
    a5 = c.let("a5", add(X, a4), doc="first residual")
    a6 = c.include(layernorm.build(), "ln_2_", {"X": a5, "w": f["ln_2_w"], "b": f["ln_2_b"], "eps": eps})
    a9 = c.include(mlp.build(), "mlp_", {"X": a6, "W_1": w["fc"], "b_1": f["b_1"], "W_2": w["proj"],
                                         "b_2": f["b_2"]})
    c.output("Y", add(a5, a9), doc="second residual")
    return c


def build(tied: bool = True) -> Component:
    """The LoRA model's top level: frozen embedding and final LayerNorm, a LoRA logits layer."""
    c = Component(f"gpt2_lora_{'tied' if tied else 'untied'}", "GPT-2 with LoRA adapters, loss",
                  "frozen base; logits layer W_headᵀ + (alpha/r) A B")
    n_T, n_vocab, n_context, d, r = c.dims("n_T n_vocab n_context d r")
    idx = c.input("idx", n_T, dtype="int")
    W_tok = c.param("W_tok", n_vocab, d, frozen=True)
    W_pos = c.param("W_pos", n_context, d, frozen=True)
    ln_f_w, ln_f_b = c.param("ln_f_w", d, frozen=True), c.param("ln_f_b", d, frozen=True)
    W_head, b_head = (W_tok, sp.ZeroMatrix(1, n_vocab)) if tied else (
        c.param("W_head", n_vocab, d, frozen=True), c.param("b_head", n_vocab, frozen=True))
    alpha = c.config("alpha", doc="LoRA scale numerator")
    eps = c.config("eps", 1e-5, doc="LayerNorm epsilon")
    X0 = c.include(embedding.build(), "", {"idx": idx, "W_tok": W_tok, "W_pos": W_pos})
    XL = c.let("X_L", c.stack("blocks", X0, doc="the gpt2_lora_block stack"))
    Xf = c.include(layernorm.build(), "ln_f_", {"X": XL, "w": ln_f_w, "b": ln_f_b, "eps": eps})
    head = _adapted(c, T(W_head), "head", alpha, r)
    c.include(cross_entropy.build(), "", {"X": Xf, "W": head, "b": b_head, "idx": idx, "reduction": "mean"},
              as_output=True)
    return c
