"""A user's components from a file: list, show, generate, check, and every error in one line."""
import subprocess
import sys
import textwrap

import pytest

from backprop.cli import main

RMSNORM = textwrap.dedent('''
    """RMSNorm and SwiGLU from the engine's primitives."""
    import sympy as sp

    from derive import Component, cols, hadamard, matmul, pointwise, row_mean, rows, x


    def build_rmsnorm():
        c = Component("rmsnorm", "RMS normalisation", "Y = diag(1/rms(X)) X diag(w)", class_name="RMSNorm")
        n_T, d = c.dims("n_T d")
        X = c.input("X", n_T, d)
        w = c.param("w", d, init="ones", doc="scale")
        eps = c.config("eps", 1e-6, doc="added to the mean square")
        ms = c.let("ms", row_mean(hadamard(X, X)), doc="per-token mean square")
        inv = c.let("inv", pointwise(1 / sp.sqrt(x + eps), ms), doc="1 / rms")
        c.output("Y", hadamard(cols(inv, d), X, rows(w, n_T)))
        return c


    def build_swiglu():
        c = Component("swiglu", "SwiGLU feed-forward", "Y = (silu(X W) ∘ (X V)) W_2")
        n_T, d, d_ff = c.dims("n_T d d_ff")
        X = c.input("X", n_T, d)
        W, V, W_2 = c.param("W", d, d_ff), c.param("V", d, d_ff), c.param("W_2", d_ff, d)
        gate = c.let("gate", pointwise(x / (1 + sp.exp(-x)), matmul(X, W)))
        c.output("Y", matmul(hadamard(gate, matmul(X, V)), W_2))
        return c
''')


@pytest.fixture()
def blocks(tmp_path):
    path = tmp_path / "blocks.py"
    path.write_text(RMSNORM)
    return path


def test_list_and_show_every_component_of_a_file(blocks, capsys):
    assert main(["list", str(blocks)]) == 0
    out = capsys.readouterr().out
    assert "rmsnorm" in out and "swiglu" in out and "W_2 (d_ff, d)" in out
    assert main(["show", str(blocks)]) == 0
    out = capsys.readouterr().out
    assert "rmsnorm: RMS normalisation" in out and "swiglu: SwiGLU feed-forward" in out
    assert main(["show", f"{blocks}:build_swiglu", "--latex"]) == 0
    out = capsys.readouterr().out
    assert "rmsnorm" not in out and r"\Delta_{" in out


def test_generate_writes_an_importable_deterministic_package(blocks, tmp_path, capsys):
    out = tmp_path / "mypkg" / "backward"
    assert main(["generate", str(blocks), "--out", str(out)]) == 0
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*.py"))
    assert names == ["__init__.py", "numba/__init__.py", "numba/rmsnorm.py", "numba/swiglu.py",
                     "numpy/__init__.py", "numpy/rmsnorm.py", "numpy/swiglu.py",
                     "torch/__init__.py", "torch/rmsnorm.py", "torch/swiglu.py"]
    first = {n: (out / n).read_bytes() for n in names}
    assert main(["generate", str(blocks), "--out", str(out)]) == 0
    assert "0 written, 10 unchanged" in capsys.readouterr().out
    assert {n: (out / n).read_bytes() for n in names} == first
    assert main(["generate", str(blocks), "--out", str(out), "--check"]) == 0
    (out / "numpy/swiglu.py").write_text("# edited")
    assert main(["generate", str(blocks), "--out", str(out), "--check"]) == 1
    assert "numpy/swiglu.py is stale" in capsys.readouterr().err
    main(["generate", str(blocks), "--out", str(out)])
    code = textwrap.dedent("""
        import numpy as np, torch
        from backward.numpy import rmsnorm
        from backward.torch.swiglu import Swiglu, SwigluFunction
        Y, cache = rmsnorm.forward(np.ones((2, 3, 4)), np.ones(4), eps=1e-6)
        assert set(rmsnorm.backward(np.ones((2, 3, 4)), cache)) == {"X", "w"}
        layer = Swiglu(4, 8)
        layer(torch.randn(2, 3, 4)).sum().backward()
        print("ok", tuple(layer.W.grad.shape))
    """)
    result = subprocess.run([sys.executable, "-c", code], cwd=out.parent, capture_output=True, text=True)
    assert result.stdout.strip() == "ok (4, 8)", result.stderr


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_check_prints_one_line_per_component(blocks, capsys, seed):
    """Seeds that meet RMSNorm's sharp corner (a small mean square) pass too: central differences
    are taken at several steps."""
    assert main(["check", str(blocks), "--trials", "5", "--seed", str(seed)]) == 0
    out = capsys.readouterr().out
    lines = [l for l in out.splitlines() if l.startswith(("rmsnorm", "swiglu"))]
    assert len(lines) == 2 and all(l.rstrip().endswith("ok") for l in lines)


def test_check_fails_a_wrong_gradient(blocks, capsys, monkeypatch):
    """A rule that is off gets caught: the check can fail."""
    import dataclasses

    from sympy import HadamardProduct, MatMul

    from derive import rules

    right = rules.RULES[HadamardProduct]
    wrong = dataclasses.replace(right, vjp=lambda node, i, G: MatMul(2, right.vjp(node, i, G)))
    monkeypatch.setitem(rules.RULES, HadamardProduct, wrong)
    assert main(["check", f"{blocks}:build_rmsnorm", "--trials", "1"]) == 1
    assert "FAIL" in capsys.readouterr().out


