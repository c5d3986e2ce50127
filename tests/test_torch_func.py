"""The generated autograd Functions under torch.func: grad, vmap of grad (per-sample gradients), jvp
(the derived forward mode), hessian and jvp of grad (Hessian-vector products) equal the same transforms
through torch's own layers (and the Hugging Face layout of LLaMA's block) in float64."""
import pytest
import torch
import torch.func as tf
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from backprop import llama_params
from derive.components import build
from generated.torch.attention import AttentionFunction
from generated.torch.layernorm import LayerNormFunction
from generated.torch.llama_block import LlamaBlockFunction
from generated.torch.mlp import MLPFunction

TOLERANCE = 1e-10


def _layernorm():
    d = 5
    shapes = {"X": (3, 4, d), "w": (d,), "b": (d,)}
    return (shapes, lambda X, w, b: LayerNormFunction.apply(X, w, b, 1e-5),
            lambda X, w, b: F.layer_norm(X, (d,), w, b, 1e-5))


def _mlp():
    d, d_ff = 3, 4
    shapes = {"X": (2, 3, d), "W_1": (d, d_ff), "b_1": (d_ff,), "W_2": (d_ff, d), "b_2": (d,)}
    return (shapes, lambda X, W_1, b_1, W_2, b_2: MLPFunction.apply(X, W_1, b_1, W_2, b_2, "gelu_tanh"),
            lambda X, W_1, b_1, W_2, b_2: F.gelu(X @ W_1 + b_1, approximate="tanh") @ W_2 + b_2)


