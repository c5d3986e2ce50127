"""Files are written atomically; generate repairs broken output and reports strays; checkpoints load or
fail in one line naming the file and the problem."""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from backprop import checkpoints
from backprop.cli import main
from codegen.generate import generate

ROOT = Path(__file__).resolve().parent.parent


def _under_file_size_limit(code: str, limit: int = 4096) -> subprocess.CompletedProcess:
    """Run ``code`` with a file-size limit: a write past ``limit`` bytes fails (EFBIG)."""
    prelude = textwrap.dedent(f"""
        import resource, signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
    """)
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True,
                          cwd=ROOT)


WRITERS = {
    "checkpoint": """
        import numpy as np
        from backprop import checkpoints
        checkpoints.save(PATH, {"w": np.ones(100_000, dtype=np.float32)})
    """,
    "text": """
        from codegen.atomic import write_text
        write_text(PATH, "x" * 100_000)
    """,
    "plot": """
        from backprop.training import Result, plot
        plot(Result(list(range(1, 20_000)), [1], [1.0], {}, 0.0, 0.0), PATH, "t" * 100)
    """,
}


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_failed_write_leaves_the_previous_file_whole(tmp_path, writer):
    path = tmp_path / ("target.png" if writer == "plot" else "target.bin")
    path.write_bytes(b"the previous, good file")
    result = _under_file_size_limit(WRITERS[writer].replace("PATH", repr(str(path))), limit=2048)
    assert result.returncode != 0 and "File too large" in result.stderr
    assert path.read_bytes() == b"the previous, good file"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind


def test_a_failed_generate_leaves_generated_files_whole(tmp_path, reuse_outputs):
    generate(tmp_path, "numpy")
    target = tmp_path / "generated/numpy/attention.py"
    target.write_text("# an older version\n")
    before = target.read_bytes()
    result = _under_file_size_limit(f"""
        from pathlib import Path
        from codegen.generate import generate
        generate(Path({str(tmp_path)!r}), "numpy")
    """, limit=1024)
    assert result.returncode != 0 and "File too large" in result.stderr
    assert target.read_bytes() == before
    assert not [p for p in (tmp_path / "generated/numpy").iterdir() if p.name.startswith(".")]


def test_generate_repairs_truncated_and_non_utf8_files(tmp_path, capsys, reuse_outputs):
    generate(tmp_path, "all")
    truncated, garbled = tmp_path / "generated/numpy/mlp.py", tmp_path / "generated/torch/linear.py"
    good = truncated.read_bytes(), garbled.read_bytes()
    truncated.write_bytes(good[0][:100])
    garbled.write_bytes(b"\xff\xfe\x00 not UTF-8 \x80")
    assert main(["generate", "--check", "--out", str(tmp_path), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "generated/numpy/mlp.py is stale" in err and "generated/torch/linear.py is stale" in err
    assert main(["generate", "--out", str(tmp_path), "--quiet"]) == 0
    assert (truncated.read_bytes(), garbled.read_bytes()) == good
    assert main(["generate", "--check", "--out", str(tmp_path), "--quiet"]) == 0


def test_generate_reports_stray_files_and_removes_only_its_own(tmp_path, capsys, reuse_outputs):
    generate(tmp_path, "all")
    old = tmp_path / "generated/numpy/retired.py"
    old.write_text("# GENERATED FILE: DO NOT EDIT.\n# a component since removed\n# Regenerate with: backprop generate --target numpy\n")
    notes = tmp_path / "generated/torch/notes.txt"
    notes.write_text("a user's notes")
    assert main(["generate", "--check", "--out", str(tmp_path), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "generated/numpy/retired.py is not written by `backprop generate` (stray)" in err
    assert "generated/torch/notes.txt is not written by `backprop generate` (stray)" in err
    assert old.exists() and notes.exists()  # --check writes and removes nothing
    assert main(["generate", "--out", str(tmp_path), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert not old.exists() and notes.read_text() == "a user's notes"
    assert "1 removed" in captured.out and "notes.txt was not written by `backprop generate`; left alone" in captured.err


def test_bf16_and_float8_tensors_are_converted_on_load(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    values = torch.randn(4, 3) * 8
    save_file({"h.0.attn.c_attn.weight": values.to(torch.bfloat16), "e4m3": values.to(torch.float8_e4m3fn),
               "e5m2": values.to(torch.float8_e5m2), "f16": values.half()}, str(tmp_path / "real.safetensors"))
    tensors, _ = checkpoints.load(tmp_path / "real.safetensors")
    for key, dtype in [("h.0.attn.c_attn.weight", torch.bfloat16), ("e4m3", torch.float8_e4m3fn),
                       ("e5m2", torch.float8_e5m2)]:
        assert tensors[key].dtype == np.float32
        np.testing.assert_array_equal(tensors[key], values.to(dtype).float().numpy())
    assert tensors["f16"].dtype == np.float16


def _small_model(path):
    from backprop.gpt2_params import init_params
    from backprop.training import TrainConfig, save_checkpoint

    config = TrainConfig(layers=1, width=8, heads=2, context=8)
    params = init_params(np.random.default_rng(0), 1, 8, 8, 5)
    save_checkpoint(path, params, config, list("abcde"))
    return params, config


def _rewrite(path, tensors=None, metadata=None):
    old_tensors, old_metadata = checkpoints.load(path)
    checkpoints.save(path, old_tensors if tensors is None else tensors, old_metadata if metadata is None else metadata)


BROKEN = {
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[:-7]), "not a valid safetensors file (truncated"),
    "corrupt header": (lambda p: p.write_bytes(p.read_bytes()[:8] + b"#" + p.read_bytes()[9:]),
                       "not a valid safetensors file (invalid JSON in header"),
    "missing key": (lambda p: _rewrite(p, {k: v for k, v in checkpoints.load(p)[0].items()
                                          if k != "h.0.attn.c_attn.weight"}),
                    "missing tensor 'h.0.attn.c_attn.weight'"),
    "wrong shape": (lambda p: _rewrite(p, {**checkpoints.load(p)[0], "ln_f.bias": np.zeros(3, np.float32)}),
                    "'ln_f.bias' has shape (3,), expected (8,)"),
    "unknown metadata": (lambda p: _rewrite(p, metadata={**checkpoints.load(p)[1], "config": json.dumps(
        {**json.loads(checkpoints.load(p)[1]["config"]), "dropout": 0.1})}), "unknown configuration field(s) dropout"),
    "not ours": (lambda p: _rewrite(p, metadata={"format": "pt"}), "not a model checkpoint written by `backprop train`"),
    "a folder": (lambda p: (p.unlink(), p.mkdir()), "is a folder"),
}


@pytest.mark.parametrize("problem", sorted(BROKEN))
def test_every_load_failure_is_one_line_naming_the_file(tmp_path, problem, capsys):
    base = tmp_path / "model.safetensors"
    _small_model(base)
    breaks, message = BROKEN[problem]
    breaks(base)
    code = main(["merge", "--init", str(base), "--adapters", str(tmp_path / "a.safetensors"),
                 "--out", str(tmp_path / "merged.safetensors")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert str(base) in err and message in err, err
