"""The generated GPT-2 against a torch autograd reference built from the same parameters."""
import numpy as np
import pytest
import torch

from backprop.gpt2_params import init_params, reference_logits, reference_loss
from backprop.verify import relative_error
from derive.components.gpt2 import parameter_count
from generated.numpy import gpt2 as np_gpt2
from generated.torch import gpt2 as torch_gpt2


def _reference(params, idx, **config):
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    loss = reference_loss(tensors, torch.tensor(idx), **config)
    loss.backward()
    return loss.item(), {k: t.grad.numpy() for k, t in tensors.items()}


def _random_params(rng, n_layer, tied, d=8, n_context=12, n_vocab=11):
    params = init_params(rng, n_layer, d, n_context, n_vocab, tied=tied, dtype=np.float64, std=0.3)
    for key, value in params.items():  # non-trivial LayerNorm scales and biases
        if key.endswith("bias") or "ln" in key:
            params[key] = value + 0.1 * rng.standard_normal(value.shape)
    return params


@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("n_layer", [1, 2, 3])
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_loss_and_every_gradient_match_autograd(tied, n_layer, backend):
    rng = np.random.default_rng(n_layer + 10 * tied)
    params = _random_params(rng, n_layer, tied)
    idx = rng.integers(0, 11, (3, 7))
    config = {"n_heads": 2, "eps": 1e-5, "activation": "gelu_tanh"}
    ref_loss, ref_grads = _reference(params, idx, **config)
    if backend == "numpy":
        loss, grads = np_gpt2.loss_and_grads(params, idx, **config)
    else:
        loss, grads = torch_gpt2.loss_and_grads({k: torch.tensor(v) for k, v in params.items()},
                                                torch.tensor(idx), **config)
        loss, grads = loss.numpy(), {k: v.numpy() for k, v in grads.items()}
    assert abs(float(loss) - ref_loss) <= 1e-12 * abs(ref_loss)
    assert set(grads) == set(params)
    floor = 1e-3 * max(np.abs(g).max() for g in ref_grads.values())
    for key, ref in ref_grads.items():
        assert grads[key].shape == params[key].shape, key
        assert relative_error(grads[key], ref, floor) <= 1e-10, (key, relative_error(grads[key], ref, floor))


def test_key_bias_block_of_c_attn_gets_zero_gradient():
    rng = np.random.default_rng(0)
    params = _random_params(rng, 2, True)
    _, grads = np_gpt2.loss_and_grads(params, rng.integers(0, 11, (2, 6)), n_heads=2)
    d = params["wte.weight"].shape[1]
    assert np.all(grads["h.1.attn.c_attn.bias"][d:2 * d] == 0.0)


@pytest.mark.parametrize("tied", [True, False])
def test_logits_match_the_reference(tied):
    rng = np.random.default_rng(4)
    params = _random_params(rng, 2, tied)
    idx = rng.integers(0, 11, (2, 5))
    ours = np_gpt2.logits(params, idx, n_heads=4, activation="relu")
    ref = reference_logits({k: torch.tensor(v) for k, v in params.items()}, torch.tensor(idx), 4,
                           activation="relu").numpy()
    assert ours.shape == (2, 5, 11)
    assert relative_error(ours, ref) <= 1e-12


def test_untied_head_without_bias():
    rng = np.random.default_rng(5)
    params = _random_params(rng, 1, False)
    del params["lm_head.bias"]
    idx = rng.integers(0, 11, (2, 5))
    ref_loss, ref_grads = _reference(params, idx, n_heads=2)
    loss, grads = np_gpt2.loss_and_grads(params, idx, n_heads=2)
    assert set(grads) == set(params) and abs(float(loss) - ref_loss) <= 1e-12
    assert relative_error(grads["lm_head.weight"], ref_grads["lm_head.weight"]) <= 1e-10


def test_bad_params_are_named():
    params = _random_params(np.random.default_rng(6), 1, True)
    del params["h.0.ln_2.bias"]
    with pytest.raises(ValueError, match="missing 'h.0.ln_2.bias'"):
        np_gpt2.loss_and_grads(params, np.zeros((1, 4), dtype=int), n_heads=2)


def test_parameter_counts_of_gpt2_small_from_the_definition():
    untied = parameter_count(12, 768, 1024, 50257, tied=False)
    tied = parameter_count(12, 768, 1024, 50257, tied=True, lora_rank=16)
    assert untied == {"per_block": 7_087_872, "total": 163_087_441}
    assert tied["total"] == 124_439_808 and tied["lora"] == 3_470_608
    assert parameter_count(0, 768, 1024, 50257, lora_rank=16)["lora"] == 816_400  # logits layer alone


@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_lora_adapter_gradients_match_autograd_through_the_merged_model(tied, backend):
    from backprop.gpt2_params import init_adapters

    rng = np.random.default_rng(7)
    params = _random_params(rng, 2, tied)
    adapters = {k: v + 0.1 * rng.standard_normal(v.shape) for k, v in
                init_adapters(rng, params, rank=3, dtype=np.float64).items()}  # B ≠ 0
    idx = rng.integers(0, 11, (2, 6))
    config = {"n_heads": 2, "alpha": 6.0}
    t_params = {k: torch.tensor(v) for k, v in params.items()}
    t_adapters = {k: torch.tensor(v, requires_grad=True) for k, v in adapters.items()}
    ref = reference_loss(torch_gpt2.merge_lora(t_params, t_adapters, alpha=6.0), torch.tensor(idx), n_heads=2)
    ref.backward()
    if backend == "numpy":
        loss, grads = np_gpt2.lora_loss_and_grads(params, adapters, idx, **config)
    else:
        loss, grads = torch_gpt2.lora_loss_and_grads(t_params, {k: v.detach() for k, v in t_adapters.items()},
                                                     torch.tensor(idx), **config)
        loss, grads = loss.numpy(), {k: v.numpy() for k, v in grads.items()}
    assert abs(float(loss) - ref.item()) <= 1e-12 * ref.item()
    assert set(grads) == set(adapters)
    floor = 1e-3 * max(t.grad.abs().max().item() for t in t_adapters.values())
    for key, t in t_adapters.items():
        assert relative_error(grads[key], t.grad.numpy(), floor) <= 1e-10, key
    merged_loss, _ = np_gpt2.loss_and_grads(np_gpt2.merge_lora(params, adapters, alpha=6.0), idx, n_heads=2)
    assert abs(float(merged_loss) - float(loss)) <= 1e-12 * float(loss)  # merging changes nothing
