"""Bad input fails early with an error that says what is wrong."""
import numpy as np
import pytest
import sympy as sp

from codegen.cli import main
from derive import Component, DefinitionError, MissingRule, ShapeMismatch, add, derive, hadamard, matmul
from generated.numpy import layernorm, linear, mlp


def test_shape_mismatch_names_the_operation_and_both_shapes():
    c = Component("bad", "bad")
    n, d, k = c.dims("n d k")
    X = c.input("X", n, d)
    W = c.param("W", k, d)
    with pytest.raises(ShapeMismatch, match=r"matmul: X has shape \(n, d\) but W has shape \(k, d\)"):
        matmul(X, W)
    with pytest.raises(ShapeMismatch, match=r"hadamard: X has shape \(n, d\) but W has shape \(k, d\)"):
        hadamard(X, W)
    with pytest.raises(ShapeMismatch, match="add"):
        add(X, W)


def test_duplicate_names_are_rejected():
    c = Component("dup", "dup")
    (n,) = c.dims("n")
    c.input("X", n, n)
    with pytest.raises(DefinitionError, match="defined twice"):
        c.param("X", n)


def test_missing_rule_is_an_error_naming_the_primitive():
    c = Component("det", "determinant")
    (n,) = c.dims("n")
    X = c.input("X", n, n)
    c.output("Y", sp.MatPow(X, 2))
    with pytest.raises(MissingRule, match="MatPow"):
        derive(c)


@pytest.mark.parametrize("call, message", [
    (lambda: linear.forward(np.ones(3), np.ones((3, 2)), np.ones(2)),
     r"X: expected shape \(\.\.\., n_T, d_in\), got \(3,\)"),
    (lambda: linear.forward(np.ones((4, 3)), np.ones((5, 2)), np.ones(2)),
     r"W: expected shape \(3, d_out\), got \(5, 2\)"),
    (lambda: linear.forward(np.ones((4, 3)), np.ones((3, 2)), np.ones(3)),
     r"b: expected shape \(2,\), got \(3,\)"),
    (lambda: layernorm.forward(np.ones((2, 4, 3)), np.ones((1, 3)), np.ones(3)),
     r"w: expected shape \(3,\), got \(1, 3\)"),
    (lambda: mlp.forward(np.ones((2, 3)), np.ones((3, 4)), np.ones(4), np.ones((4, 3)), np.ones(3),
                         activation="tanh"),
     "activation must be one of"),
])
def test_generated_forward_rejects_bad_shapes(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_generated_backward_rejects_a_wrong_upstream_shape():
    _, cache = linear.forward(np.ones((4, 3)), np.ones((3, 2)), np.ones(2))
    with pytest.raises(ValueError, match="grad_out"):
        linear.backward(np.ones((4, 3)), cache)


@pytest.mark.parametrize("command", ["show", "check"])
def test_unknown_component_exits_2_listing_the_known_ones(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "attention_typo"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "linear" in err and "mlp" in err and "layernorm" in err


def test_unknown_target_exits_2(capsys):
    assert main(["generate", "--target", "fortran", "--check"]) == 2
