"""The `backprop` command as a user runs it."""
import subprocess
import sys

import pytest

from backprop.cli import main


def test_list_shows_every_component_with_shapes(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "linear" in out and "X (..., n_T, d_in)" in out and "W (d_in, d_out)" in out
    assert "activation='gelu_tanh'" in out and "eps=1e-05" in out


def test_show_prints_definition_steps_and_gradients(capsys):
    assert main(["show", "linear"]) == 0
    out = capsys.readouterr().out
    assert "Forward definition" in out and "Y = X W + 1 bᵀ" in out
    assert "[matmul]" in out and "Gradients" in out
    assert "∂L/∂X = Δ_Y Wᵀ" in out
    assert "∂L/∂W = Σ_batch (Xᵀ Δ_Y)" in out
    assert "∂L/∂b = Σ_batch (1ᵀ Δ_Y)" in out


def test_a_target_that_cannot_run_here_is_refused_or_left_out(capsys, monkeypatch):
    """The targets come from the backends' registry; one whose optional install is missing is refused
    when asked for by name, and left out (said once) of --target all."""
    from codegen.backends import BACKENDS

    monkeypatch.setattr(type(BACKENDS["numba"]), "installed", lambda self: False)
    assert main(["check", "linear", "--target", "numba"]) == 2
    assert "--target numba needs Numba: pip install 'pedestrian-backprop[numba]'" in capsys.readouterr().err
    assert main(["check", "linear", "--trials", "1"]) == 0
    captured = capsys.readouterr()
    assert "the numba target is not checked" in captured.err and "numba " not in captured.out


def test_show_latex(capsys):
    assert main(["show", "mlp", "--latex"]) == 0
    assert r"\Delta_{H}" in capsys.readouterr().out


def test_check_runs_against_autograd_one_line_per_component_and_target(capsys):
    assert main(["check", "linear", "--trials", "2"]) == 0
    out = capsys.readouterr().out
    assert "max rel. error" in out and "worst relative error" in out and "--verbose" in out
    assert len(out.strip().splitlines()) == 2 + 3 + 1  # header, rule, numpy, numba and torch, the worst
    assert main(["check", "linear", "--trials", "2", "--verbose"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) > 5  # every case and gradient


def test_version_and_every_subcommand_describes_itself(capsys):
    from backprop.cli import parser

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.startswith("backprop ")
    subcommands = next(a for a in parser()._actions if a.dest == "command").choices
    for name, sub in subcommands.items():
        assert sub.description and len(sub.description) > 40, name
        for action in sub._actions:
            assert action.help, (name, action.dest)


def test_console_script_help():
    result = subprocess.run([sys.executable, "-m", "backprop.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "generate" in result.stdout and "show" in result.stdout


def test_show_states_the_papers_results(capsys):
    expected = {
        "attention": ["∂L/∂b_k = 0 identically", "softmax-rows", "∂L/∂b_v = Σ_batch (1ᵀ Δ_A)"],
        "cross_entropy": ["Δ_Z = (1 Δ_ell 1ᵀ) ∘ (softmax(Z) − ohe(idx[1:]))",
                          "weight = 1/(n_batch*(n_T - 1)) if reduction = 'mean'; 1 if reduction = 'sum'",
                          "Δ_ell = weight Δ_loss"],
        "lora_linear": ["∂L/∂A = (alpha/r) Σ_batch (Xᵀ Δ_Y) Bᵀ", "∂L/∂B = (alpha/r) Aᵀ Σ_batch (Xᵀ Δ_Y)"],
        "embedding": ["∂L/∂W_tok = Σ_batch (ohe(idx)ᵀ Δ_X)   [rules: add, gather]"],
    }
    for name, lines in expected.items():
        assert main(["show", name]) == 0
        results = capsys.readouterr().out.split("\nResults\n")
        for line in lines:
            assert line in "".join(results), (name, line)
