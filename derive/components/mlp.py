"""MLP: fully connected (d → d_ff), activation, fully connected (d_ff → d)."""
from derive.api import Component, add, elementwise, matmul, rows


def build() -> Component:
    c = Component("mlp", "Multi-layer perceptron", "FC_expand → activation → FC_contract",
                  class_name="MLP")
    n_T, d, d_ff = c.dims("n_T d d_ff")
    X = c.input("X", n_T, d)
    W_1 = c.param("W_1", d, d_ff, doc="expand weights")
    b_1 = c.param("b_1", d_ff, doc="expand bias")
    W_2 = c.param("W_2", d_ff, d, doc="contract weights")
    b_2 = c.param("b_2", d, doc="contract bias")
    g = c.activation("activation", "gelu_tanh", ("gelu_tanh", "gelu", "relu"),
                     doc="elementwise activation between the two layers")
    H = c.let("H", add(matmul(X, W_1), rows(b_1, n_T)), doc="pre-activation")
    A = c.let("A", elementwise(g, H), doc="activation")
    c.output("Y", add(matmul(A, W_2), rows(b_2, n_T)))
    return c
