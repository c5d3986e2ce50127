"""Training runs as a user drives them: nothing clobbered, divergence stopped, Ctrl-C saved, --resume exact,
merges checked."""
import json
import os
import signal

import numpy as np
import pytest

from backprop import checkpoints, training
from backprop.cli import main

SHAPE = ["--layers", "1", "--width", "8", "--heads", "2", "--context", "8"]
RUN = ["--batch", "2", "--eval-every", "3", "--sample-chars", "4", "--no-progress"]


@pytest.fixture()
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("the quick brown fox jumps over the lazy dog. " * 30)
    return path


def _train(corpus, out, *flags):
    return main(["train", "--data", str(corpus), "--out", str(out), *SHAPE, *RUN, *flags])


def _history(out):
    return json.loads((out / "history.json").read_text())


def test_training_into_a_run_folder_is_refused_before_training_without_force(tmp_path, corpus, capsys):
    out = tmp_path / "run"
    assert _train(corpus, out, "--steps", "3") == 0
    model = (out / "model.safetensors").read_bytes()
    capsys.readouterr()
    assert _train(corpus, out, "--steps", "3", "--seed", "1") == 2
    err = capsys.readouterr().err
    assert f"--out {out} already holds a run (model.safetensors" in err and "--force" in err
    assert "data:" not in err  # refused before reading data or building a model
    assert (out / "model.safetensors").read_bytes() == model
    assert _train(corpus, out, "--steps", "3", "--seed", "1", "--force") == 0
    assert (out / "model.safetensors").read_bytes() != model


def test_a_lora_run_by_default_writes_beside_the_base_never_over_it(tmp_path, corpus, capsys):
    base_run = tmp_path / "base"
    assert _train(corpus, base_run, "--steps", "3") == 0
    before = {p.name: p.read_bytes() for p in base_run.iterdir()}
    base = base_run / "model.safetensors"
    assert main(["train", "--lora", "r=2,alpha=4", "--init", str(base), "--data", str(corpus), "--steps", "2",
                 *RUN]) == 0
    assert {p.name: p.read_bytes() for p in base_run.iterdir() if p.is_file()} == before
    assert (base_run / "lora" / "adapters.safetensors").exists()
    capsys.readouterr()
    assert main(["train", "--lora", "r=2,alpha=4", "--init", str(base), "--data", str(corpus), "--steps", "2",
                 "--out", str(base_run), *RUN]) == 2
    assert "the base run's folder" in capsys.readouterr().err


def test_merge_refuses_to_overwrite_without_force(tmp_path, corpus, capsys):
    base_run = tmp_path / "base"
    assert _train(corpus, base_run, "--steps", "3") == 0
    base = base_run / "model.safetensors"
    assert main(["train", "--lora", "r=2,alpha=4", "--init", str(base), "--data", str(corpus), "--steps", "2",
                 *RUN]) == 0
    adapters = base_run / "lora" / "adapters.safetensors"
    original = base.read_bytes()
    capsys.readouterr()
    assert main(["merge", "--init", str(base), "--adapters", str(adapters), "--out", str(base)]) == 2
    assert "is the --init file" in capsys.readouterr().err and base.read_bytes() == original
    merged = tmp_path / "merged.safetensors"
    merged.write_bytes(b"someone's file")
    assert main(["merge", "--init", str(base), "--adapters", str(adapters), "--out", str(merged)]) == 2
    assert "exists" in capsys.readouterr().err and merged.read_bytes() == b"someone's file"
    assert main(["merge", "--init", str(base), "--adapters", str(adapters), "--out", str(merged), "--force"]) == 0


def test_merge_checks_base_and_keys(tmp_path, corpus, capsys):
    runs = {}
    for seed in ("0", "1"):
        runs[seed] = tmp_path / f"base{seed}"
        assert _train(corpus, runs[seed], "--steps", "2", "--seed", seed) == 0
    base0, base1 = runs["0"] / "model.safetensors", runs["1"] / "model.safetensors"
    assert main(["train", "--lora", "r=2,alpha=4", "--init", str(base0), "--data", str(corpus), "--steps", "2",
                 *RUN]) == 0
    adapters = runs["0"] / "lora" / "adapters.safetensors"
    capsys.readouterr()
    assert main(["merge", "--init", str(base1), "--adapters", str(adapters), "--out", str(tmp_path / "m1")]) == 2
    assert "trained on another base" in capsys.readouterr().err
    merged = tmp_path / "merged.safetensors"
    assert main(["merge", "--init", str(base0), "--adapters", str(adapters), "--out", str(merged)]) == 0
    capsys.readouterr()
    assert main(["merge", "--init", str(merged), "--adapters", str(adapters), "--out", str(tmp_path / "m2")]) == 2
    assert "already has adapters merged in" in capsys.readouterr().err
    tensors, metadata = checkpoints.load(adapters)
    checkpoints.save(adapters, {**tensors, "h.7.lora.q.A": tensors["h.0.lora.q.A"]}, metadata)
    assert main(["merge", "--init", str(base0), "--adapters", str(adapters), "--out", str(tmp_path / "m3")]) == 2
    assert "'h.7.lora.q.A' matches no layer of the base" in capsys.readouterr().err


