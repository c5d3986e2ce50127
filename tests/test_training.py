"""`backprop train`: the generated backward against autograd in a training run, outputs, checkpoints."""
import importlib.util

import numpy as np
import pytest

from backprop import checkpoints
from backprop.cli import main
from backprop.gpt2_params import init_params
from backprop.training import CharData, TrainConfig, default_corpus, load_checkpoint, train_loop


@pytest.fixture(scope="module")
def data():
    return CharData(default_corpus()[0][:30_000])


def _losses(data, backend):
    config = TrainConfig(layers=2, width=32, heads=2, context=16, batch=4, steps=20, eval_every=20,
                         eval_batches=1, backend=backend)
    params = init_params(np.random.default_rng(0), 2, 32, 16, len(data.vocab))
    return np.array(train_loop(params, data, config, progress=False).losses)


NUMBA = pytest.param("numba", marks=pytest.mark.skipif(importlib.util.find_spec("numba") is None,
                                                      reason="numba is an optional extra"))


@pytest.mark.parametrize("backend", ["numpy", NUMBA, "torch"])
def test_twenty_steps_match_torch_autograd(data, backend):
    ours, reference = _losses(data, backend), _losses(data, "autograd")
    assert ours[-1] < ours[0] - 0.5  # it learns
    np.testing.assert_allclose(ours, reference, rtol=1e-5)  # float32, same seed, same batches


def test_safetensors_round_trip(tmp_path):
    tensors = {"b": np.arange(6, dtype=np.float32).reshape(2, 3), "a": np.array([1, -2], dtype=np.int64)}
    checkpoints.save(tmp_path / "t.safetensors", tensors, {"note": "x"})
    blob = (tmp_path / "t.safetensors").read_bytes()
    assert blob[8:9] == b"{" and b"pickle" not in blob
    loaded, metadata = checkpoints.load(tmp_path / "t.safetensors")
    assert metadata == {"note": "x"} and set(loaded) == {"a", "b"}
    for k in tensors:
        np.testing.assert_array_equal(loaded[k], tensors[k])
        assert loaded[k].dtype == tensors[k].dtype
    (tmp_path / "bad").write_bytes(b"\xff" * 16)
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        checkpoints.load(tmp_path / "bad")


def test_train_command_writes_checkpoint_plot_and_sample(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog. " * 40)
    out = tmp_path / "run"
    assert main(["train", "--data", str(corpus), "--out", str(out), "--steps", "6", "--layers", "1",
                 "--width", "16", "--heads", "2", "--context", "8", "--batch", "2", "--eval-every", "3",
                 "--sample-chars", "12", "--no-progress"]) == 0
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    params, config, vocab, _ = load_checkpoint(out / "model.safetensors")
    assert config.layers == 1 and config.width == 16 and "".join(vocab) == "".join(sorted(set(corpus.read_text())))
    assert params["wte.weight"].shape == (len(vocab), 16)
    assert len((out / "sample.txt").read_text()) == 12
    assert "loss" in capsys.readouterr().out


@pytest.mark.parametrize("flags, message", [
    (["--width", "10", "--heads", "4"], "divisible"),
    (["--context", "1"], "context"),
    (["--data", "/nonexistent/text.txt"], "nonexistent"),
])
def test_train_command_rejects_bad_flags(tmp_path, flags, message, capsys):
    assert main(["train", "--out", str(tmp_path), "--steps", "1", *flags]) == 2
    assert message in capsys.readouterr().err


def test_lora_fine_tuning_writes_adapters_and_merges(tmp_path, capsys):
    corpus = tmp_path / "base.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog. " * 40)
    other = tmp_path / "other.txt"
    other.write_text("a quick red fox, a lazy brown dog; the dog jumps! " * 30)  # ',', ';', '!' are new
    small = ["--steps", "4", "--batch", "2", "--eval-every", "2", "--sample-chars", "5", "--no-progress"]
    shape = ["--layers", "1", "--width", "16", "--heads", "2", "--context", "8"]
    assert main(["train", "--data", str(corpus), "--out", str(tmp_path / "base"), *shape, *small]) == 0
    base = tmp_path / "base" / "model.safetensors"
    assert main(["train", "--lora", "r=2,alpha=4", "--init", str(base), "--data", str(other),
                 "--out", str(tmp_path / "lora"), *small]) == 0
    captured = capsys.readouterr()
    assert "trainable" in captured.err and "dropped" in captured.err
    assert "for GPT-2 small shapes: 433,826 trainable" in captured.err  # 3,470,608 × 2 / 16
    adapters, metadata = checkpoints.load(tmp_path / "lora" / "adapters.safetensors")
    assert metadata["r"] == "2" and metadata["alpha"] == "4.0" and "wte.weight" not in adapters
    assert main(["merge", "--init", str(base), "--adapters", str(tmp_path / "lora" / "adapters.safetensors"),
                 "--out", str(tmp_path / "merged.safetensors")]) == 0
    merged, config, vocab, _ = load_checkpoint(tmp_path / "merged.safetensors")
    from generated.numpy import gpt2

    params, *_ = load_checkpoint(base)
    idx = np.array([[1, 2, 3, 4, 5, 6]])
    lora_loss, _ = gpt2.lora_loss_and_grads(params, adapters, idx, n_heads=2, alpha=4.0)
    merged_loss, _ = gpt2.loss_and_grads(merged, idx, n_heads=2)
    assert not config.tied and abs(float(lora_loss) - float(merged_loss)) < 1e-5


@pytest.mark.parametrize("flags, message", [
    (["--lora", "r=2", "--init", "x"], "give both r and alpha"),
    (["--lora", "r=x,alpha=1", "--init", "x"], "r must be an integer"),
    (["--lora", "r=2,alpha=4"], "needs both --lora"),
    (["--lora", "r=2,alpha=4", "--init", "/nonexistent/base.safetensors"], "nonexistent"),
])
def test_lora_flags_are_checked(tmp_path, flags, message, capsys):
    assert main(["train", "--out", str(tmp_path), *flags]) == 2
    assert message in capsys.readouterr().err
