"""``backprop train`` under torchrun: two CPU processes (gloo) give the losses and weights of one process with
the same global batch, a Ctrl-C on any rank saves the state every rank agreed on, a run resumes with another
number of processes, and what cannot run is refused in one line before training."""
import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.distributed  # noqa: E402

from backprop import checkpoints  # noqa: E402
from backprop.cli import main  # noqa: E402
from backprop.distributed import World, check_run  # noqa: E402

SHAPE = ["--layers", "1", "--width", "16", "--heads", "2", "--context", "8"]
RUN = ["--batch", "4", "--eval-every", "3", "--sample-chars", "0", "--no-progress", "--backend", "torch"]

#: torchrun runs this in every process: the CLI, with a Ctrl-C sent to rank 1 alone while step 3 runs.
LAUNCHER = textwrap.dedent("""
    import os, signal, sys
    from backprop import training
    from backprop.cli import main

    if os.environ.get("INTERRUPT_RANK_1_AT"):
        schedule, at = training.learning_rate, int(os.environ["INTERRUPT_RANK_1_AT"])

        def learning_rate(s, steps, peak):
            if s == at and os.environ["RANK"] == "1":
                os.kill(os.getpid(), signal.SIGINT)
            return schedule(s, steps, peak)

        training.learning_rate = learning_rate
    sys.exit(main(sys.argv[1:]))
""")

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch without torch.distributed")


@pytest.fixture()
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("the quick brown fox jumps over the lazy dog. " * 40)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(tmp_path, *argv, interrupt_at=None):
    launcher = tmp_path / "launch.py"
    launcher.write_text(LAUNCHER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.getcwd()}
    env.pop("INTERRUPT_RANK_1_AT", None)
    if interrupt_at is not None:
        env["INTERRUPT_RANK_1_AT"] = str(interrupt_at)
    logs = tmp_path / "ranks"  # each rank's stderr in a file of its own too (``--tee``): what a failure shows
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", "2",
               "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{_free_port()}", "--log-dir", str(logs),
               "--tee", "2", str(launcher), *argv]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    done.ranks = "\n".join(f"--- {log.relative_to(logs)}:\n{log.read_text()[-3000:]}"
                            for log in sorted(logs.rglob("stderr.log")))
    return done


def _history(out):
    return json.loads((out / "history.json").read_text())


def _weights(out):
    return checkpoints.load(out / "model.safetensors")[0]


def test_two_processes_train_as_one_with_the_same_global_batch(tmp_path, corpus):
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["train", "--data", str(corpus), "--out", str(one), *SHAPE, *RUN, "--steps", "6"]) == 0
    done = _torchrun(tmp_path, "train", "--data", str(corpus), "--out", str(two), *SHAPE, *RUN, "--steps", "6")
    assert done.returncode == 0, done.ranks + done.stderr[-1000:]
    assert done.stdout.count("wrote ") == 1  # rank 0 alone reports and writes
    assert _history(one)["world_size"] == 1 and _history(two)["world_size"] == 2
    np.testing.assert_allclose(_history(two)["losses"], _history(one)["losses"], rtol=0, atol=1e-5)
    ours, theirs = _weights(two), _weights(one)
    assert all(np.max(np.abs(ours[k] - theirs[k])) <= 1e-5 for k in theirs)


def test_ctrl_c_on_one_rank_saves_and_the_run_resumes_with_one_process(tmp_path, corpus):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert main(["train", "--data", str(corpus), "--out", str(whole), *SHAPE, *RUN, "--steps", "8"]) == 0
    stopped = _torchrun(tmp_path, "train", "--data", str(corpus), "--out", str(parts), *SHAPE, *RUN,
                        "--steps", "8", interrupt_at=3)
    assert stopped.returncode != 0
    assert "interrupted at step 4: saved" in stopped.stderr  # every rank stopped at the step rank 1 asked for
    assert _history(parts)["steps_done"] == 4 and not (parts / "model.safetensors").exists()
    assert main(["train", "--resume", str(parts), "--no-progress"]) == 0
    np.testing.assert_allclose(_history(parts)["losses"], _history(whole)["losses"], rtol=0, atol=1e-5)


