"""Run folders under faults: a state that disagrees with itself is refused, one writer at a time, a run
replaced as a whole or not at all, leftovers of a killed run cleaned, and merge never writes over its input."""
import errno
import json
import os
import signal

import pytest

from backprop import checkpoints, train_command, training
from backprop.cli import main
from backprop.run_folder import RunFolder

SHAPE = ["--layers", "1", "--width", "8", "--heads", "2", "--context", "8"]
RUN = ["--batch", "2", "--eval-every", "3", "--sample-chars", "4", "--no-progress"]


@pytest.fixture()
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("the quick brown fox jumps over the lazy dog. " * 30)
    return path


def _train(corpus, out, *flags):
    return main(["train", "--data", str(corpus), "--out", str(out), *SHAPE, *RUN, *flags])


def _files(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def _interrupted_run(corpus, out, monkeypatch, steps="6", at=3):
    schedule = training.learning_rate

    def learning_rate(s, n, peak):
        if s == at:
            os.kill(os.getpid(), signal.SIGINT)
        return schedule(s, n, peak)

    monkeypatch.setattr(training, "learning_rate", learning_rate)
    assert _train(corpus, out, "--steps", steps) == 130
    monkeypatch.undo()
    return out / "checkpoint.safetensors"


def _rewrite_state(path, **changes):
    """The state file with some metadata replaced (``config`` given as a dict of fields to change)."""
    tensors, metadata = checkpoints.load(path)
    if "config" in changes:
        config = json.loads(metadata["config"]) | changes.pop("config")
        metadata["config"] = json.dumps(config)
    metadata.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in changes.items()})
    checkpoints.save(path, tensors, metadata)


