"""Causal linear attention (see linear_attention.py): prefix sums over tokens, no n_T × n_T array."""
from derive.api import Component
from derive.components.linear_attention import build_causal


def build() -> Component:
    return build_causal()
