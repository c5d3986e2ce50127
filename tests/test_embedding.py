"""Embedding: a gather forward, a scatter-add backward, never a one-hot matrix."""
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

from derive.components import build
from derive.families.tokens import pad_rows
from derive.primitives import BatchSum, Cotangent, ScatterAdd
from derive.reverse import derive
from generated.numpy import embedding


def test_token_gradient_is_a_scatter_add_of_the_upstream_rows():
    derivation = derive(build("embedding"))
    X = derivation.component.output_symbol
    idx = derivation.component.argument("idx").symbol
    n_vocab = sp.Symbol("n_vocab", positive=True, integer=True)
    n_context = sp.Symbol("n_context", positive=True, integer=True)
    assert derivation.gradients["W_tok"].expr == BatchSum(ScatterAdd(Cotangent("X", *X.shape), idx, n_vocab))
    assert derivation.gradients["W_pos"].expr == pad_rows(BatchSum(Cotangent("X", *X.shape)), n_context)
    assert "idx" not in derivation.gradients  # integer tokens take no gradient


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_no_one_hot_matrix_is_built(backend):
    source = Path(__file__).resolve().parent.parent / f"generated/{backend}/embedding.py"
    text = source.read_text().lower()
    assert "one_hot" not in text and "eye(" not in text
    assert ("np.add.at" if backend == "numpy" else "index_add_") in text


def test_repeated_tokens_accumulate():
    W_tok, W_pos = np.arange(12.0).reshape(4, 3), np.zeros((5, 3))
    idx = np.array([[1, 1, 3], [1, 0, 3]])
    out, cache = embedding.forward(idx, W_tok, W_pos)
    grads = embedding.backward(np.ones_like(out), cache)
    np.testing.assert_array_equal(grads["W_tok"][:, 0], [1.0, 3.0, 0.0, 2.0])
    np.testing.assert_array_equal(grads["W_pos"][:, 0], [2.0, 2.0, 2.0, 0.0, 0.0])


@pytest.mark.parametrize("idx, message", [
    (np.array([0, 4]), r"idx: index 4 outside \[0, 4\)"),
    (np.array([-1, 2]), r"idx: index -1 outside \[0, 4\)"),
    (np.array([0.0, 1.0]), "expected integer indices"),
    (np.zeros(6, dtype=int), r"n_T must be at most n_context; got n_T=6, n_context=5"),
])
def test_bad_indices_name_the_offending_value(idx, message):
    with pytest.raises(ValueError, match=message):
        embedding.forward(idx, np.zeros((4, 3)), np.zeros((5, 3)))


def test_torch_rejects_bad_indices_too():
    import torch

    from generated.torch.embedding import Embedding

    layer = Embedding(4, 5, 3)
    with pytest.raises(ValueError, match=r"idx: index 7 outside \[0, 4\)"):
        layer(torch.tensor([[0, 7]]))
    out = layer(torch.tensor([[0, 3, 3]]))
    out.sum().backward()
    assert layer.W_tok.grad[3].sum() != 0 and torch.all(layer.W_tok.grad[1] == 0)