@pytest.mark.parametrize("changes, message", [
    ({"config": {"layers": 2}}, "missing tensor 'param.h.1.ln_1.weight'"),
    ({"config": {"width": 16}}, "has shape"),
    ({"config": {"layers": "1"}}, "layers is '1', expected int"),
    ({"config": {"heads": 3}}, "width 8 must be divisible by heads 3"),
    ({"config": {"activation": "swish"}}, "activation 'swish' is not one of"),
    ({"step": "-1"}, "step -1 is outside the run"),
    ({"rng": {"bit_generator": "PCG64"}}, "corrupt 'rng' metadata"),
    ({"history": {"val_steps": [], "val_losses": []}}, "corrupt 'history' metadata"),
    ({"vocab": ["a", "a"]}, "corrupt 'vocab' metadata"),
])
def test_a_state_that_disagrees_with_itself_is_refused_and_kept(tmp_path, corpus, monkeypatch, capsys, changes,
                                                              message):
    state = _interrupted_run(corpus, tmp_path / "run", monkeypatch)
    _rewrite_state(state, **changes)
    before = _files(tmp_path / "run")
    capsys.readouterr()
    assert main(["train", "--resume", str(tmp_path / "run"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert _files(tmp_path / "run") == before  # nothing trained, the state still there


def test_a_second_run_into_a_held_folder_is_refused(tmp_path, corpus, capsys):
    out = tmp_path / "run"
    with RunFolder(out):  # another run holds it
        assert _train(corpus, out, "--steps", "2") == 2
        err = capsys.readouterr().err
        assert "another `backprop train` is writing into this folder" in err and "data:" not in err
        assert main(["train", "--resume", str(out)]) == 2
        assert "another `backprop train`" in capsys.readouterr().err
    assert _train(corpus, out, "--steps", "2") == 0  # released when the first is done


def test_force_failing_on_a_full_disk_leaves_the_earlier_run_whole(tmp_path, corpus, monkeypatch, capsys):
    out = tmp_path / "run"
    assert _train(corpus, out, "--steps", "3") == 0
    (out / "notes.txt").write_text("mine")
    before = _files(out)

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(train_command, "sample", full_disk)  # after the new model and history are written
    assert _train(corpus, out, "--steps", "3", "--seed", "1", "--force") == 1
    assert "No space left on device" in capsys.readouterr().err
    assert _files(out) == before and [p.name for p in out.iterdir() if p.is_dir()] == []


def test_force_replaces_the_earlier_run_as_a_whole(tmp_path, corpus, monkeypatch):
    out = tmp_path / "run"
    _interrupted_run(corpus, out, monkeypatch)  # a state and a partial report
    (out / "notes.txt").write_text("mine")
    assert _train(corpus, out, "--steps", "3", "--seed", "1", "--sample-chars", "0", "--force") == 0
    names = {p.name for p in out.iterdir()}
    assert names == {"model.safetensors", "history.json", "loss.png", "sample.txt", "notes.txt"}
    history = json.loads((out / "history.json").read_text())
    assert history["complete"] and history["steps"] == 3


def test_ctrl_c_in_a_forced_run_replaces_the_earlier_run_with_a_resumable_one(tmp_path, corpus, monkeypatch):
    out = tmp_path / "run"
    assert _train(corpus, out, "--steps", "3") == 0
    schedule = training.learning_rate

    def learning_rate(s, n, peak):
        if s == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return schedule(s, n, peak)

    monkeypatch.setattr(training, "learning_rate", learning_rate)
    assert _train(corpus, out, "--steps", "5", "--force") == 130
    monkeypatch.undo()
    assert {p.name for p in out.iterdir()} == {"checkpoint.safetensors", "history.json", "loss.png"}
    assert main(["train", "--resume", str(out), "--no-progress"]) == 0
    assert json.loads((out / "history.json").read_text())["steps_done"] == 5


def test_leftovers_of_a_killed_run_are_cleaned_and_nothing_else(tmp_path, corpus):
    out = tmp_path / "run"
    out.mkdir()
    leftovers = [out / ".model.safetensors.k2j4_x.tmp.safetensors", out / ".history.json.abc.tmp.json"]
    for path in leftovers:
        path.write_bytes(b"half")
    (out / ".backprop-run-q1w2").mkdir()
    (out / ".backprop-run-q1w2" / "model.safetensors").write_bytes(b"half")
    mine = [out / ".notes.tmp", out / ".model.safetensors.bak", out / "draft.tmp.json"]
    for path in mine:
        path.write_bytes(b"mine")
    assert _train(corpus, out, "--steps", "2") == 0
    assert not any(p.exists() for p in leftovers) and not (out / ".backprop-run-q1w2").exists()
    assert all(p.read_bytes() == b"mine" for p in mine)


def test_merge_never_writes_over_an_input_even_with_force(tmp_path, corpus, capsys):
    assert _train(corpus, tmp_path / "base", "--steps", "2") == 0
    base = tmp_path / "base" / "model.safetensors"
    assert main(["train", "--lora", "r=2,alpha=4", "--init", str(base), "--data", str(corpus), "--steps", "2",
                 *RUN]) == 0
    adapters = tmp_path / "base" / "lora" / "adapters.safetensors"
    original, adapter_bytes = base.read_bytes(), adapters.read_bytes()
    link = tmp_path / "link.safetensors"
    os.link(base, link)  # the same file under another name
    for out in (base, adapters, link):
        capsys.readouterr()
        assert main(["merge", "--init", str(base), "--adapters", str(adapters), "--out", str(out), "--force"]) == 2
        assert "even with --force" in capsys.readouterr().err
    assert base.read_bytes() == original and adapters.read_bytes() == adapter_bytes


def test_a_lora_run_into_its_base_folder_is_refused_even_with_force(tmp_path, corpus, capsys):
    assert _train(corpus, tmp_path / "base", "--steps", "2") == 0
    before = _files(tmp_path / "base")
    assert main(["train", "--lora", "r=2,alpha=4", "--init", str(tmp_path / "base" / "model.safetensors"),
                 "--data", str(corpus), "--steps", "2", "--out", str(tmp_path / "base"), "--force", *RUN]) == 2
    assert "even with --force" in capsys.readouterr().err
    assert _files(tmp_path / "base") == before


@pytest.mark.parametrize("config, message", [
    ({"heads": 3}, "must be divisible by heads"),
    ({"heads": 0}, "heads must be at least 1, got 0"),
    ({"eps": -1.0}, "eps must be a finite number above 0, got -1.0"),
    ({"activation": "silu"}, "activation 'silu'"),
])
def test_merge_refuses_an_impossible_configuration(tmp_path, corpus, capsys, config, message):
    assert _train(corpus, tmp_path / "base", "--steps", "2") == 0
    base = tmp_path / "base" / "model.safetensors"
    assert main(["train", "--lora", "r=2,alpha=4", "--init", str(base), "--data", str(corpus), "--steps", "2",
                 *RUN]) == 0
    _rewrite_state(base, config=config)
    capsys.readouterr()
    assert main(["merge", "--init", str(base), "--adapters", str(tmp_path / "base" / "lora" / "adapters.safetensors"),
                 "--out", str(tmp_path / "merged.safetensors")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "merged.safetensors").exists()
