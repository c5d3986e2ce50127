"""LoRA: what the engine derives, and the module around it."""
import sympy as sp
import torch

from derive.components import build
from derive.primitives import BatchSum
from derive.reverse import derive
from derive.simplify import split_coefficient


def test_alpha_over_r_is_one_scalar_factor_of_the_lora_gradients():
    derivation = derive(build("lora_linear"))
    alpha, r = sp.Symbol("alpha", positive=True), sp.Symbol("r", positive=True, integer=True)
    assert set(derivation.gradients) == {"X", "A", "B"}  # W and b are frozen
    for name in ("A", "B"):
        coefficient, body = split_coefficient(derivation.gradients[name].expr)
        assert coefficient == alpha / r, name
        assert alpha not in body.free_symbols  # the factor appears once, in front
        assert body.has(BatchSum)


def test_input_gradient_includes_the_frozen_path():
    grad_X = derive(build("lora_linear")).gradients["X"].expr
    assert isinstance(grad_X, sp.MatAdd) and len(grad_X.args) == 2
    names = [{s.name for s in t.free_symbols if isinstance(s, sp.MatrixSymbol)} for t in grad_X.args]
    assert any("W" in n for n in names) and any({"A", "B"} <= n for n in names)


def test_module_freezes_the_base_and_starts_as_the_base_layer():
    from generated.torch.lora_linear import LoRALinear

    torch.manual_seed(0)
    layer = LoRALinear(6, 4, 2, alpha=4.0)
    assert not layer.W.requires_grad and not layer.b.requires_grad
    assert layer.A.requires_grad and layer.B.requires_grad and torch.equal(layer.B, torch.zeros(2, 4))
    X = torch.randn(3, 5, 6)
    assert torch.allclose(layer(X), X @ layer.W + layer.b)  # B = 0: the branch adds nothing yet
    assert [n for n, p in layer.named_parameters() if p.requires_grad] == ["A", "B"]
