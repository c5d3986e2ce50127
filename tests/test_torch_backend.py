"""The generated PyTorch modules: autograd, gradcheck, agreement with NumPy, training."""
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given

from backprop.verify import autograd, configurations, generated, gradient_floor, random_arguments, relative_error, \
    uniform_sizes
from derive.components import NAMES, build
from strategies import cases

TOL = 1e-10


@pytest.mark.parametrize("name", NAMES)
def test_functional_contract_matches_autograd(name):
    module = generated(name, "torch")

    @given(cases(name, batches=((), (2,), (2, 3)), largest=6))
    def run(case):
        sizes, batch, config, seed = case
        rng = np.random.default_rng(seed)
        arrays = random_arguments(name, rng, sizes, batch, config=config)
        tensors = [torch.from_numpy(v) for v in arrays.values()]
        out, cache = module.forward(*tensors, **config)
        assert not out.requires_grad
        grad_out = rng.standard_normal(tuple(out.shape))
        grads = module.backward(torch.from_numpy(grad_out), cache)
        ref_out, ref_grads = autograd(name, arrays, grad_out, config)
        assert relative_error(out.numpy(), ref_out) <= TOL
        assert set(grads) == set(ref_grads)
        for key, ref in ref_grads.items():
            assert relative_error(grads[key].numpy(), ref, gradient_floor(ref_grads)) <= TOL, key

    run()


def _sizes(name, n=4):
    return uniform_sizes(name, n)


def _function_and_arguments(name, config, requires_grad=True, dtype=np.float64):
    c = build(name)
    rng = np.random.default_rng(3)
    sizes = _sizes(name)
    config = {**configurations(name, sizes)[0], **config}  # required values, then the case's
    arrays = random_arguments(name, rng, sizes, (2,), dtype=dtype, config=config)
    tensors = [torch.from_numpy(v).requires_grad_(requires_grad and c.argument(k).receives_gradient)
               for k, v in arrays.items()]
    module = generated(name, "torch")
    function = getattr(module, f"{c.module_class}Function")
    values = [config.get(a.name, a.default) for a in c.configs]
    return function, tensors, values


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck_on_every_function(name):
    for config in configurations(name, _sizes(name)):
        function, tensors, values = _function_and_arguments(name, config)
        assert torch.autograd.gradcheck(lambda *t, f=function, v=values: f.apply(*t, *v), tensors)


@pytest.mark.parametrize("name", NAMES)
def test_numpy_and_torch_backends_agree(name):
    rng = np.random.default_rng(11)
    sizes = _sizes(name)
    for config in configurations(name, sizes):
        arrays = random_arguments(name, rng, sizes, (2, 2), config=config)
        np_mod, th_mod = generated(name, "numpy"), generated(name, "torch")
        out, cache = np_mod.forward(*arrays.values(), **config)
        t_out, t_cache = th_mod.forward(*(torch.from_numpy(v) for v in arrays.values()), **config)
        np.testing.assert_allclose(t_out.numpy(), out, rtol=1e-13, atol=1e-13)
        G = rng.standard_normal(out.shape)
        grads, t_grads = np_mod.backward(G, cache), th_mod.backward(torch.from_numpy(G), t_cache)
        for key in grads:
            np.testing.assert_allclose(t_grads[key].numpy(), grads[key], rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("name", NAMES)
def test_float32_and_inputs_without_grad(name):
    function, tensors, values = _function_and_arguments(name, {}, requires_grad=False, dtype=np.float32)
    last = max(i for i, a in enumerate(build(name).tensor_arguments) if a.receives_gradient)
    tensors[last].requires_grad_(True)  # only one parameter asks for a gradient
    out = function.apply(*tensors, *values)
    assert out.dtype == torch.float32
    out.sum().backward()
    assert tensors[last].grad is not None and tensors[last].grad.dtype == torch.float32
    assert tensors[0].grad is None


def test_frozen_parameters_get_no_gradient():
    function, tensors, values = _function_and_arguments("lora_linear", {})
    for t in tensors[1:3]:
        t.requires_grad_(True)  # W and b ask, but are frozen
    function.apply(*tensors, *values).sum().backward()
    assert tensors[1].grad is None and tensors[2].grad is None
    assert tensors[0].grad is not None and tensors[3].grad is not None and tensors[4].grad is not None


def test_modules_initialise_as_gpt2_and_train_with_adamw():
    from generated.torch.layernorm import LayerNorm
    from generated.torch.linear import Linear
    from generated.torch.mlp import MLP

    torch.manual_seed(0)
    ln, mlp, head = LayerNorm(8), MLP(8, 32), Linear(8, 1)
    assert torch.equal(ln.w, torch.ones(8)) and torch.equal(ln.b, torch.zeros(8))
    assert torch.equal(mlp.b_1, torch.zeros(32)) and 0.01 < float(mlp.W_1.detach().std()) < 0.03
    params = [*ln.parameters(), *mlp.parameters(), *head.parameters()]
    optimizer = torch.optim.AdamW(params, lr=1e-2)
    X = torch.randn(4, 6, 8)
    target = torch.sin(X.sum(-1, keepdim=True))
    losses = []
    for _ in range(60):
        optimizer.zero_grad()
        h = ln(X)
        loss = ((head(h + mlp(h)) - target) ** 2).mean()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_module_dtype_and_device_arguments():
    from generated.torch.linear import Linear

    layer = Linear(3, 2, dtype=torch.float64, device="cpu")
    assert layer.W.dtype == torch.float64 and layer.W.device.type == "cpu"
    assert layer(torch.randn(5, 3, dtype=torch.float64)).shape == (5, 2)


@pytest.mark.parametrize("backend, forbidden", [("torch", "generated.numpy"), ("numpy", "torch")])
def test_backends_import_independently(backend, forbidden):
    modules = ", ".join(f"generated.{backend}.{name}" for name in NAMES)
    code = f"import sys; import {modules}; print({forbidden!r} in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("device", ["meta", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device"))])
def test_device_agnostic(name, device):
    """Nothing in the generated code pins a device: every tensor follows the inputs."""
    function, tensors, values = _function_and_arguments(name, {}, requires_grad=False)
    moved = [t.to(device).requires_grad_(build(name).argument(a.name).receives_gradient)
             for t, a in zip(tensors, build(name).tensor_arguments)]
    out = function.apply(*moved, *values)
    out.sum().backward()
    assert out.device.type == device
    assert all(t.grad is None or t.grad.device.type == device for t in moved)


def test_the_whole_step_traces_as_one_graph_for_torch_compile():
    """No graph break anywhere in the forward, the blocks or the derived backward (explain only
    traces; it does not compile)."""
    import numpy as np

    from backprop.gpt2_params import init_params
    from generated.torch import gpt2

    rng = np.random.default_rng(0)
    params = {k: torch.from_numpy(v) for k, v in init_params(rng, 2, 8, 6, 11, tied=True, dtype=np.float32).items()}
    idx = torch.from_numpy(rng.integers(0, 11, (2, 6)))
    explained = torch._dynamo.explain(gpt2._step)(params, idx, 2, 1e-5, "gelu_tanh")
    assert (explained.graph_count, explained.graph_break_count) == (1, 0), explained.break_reasons
