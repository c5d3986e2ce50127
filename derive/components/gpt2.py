"""The paper's GPT-2: embedding, a stack of gpt2_block, final LayerNorm, logits, cross-entropy.

The model is a composition of the other components' forward definitions; one
reverse sweep over it sums the two uses of a tied W_tok (gather and logits).
The blocks are a ``Repeat`` over ``gpt2_block``, whose own sweep handles the
residual branches.  Parameter names follow Hugging Face's GPT-2 (see
``HF_LAYOUT``); q, k and v are the three column blocks of ``c_attn``.
"""
import sympy as sp

from derive.api import Component, T, add, matmul, rows
from derive.components import cross_entropy, embedding, gpt2_block, layernorm

#: Hugging Face key of each gpt2_block argument (per layer, after ``h.{i}.``); "c_attn:k" is the
#: k column block of c_attn.
HF_BLOCK = {
    "ln_1_w": "ln_1.weight", "ln_1_b": "ln_1.bias",
    "W_q": "attn.c_attn.weight:0", "b_q": "attn.c_attn.bias:0",
    "W_k": "attn.c_attn.weight:1", "b_k": "attn.c_attn.bias:1",
    "W_v": "attn.c_attn.weight:2", "b_v": "attn.c_attn.bias:2",
    "W_o": "attn.c_proj.weight", "b_o": "attn.c_proj.bias",
    "ln_2_w": "ln_2.weight", "ln_2_b": "ln_2.bias",
    "W_1": "mlp.c_fc.weight", "b_1": "mlp.c_fc.bias",
    "W_2": "mlp.c_proj.weight", "b_2": "mlp.c_proj.bias",
}
#: Hugging Face key of each top-level argument.
HF_TOP = {"W_tok": "wte.weight", "W_pos": "wpe.weight", "ln_f_w": "ln_f.weight", "ln_f_b": "ln_f.bias",
          "W_head": "lm_head.weight", "b_head": "lm_head.bias"}


def build(tied: bool = True, output: str = "loss") -> Component:
    """The model's top level: ``output`` "loss" (mean next-token cross-entropy) or "logits"."""
    name = f"gpt2_{'tied' if tied else 'untied'}_{output}"
    c = Component(name, f"GPT-2 ({'tied' if tied else 'untied'} logits), {output}",
                  "X = embedding(idx); X = blocks(X); logits = LN_f(X) W_headᵀ (+ 1 bᵀ)")
    n_T, n_vocab, n_context, d = c.dims("n_T n_vocab n_context d")
    idx = c.input("idx", n_T, dtype="int", doc="token indices")
    W_tok = c.param("W_tok", n_vocab, d, doc="wte")
    W_pos = c.param("W_pos", n_context, d, doc="wpe")
    ln_f_w, ln_f_b = c.param("ln_f_w", d, init="ones"), c.param("ln_f_b", d)
    W_head, b_head = (W_tok, sp.ZeroMatrix(1, n_vocab)) if tied else (
        c.param("W_head", n_vocab, d, doc="lm_head"), c.param("b_head", n_vocab))
    eps = c.config("eps", 1e-5, doc="LayerNorm epsilon")
    X0 = c.include(embedding.build(), "", {"idx": idx, "W_tok": W_tok, "W_pos": W_pos})
    XL = c.let("X_L", c.stack("blocks", X0, doc="the gpt2_block stack"), doc="after the last block")
    Xf = c.include(layernorm.build(), "ln_f_", {"X": XL, "w": ln_f_w, "b": ln_f_b, "eps": eps})
    if output == "logits":
        logits = matmul(Xf, T(W_head))
        c.output("logits", logits if tied else add(logits, rows(b_head, n_T)))
        return c
    c.include(cross_entropy.build(), "", {"X": Xf, "W": T(W_head), "b": b_head, "idx": idx, "reduction": "mean"},
              as_output=True)
    return c


def block() -> Component:
    return gpt2_block.build()


#: The linear maps LoRA adapts in each block (the paper's q, k, v, attProj, expand, contract).
LORA_BLOCK_WEIGHTS = ("W_q", "W_k", "W_v", "W_o", "W_1", "W_2")


def parameter_count(n_layer: int, d: int, n_context: int, n_vocab: int, tied: bool = True,
                    d_ff: int | None = None, lora_rank: int | None = None) -> dict[str, int]:
    """Parameter counts read off the definitions' declared shapes; nothing is allocated.

    Returns ``per_block``, ``total`` and, with ``lora_rank``, ``lora`` (the
    trainable adapters: A (d_in, r) and B (r, d_out) of ``lora_linear`` on each
    adapted weight of every block and on the logits layer).
    """
    sizes = {"d": d, "d_ff": d_ff or 4 * d, "n_context": n_context, "n_vocab": n_vocab}

    def numel(dims) -> int:
        return int(sp.prod([sp.sympify(x).subs({sp.Symbol(k, positive=True, integer=True): v
                                                for k, v in sizes.items()}) for x in dims]))

    blk = block()
    per_block = sum(numel(a.dims) for a in blk.params)
    top = sum(numel(a.dims) for a in build(tied).params)
    counts = {"per_block": per_block, "total": top + n_layer * per_block}
    if lora_rank is not None:
        from derive.components import lora_linear

        adapter = lora_linear.build()
        r = sp.Symbol("r", positive=True, integer=True)

        def lora(d_in, d_out) -> int:
            table = {sp.Symbol("d_in", positive=True, integer=True): d_in,
                     sp.Symbol("d_out", positive=True, integer=True): d_out, r: lora_rank}
            return sum(int(sp.prod([sp.sympify(x).subs(table) for x in a.dims]))
                       for a in adapter.params if not a.frozen)

        weights = {a.name: [numel([x]) for x in a.dims] for a in blk.params}
        per_block_lora = sum(lora(*weights[w]) for w in LORA_BLOCK_WEIGHTS)
        counts["lora"] = n_layer * per_block_lora + lora(d, n_vocab)
    return counts
