"""GPT-2 parameters in Hugging Face layout: initialisation, and a torch autograd reference model.

The reference is written with torch's own operations (``F.layer_norm``,
``F.scaled_dot_product_attention``, ``F.cross_entropy``) straight from the
Hugging Face layout; autograd differentiates it.  It is the authority the
generated model is checked against.
"""
from __future__ import annotations

import numpy as np


def init_params(rng: np.random.Generator, n_layer: int, d: int, n_context: int, n_vocab: int,
                tied: bool = True, dtype=np.float32, std: float = 0.02) -> dict[str, np.ndarray]:
    """GPT-2's initialisation: N(0, 0.02) weights (residual projections scaled by 1/√(2 n_layer)),
    zero biases, unit LayerNorm scales."""
    def normal(*shape, scale=std):
        return (scale * rng.standard_normal(shape)).astype(dtype)

    def zeros(*shape):
        return np.zeros(shape, dtype=dtype)

    def ones(*shape):
        return np.ones(shape, dtype=dtype)

    residual = std / np.sqrt(2 * n_layer)
    params = {"wte.weight": normal(n_vocab, d), "wpe.weight": normal(n_context, d, scale=0.01)}
    for i in range(n_layer):
        params |= {
            f"h.{i}.ln_1.weight": ones(d), f"h.{i}.ln_1.bias": zeros(d),
            f"h.{i}.attn.c_attn.weight": normal(d, 3 * d), f"h.{i}.attn.c_attn.bias": zeros(3 * d),
            f"h.{i}.attn.c_proj.weight": normal(d, d, scale=residual), f"h.{i}.attn.c_proj.bias": zeros(d),
            f"h.{i}.ln_2.weight": ones(d), f"h.{i}.ln_2.bias": zeros(d),
            f"h.{i}.mlp.c_fc.weight": normal(d, 4 * d), f"h.{i}.mlp.c_fc.bias": zeros(4 * d),
            f"h.{i}.mlp.c_proj.weight": normal(4 * d, d, scale=residual), f"h.{i}.mlp.c_proj.bias": zeros(d),
        }
    params |= {"ln_f.weight": ones(d), "ln_f.bias": zeros(d)}
    if not tied:
        params |= {"lm_head.weight": normal(n_vocab, d), "lm_head.bias": zeros(n_vocab)}
    return params


#: adapted weight → (d_in, d_out) as multiples of d (q, k, v, attProj: d → d; expand d → 4d; contract 4d → d).
LORA_SHAPES = {"q": (1, 1), "k": (1, 1), "v": (1, 1), "o": (1, 1), "fc": (1, 4), "proj": (4, 1)}


def init_adapters(rng: np.random.Generator, params: dict, rank: int, std: float = 0.02,
                  dtype=np.float32) -> dict[str, np.ndarray]:
    """LoRA adapters for every block and the logits layer: A ~ N(0, std), B = 0 (Hu et al.)."""
    if rank < 1:
        raise ValueError(f"LoRA rank must be at least 1, got {rank}")
    n_vocab, d = params["wte.weight"].shape
    n_layer = len({k.split(".")[1] for k in params if k.startswith("h.")})
    adapters = {}
    for i in range(n_layer):
        for name, (m_in, m_out) in LORA_SHAPES.items():
            adapters[f"h.{i}.lora.{name}.A"] = (std * rng.standard_normal((m_in * d, rank))).astype(dtype)
            adapters[f"h.{i}.lora.{name}.B"] = np.zeros((rank, m_out * d), dtype=dtype)
    adapters["lm_head.lora.A"] = (std * rng.standard_normal((d, rank))).astype(dtype)
    adapters["lm_head.lora.B"] = np.zeros((rank, n_vocab), dtype=dtype)
    return adapters


def reference_logits(params, idx, n_heads: int, eps: float = 1e-5, activation: str = "gelu_tanh"):
    """GPT-2's logits with torch operations, from Hugging Face-layout tensors."""
    import torch.nn.functional as F

    act = {"gelu_tanh": lambda h: F.gelu(h, approximate="tanh"), "gelu": F.gelu, "relu": F.relu}[activation]
    n_T = idx.shape[-1]
    x = params["wte.weight"][idx] + params["wpe.weight"][:n_T]
    d = x.shape[-1]
    n_layer = len({k.split(".")[1] for k in params if k.startswith("h.")})

    def heads(t):
        return t.unflatten(-1, (n_heads, d // n_heads)).transpose(-2, -3)

    for i in range(n_layer):
        p = {k[len(f"h.{i}."):]: v for k, v in params.items() if k.startswith(f"h.{i}.")}
        h = F.layer_norm(x, (d,), p["ln_1.weight"], p["ln_1.bias"], eps)
        q, k, v = (h @ p["attn.c_attn.weight"] + p["attn.c_attn.bias"]).split(d, dim=-1)
        a = F.scaled_dot_product_attention(heads(q), heads(k), heads(v), is_causal=True)
        x = x + a.transpose(-2, -3).flatten(-2) @ p["attn.c_proj.weight"] + p["attn.c_proj.bias"]
        h = F.layer_norm(x, (d,), p["ln_2.weight"], p["ln_2.bias"], eps)
        x = x + act(h @ p["mlp.c_fc.weight"] + p["mlp.c_fc.bias"]) @ p["mlp.c_proj.weight"] + p["mlp.c_proj.bias"]
    x = F.layer_norm(x, (d,), params["ln_f.weight"], params["ln_f.bias"], eps)
    if "lm_head.weight" in params:
        out = x @ params["lm_head.weight"].T
        return out + params["lm_head.bias"] if "lm_head.bias" in params else out
    return x @ params["wte.weight"].T


def reference_loss(params, idx, n_heads: int, eps: float = 1e-5, activation: str = "gelu_tanh"):
    """Mean next-token cross-entropy of the reference model."""
    import torch.nn.functional as F

    z = reference_logits(params, idx, n_heads, eps, activation)
    return F.cross_entropy(z[..., :-1, :].reshape(-1, z.shape[-1]), idx[..., 1:].reshape(-1))
