"""Faults the commands meet on a real machine, each said in one line with nothing half-written: a file in
the way, a refused write, a full disk inside the safetensors library, Ctrl-C."""
import errno

import pytest

from backprop.cli import main
from test_component_files import RMSNORM


@pytest.fixture()
def blocks(tmp_path):
    path = tmp_path / "blocks.py"
    path.write_text(RMSNORM)
    return path


def _one_line(capsys):
    """The error line (after any progress lines before it)."""
    err = capsys.readouterr().err.strip()
    errors = [line for line in err.splitlines() if line.startswith("backprop:")]
    assert len(errors) == 1 and err.endswith(errors[0]) and "Traceback" not in err, err
    return errors[0]


def test_a_file_in_the_way_is_refused_before_anything_is_written(blocks, tmp_path, capsys):
    out = tmp_path / "pkg"
    out.mkdir()
    (out / "torch").write_text("in the way")
    assert main(["generate", str(blocks), "--out", str(out), "--quiet"]) == 2
    assert "torch is a file where `backprop generate` needs a folder" in _one_line(capsys)
    assert sorted(p.name for p in out.iterdir()) == ["torch"]  # no __init__.py, no numpy/


@pytest.mark.parametrize("command", [["generate", "--quiet"], ["report", "linear", "--quiet"]])
def test_a_refused_write_is_one_line(tmp_path, monkeypatch, capsys, command):
    import codegen.atomic

    def refused(path, data):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(codegen.atomic, "write_bytes", refused)
    monkeypatch.setattr("codegen.generate.write_bytes", refused)
    assert main([*command, "--out", str(tmp_path)]) == 1
    assert "Permission denied" in _one_line(capsys)


def test_ctrl_c_during_generate_is_one_line(tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("codegen.generate.write_bytes", interrupted)
    assert main(["generate", "--out", str(tmp_path), "--quiet"]) == 130
    assert "generate interrupted" in _one_line(capsys)


def test_a_failed_safetensors_write_is_one_line_and_leaves_no_file(tmp_path, monkeypatch, capsys):
    import numpy as np
    import safetensors.numpy

    from backprop import checkpoints

    def full(*args, **kwargs):
        raise safetensors.SafetensorError("Error while serializing: IoError(No space left on device)")

    monkeypatch.setattr(safetensors.numpy, "save_file", full)
    with pytest.raises(OSError, match="could not write"):
        checkpoints.save(tmp_path / "x.safetensors", {"a": np.zeros(2)})
    assert list(tmp_path.iterdir()) == []
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog. " * 30)
    assert main(["train", "--data", str(corpus), "--out", str(tmp_path / "run"), "--layers", "1", "--width", "8",
                 "--heads", "2", "--context", "8", "--batch", "2", "--steps", "2", "--no-progress"]) == 1
    err = _one_line(capsys)
    assert f"{tmp_path / 'run' / 'model.safetensors'}: could not write" in err and "nothing of this run was saved" in err
    assert [p.name for p in (tmp_path / "run").iterdir()] == []
