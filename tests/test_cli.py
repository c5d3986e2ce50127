"""The `backprop` command as a user runs it."""
import subprocess
import sys

from codegen.cli import main


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


def test_show_latex(capsys):
    assert main(["show", "mlp", "--latex"]) == 0
    assert r"\Delta_{H}" in capsys.readouterr().out


def test_check_runs_against_autograd(capsys):
    assert main(["check", "linear", "--trials", "1"]) == 0
    out = capsys.readouterr().out
    assert "max rel. error" in out and "worst relative error" in out


def test_console_script_help():
    result = subprocess.run([sys.executable, "-m", "codegen.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "generate" in result.stdout and "show" in result.stdout