BROKEN = {
    "syntax": ("def build_x(:\n    pass\n", "broken.py: line 1: syntax error"),
    "no build": ("x = 1\n", "broken.py: no top-level function whose name starts with 'build'"),
    "shape": (textwrap.dedent('''
        from derive import Component, matmul
        def build_bad():
            c = Component("bad", "bad")
            n, d, k = c.dims("n d k")
            X = c.input("X", n, d)
            W = c.param("W", k, d)
            c.output("Y", matmul(X, W))
            return c
    '''), "broken.py:build_bad: ShapeMismatch: matmul: X has shape (n, d) but W has shape (k, d)"),
    "no rule": (textwrap.dedent('''
        import sympy as sp
        from derive import Component
        def build_power():
            c = Component("power", "square")
            (n,) = c.dims("n")
            X = c.input("X", n, n)
            c.output("Y", sp.MatPow(X, 2))
            return c
    '''), "broken.py:build_power: MissingRule"),
    "not a component": ("def build_x():\n    return 3\n", "broken.py:build_x: returned int, not a derive.Component"),
    "raises": ("def build_x():\n    raise RuntimeError('no luck')\n", "broken.py:build_x: RuntimeError: no luck"),
}


@pytest.mark.parametrize("command", ["show", "check", "list", "generate"])
@pytest.mark.parametrize("problem", sorted(BROKEN))
def test_errors_in_a_file_are_one_line_naming_file_and_function(tmp_path, command, problem, capsys):
    source, message = BROKEN[problem]
    path = tmp_path / "broken.py"
    path.write_text(source)
    if command == "list" and problem == "no rule":
        pytest.skip("list does not derive")
    argv = [command, str(path)] + (["--out", str(tmp_path / "pkg")] if command == "generate" else [])
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err


def test_a_missing_file_or_function_is_named(tmp_path, blocks, capsys):
    for spec, message in [(str(tmp_path / "nope.py"), "nope.py: no such file"),
                          (f"{blocks}:build_gelu", "no build function 'build_gelu'; the file has: build_rmsnorm, "
                                                   "build_swiglu")]:
        with pytest.raises(SystemExit):
            main(["show", spec])
        assert message in capsys.readouterr().err


def test_generate_a_file_needs_out(blocks, capsys):
    assert main(["generate", str(blocks)]) == 2
    assert "needs --out" in capsys.readouterr().err


def test_generate_never_overwrites_a_users_file_without_force(blocks, tmp_path, capsys):
    out = tmp_path / "pkg"
    (out / "numpy").mkdir(parents=True)
    (out / "numpy" / "rmsnorm.py").write_text("# my own rmsnorm\n")
    assert main(["generate", str(blocks), "--out", str(out)]) == 2
    assert "was not written by `backprop generate`" in capsys.readouterr().err
    assert (out / "numpy" / "rmsnorm.py").read_text() == "# my own rmsnorm\n"
    assert main(["generate", str(blocks), "--out", str(out), "--force"]) == 0
    assert (out / "numpy" / "rmsnorm.py").read_text().startswith("# GENERATED FILE")


def test_generate_removes_and_replaces_only_what_the_same_command_writes(tmp_path, capsys):
    from codegen.generate import generate

    # a user's RMSNorm under a name the built-ins do not take, written into the built-ins' folder
    mine_text = RMSNORM.replace('Component("rmsnorm"', 'Component("my_rmsnorm"').replace(
        'Component("swiglu"', 'Component("my_swiglu"')
    blocks = tmp_path / "blocks.py"
    blocks.write_text(mine_text)
    generate(tmp_path, "all")
    package_init = (tmp_path / "generated" / "__init__.py").read_bytes()
    assert main(["generate", str(blocks), "--out", str(tmp_path / "generated"), "--quiet"]) == 0
    assert "generated/__init__.py was not written by" in capsys.readouterr().err
    assert (tmp_path / "generated" / "__init__.py").read_bytes() == package_init  # the built-ins' package kept
    mine = (tmp_path / "generated" / "numpy" / "my_rmsnorm.py").read_bytes()
    assert main(["generate", "--out", str(tmp_path), "--quiet"]) == 0
    assert "generated/numpy/my_rmsnorm.py was not written by `backprop generate`; left alone" in capsys.readouterr().err
    assert (tmp_path / "generated" / "numpy" / "my_rmsnorm.py").read_bytes() == mine  # a user's module is not removed
    other = tmp_path / "other.py"
    other.write_text(mine_text)
    assert main(["generate", str(other), "--out", str(tmp_path / "generated")]) == 2
    err = capsys.readouterr().err
    assert "my_rmsnorm.py exists and was written by `backprop generate " in err and "blocks.py" in err
    assert (tmp_path / "generated" / "numpy" / "my_rmsnorm.py").read_bytes() == mine


def test_a_generated_header_does_not_depend_on_how_the_paths_were_spelled(blocks, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["generate", "blocks.py", "--out", "pkg"]) == 0
    (tmp_path / "sub").mkdir()
    for spelling in ("./blocks.py", str(blocks), "sub/../blocks.py"):
        assert main(["generate", spelling, "--out", "./pkg/", "--check"]) == 0, spelling
    capsys.readouterr()
    text = (tmp_path / "pkg" / "numpy" / "rmsnorm.py").read_text()
    assert "from the forward definition in blocks.py." in text
    assert "# Regenerate with: backprop generate blocks.py --out pkg\n" in text
