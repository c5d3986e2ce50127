"""The built-in components: each module's ``build()`` is its forward definition."""
from __future__ import annotations

from importlib import import_module

from derive.api import Component

NAMES = ("embedding", "linear", "mlp", "layernorm", "attention", "sigmoid_attention", "relu_attention",
         "linear_attention", "causal_linear_attention", "lora_linear", "cross_entropy", "gpt2_block",
         "rmsnorm", "swiglu", "llama_attention", "llama_block", "mixtral_moe")


#: Model parts that `backprop show` can display; generated together into gpt2.py and llama.py.
MODELS = ("gpt2", "gpt2_untied", "gpt2_lora", "gpt2_lora_block", "llama", "llama_tied")


class UnknownComponent(KeyError):
    def __str__(self) -> str:
        return f"unknown component {self.args[0]!r}; known: {', '.join(NAMES + MODELS)}"


def build(name: str) -> Component:
    """The forward definition of the built-in component ``name``."""
    if name not in NAMES:
        raise UnknownComponent(name)
    return import_module(f"derive.components.{name}").build().validate()


def build_model(name: str) -> Component:
    """A model part by name (see ``MODELS``)."""
    from derive.components import gpt2, gpt2_lora, llama

    builders = {"gpt2": lambda: gpt2.build(True), "gpt2_untied": lambda: gpt2.build(False),
                "gpt2_lora": lambda: gpt2_lora.build(True), "gpt2_lora_block": gpt2_lora.block,
                "llama": lambda: llama.build(False), "llama_tied": lambda: llama.build(True)}
    if name not in builders:
        raise UnknownComponent(name)
    return builders[name]().validate()


def build_all() -> list[Component]:
    return [build(n) for n in NAMES]


def model_source(name: str) -> str:
    """The file that holds a model part's forward definition."""
    module = {"gpt2_lora": "gpt2_lora", "gpt2_lora_block": "gpt2_lora"}.get(name, name.split("_")[0])
    return f"derive/components/{module}.py"