def _attention():
    d, heads = 4, 2
    shapes = {"X": (2, 3, d), "W_q": (d, d), "b_q": (d,), "W_k": (d, d), "b_k": (d,), "W_v": (d, d),
              "b_v": (d,)}

    def torch_attention(X, W_q, b_q, W_k, b_k, W_v, b_v):
        def heads_of(Y):
            return Y.unflatten(-1, (heads, d // heads)).transpose(-3, -2)

        # SDPA's math, spelled out: torch's fused kernel has no forward mode (the generated one has)
        Q, K, V = heads_of(X @ W_q + b_q), heads_of(X @ W_k + b_k), heads_of(X @ W_v + b_v)
        n = X.shape[-2]
        above = torch.ones(n, n, dtype=torch.bool).triu(1)
        S = (Q @ K.mT / (d // heads) ** 0.5).masked_fill(above, float("-inf"))
        return (torch.softmax(S, -1) @ V).transpose(-3, -2).flatten(-2)

    return (shapes, lambda *a: AttentionFunction.apply(*a, heads, True), torch_attention)


def _llama_block():
    d, heads, kv_heads, d_ff = 4, 2, 1, 6
    c = build("llama_block")
    keys = [a.name for a in c.tensor_arguments]
    shapes = {"X": (2, 3, d), "input_norm_w": (d,), "W_q": (d, d), "W_k": (d // heads * kv_heads, d),
              "W_v": (d // heads * kv_heads, d), "W_o": (d, d), "post_norm_w": (d,), "W_gate": (d_ff, d),
              "W_up": (d_ff, d), "W_down": (d, d_ff)}
    assert list(shapes) == keys

    def hugging_face(X, *weights):
        from derive.components.llama import HF_BLOCK

        # SDPA's math backend: its fused CPU kernel has no forward mode (the generated block has)
        with sdpa_kernel(SDPBackend.MATH):
            return llama_params.block(X, {HF_BLOCK[k]: w for k, w in zip(keys[1:], weights)}, heads, kv_heads)

    return (shapes, lambda *a: LlamaBlockFunction.apply(*a, heads, kv_heads, 10000.0, 1e-6), hugging_face)


LAYERS = {"layernorm": _layernorm, "mlp": _mlp, "attention": _attention, "llama_block": _llama_block}


def _arguments(shapes, seed):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(*s, generator=generator, dtype=torch.float64) for s in shapes.values()]


def _close(ours, theirs):
    ours, theirs = tf_flatten(ours), tf_flatten(theirs)
    assert len(ours) == len(theirs)
    for mine, reference in zip(ours, theirs):
        scale = max(float(reference.abs().max()), 1.0)
        assert float((mine - reference).abs().max()) <= TOLERANCE * scale


def tf_flatten(value):
    return torch.utils._pytree.tree_leaves(value)


def _loss(layer):
    return lambda *a: torch.sin(layer(*a)).sum()  # not quadratic: the second derivatives are the layer's own


@pytest.mark.parametrize("name", LAYERS)
def test_transforms_through_generated_function_equal_torch_layers(name):
    shapes, ours, theirs = LAYERS[name]()
    arguments = _arguments(shapes, 0)
    tangents = _arguments(shapes, 1)
    every = tuple(range(len(arguments)))
    X, rest = arguments[0], arguments[1:]
    transforms = {
        "grad": lambda f: tf.grad(_loss(f), argnums=every)(*arguments),
        # per-sample gradients: vmap over the batch axis of X, the weights shared
        "vmap(grad)": lambda f: tf.vmap(tf.grad(_loss(f), argnums=every), in_dims=(0,) + (None,) * len(rest))(
            *arguments),
        "jvp": lambda f: tf.jvp(f, tuple(arguments), tuple(tangents)),
        "hessian": lambda f: tf.hessian(_loss(lambda x: f(x, *rest)))(X[0]),
        "jvp(grad)": lambda f: tf.jvp(tf.grad(_loss(f), argnums=every), tuple(arguments), tuple(tangents)),
    }
    for transform, apply in transforms.items():
        try:
            _close(apply(ours), apply(theirs))
        except AssertionError:
            raise AssertionError(f"{name}: {transform} differs from torch's") from None


def test_jvp_of_the_module_is_the_derived_forward_mode():
    """The module's own ``jvp`` (no autograd) against torch.func.jvp of torch's layer; None is zero."""
    from generated.numpy import layernorm as numpy_layernorm
    from generated.torch import layernorm

    shapes, _, theirs = _layernorm()
    (X, w, b), (dX, dw, db) = _arguments(shapes, 2), _arguments(shapes, 3)
    _, expected = tf.jvp(theirs, (X, w, b), (dX, dw, db))
    _close(layernorm.jvp(X, w, b, dX, dw, db), expected)
    _close(torch.from_numpy(numpy_layernorm.jvp(X.numpy(), w.numpy(), b.numpy(), dX.numpy(), dw.numpy(),
                                                db.numpy())), expected)
    _, only_w = tf.jvp(lambda w: theirs(X, w, b), (w,), (dw,))
    _close(layernorm.jvp(X, w, b, dw=dw), only_w)


def test_plain_forward_mode_ad_uses_the_derived_jvp():
    import torch.autograd.forward_ad as fwAD

    shapes, ours, theirs = _layernorm()
    arguments, tangents = _arguments(shapes, 4), _arguments(shapes, 5)
    _, expected = tf.jvp(theirs, tuple(arguments), tuple(tangents))
    with fwAD.dual_level():
        out = ours(*(fwAD.make_dual(a, t) for a, t in zip(arguments, tangents)))
        _close(fwAD.unpack_dual(out).tangent, expected)


def test_a_wrong_jvp_is_refused_by_the_gate():
    """The validation gate checks the forward mode by the adjoint identity: a jvp that is off is a defect."""
    from codegen.render import compile_component
    from reference.gate import check_module

    c = build("layernorm")
    module = compile_component(c, "numpy", validate=False)
    right = module.jvp
    assert check_module(c, module, "numpy") is None
    module.jvp = lambda *a, **k: right(*a, **k) * 1.001
    assert "jvp off by" in check_module(c, module, "numpy")


@pytest.mark.parametrize("name", __import__("derive.components", fromlist=["NAMES"]).NAMES)
def test_a_hessian_vector_product_works_through_every_generated_function(name):
    """jvp(grad) through each built-in's Function (the derived forward mode of its derived backward)
    equals the Hessian-vector product by double backward through the same Function."""
    import numpy as np

    from backprop.verify import configurations, random_arguments, uniform_sizes

    c = build(name)
    sizes = uniform_sizes(name, 3 if name != "layernorm" else 4)
    config = configurations(name, sizes)[0]
    arrays = random_arguments(name, np.random.default_rng(7), sizes, (2,), config=config)
    function = getattr(__import__(f"generated.torch.{name}", fromlist=["_"]), f"{c.module_class}Function")
    values = [config.get(a.name, a.default) for a in c.configs]
    first = next(a.name for a in c.tensor_arguments if a.receives_gradient)
    tensors = {k: torch.from_numpy(v) for k, v in arrays.items()}
    tangent = torch.randn(tensors[first].shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)

    def loss(x):
        return torch.sin(function.apply(*(x if k == first else t for k, t in tensors.items()), *values)).sum()

    _, ours = tf.jvp(tf.grad(loss), (tensors[first],), (tangent,))
    x = tensors[first].clone().requires_grad_()
    (g,) = torch.autograd.grad(loss(x), x, create_graph=True)
    (expected,) = torch.autograd.grad((g * tangent).sum(), x)
    torch.testing.assert_close(ours, expected, rtol=1e-10, atol=1e-10)
