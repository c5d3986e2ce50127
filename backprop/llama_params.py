"""LLaMA parameters in Hugging Face layout: initialisation, and a torch autograd reference model.

The reference is written with torch's own operations (``F.rms_norm``, ``F.silu``,
``F.scaled_dot_product_attention(..., enable_gqa=True)``, ``F.cross_entropy``) straight from
LlamaForCausalLM's state dict without the ``model.`` prefix; autograd differentiates it.  It is
the authority the generated model is checked against, and the eager baseline of the benchmark.
"""
from __future__ import annotations

import numpy as np

#: The blocks' parameters, after ``layers.{i}.``, as (out, in) multiples: "q" is n_heads · d_h,
#: "kv" n_kv_heads · d_h, "d" the model width and "ff" the SwiGLU width.
BLOCK_SHAPES = {
    "input_layernorm.weight": ("d",),
    "self_attn.q_proj.weight": ("q", "d"), "self_attn.k_proj.weight": ("kv", "d"),
    "self_attn.v_proj.weight": ("kv", "d"), "self_attn.o_proj.weight": ("d", "q"),
    "post_attention_layernorm.weight": ("d",),
    "mlp.gate_proj.weight": ("ff", "d"), "mlp.up_proj.weight": ("ff", "d"), "mlp.down_proj.weight": ("d", "ff"),
}


def parameter_shapes(n_layer: int, d: int, n_vocab: int, n_heads: int, n_kv_heads: int,
                     head_dim: int | None = None, d_ff: int | None = None, tied: bool = False) -> dict[str, tuple]:
    """Hugging Face key → shape of every parameter, in LlamaForCausalLM's order (``model.`` dropped)."""
    head_dim = head_dim or d // n_heads
    sizes = {"d": d, "q": n_heads * head_dim, "kv": n_kv_heads * head_dim, "ff": d_ff or _swiglu_width(d)}
    shapes = {"embed_tokens.weight": (n_vocab, d)}
    for i in range(n_layer):
        shapes |= {f"layers.{i}.{k}": tuple(sizes[s] for s in v) for k, v in BLOCK_SHAPES.items()}
    shapes["norm.weight"] = (d,)
    if not tied:
        shapes["lm_head.weight"] = (n_vocab, d)
    return shapes


def _swiglu_width(d: int) -> int:
    """LLaMA's hidden width: 2/3 of 4d, rounded up to a multiple of 8."""
    return 8 * -(-(8 * d // 3) // 8)


def init_params(rng: np.random.Generator, n_layer: int, d: int, n_vocab: int, n_heads: int, n_kv_heads: int,
                head_dim: int | None = None, d_ff: int | None = None, tied: bool = False,
                dtype=np.float32, std: float = 0.02) -> dict[str, np.ndarray]:
    """LlamaForCausalLM's initialisation: N(0, std) weights (``initializer_range``), unit RMSNorm scales."""
    params = {}
    for key, shape in parameter_shapes(n_layer, d, n_vocab, n_heads, n_kv_heads, head_dim, d_ff, tied).items():
        if len(shape) == 1:
            params[key] = np.ones(shape, dtype=dtype)
        else:
            params[key] = (std * rng.standard_normal(shape)).astype(dtype)
    return params


def n_layers(params) -> int:
    return len({k.split(".")[1] for k in params if k.startswith("layers.")})


def rotary_tables(n_T: int, head_dim: int, theta: float, dtype, device=None):
    """cos and sin (n_T, head_dim) of Hugging Face's rotary embedding, its frequencies in float64."""
    import torch

    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64, device=device) / head_dim)
    freqs = torch.arange(n_T, dtype=torch.float64, device=device)[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def rotate_half(x):
    import torch

    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def attention(x, W_q, W_k, W_v, n_heads: int, n_kv_heads: int, rope_theta: float = 10000.0):
    """Grouped-query causal attention with rotary embeddings, before o_proj: (..., n_T, n_heads · d_h)."""
    import torch.nn.functional as F

    head_dim = W_q.shape[0] // n_heads

    def heads(t, count):  # (..., n_T, count · d_h) → (..., count, n_T, d_h)
        return t.unflatten(-1, (count, head_dim)).transpose(-2, -3)

    q, k, v = heads(x @ W_q.mT, n_heads), heads(x @ W_k.mT, n_kv_heads), heads(x @ W_v.mT, n_kv_heads)
    cos, sin = rotary_tables(x.shape[-2], head_dim, rope_theta, x.dtype, x.device)
    q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
    a = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
    return a.transpose(-2, -3).flatten(-2)


def swiglu(x, W_gate, W_up, W_down):
    import torch.nn.functional as F

    return (F.silu(x @ W_gate.mT) * (x @ W_up.mT)) @ W_down.mT


def rms_norm(x, w, eps: float = 1e-6):
    import torch.nn.functional as F

    return F.rms_norm(x, (x.shape[-1],), w, eps)


def block(x, p: dict, n_heads: int, n_kv_heads: int, rope_theta: float = 10000.0, eps: float = 1e-6):
    """One decoder layer on Hugging Face's keys after ``layers.{i}.``."""
    h = x + attention(rms_norm(x, p["input_layernorm.weight"], eps), p["self_attn.q_proj.weight"],
                      p["self_attn.k_proj.weight"], p["self_attn.v_proj.weight"], n_heads, n_kv_heads,
                      rope_theta) @ p["self_attn.o_proj.weight"].mT
    return h + swiglu(rms_norm(h, p["post_attention_layernorm.weight"], eps), p["mlp.gate_proj.weight"],
                      p["mlp.up_proj.weight"], p["mlp.down_proj.weight"])


def reference_logits(params, idx, n_heads: int, n_kv_heads: int, rope_theta: float = 10000.0,
                     eps: float = 1e-6):
    """LlamaForCausalLM's logits with torch operations, from Hugging Face-layout tensors."""
    x = params["embed_tokens.weight"][idx]
    for i in range(n_layers(params)):
        p = {k[len(f"layers.{i}."):]: v for k, v in params.items() if k.startswith(f"layers.{i}.")}
        x = block(x, p, n_heads, n_kv_heads, rope_theta, eps)
    x = rms_norm(x, params["norm.weight"], eps)
    return x @ params.get("lm_head.weight", params["embed_tokens.weight"]).mT


def reference_loss(params, idx, n_heads: int, n_kv_heads: int, rope_theta: float = 10000.0, eps: float = 1e-6):
    """Mean next-token cross-entropy of the reference model."""
    import torch.nn.functional as F

    z = reference_logits(params, idx, n_heads, n_kv_heads, rope_theta, eps)
    return F.cross_entropy(z[..., :-1, :].reshape(-1, z.shape[-1]), idx[..., 1:].reshape(-1))
