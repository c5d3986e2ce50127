"""The generated LLaMA against an independent torch autograd reference built from the same
parameters, and against Hugging Face's LlamaForCausalLM where ``transformers`` is installed."""
import types

import numpy as np
import pytest
import torch

from backprop.llama_params import init_params, parameter_shapes, reference_logits, reference_loss
from backprop.verify import gradient_floor, relative_error
from derive.components.llama import parameter_count
from generated.numpy import llama as np_llama
from generated.torch import llama as torch_llama

#: (n_heads, n_kv_heads, head_dim): multi-head, grouped-query, multi-query, and head widths with
#: n_heads · head_dim ≠ d (d = 12 below).
HEADS = [(4, 4, 4), (4, 2, 6), (6, 1, 2), (2, 1, 8), (3, 3, 4)]


def _random_params(rng, n_layer, n_heads, n_kv_heads, head_dim, tied, d=12, n_vocab=11):
    params = init_params(rng, n_layer, d, n_vocab, n_heads, n_kv_heads, head_dim=head_dim, d_ff=10, tied=tied,
                         dtype=np.float64, std=0.3)
    return {k: v + 0.1 * rng.standard_normal(v.shape) if v.ndim == 1 else v for k, v in params.items()}


def _run(backend, fn, params, idx, **config):
    if backend == "numpy":
        return fn(np_llama)(params, idx, **config)
    out = fn(torch_llama)({k: torch.tensor(v) for k, v in params.items()}, torch.tensor(idx), **config)
    return out


def _numpy(x):
    return x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


@pytest.mark.parametrize("heads", HEADS)
@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_loss_logits_and_every_gradient_match_autograd(heads, tied, backend):
    n_heads, n_kv_heads, head_dim = heads
    rng = np.random.default_rng(sum(heads) + 10 * tied)
    params = _random_params(rng, 2, n_heads, n_kv_heads, head_dim, tied)
    idx = rng.integers(0, 11, (3, 7))
    config = {"n_heads": n_heads, "n_kv_heads": n_kv_heads, "rope_theta": 500.0, "eps": 1e-5}
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    ref = reference_loss(tensors, torch.tensor(idx), **config)
    ref.backward()
    loss, grads = _run(backend, lambda m: m.loss_and_grads, params, idx, **config)
    logits = _run(backend, lambda m: m.logits, params, idx, **config)
    assert relative_error(_numpy(loss), ref.detach().numpy()) <= 1e-12
    assert relative_error(_numpy(logits), reference_logits(tensors, torch.tensor(idx), **config).detach().numpy()) \
        <= 1e-12
    assert set(grads) == set(params)
    ref_grads = {k: t.grad.numpy() for k, t in tensors.items()}
    floor = gradient_floor(ref_grads)
    for key, g in ref_grads.items():
        assert _numpy(grads[key]).shape == params[key].shape, key
        assert relative_error(_numpy(grads[key]), g, floor) <= 1e-10, key


@pytest.mark.parametrize("batch", [(), (1,), (2, 2)])
def test_leading_batch_shapes_and_a_two_token_sequence(batch):
    rng = np.random.default_rng(3)
    params = _random_params(rng, 1, 4, 2, 6, False)
    idx = rng.integers(0, 11, batch + (2,))
    config = {"n_heads": 4, "n_kv_heads": 2}
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    ref = reference_loss(tensors, torch.tensor(idx), **config)
    ref.backward()
    loss, grads = np_llama.loss_and_grads(params, idx, **config)
    assert relative_error(loss, ref.detach().numpy()) <= 1e-12
    floor = gradient_floor({k: t.grad.numpy() for k, t in tensors.items()})
    for key, t in tensors.items():
        assert relative_error(grads[key], t.grad.numpy(), floor) <= 1e-10, key
    assert np_llama.logits(params, idx, **config).shape == batch + (2, 11)


