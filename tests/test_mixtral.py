"""Mixtral's sparse mixture-of-experts block, generated from its forward definition (top-k routing as a
decision that is never differentiated), against Hugging Face's MixtralSparseMoeBlock in float64: the
output and every gradient."""
import numpy as np
import pytest
import torch

from codegen.render import compile_component
from derive.components import build

transformers = pytest.importorskip("transformers")
from transformers.models.mixtral import modeling_mixtral  # noqa: E402

D, D_FF, EXPERTS, TOP_K = 6, 5, 4, 2


def _float64_router(self, hidden_states):
    """Hugging Face's MixtralTopKRouter.forward without its cast of the logits to float32 (which would
    limit a float64 comparison to float32's precision); every other line as it is."""
    hidden_states = hidden_states.reshape(-1, self.hidden_dim)
    router_logits = torch.nn.functional.linear(hidden_states, self.weight)
    router_probs = torch.nn.functional.softmax(router_logits, dim=-1)
    router_top_value, router_indices = torch.topk(router_probs, self.top_k, dim=-1)
    router_top_value /= router_top_value.sum(dim=-1, keepdim=True)
    return router_logits, router_top_value, router_indices


@pytest.fixture()
def hugging_face(monkeypatch):
    monkeypatch.setattr(modeling_mixtral.MixtralTopKRouter, "forward", _float64_router)
    config = transformers.MixtralConfig(hidden_size=D, intermediate_size=D_FF, num_local_experts=EXPERTS,
                                        num_experts_per_tok=TOP_K, hidden_act="silu")
    block = modeling_mixtral.MixtralSparseMoeBlock(config).double()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in block.parameters():
            p.copy_(torch.randn(p.shape, generator=generator, dtype=torch.float64) * 0.5)
    return block


def _ours(block):
    """Our arguments from Hugging Face's parameters: gate_up_proj holds W_gate then W_up along its rows."""
    gate_up = block.experts.gate_up_proj
    return {"W_router": block.gate.weight, "W_gate": gate_up[:, :D_FF], "W_up": gate_up[:, D_FF:],
            "W_down": block.experts.down_proj}


@pytest.mark.parametrize("target", ["torch", "numpy"])
def test_the_generated_block_equals_hugging_faces(hugging_face, target):
    X = torch.randn(2, 3, D, generator=torch.Generator().manual_seed(1), dtype=torch.float64, requires_grad=True)
    expected = hugging_face(X)
    G = torch.randn(expected.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    expected.backward(G)
    weights = _ours(hugging_face)
    module = compile_component(build("mixtral_moe"), target)
    as_library = (lambda t: t.detach()) if target == "torch" else (lambda t: t.detach().numpy())
    Y, cache = module.forward(as_library(X), *(as_library(w) for w in weights.values()), n_experts=EXPERTS,
                              top_k=TOP_K)
    np.testing.assert_allclose(np.asarray(Y), expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    grads = {k: np.asarray(v) for k, v in module.backward(as_library(G), cache).items()}
    np.testing.assert_allclose(grads["X"], X.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grads["W_router"], hugging_face.gate.weight.grad.numpy(), rtol=1e-10, atol=1e-12)
    gate_up = hugging_face.experts.gate_up_proj.grad.numpy()
    np.testing.assert_allclose(grads["W_gate"], gate_up[:, :D_FF], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grads["W_up"], gate_up[:, D_FF:], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grads["W_down"], hugging_face.experts.down_proj.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_the_choice_is_never_differentiated_and_unchosen_experts_get_no_gradient(hugging_face):
    """An expert no token chooses receives a zero gradient, as in Hugging Face's block."""
    module = compile_component(build("mixtral_moe"), "numpy")
    weights = {k: v.detach().numpy() for k, v in _ours(hugging_face).items()}
    weights["W_router"] = weights["W_router"].copy()
    weights["W_router"][3] = -50.0  # with X > 0, expert 3's logits far below the others': never in the top 2
    X = np.abs(np.random.default_rng(3).standard_normal((2, 3, D)))
    Y, cache = module.forward(X, *weights.values(), n_experts=EXPERTS, top_k=TOP_K)
    grads = module.backward(np.ones_like(Y), cache)
    assert np.all(grads["W_gate"][3] == 0) and np.all(grads["W_down"][3] == 0)
    assert np.any(grads["W_gate"][:3] != 0)
