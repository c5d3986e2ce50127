"""A component with several outputs: forward returns them in declaration order, backward takes one
upstream gradient per output (None is zero), the Torch Function and nn.Module return the tuple, and an
output that later definitions read again gathers both its upstream gradient and theirs."""
import numpy as np
import pytest
import sympy as sp
import torch

import derive as D
from codegen.render import compile_component


def qk_scores():
    """Q and K returned apart, and an auxiliary loss of their scores: Q and K are read again by S."""
    c = D.Component("qk_scores", "Q and K apart, and an auxiliary loss of their scores")
    n, d = c.dims("n_T d")
    X = c.input("X", n, d)
    W_q, W_k = c.param("W_q", d, d), c.param("W_k", d, d)
    Q = c.output("Q", D.matmul(X, W_q))
    K = c.output("K", D.matmul(X, W_k))
    S = c.let("S", D.scale(1 / sp.sqrt(d), D.matmul(Q, D.T(K))))
    c.output("aux", D.batch_sum(D.row_sum(D.token_sum(D.hadamard(S, S)))))
    return c


def reference(X, W_q, W_k):
    Q, K = X @ W_q, X @ W_k
    S = Q @ K.mT / X.shape[-1] ** 0.5
    return Q, K, (S * S).sum()


def _arguments(seed=0, batch=(2,)):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*s, generator=g, dtype=torch.float64) for s in ((*batch, 3, 4), (4, 4), (4, 4))]


@pytest.mark.parametrize("target", ["numpy", "torch", "numba"])
def test_forward_and_backward_of_several_outputs_match_autograd(target):
    module = compile_component(qk_scores(), target)
    arguments = _arguments()
    as_library = (lambda t: t) if target == "torch" else (lambda t: t.numpy())
    outputs, cache = module.forward(*map(as_library, arguments))
    assert isinstance(outputs, tuple) and len(outputs) == 3
    leaves = [a.clone().requires_grad_() for a in arguments]
    expected = reference(*leaves)
    for got, want in zip(outputs, expected):
        np.testing.assert_allclose(np.asarray(got), want.detach().numpy(), rtol=1e-12, atol=1e-12)
    G = (torch.randn(2, 3, 4, dtype=torch.float64), None, torch.tensor(0.7, dtype=torch.float64))  # K's upstream gradient None: zero
    grads = module.backward(tuple(None if g is None else as_library(g) for g in G), cache)
    torch.autograd.backward([expected[0], expected[2]], [G[0], G[2]])
    for name, leaf in zip(("X", "W_q", "W_k"), leaves):
        np.testing.assert_allclose(np.asarray(grads[name]), leaf.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_backward_refuses_the_wrong_number_of_upstream_gradients():
    module = compile_component(qk_scores(), "numpy")
    _, cache = module.forward(*(a.numpy() for a in _arguments()))
    with pytest.raises(ValueError, match="expected a tuple of 3 upstream gradients"):
        module.backward(np.ones((2, 3, 4)), cache)
    with pytest.raises(ValueError, match="grad_out for K: expected shape"):
        module.backward((None, np.ones((3, 4)), None), cache)


def test_torch_function_and_module_return_the_tuple_and_torch_func_sees_them():
    module = compile_component(qk_scores(), "torch")
    X, W_q, W_k = _arguments(1)
    Q, K, aux = module.QkScoresFunction.apply(X, W_q, W_k)
    assert aux.shape == () and Q.shape == K.shape == (2, 3, 4)

    def loss(f):
        return lambda X, W_q, W_k: (lambda Q, K, aux: (torch.sin(Q) * K).sum() + aux)(*f(X, W_q, W_k))

    ours = loss(module.QkScoresFunction.apply)
    theirs = loss(reference)
    for transform in (lambda f: torch.func.grad(f, argnums=(0, 1, 2))(X, W_q, W_k),
                      lambda f: torch.func.jvp(f, (X, W_q, W_k), tuple(_arguments(2)))):
        for mine, want in zip(torch.utils._pytree.tree_leaves(transform(ours)),
                              torch.utils._pytree.tree_leaves(transform(theirs))):
            torch.testing.assert_close(mine, want, rtol=1e-10, atol=1e-10)
    layer = module.QkScores(4, dtype=torch.float64)
    assert len(layer(X)) == 3


def test_the_derivation_names_each_upstream_gradient():
    from derive.derivation import render

    text = render(D.derive(qk_scores()))
    assert "Ḡ_Q, Ḡ_K, Ḡ_aux are the upstream gradients ∂L/∂Q, ∂L/∂K, ∂L/∂aux" in text
    assert "Δ_Q = Ḡ_Q +" in text.replace("\n", " ") or "Δ_Q" in text  # Q also reaches S


def test_one_output_keeps_its_contract():
    c = D.Component("single", "one output")
    n, d = c.dims("n_T d")
    X = c.input("X", n, d)
    c.output("Y", D.hadamard(X, X))
    module = compile_component(c, "numpy")
    Y, cache = module.forward(np.ones((2, 3)))
    assert isinstance(Y, np.ndarray)
    assert module.backward(np.ones((2, 3)), cache)["X"].shape == (2, 3)


def test_an_output_twice_is_refused():
    c = D.Component("twice", "an output twice")
    n, d = c.dims("n_T d")
    Y = c.output("Y", D.hadamard(c.input("X", n, d), c.input("Z", n, d)))
    with pytest.raises(D.DefinitionError, match="Y is an output already"):
        c.output("Y", Y)


def test_an_output_that_depends_on_nothing_differentiable_has_a_zero_tangent():
    c = D.Component("partly_constant", "an output of frozen values beside a differentiable one")
    n, d = c.dims("n_T d")
    X, M, W = c.input("X", n, d), c.input("M", n, d, frozen=True), c.param("W", d, d)
    c.output("Y", D.matmul(X, W))
    c.output("C", D.hadamard(M, M))
    module = compile_component(c, "numpy")
    X_, M_, W_ = np.ones((2, 3)), np.full((2, 3), 2.0), np.eye(3)
    dY, dC = module.jvp(X_, M_, W_, dW=np.eye(3))
    np.testing.assert_allclose(dY, X_ @ np.eye(3))
    assert dC.shape == (2, 3) and not dC.any()