def test_a_tied_state_dict_that_holds_lm_head_as_the_embeddings_themselves():
    """A tied model's state dict lists lm_head.weight as the very tensor of embed_tokens.weight: the
    logits reuse it and the summed gradient comes once, under embed_tokens.weight."""
    rng = np.random.default_rng(4)
    params = _random_params(rng, 1, 2, 1, 4, True)
    config = {"n_heads": 2, "n_kv_heads": 1}
    idx = rng.integers(0, 11, (2, 5))
    expected_loss, expected = np_llama.loss_and_grads(params, idx, **config)
    for backend in ("numpy", "torch"):
        shared = {k: torch.tensor(v) for k, v in params.items()} if backend == "torch" else dict(params)
        shared["lm_head.weight"] = shared["embed_tokens.weight"]
        module = torch_llama if backend == "torch" else np_llama
        loss, grads = module.loss_and_grads(shared, torch.tensor(idx) if backend == "torch" else idx, **config)
        assert "lm_head.weight" not in grads
        assert relative_error(_numpy(loss), expected_loss) <= 1e-14
        assert relative_error(_numpy(grads["embed_tokens.weight"]), expected["embed_tokens.weight"]) <= 1e-13
    copied = dict(params, **{"lm_head.weight": params["embed_tokens.weight"].copy()})  # a copy is untied
    assert "lm_head.weight" in np_llama.loss_and_grads(copied, idx, **config)[1]


def test_float32_parameters_give_float32_results():
    rng = np.random.default_rng(5)
    params = {k: v.astype(np.float32) for k, v in _random_params(rng, 1, 2, 2, 4, False).items()}
    loss, grads = np_llama.loss_and_grads(params, rng.integers(0, 11, (2, 4)), n_heads=2, n_kv_heads=2)
    assert loss.dtype == np.float32 and all(g.dtype == np.float32 for g in grads.values())


@pytest.mark.parametrize("change, message", [
    (lambda p: p.pop("norm.weight"), "missing 'norm.weight'"),
    (lambda p: p.update({"layers.3.input_layernorm.weight": p["norm.weight"]}), "layer indices"),
])
def test_malformed_state_dicts_are_refused_by_name(change, message):
    params = _random_params(np.random.default_rng(6), 1, 2, 2, 4, False)
    change(params)
    with pytest.raises(ValueError, match=message):
        np_llama.loss_and_grads(params, np.zeros((1, 3), dtype=np.int64), n_heads=2, n_kv_heads=2)


def test_head_counts_that_do_not_fit_the_weights_are_refused():
    idx = np.zeros((1, 3), dtype=np.int64)
    params = _random_params(np.random.default_rng(7), 1, 3, 2, 4, False)  # q_proj 12 rows, k_proj 8
    with pytest.raises(ValueError, match="n_heads must be a multiple of n_kv_heads"):
        np_llama.loss_and_grads(params, idx, n_heads=3, n_kv_heads=2)
    params = _random_params(np.random.default_rng(7), 1, 4, 2, 4, False)
    with pytest.raises(ValueError, match=r"W_q: expected shape \(n_heads\*d_h = 3\*d_h, 12\), got \(16, 12\): 16 is "
                                         "not a multiple of 3"):
        np_llama.loss_and_grads(params, idx, n_heads=3, n_kv_heads=1)


def test_parameter_count_is_read_off_the_definitions():
    for tied in (True, False):
        shapes = parameter_shapes(3, 12, 11, 4, 2, head_dim=6, d_ff=10, tied=tied)
        per_block = sum(int(np.prod(s)) for k, s in shapes.items() if k.startswith("layers.0."))
        counts = parameter_count(3, 12, 11, 4, 2, head_dim=6, d_ff=10, tied=tied)
        assert counts == {"per_block": per_block, "total": sum(int(np.prod(s)) for s in shapes.values())}


# ------------------------------------------------------------------ Hugging Face's LlamaForCausalLM