@pytest.mark.parametrize("flags, message", [
    (["--lr", "nan"], "--lr must be a finite number above 0"),
    (["--lr", "-1"], "--lr must be a finite number above 0"),
    (["--weight-decay", "inf"], "--weight-decay must be a finite number"),
    (["--seed", "-3"], "--seed must be 0 or more"),
    (["--save-every", "-1"], "--save-every must be 0 or more"),
])
def test_flags_that_cannot_work_are_refused_up_front(tmp_path, corpus, flags, message, capsys):
    assert _train(corpus, tmp_path / "run", "--steps", "2", *flags) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_divergence_stops_training_and_writes_nothing_non_finite(tmp_path, corpus, capsys):
    out = tmp_path / "run"
    assert _train(corpus, out, "--steps", "30", "--lr", "1e6", "--save-every", "1") == 1
    err = capsys.readouterr().err
    assert "training diverged at step" in err and "nothing non-finite was written" in err
    assert not (out / "model.safetensors").exists()
    state, *_ = training.load_state(out / "checkpoint.safetensors")  # the last good state
    assert state.finite() and all(np.isfinite(state.losses))


def test_a_lora_alpha_that_is_not_finite_is_refused(tmp_path, corpus, capsys):
    assert _train(corpus, tmp_path / "base", "--steps", "2") == 0
    assert main(["train", "--lora", "r=2,alpha=nan", "--init", str(tmp_path / "base" / "model.safetensors"),
                 "--data", str(corpus), *RUN]) == 2
    assert "alpha must be a finite number" in capsys.readouterr().err


def _interrupt_at(monkeypatch, step):
    """Send ourselves Ctrl-C while the given step runs (from inside its learning-rate lookup)."""
    schedule = training.learning_rate

    def learning_rate(s, steps, peak):
        if s == step:
            os.kill(os.getpid(), signal.SIGINT)
        return schedule(s, steps, peak)

    monkeypatch.setattr(training, "learning_rate", learning_rate)


def test_ctrl_c_saves_the_step_and_resume_gives_the_same_losses(tmp_path, corpus, monkeypatch, capsys):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert _train(corpus, whole, "--steps", "8") == 0
    _interrupt_at(monkeypatch, 4)
    assert _train(corpus, parts, "--steps", "8") == 130
    err = capsys.readouterr().err.strip()
    assert err.splitlines()[-1].startswith("backprop: interrupted at step 5: saved") and "--resume" in err
    assert _history(parts)["complete"] is False and _history(parts)["steps_done"] == 5
    assert (parts / "loss.png").exists() and not (parts / "model.safetensors").exists()
    monkeypatch.undo()
    assert main(["train", "--resume", str(parts), "--no-progress"]) == 0
    assert _history(parts)["losses"] == _history(whole)["losses"]
    assert _history(parts)["val_losses"] == _history(whole)["val_losses"]
    ours, _ = checkpoints.load(parts / "model.safetensors")
    theirs, _ = checkpoints.load(whole / "model.safetensors")
    assert all(np.array_equal(ours[k], theirs[k]) for k in theirs)
    assert not (parts / "checkpoint.safetensors").exists()
    capsys.readouterr()
    assert main(["train", "--resume", str(parts)]) == 2
    assert "the run is complete" in capsys.readouterr().err


