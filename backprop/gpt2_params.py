"""GPT-2 parameters in Hugging Face layout: initialisation, and a torch autograd reference model.

The reference is written with torch's own operations (``F.layer_norm``,
``F.scaled_dot_product_attention``, ``F.cross_entropy``) straight from the
Hugging Face layout; autograd differentiates it.  It is the authority the
generated model is checked against.
"""
from __future__ import annotations

import numpy as np


def parameter_shapes(n_layer: int, d: int, n_context: int, n_vocab: int, tied: bool = True,
                     head_bias: bool = True) -> dict[str, tuple]:
    """Hugging Face key → shape of every parameter, in GPT-2's order."""
    shapes = {"wte.weight": (n_vocab, d), "wpe.weight": (n_context, d)}
    for i in range(n_layer):
        shapes |= {
            f"h.{i}.ln_1.weight": (d,), f"h.{i}.ln_1.bias": (d,),
            f"h.{i}.attn.c_attn.weight": (d, 3 * d), f"h.{i}.attn.c_attn.bias": (3 * d,),
            f"h.{i}.attn.c_proj.weight": (d, d), f"h.{i}.attn.c_proj.bias": (d,),
            f"h.{i}.ln_2.weight": (d,), f"h.{i}.ln_2.bias": (d,),
            f"h.{i}.mlp.c_fc.weight": (d, 4 * d), f"h.{i}.mlp.c_fc.bias": (4 * d,),
            f"h.{i}.mlp.c_proj.weight": (4 * d, d), f"h.{i}.mlp.c_proj.bias": (d,),
        }
    shapes |= {"ln_f.weight": (d,), "ln_f.bias": (d,)}
    if not tied:
        shapes |= {"lm_head.weight": (n_vocab, d)} | ({"lm_head.bias": (n_vocab,)} if head_bias else {})
    return shapes


def init_params(rng: np.random.Generator, n_layer: int, d: int, n_context: int, n_vocab: int,
                tied: bool = True, dtype=np.float32, std: float = 0.02) -> dict[str, np.ndarray]:
    """GPT-2's initialisation: N(0, 0.02) weights (residual projections scaled by 1/√(2 n_layer),
    position embeddings 0.01), zero biases, unit LayerNorm scales."""
    residual = std / np.sqrt(2 * n_layer)
    params = {}
    for key, shape in parameter_shapes(n_layer, d, n_context, n_vocab, tied).items():
        if key.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight")):
            params[key] = np.ones(shape, dtype=dtype)
        elif len(shape) == 1:
            params[key] = np.zeros(shape, dtype=dtype)
        else:
            scale = residual if key.endswith("c_proj.weight") else 0.01 if key == "wpe.weight" else std
            params[key] = (scale * rng.standard_normal(shape)).astype(dtype)
    return params


def adapter_shapes(params: dict, rank: int) -> dict[str, tuple]:
    """LoRA adapter key → shape for every block of ``params`` and the logits layer."""
    n_vocab, d = params["wte.weight"].shape
    n_layer = len({k.split(".")[1] for k in params if k.startswith("h.")})
    shapes = {}
    for i in range(n_layer):
        for name, (m_in, m_out) in LORA_SHAPES.items():
            shapes[f"h.{i}.lora.{name}.A"] = (m_in * d, rank)
            shapes[f"h.{i}.lora.{name}.B"] = (rank, m_out * d)
    return shapes | {"lm_head.lora.A": (d, rank), "lm_head.lora.B": (rank, n_vocab)}


#: adapted weight → (d_in, d_out) as multiples of d (q, k, v, attProj: d → d; expand d → 4d; contract 4d → d).
LORA_SHAPES = {"q": (1, 1), "k": (1, 1), "v": (1, 1), "o": (1, 1), "fc": (1, 4), "proj": (4, 1)}


def init_adapters(rng: np.random.Generator, params: dict, rank: int, std: float = 0.02,
                  dtype=np.float32) -> dict[str, np.ndarray]:
    """LoRA adapters for every block and the logits layer: A ~ N(0, std), B = 0 (Hu et al.)."""
    if rank < 1:
        raise ValueError(f"LoRA rank must be at least 1, got {rank}")
    adapters = {}
    for key, shape in adapter_shapes(params, rank).items():
        if key.endswith(".A"):
            adapters[key] = (std * rng.standard_normal(shape)).astype(dtype)
        else:
            adapters[key] = np.zeros(shape, dtype=dtype)
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
