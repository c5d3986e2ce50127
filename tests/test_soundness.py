"""Regression tests for the classes of definitions the engine used to get wrong.

Each case is compared, both backends, float64, with the reference semantics (the forward
definition evaluated directly with torch) and autograd through it: ``differential_check``.
"""
import numpy as np
import pytest
import sympy as sp

import derive as D
from backprop.verify import differential_check, relative_error
from codegen.render import compile_component


def component(*names):
    c = D.Component("case", "a case")
    return c, c.dims(" ".join(names))


def right(c):
    result = differential_check(c, seed=1, trials=3)
    assert result.outcome == "right", f"{result.outcome}: {result.detail}"
    assert result.cases > 0


# ---------------------------------------------------------------- 1. batch semantics


def test_squared_error_head_written_inline():
    c, (n, d, e) = component("n_T", "d", "e")
    X, T = c.input("X", n, d), c.input("T", n, e)
    W, b = c.param("W", d, e), c.param("b", e)
    R = c.let("R", D.sub(D.add(D.matmul(X, W), D.rows(b, n)), T))
    c.output("L", D.scale(sp.Rational(1, 2), D.batch_sum(D.token_sum(D.row_sum(D.hadamard(R, R))))))
    right(c)


@pytest.mark.parametrize("build", [
    lambda X: D.sub(D.batch_sum(X), X),                     # Σ_batch X − X: ∂L/∂X is not 0
    lambda X: D.hadamard(D.batch_sum(X), X),                # (Σ_batch Z) ∘ Z
    lambda X: D.batch_sum(X),                               # ∂L/∂X keeps the batch axes
])
def test_batch_sums_meeting_batched_values(build):
    c, (n, d) = component("n_T", "d")
    c.output("Y", build(c.input("X", n, d)))
    right(c)


def test_centring_over_the_batch():
    c, (n, d) = component("n_T", "d")
    X = c.input("X", n, d)
    c.output("Y", D.sub(X, D.scale(1 / c.batch_size(), D.batch_sum(X))))
    right(c)


def test_batch_sum_of_a_parameter_is_n_batch_times_it():
    c, (n, d) = component("n_T", "d")
    X, W = c.input("X", n, d), c.param("W", d, d)
    c.output("Y", D.add(D.matmul(X, W), D.rows(D.token_sum(D.batch_sum(W)), n)))
    right(c)



@pytest.mark.parametrize("target", ["numpy", "torch"])
def test_batch_sum_of_a_value_with_no_rows(target):
    """first_rows(X, n_T − 1) at n_T = 1 has no rows: its sum over the batch is (0, d), not a crash in
    a reshape to (-1, 0, d)."""
    import torch

    from reference.semantics import gradients

    c, (n, d) = component("n_T", "d")
    X = c.input("X", n, d)
    c.output("Y", D.add(X, D.rows(D.token_sum(D.hadamard(X, X)), n)))
    c.let("unused", D.batch_sum(D.first_rows(X, n - 1)))
    c2, (n2, d2) = component("n_T", "d")
    X2 = c2.input("X", n2, d2)
    S = c2.let("S", D.batch_sum(D.first_rows(X2, n2 - 1)))
    c2.output("Y", D.add(X2, D.rows(D.token_sum(D.hadamard(S, S)), n2)))
    for case in (c, c2):
        module = compile_component(case, target)
        X_value = torch.randn(3, 1, 4, dtype=torch.float64)
        G = torch.randn(3, 1, 4, dtype=torch.float64)
        out, cache = module.forward(X_value if target == "torch" else X_value.numpy())
        grads = module.backward(G if target == "torch" else G.numpy(), cache)
        ref_out, ref_grads = gradients(case, {"X": X_value}, {}, G)
        assert relative_error(np.asarray(out), ref_out.detach().numpy()) <= 1e-12
        assert relative_error(np.asarray(grads["X"]), ref_grads["X"].numpy()) <= 1e-12

# ---------------------------------------------------------------- 2. broadcasts


