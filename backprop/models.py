"""The model families ``backprop train`` trains — GPT-2 (the paper's) and LLaMA — and what differs
between them, said once: the generated module's keywords, the parameters' shapes and
initialisation, the autograd reference and the line that describes a model."""
from __future__ import annotations

import importlib
import importlib.util

import numpy as np

MODELS = ("gpt2", "llama")
NUMBA_MISSING = "needs Numba: pip install 'pedestrian-backprop[numba]'"  # said after the flag that asks for it


def numba_installed() -> bool:
    """Whether the numba backend can run here (Numba is an optional extra)."""
    return importlib.util.find_spec("numba") is not None


def kv_heads(config) -> int:
    """LLaMA's key and value heads: ``kv_heads``, or as many as the query heads when it is 0."""
    return config.kv_heads or config.heads


def options(config) -> dict:
    """The keywords of the generated ``loss_and_grads`` and ``logits`` for ``config``."""
    if config.model == "llama":
        return {"n_heads": config.heads, "n_kv_heads": kv_heads(config), "rope_theta": config.rope_theta,
                "eps": config.eps}
    return {"n_heads": config.heads, "eps": config.eps, "activation": config.activation}


def module(config, backend: str):
    """``generated.<backend>.<model>``; the numba backend without Numba installed is refused in one line."""
    try:
        return importlib.import_module(f"generated.{backend}.{config.model}")
    except ModuleNotFoundError as e:
        if e.name != "numba":
            raise
        raise ValueError(f"--backend numba {NUMBA_MISSING}") from None


def parameter_shapes(config, n_vocab: int, head_bias: bool = False) -> dict[str, tuple]:
    """Hugging Face key → shape of every parameter of the model ``config`` describes."""
    if config.model == "llama":
        from .llama_params import parameter_shapes as llama_shapes

        return llama_shapes(config.layers, config.width, n_vocab, config.heads, kv_heads(config), tied=config.tied)
    from .gpt2_params import parameter_shapes as gpt2_shapes

    return gpt2_shapes(config.layers, config.width, config.context, n_vocab, tied=config.tied, head_bias=head_bias)


def init_params(rng: np.random.Generator, config, n_vocab: int) -> dict[str, np.ndarray]:
    """Freshly initialised float32 parameters (GPT-2's or LlamaForCausalLM's initialisation)."""
    if config.model == "llama":
        from .llama_params import init_params as llama_init

        return llama_init(rng, config.layers, config.width, n_vocab, config.heads, kv_heads(config), tied=config.tied)
    from .gpt2_params import init_params as gpt2_init

    return gpt2_init(rng, config.layers, config.width, config.context, n_vocab, tied=config.tied)


def reference_loss(config):
    """``loss(params, idx)`` of the torch reference model, for autograd to differentiate."""
    if config.model == "llama":
        from .llama_params import reference_loss as llama_loss

        return lambda params, idx: llama_loss(params, idx, **options(config))
    from .gpt2_params import reference_loss as gpt2_loss

    return lambda params, idx: gpt2_loss(params, idx, config.heads, config.eps, config.activation)


def describe(config) -> str:
    """``GPT-2`` or ``LLaMA`` with what sets it apart, for the model line and plot titles."""
    if config.model == "llama":
        groups = kv_heads(config)
        kind = "multi-head" if groups == config.heads else "multi-query" if groups == 1 else f"{groups} key heads"
        return f"LLaMA ({config.heads} heads, {kind}, head width {config.width // config.heads})"
    return "GPT-2"


def problem(config: dict, name=str) -> str | None:
    """Why a configuration describes no model of its family, or None (``training.config_problem``)."""
    if config["model"] not in MODELS:
        return f"{name('model')} {config['model']!r} is not one of {', '.join(MODELS)}"
    if config["kv_heads"] < 0:
        return f"{name('kv_heads')} must be 0 (as many as {name('heads')}) or more, got {config['kv_heads']}"
    if config["model"] != "llama":
        if config["kv_heads"]:
            return f"{name('kv_heads')} is for {name('model')} llama (GPT-2's keys have as many heads as its queries)"
        return None
    groups = config["kv_heads"] or config["heads"]
    if config["heads"] % groups:
        return f"{name('heads')} {config['heads']} must be a multiple of {name('kv_heads')} {groups}"
    if (config["width"] // config["heads"]) % 2:
        return (f"{name('width')} {config['width']} / {name('heads')} {config['heads']} is an odd head width: rotary "
                "embeddings rotate the two halves of each head")
    if not (config["rope_theta"] > 1):
        return f"{name('rope_theta')} must be a number above 1, got {config['rope_theta']}"
    return None
