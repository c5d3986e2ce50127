"""Fully connected layer: Y = X W + 1 bᵀ (GPT-2's Conv1D layout, W is d_in × d_out)."""
from derive.api import Component, add, matmul, rows


def build() -> Component:
    c = Component("linear", "Fully connected layer", "Y = X W + 1 bᵀ")
    n_T, d_in, d_out = c.dims("n_T d_in d_out")
    X = c.input("X", n_T, d_in, doc="one row per token")
    W = c.param("W", d_in, d_out, doc="weights")
    b = c.param("b", d_out, doc="bias, broadcast over tokens")
    c.output("Y", add(matmul(X, W), rows(b, n_T)))
    return c
