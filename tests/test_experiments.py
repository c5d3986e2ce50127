"""`backprop experiment NAME` at a tiny size: every output written, and each finding's figures."""
import json

import pytest

from backprop.cli import main


@pytest.mark.parametrize("name, steps", [("key-bias", 6), ("positions", 4), ("lora-alpha", 3), ("norm-jacobian", 0),
                                         ("embedding-sparsity", 3), ("layernorm-vs-batchnorm", 4)])
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
    if name == "lora-alpha":  # the paper's sweep, with validation losses and stability in the numbers
        assert numbers["alphas"] == [1, 16, 64, 256]
        assert set(numbers["validation_loss"]) == set(numbers["loss_spikes"]) == {"1", "16", "64", "256"}
        assert "validation loss" in summary and "spikes" in summary
    if name == "embedding-sparsity":  # the non-zero rows of the scatter-add are exactly the distinct tokens
        assert numbers["every_step_nonzero_rows_equal_distinct_tokens"]
        assert numbers["gpt2_vocabulary_timing"]["max_difference"] == 0.0
    if name == "layernorm-vs-batchnorm":  # BatchNorm couples sequences, LayerNorm never does
        assert numbers["coupling_across_sequences"]["layernorm"] == 0.0
        assert numbers["coupling_across_sequences"]["batchnorm"] > 0.1
    assert main(argv) == 2  # never overwritten by surprise
    assert "pass --force" in capsys.readouterr().err


def test_unknown_or_mismatched_experiment_arguments(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["experiment", "bogus"])
    assert main(["experiment", "positions", "--backend", "numpy", "--out", str(tmp_path)]) == 2
    assert "generated Torch modules" in capsys.readouterr().err


def test_norm_jacobian_refuses_steps_it_would_ignore(tmp_path, capsys):
    assert main(["experiment", "norm-jacobian", "--steps", "5", "--out", str(tmp_path)]) == 2
    assert "takes no --steps" in capsys.readouterr().err


def test_regenerate_line_names_the_backend_and_steps_given(tmp_path):
    assert main(["experiment", "norm-jacobian", "--backend", "torch", "--out", str(tmp_path), "--no-progress"]) == 0
    assert "`backprop experiment norm-jacobian --backend torch`" in (tmp_path / "norm-jacobian.md").read_text()


def test_findings_read_a_lower_loss_as_an_improvement():
    from backprop.experiments import _change, _smooth, _spikes

    assert _change(-0.231) == "lower the validation loss by 0.231 nats"
    assert _change(0.05) == "raise the validation loss by 0.050 nats"
    assert list(_smooth([1.0, 3.0, 5.0], window=2)) == [1.0, 2.0, 4.0]
    assert _spikes([1.0] * 30 + [2.0] + [1.0] * 5) == 1


def test_the_derived_batchnorm_is_right_against_the_reference():
    from backprop.experiments import batchnorm_component
    from backprop.verify import differential_check

    result = differential_check(batchnorm_component(), seed=2, trials=3)
    assert result.outcome == "right", result.detail