@pytest.mark.parametrize("build", [
    lambda X, n, d: D.token_sum(D.matmul(sp.OneMatrix(n, 1), D.token_sum(X))),     # 1ᵀ (1 (1ᵀ X)) = n 1ᵀ X
    lambda X, n, d: D.logsumexp(D.cols(D.row_sum(X), d)),                         # lse((X 1) 1ᵀ) = X 1 + log d
    lambda X, n, d: D.softmax(D.cols(D.row_sum(X), d)),                           # every entry 1/d, (n, d)
    lambda X, n, d: D.row_mean(D.cols(D.logsumexp(X), d)),                        # mean_f(lse(Z) 1ᵀ) = lse(Z)
    lambda X, n, d: D.row_mean(X),                                                # ∂L/∂X is (…, n, d)
])
def test_broadcasts_are_counted_where_they_are_reduced(build):
    c, (n, d) = component("n_T", "d")
    c.output("Y", build(c.input("X", n, d), n, d))
    right(c)


@pytest.mark.parametrize("build", [
    lambda c, b, n, d: D.token_sum(D.row_sum(c.let("V", D.rows(b, d)).T)),         # 1ᵀ (1 bᵀ)ᵀ 1 = d 1ᵀ b
    lambda c, b, n, d: D.token_sum(D.row_sum(D.hadamard(D.rows(b, n), D.rows(b, n)))),  # a broadcast row squared
    lambda c, b, n, d: D.softmax(c.let("V", D.rows(b, d)).T),                        # a broadcast column's softmax
    lambda c, b, n, d: D.token_sum(D.row_sum(D.rows(D.add(b, D.matmul(D.row_sum(b), sp.OneMatrix(1, d))), n))),
    lambda c, b, n, d: D.token_sum(c.let("V", D.matmul(D.softmax(b), c.param("W", d, d))).T),
])
def test_a_broadcast_row_of_a_vector_keeps_its_count_through_transposes_and_products(build):
    c, (n, d) = component("n_T", "d")
    c.input("X", n, d)
    c.output("Y", build(c, c.param("b", d), n, d))
    right(c)


# ---------------------------------------------------------------- 3. heads against batch


def test_a_per_sequence_mask_added_to_head_split_scores():
    c, (n, d) = component("n_T", "d")
    X, M = c.input("X", n, d), c.input("M", n, n)
    H = c.integer_config("n_heads")
    c.require(sp.Eq(sp.Mod(d, H), 0), "d must be divisible by n_heads")
    Q = c.let("Q", D.split_heads(X, H))
    S = c.let("S", D.add(D.matmul(Q, D.T(Q)), M))
    c.output("A", D.merge_heads(D.matmul(D.softmax(S), Q), H))
    right(c)


def test_a_parameter_through_split_heads():
    c, (n, d) = component("n_T", "d")
    X, W = c.input("X", n, d), c.param("W", n, d)
    H = c.integer_config("n_heads")
    c.require(sp.Eq(sp.Mod(d, H), 0), "d must be divisible by n_heads")
    c.output("A", D.merge_heads(D.hadamard(D.split_heads(X, H), D.split_heads(W, H)), H))
    right(c)


# ---------------------------------------------------------------- 4. vector parameters


@pytest.mark.parametrize("build", [
    lambda X, W, U, b, n: D.matmul(X, D.T(b)),                               # X bᵀ… as a column
    lambda X, W, U, b, n: D.rows(D.matmul(b, W, U), n),                     # bᵀ W U
    lambda X, W, U, b, n: D.add(D.matmul(X, W, U), D.rows(D.matmul(b, W, U), n)),
    lambda X, W, U, b, n: D.hadamard(X, D.rows(D.prefix_sum(b), n)),       # a prefix sum of b
])
def test_vector_parameters_in_any_position(build):
    c, (n, d) = component("n_T", "d")
    X, W, U, b = c.input("X", n, d), c.param("W", d, d), c.param("U", d, d), c.param("b", d)
    c.output("Y", build(X, W, U, b, n))
    right(c)


# ---------------------------------------------------------------- 5. passes and their preconditions


def test_a_product_with_its_own_input_is_not_fused():
    c, (n, d) = component("n_T", "d")
    A, Q = c.input("A", n, n), c.input("Q", n, d)
    c.output("Y", D.matmul(A, c.let("H1", D.matmul(A, Q))))  # H2 = A H1 with H1 = A Q
    right(c)


def test_log_sum_exp_of_a_log_sum_exp():
    c, (n, d) = component("n_T", "d")
    c.output("Y", D.logsumexp(D.logsumexp(c.input("Z", n, d))))
    right(c)


def test_a_function_sympy_cannot_simplify_is_kept_as_written():
    c, (n, d) = component("n_T", "d")
    c.output("Y", D.pointwise(sp.Min(sp.Max(sp.sign(D.x) * D.x**2, -1), 1), c.input("X", n, d)))
    right(c)


