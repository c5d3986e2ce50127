"""The built-in components: each module's ``build()`` is its forward definition."""
from __future__ import annotations

from importlib import import_module

from derive.api import Component

NAMES = ("embedding", "linear", "mlp", "layernorm", "attention", "lora_linear", "cross_entropy", "gpt2_block")


class UnknownComponent(KeyError):
    def __str__(self) -> str:
        return f"unknown component {self.args[0]!r}; known: {', '.join(NAMES)}"


def build(name: str) -> Component:
    """The forward definition of the built-in component ``name``."""
    if name not in NAMES:
        raise UnknownComponent(name)
    return import_module(f"derive.components.{name}").build().validate()


def build_all() -> list[Component]:
    return [build(n) for n in NAMES]
