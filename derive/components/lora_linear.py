"""LoRA on a frozen fully connected layer: Y = X W + 1 bᵀ + (alpha / r) X A B (Hu et al.'s scaling)."""
from derive.api import Component, add, matmul, rows, scale


def build() -> Component:
    c = Component("lora_linear", "Fully connected layer with a LoRA branch",
                  "Y = X W + 1 bᵀ + (alpha / r) X A B; W and b frozen", class_name="LoRALinear")
    n_T, d_in, d_out, r = c.dims("n_T d_in d_out r")
    X = c.input("X", n_T, d_in)
    W = c.param("W", d_in, d_out, frozen=True, doc="frozen pretrained weights")
    b = c.param("b", d_out, frozen=True, doc="frozen pretrained bias")
    A = c.param("A", d_in, r, doc='the paper\'s "down" projection D')
    B = c.param("B", r, d_out, init="zeros", doc='the paper\'s "up" projection U; zero at start')
    alpha = c.config("alpha", doc="LoRA scale numerator: the branch is multiplied by alpha / r")
    frozen = add(matmul(X, W), rows(b, n_T))
    c.output("Y", add(frozen, scale(alpha / r, matmul(X, A, B))))
    return c