def test_a_crash_loses_at_most_save_every_steps(tmp_path, corpus, monkeypatch):
    def crash(s, steps, peak):
        if s == 5:
            raise RuntimeError("power cut")
        return 1e-3

    monkeypatch.setattr(training, "learning_rate", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        _train(corpus, tmp_path / "run", "--steps", "8", "--save-every", "2")
    state, *_ = training.load_state(tmp_path / "run" / "checkpoint.safetensors")
    assert state.step == 4 and len(state.losses) == 4


def test_a_resumed_lora_run_matches_an_uninterrupted_one(tmp_path, corpus, monkeypatch):
    assert _train(corpus, tmp_path / "base", "--steps", "2") == 0
    base = str(tmp_path / "base" / "model.safetensors")
    lora = ["train", "--lora", "r=2,alpha=4", "--init", base, "--data", str(corpus), "--steps", "6", *RUN]
    assert main([*lora, "--out", str(tmp_path / "whole")]) == 0
    _interrupt_at(monkeypatch, 2)
    assert main([*lora, "--out", str(tmp_path / "parts")]) == 130
    monkeypatch.undo()
    assert main(["train", "--resume", str(tmp_path / "parts"), "--no-progress"]) == 0
    assert _history(tmp_path / "parts")["losses"] == _history(tmp_path / "whole")["losses"]


@pytest.mark.parametrize("flags, message", [
    (["--steps", "9"], "--steps: a resumed run keeps the settings it was started with"),
    (["--out", "elsewhere"], "writes into its own folder"),
])
def test_resume_refuses_flags_it_would_ignore(tmp_path, corpus, monkeypatch, capsys, flags, message):
    _interrupt_at(monkeypatch, 1)
    assert _train(corpus, tmp_path / "run", "--steps", "4") == 130
    monkeypatch.undo()
    capsys.readouterr()
    assert main(["train", "--resume", str(tmp_path / "run"), *flags]) == 2
    assert message in capsys.readouterr().err


LLAMA = ["--model", "llama", "--layers", "1", "--width", "8", "--heads", "2", "--kv-heads", "1", "--context", "8"]


def test_a_llama_run_learns_the_same_in_every_backend_and_resumes_exactly(tmp_path, corpus, monkeypatch, capsys):
    runs = {}
    for backend in ("numpy", "torch", "autograd"):
        out = tmp_path / backend
        assert main(["train", "--data", str(corpus), "--out", str(out), *LLAMA, *RUN, "--steps", "8",
                     "--backend", backend]) == 0
        runs[backend] = _history(out)["losses"]
    np.testing.assert_allclose(runs["numpy"], runs["autograd"], rtol=1e-5)  # float32, the same batches
    np.testing.assert_allclose(runs["torch"], runs["autograd"], rtol=1e-5)
    assert "model: LLaMA (2 heads, multi-query, head width 4)" in capsys.readouterr().err
    params, config, vocab, _ = training.load_checkpoint(tmp_path / "numpy" / "model.safetensors")
    assert config.model == "llama" and config.kv_heads == 1 and config.eps == 1e-6
    assert "layers.0.self_attn.k_proj.weight" in params and params["layers.0.self_attn.k_proj.weight"].shape == (4, 8)
    _interrupt_at(monkeypatch, 4)
    parts = tmp_path / "parts"
    assert main(["train", "--data", str(corpus), "--out", str(parts), *LLAMA, *RUN, "--steps", "8"]) == 130
    monkeypatch.undo()
    assert main(["train", "--resume", str(parts), "--no-progress"]) == 0
    assert _history(parts)["losses"] == runs["numpy"]


@pytest.mark.parametrize("flags, message", [
    (["--model", "llama", "--heads", "2", "--kv-heads", "3"], "--heads 2 must be a multiple of --kv-heads 3"),
    (["--kv-heads", "1"], "--kv-heads is for --model llama"),
    (["--model", "llama", "--width", "6", "--heads", "2"], "odd head width"),
    (["--model", "llama", "--backend", "torch", "--compile"], "--compile runs the generated Torch step of GPT-2"),
])
def test_llama_flags_that_cannot_work_are_refused_up_front(tmp_path, corpus, flags, message, capsys):
    argv = ["train", "--data", str(corpus), "--out", str(tmp_path / "run"), "--layers", "1", "--width", "8",
            "--heads", "2", "--context", "8", *RUN, "--steps", "2"]
    assert main([*argv, *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_lora_and_merge_refuse_a_llama_base(tmp_path, corpus, capsys):
    assert main(["train", "--data", str(corpus), "--out", str(tmp_path / "base"), *LLAMA, *RUN, "--steps", "2"]) == 0
    base = str(tmp_path / "base" / "model.safetensors")
    capsys.readouterr()
    assert main(["train", "--lora", "r=2,alpha=4", "--init", base, "--data", str(corpus), *RUN]) == 2
    assert "a llama checkpoint; --lora adapts GPT-2's blocks only" in capsys.readouterr().err
