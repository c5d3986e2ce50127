"""Multi-head attention with relu scores: the paper's second open question (is b_k still redundant?)."""
from derive.api import Component
from derive.components.attention import build_normalised


def build() -> Component:
    return build_normalised("relu")
