"""LLaMA (LlamaForCausalLM): token embedding, a stack of llama_block, final RMSNorm, logits,
mean next-token cross-entropy — composed from the other components' forward definitions.

No position embedding (the blocks rotate Q and K), no biases.  The blocks are a ``Repeat`` over
``llama_block``; with tied embeddings one sweep sums W_tok's two uses (gather and logits).
Parameter names follow Hugging Face's LlamaForCausalLM without the ``model.`` prefix
(``HF_BLOCK``, ``HF_TOP``); the weights keep nn.Linear's (out, in) layout.
"""
import sympy as sp

from derive.api import Component, T, gather, matmul
from derive.components import cross_entropy, llama_block, rmsnorm

#: Hugging Face key of each llama_block argument (per layer, after ``layers.{i}.``).
HF_BLOCK = {
    "input_norm_w": "input_layernorm.weight",
    "W_q": "self_attn.q_proj.weight", "W_k": "self_attn.k_proj.weight",
    "W_v": "self_attn.v_proj.weight", "W_o": "self_attn.o_proj.weight",
    "post_norm_w": "post_attention_layernorm.weight",
    "W_gate": "mlp.gate_proj.weight", "W_up": "mlp.up_proj.weight", "W_down": "mlp.down_proj.weight",
}
#: Hugging Face key of each top-level argument.
HF_TOP = {"W_tok": "embed_tokens.weight", "norm_w": "norm.weight", "W_head": "lm_head.weight"}


def build(tied: bool = False, output: str = "loss") -> Component:
    """The model's top level: ``output`` "loss" (mean next-token cross-entropy) or "logits"."""
    name = f"llama_{'tied' if tied else 'untied'}_{output}"
    c = Component(name, f"LLaMA ({'tied' if tied else 'untied'} logits), {output}",
                  "X = ohe(idx) W_tok; X = blocks(X); logits = RMSNorm(X) W_headᵀ")
    n_T, n_vocab, d = c.dims("n_T n_vocab d")
    idx = c.input("idx", n_T, dtype="int", doc="token indices")
    W_tok = c.param("W_tok", n_vocab, d, doc="embed_tokens")
    norm_w = c.param("norm_w", d, init="ones", doc="norm")
    W_head = W_tok if tied else c.param("W_head", n_vocab, d, doc="lm_head")
    eps = c.config("eps", 1e-6, doc="RMSNorm epsilon")
    X0 = c.let("X_0", gather(W_tok, idx), doc="token embeddings")
    XL = c.let("X_L", c.stack("blocks", X0, doc="the llama_block stack"), doc="after the last block")
    Xf = c.include(rmsnorm.build(), "norm_", {"X": XL, "w": norm_w, "eps": eps})
    if output == "logits":
        c.output("logits", matmul(Xf, T(W_head)))
        return c
    c.include(cross_entropy.build(), "", {"X": Xf, "W": T(W_head), "b": sp.ZeroMatrix(1, n_vocab), "idx": idx,
                                          "reduction": "mean"}, as_output=True)
    return c


def block() -> Component:
    return llama_block.build()


def parameter_count(n_layer: int, d: int, n_vocab: int, n_heads: int, n_kv_heads: int,
                    head_dim: int | None = None, d_ff: int | None = None, tied: bool = False) -> dict[str, int]:
    """Parameter counts read off the definitions' declared shapes (``per_block`` and ``total``);
    nothing is allocated.  ``head_dim`` defaults to d / n_heads, ``d_ff`` to LLaMA's 8d/3 rounded up
    to a multiple of 8."""
    sizes = {"d": d, "d_h": head_dim or d // n_heads, "d_ff": d_ff or 8 * -(-(8 * d // 3) // 8),
             "n_vocab": n_vocab, "n_heads": n_heads, "n_kv_heads": n_kv_heads}

    def numel(a) -> int:
        table = {s: sizes[str(s)] for dim in a.dims for s in sp.sympify(dim).free_symbols}
        return int(sp.prod([sp.sympify(dim).xreplace(table) for dim in a.dims]))

    blk = block()
    per_block = sum(numel(a) for a in blk.params)
    top = build(tied)
    return {"per_block": per_block, "total": sum(numel(a) for a in top.params) + n_layer * per_block}