def test_a_one_process_state_resumes_with_two_processes(tmp_path, corpus, monkeypatch):
    from test_runs import _interrupt_at

    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert main(["train", "--data", str(corpus), "--out", str(whole), *SHAPE, *RUN, "--steps", "8"]) == 0
    _interrupt_at(monkeypatch, 4)
    assert main(["train", "--data", str(corpus), "--out", str(parts), *SHAPE, *RUN, "--steps", "8"]) == 130
    monkeypatch.undo()
    done = _torchrun(tmp_path, "train", "--resume", str(parts), "--no-progress")
    assert done.returncode == 0, done.ranks + done.stderr[-1000:]
    np.testing.assert_allclose(_history(parts)["losses"], _history(whole)["losses"], rtol=0, atol=1e-5)
    assert _history(parts)["world_size"] == 2


def test_what_cannot_run_on_several_processes_is_refused_in_one_line():
    with pytest.raises(ValueError, match="--backend numpy trains in one process, not 2"):
        check_run(World(size=2, rank=0), "numpy", 8)
    with pytest.raises(ValueError, match="--batch 7 .* cannot be shared evenly by 2 processes"):
        check_run(World(size=2, rank=1), "torch", 7)
    with pytest.raises(ValueError, match="the NumPy backend runs on the CPU"):
        check_run(World(device="cuda:0"), "numpy", 8)
    check_run(World(size=2), "autograd", 8)


def test_a_rank_that_cannot_join_is_refused_before_anything_is_written(tmp_path, capsys, monkeypatch):
    for key, value in {"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": str(_free_port())}.items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "run"
    assert main(["train", "--backend", "torch", "--join-timeout", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "rank 0 of 2 could not join the process group at 127.0.0.1" in err[0]
    assert not out.exists()


def test_device_is_checked_and_numpy_stays_on_the_cpu(capsys):
    assert main(["train", "--device", "tpu", "--steps", "1"]) == 2
    assert "expected cpu, cuda or cuda:N" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(["train", "--device", "cuda", "--backend", "torch", "--steps", "1"]) == 2
        assert "no CUDA device" in capsys.readouterr().err


def test_lora_fine_tuning_on_two_processes_equals_one(tmp_path, corpus):
    base = tmp_path / "base"
    assert main(["train", "--data", str(corpus), "--out", str(base), *SHAPE, *RUN, "--steps", "3"]) == 0
    lora = ["train", "--lora", "r=2,alpha=4", "--init", str(base / "model.safetensors"), "--data", str(corpus),
            *RUN, "--steps", "4"]
    assert main([*lora, "--out", str(tmp_path / "one")]) == 0
    done = _torchrun(tmp_path, *lora, "--out", str(tmp_path / "two"))
    assert done.returncode == 0, done.ranks + done.stderr[-1000:]
    np.testing.assert_allclose(_history(tmp_path / "two")["losses"], _history(tmp_path / "one")["losses"],
                               rtol=0, atol=1e-5)
    ours = checkpoints.load(tmp_path / "two" / "adapters.safetensors")[0]
    theirs = checkpoints.load(tmp_path / "one" / "adapters.safetensors")[0]
    assert all(np.max(np.abs(ours[k] - theirs[k])) <= 1e-5 for k in theirs)


def test_the_numba_backend_without_numba_is_refused_before_training(monkeypatch):
    from backprop import models

    monkeypatch.setattr(models, "numba_installed", lambda: False)
    with pytest.raises(ValueError, match=r"--backend numba needs Numba: pip install 'pedestrian-backprop\[numba\]'"):
        check_run(World(), "numba", 8)
    monkeypatch.undo()
    with pytest.raises(ValueError, match="--backend numba trains in one process"):
        check_run(World(size=2), "numba", 8)
