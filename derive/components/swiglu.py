"""SwiGLU feed-forward layer (LLaMA's MLP): Y = (silu(X W_gateᵀ) ∘ X W_upᵀ) W_downᵀ, no biases.

The weights are in nn.Linear's (out, in) layout, as Hugging Face stores them.
"""
from derive.activations import SILU
from derive.api import Component, T, elementwise, hadamard, matmul


def build() -> Component:
    c = Component("swiglu", "SwiGLU feed-forward layer", "Y = (silu(X W_gateᵀ) ∘ X W_upᵀ) W_downᵀ",
                  class_name="SwiGLU")
    n_T, d, d_ff = c.dims("n_T d d_ff")
    X = c.input("X", n_T, d)
    W_gate = c.param("W_gate", d_ff, d, doc="gate_proj")
    W_up = c.param("W_up", d_ff, d, doc="up_proj")
    W_down = c.param("W_down", d, d_ff, doc="down_proj")
    gate = c.let("gate", matmul(X, T(W_gate)), doc="gate pre-activation")
    up = c.let("up", matmul(X, T(W_up)), doc="up projection")
    H = c.let("H", hadamard(elementwise(SILU, gate), up), doc="gated hidden layer")
    c.output("Y", matmul(H, T(W_down)))
    return c
