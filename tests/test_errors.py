"""Bad input fails early with an error that says what is wrong."""
import numpy as np
import pytest
import sympy as sp

from backprop.cli import main
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
    with pytest.raises(MissingRule, match="MatPow"):  # refused where it is written
        c.output("Y", sp.MatPow(X, 2))


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
    try:
        code = main([command, "attention_typo"])
    except SystemExit as exit_:
        code = exit_.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "linear" in err and "mlp" in err and "layernorm" in err


def test_unknown_target_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["generate", "--target", "fortran", "--check"])
    assert exit_.value.code == 2


@pytest.mark.parametrize("argv, message", [
    (["check", "linear", "--trials", "0"], "--trials must be at least 1, got 0"),
    (["check", "linear", "--seed", "-1"], "--seed must be 0 or more, got -1"),
    (["check", "gpt2_untied"], "`check` knows: embedding"),
])
def test_check_refuses_arguments_that_would_check_nothing(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_check_covers_the_whole_model(capsys):
    assert main(["check", "gpt2", "--trials", "1", "--target", "numpy", "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "h.0.attn.c_attn.weight" in out and "lm_head.bias" in out and "FAIL" not in out


def test_an_unknown_target_is_refused_before_anything_is_derived(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["generate", "--target", "bogus"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'bogus'" in err and "deriving" not in err


@pytest.mark.parametrize("flags, message", [
    (["--layers", "3"], "--layers: a LoRA run takes the model's shape from --init"),
    (["--width", "8", "--untied"], "--width, --untied: a LoRA run takes the model's shape from --init"),
])
def test_lora_runs_refuse_flags_they_would_ignore(tmp_path, flags, message, capsys):
    assert main(["train", "--lora", "r=2,alpha=4", "--init", str(tmp_path / "base.safetensors"), *flags]) == 2
    assert message in capsys.readouterr().err


def test_data_that_is_a_folder_or_not_utf8_is_named(tmp_path, capsys):
    binary = tmp_path / "data.bin"
    binary.write_bytes(b"text then \xff\xfe bytes")
    for path, message in [(tmp_path, "is a folder, not a text file"),
                          (binary, "not UTF-8 text (byte 0xff at offset 10)")]:
        assert main(["train", "--data", str(path), "--out", str(tmp_path / "run"), "--steps", "1"]) == 2
        err = capsys.readouterr().err
        assert f"--data {path}: {message}" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("target", ["numpy", "torch"])
def test_configuration_types_are_checked_or_normalised(target):
    import importlib

    import torch

    attention = importlib.import_module(f"generated.{target}.attention")
    wrap = torch.from_numpy if target == "torch" else np.asarray
    rng = np.random.default_rng(0)
    X, W, b = wrap(rng.standard_normal((2, 3, 4))), wrap(rng.standard_normal((4, 4))), wrap(np.zeros(4))
    out, _ = attention.forward(X, W, b, W, b, W, b, n_heads=np.int64(2), causal=np.bool_(True))
    expected, _ = attention.forward(X, W, b, W, b, W, b, n_heads=2, causal=True)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(expected))
    for config, message in [({"n_heads": 2, "causal": None}, "causal must be True or False, got None"),
                            ({"n_heads": 2.0}, "n_heads must be a positive integer, got 2.0"),
                            ({"n_heads": True}, "n_heads must be a positive integer, got True")]:
        with pytest.raises(ValueError, match=message):
            attention.forward(X, W, b, W, b, W, b, **config)
    ln = importlib.import_module(f"generated.{target}.layernorm")
    with pytest.raises(ValueError, match="eps must be a finite number, got nan"):
        ln.forward(X, wrap(np.ones(4)), b, eps=float("nan"))


@pytest.mark.parametrize("target", ["numpy", "torch"])
def test_an_empty_batch_works_or_says_why(target):
    import importlib

    import torch

    wrap = torch.from_numpy if target == "torch" else np.asarray
    linear_ = importlib.import_module(f"generated.{target}.linear")
    out, cache = linear_.forward(wrap(np.ones((0, 5, 3))), wrap(np.ones((3, 2))), wrap(np.ones(2)))
    grads = linear_.backward(wrap(np.ones((0, 5, 2))), cache)
    assert tuple(out.shape) == (0, 5, 2) and float(np.abs(np.asarray(grads["W"])).sum()) == 0.0
    ce = importlib.import_module(f"generated.{target}.cross_entropy")
    with pytest.raises(ValueError, match=r"the batch is empty \(leading dimensions \(0,\)\): cross_entropy needs"):
        ce.forward(wrap(np.ones((0, 5, 3))), wrap(np.ones((3, 4))), wrap(np.ones(4)), wrap(np.zeros((0, 5), int)))
