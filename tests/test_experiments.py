"""`backprop experiment NAME` at a tiny size: every output written, and each finding's figures."""
import json

import pytest

from backprop.cli import main


@pytest.mark.parametrize("name, steps", [("key-bias", 6), ("positions", 4), ("lora-alpha", 3), ("norm-jacobian", 0)])
def test_experiment_writes_plot_numbers_and_finding(tmp_path, name, steps, capsys):
    argv = ["experiment", name, "--out", str(tmp_path), "--no-progress"] + (["--steps", str(steps)] if steps else [])
    assert main(argv) == 0
    assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    numbers = json.loads((tmp_path / f"{name}.json").read_text())
    summary = (tmp_path / f"{name}.md").read_text()
    assert summary.startswith(f"# Experiment: {name}") and f"({name}.png)" in summary
    assert capsys.readouterr().out.splitlines()[0] in summary
    if name == "key-bias":  # exact: the softmax gradient of b_k is zero, so AdamW never moves it
        assert numbers["b_k_moved"]["softmax, with b_k"] == 0.0
        assert numbers["max_loss_gap"]["softmax"] < 1e-5 < numbers["max_loss_gap"]["sigmoid"]
    if name == "norm-jacobian":
        assert numbers["LayerNorm"] == 0.0 and numbers["over tokens (BatchNorm-style)"] > 0.1
    assert main(argv) == 2  # never overwritten by surprise
    assert "pass --force" in capsys.readouterr().err


def test_unknown_or_mismatched_experiment_arguments(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["experiment", "bogus"])
    assert main(["experiment", "positions", "--backend", "numpy", "--out", str(tmp_path)]) == 2
    assert "generated Torch modules" in capsys.readouterr().err