def test_a_fixed_size_of_one_in_an_argument_is_a_size_not_a_name():
    c, (n, d) = component("n_T", "d")
    X, W = c.input("X", n, 1), c.param("W", 1, d)
    T = c.let("T", D.matmul(X, W))
    c.output("Y", D.add(D.row_contract(X, T), T))  # row_contract with p = 1, W reused
    right(c)


def test_row_contract_with_one_column_of_queries():
    c, (n, d) = component("n_T", "d")
    X, W, U = c.input("X", n, d), c.param("W", d, 1), c.param("U", d, d)
    c.output("Y", D.row_contract(c.let("q", D.matmul(X, W)), D.matmul(X, U)))
    right(c)



# ---------------------------------------------------------------- gathers of each sequence's own rows


@pytest.mark.parametrize("build", [
    lambda X, W, idx: D.gather(D.matmul(X, D.T(X), W), idx),                       # rows of a batched value
    lambda X, W, idx: D.add(D.gather(X, idx), D.gather(W, idx)),                   # with a parameter's rows
    lambda X, W, idx: D.hadamard(D.gather(X, idx), D.gather(D.gather(X, idx), idx)),  # a gather of a gather
])
def test_a_gather_from_a_batched_table_picks_each_sequences_own_rows(build):
    c, (n, d) = component("n_T", "d")
    X, W, idx = c.input("X", n, d), c.param("W", n, d), c.input("idx", n, dtype="int")
    c.output("Y", build(X, W, idx))
    right(c)


def test_a_gather_from_a_table_split_into_heads_is_refused_where_it_is_written():
    c, (n, d) = component("n_T", "d")
    X, idx = c.input("X", n, d), c.input("idx", n, dtype="int")
    H = c.integer_config("H")
    with pytest.raises(D.DefinitionError, match="the table of a gather is split into heads"):
        c.output("Y", D.merge_heads(D.gather(D.split_heads(X, H), idx), H))

# ---------------------------------------------------------------- 6. refused where written


def test_nodes_without_a_rule_are_refused_where_written():
    c, (n, d) = component("n_T", "d")
    X = c.input("X", n, d)
    with pytest.raises(D.MissingRule, match="BlockMatrix"):
        c.let("B", sp.BlockMatrix([[X, X]]))
    alpha = c.param("alpha", 1, 1)
    with pytest.raises(D.DefinitionError, match="entry of a matrix"):
        c.let("Y", D.scale(alpha[0, 0], X))
    with pytest.raises(D.DefinitionError, match="not an argument or an earlier definition"):
        c.let("Z", D.matmul(X, sp.MatrixSymbol("V", d, d)))
    with pytest.raises(D.DefinitionError, match="no heads to merge"):
        c.let("M", D.merge_heads(X, c.integer_config("n_heads")))


def test_a_dimension_no_argument_binds_is_refused():
    c, (n, d, e) = component("n_T", "d", "e")
    X = c.input("X", n, d)
    c.output("Y", D.cols(D.row_sum(X), e))
    with pytest.raises(D.DefinitionError, match="dimension e is not the size of any argument"):
        c.validate()


# ---------------------------------------------------------------- 7. a NaN is never dropped


def test_nan_differences_are_failures():
    assert relative_error(np.array([np.nan, 1.0]), np.array([0.0, 1.0])) == float("inf")
    assert relative_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0


# ---------------------------------------------------------------- 8. text is data


def test_user_text_enters_generated_code_only_as_literals(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    c = D.Component("texty", 'a """title""" \\ with quotes"', 'a description with """ in it')
    n, d = c.dims("n_T d")
    X = c.input("X", n, d, doc='doc with """ and a trailing quote"')
    c.activation("act", "relu", ("relu", "gelu"))
    k = c.integer_config("k")
    c.require(sp.Ge(d, k), "{__import__('pathlib').Path('pwned').touch()} and a \" quote")
    c.output("Y", D.scale(2, X))
    for target in ("numpy", "torch"):
        module = compile_component(c, target)
        with pytest.raises(ValueError, match="pathlib"):
            module.forward(np.ones((2, 3)) if target == "numpy" else __import__("torch").ones(2, 3), k=5)
        assert not (tmp_path / "pwned").exists()
        assert 'a """title""" \\ with quotes"' in module.forward.__doc__ or "title" in module.forward.__doc__
