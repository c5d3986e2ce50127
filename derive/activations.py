"""Scalar definitions of the elementwise activations.

Each activation is written once, as a SymPy expression of one variable; its
derivative is ``sympy.diff`` of that definition (see ``ScalarFunction``).
"""
from __future__ import annotations

import sympy as sp
from sympy import Lambda, Tuple

from .primitives import X_SCALAR as x, ChoiceFunction, ScalarFunction


def _activation(name: str, expr: sp.Expr) -> ScalarFunction:
    return ScalarFunction(name, Lambda(x, expr))


#: GPT-2's GELU: 0.5 x (1 + tanh(sqrt(2/π) (x + 0.044715 x³))).
GELU_TANH = _activation(
    "gelu_tanh",
    sp.Rational(1, 2) * x * (1 + sp.tanh(sp.sqrt(2 / sp.pi) * (x + sp.Float("0.044715") * x**3))),
)
#: Exact GELU: x Φ(x) = 0.5 x (1 + erf(x / √2)).
GELU = _activation("gelu", sp.Rational(1, 2) * x * (1 + sp.erf(x / sp.sqrt(2))))
#: ReLU: max(x, 0); its derivative is the Heaviside step (0 at x = 0, as in PyTorch).
RELU = _activation("relu", sp.Max(x, 0))
#: SiLU (swish): x σ(x).
SILU = _activation("silu", x / (1 + sp.exp(-x)))

#: Positive feature maps for linear attention: elu(x) + 1, and softplus log(1 + eˣ).
ELU_PLUS_ONE = _activation("elu_plus_one", sp.Piecewise((x + 1, x > 0), (sp.exp(x), True)))
SOFTPLUS = _activation("softplus", sp.log(1 + sp.exp(x)))

ACTIVATIONS: dict[str, ScalarFunction] = {
    f.name: f for f in (GELU_TANH, GELU, RELU, SILU, ELU_PLUS_ONE, SOFTPLUS)
}


def activation_choice(config: str, names: tuple[str, ...]) -> ChoiceFunction:
    """The activations ``names`` as one function chosen by keyword ``config``."""
    unknown = [n for n in names if n not in ACTIVATIONS]
    if unknown:
        raise ValueError(f"unknown activation(s) {unknown}; known: {sorted(ACTIVATIONS)}")
    return ChoiceFunction(config, config, Tuple(*(ACTIVATIONS[n] for n in names)))
