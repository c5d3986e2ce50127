"""Closed forms: each evaluates, in both backends, to the generated backward's gradients."""
import numpy as np
import pytest
import torch

from backprop.component_files import load
from backprop.verify import closed_form_module, configurations, generated, gradient_floor, random_arguments, \
    relative_error, uniform_sizes
from derive.components import NAMES, build
from derive.closed_form import closed_forms
from derive.derivation import text
from derive.primitives import Cotangent
from derive.reverse import derive
from test_component_files import RMSNORM


def _agree(component, reference, arrays, configs, target):
    """``arrays``: the arguments, or a function of the configuration that makes them."""
    closed = closed_form_module(component, target)
    wrap = torch.from_numpy if target == "torch" else np.asarray
    rng = np.random.default_rng(1)
    make = arrays if callable(arrays) else (lambda config: arrays)
    for config in configs:
        arrays = make(config)
        out, cache = reference.forward(*map(wrap, arrays.values()), **config)
        G = rng.standard_normal(tuple(out.shape))
        expected = reference.backward(wrap(G), cache)
        _, closed_cache = closed.forward(*map(wrap, arrays.values()), **config)
        got = closed.backward(wrap(G), closed_cache)
        expected = {k: np.asarray(v) for k, v in expected.items()}
        floor = gradient_floor(expected)
        for key, value in expected.items():
            assert relative_error(np.asarray(got[key]), value, floor) <= 1e-12, (component.name, key, config)


@pytest.mark.parametrize("target", ["numpy", "torch"])
@pytest.mark.parametrize("name", NAMES)
def test_closed_forms_equal_the_generated_backward(name, target):
    sizes = uniform_sizes(name, 4)
    rng = np.random.default_rng(0)
    _agree(build(name), generated(name, target), lambda config: random_arguments(name, rng, sizes, (2,), config=config),
           configurations(name, sizes), target)


def test_closed_forms_of_a_user_component(tmp_path):
    from codegen.render import compile_component

    path = tmp_path / "blocks.py"
    path.write_text(RMSNORM)
    for fc in load(str(path)):
        c = fc.component
        sizes = {"n_T": 3, "d": 5, "d_ff": 4}
        rng = np.random.default_rng(2)
        arrays = {a.name: rng.standard_normal((2,) * a.batched + tuple(sizes[str(d)] for d in a.dims))
                  for a in c.tensor_arguments}
        _agree(c, compile_component(c), arrays, [{}], "numpy")


def test_closed_forms_read_only_the_upstream_gradient_and_named_subexpressions():
    for name in NAMES:
        derivation = derive(build(name))
        forms = closed_forms(derivation)
        allowed = {Cotangent(derivation.component.output_symbol.name, *derivation.component.output_symbol.shape)}
        allowed |= {s for s, _ in forms.named}
        for form in list(forms.gradients.values()) + [type("F", (), {"expr": e})() for _, e in forms.named]:
            stray = {s for s in form.expr.free_symbols if isinstance(s, Cotangent)} - allowed
            assert not stray, (name, text(form.expr), stray)


def test_show_closed(capsys):
    from backprop.cli import main

    assert main(["show", "attention", "--closed"]) == 0
    out = capsys.readouterr().out.split("Closed forms")[1]
    assert "where Δ_S = P ∘ (split_h(Δ_A) V_hᵀ − (P ∘ (split_h(Δ_A) V_hᵀ)) 1 1ᵀ)" in out
    assert "∂L/∂W_q = (sqrt(n_heads)/sqrt(d)) Σ_batch (Xᵀ merge_h(Δ_S K_h))" in out
    assert "∂L/∂b_k = 0" in out