def _hugging_face_model(n_layer, d, n_vocab, n_heads, n_kv_heads, head_dim, tied, theta, eps):
    """LlamaForCausalLM in float64, with what it computes in float32 computed in float64 instead:
    RMSNorm's up-cast (to float32, then back) and the rotary frequencies; sdpa attention (whose
    softmax stays in float64, where the eager one up-casts to float32).  Everything else is its own:
    embeddings, projections, repeat_kv's grouping, rotate_half, the residual stream, the head."""
    transformers = pytest.importorskip("transformers")
    config = transformers.LlamaConfig(vocab_size=n_vocab, hidden_size=d, intermediate_size=10, num_hidden_layers=n_layer,
                                      num_attention_heads=n_heads, num_key_value_heads=n_kv_heads, head_dim=head_dim,
                                      rope_theta=theta, rms_norm_eps=eps, tie_word_embeddings=tied,
                                      max_position_embeddings=64, attn_implementation="sdpa")
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config).double()

    def rms_norm(self, x):  # LlamaRMSNorm.forward, in the input's own dtype
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.variance_epsilon))

    def rotary(self, x, position_ids):  # LlamaRotaryEmbedding.forward with float64 frequencies
        inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
        freqs = position_ids[..., None].double() * inv_freq
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(x.dtype), emb.sin().to(x.dtype)

    for module in model.modules():
        if type(module).__name__ == "LlamaRMSNorm":
            module.forward = types.MethodType(rms_norm, module)
        if type(module).__name__ == "LlamaRotaryEmbedding":
            module.forward = types.MethodType(rotary, module)
    with torch.no_grad():  # non-trivial RMSNorm scales
        for name, p in model.named_parameters():
            if p.ndim == 1:
                p.add_(0.1 * torch.randn_like(p))
            else:
                p.mul_(15.0)  # std 0.3, as the reference tests
    return model


@pytest.mark.parametrize("heads", [(4, 4, 4), (4, 2, 6), (4, 1, 4)])
@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_equal_to_hugging_face_llama_for_causal_lm(heads, tied, backend):
    n_heads, n_kv_heads, head_dim = heads
    model = _hugging_face_model(2, 12, 11, n_heads, n_kv_heads, head_dim, tied, theta=500.0, eps=1e-5)
    idx = torch.randint(0, 11, (3, 7), generator=torch.Generator().manual_seed(1))
    out = model(input_ids=idx)
    # the mean next-token cross-entropy of its float64 logits (its own loss up-casts them to float32)
    hf_loss = torch.nn.functional.cross_entropy(out.logits[:, :-1].reshape(-1, 11), idx[:, 1:].reshape(-1))
    hf_loss.backward()
    state = {k.removeprefix("model."): v.detach() for k, v in model.state_dict().items()}  # as they are
    expected = {k.removeprefix("model."): p.grad for k, p in model.named_parameters()}
    config = {"n_heads": n_heads, "n_kv_heads": n_kv_heads, "rope_theta": 500.0, "eps": 1e-5}
    if backend == "numpy":
        state = {k: v.numpy() for k, v in state.items()}
        loss, grads = np_llama.loss_and_grads(state, idx.numpy(), **config)
        logits = np_llama.logits(state, idx.numpy(), **config)
    else:
        loss, grads = torch_llama.loss_and_grads(state, idx, **config)
        logits = torch_llama.logits(state, idx, **config)
    assert relative_error(_numpy(loss), hf_loss.detach().numpy()) <= 1e-10
    assert relative_error(_numpy(logits), out.logits.detach().numpy()) <= 1e-10
    assert set(grads) == set(expected)  # tied: lm_head.weight is embed_tokens.weight, one gradient
    floor = gradient_floor({k: g.numpy() for k, g in expected.items()})
    for key, g in expected.items():
        assert relative_error(_numpy(grads[key]), g.numpy(), floor) <= 1e-10, key
