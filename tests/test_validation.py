"""Validated generation: every module is run against the reference semantics before anyone gets it.

The gate (``reference.gate``, applied by ``codegen.validate``) must refuse a module whose backward is
wrong, in one line, from ``compile_component`` and from ``backprop generate`` alike, with nothing
written; pass every right one; and work without torch (finite differences of the reference forward
evaluated in NumPy).  The definitions below are the defect classes it was built against: each is now
derived right, at the gate's edge sizes as well as at random ones.
"""
import dataclasses

import numpy as np
import pytest
import sympy as sp
from sympy import HadamardProduct, MatMul

import derive as D
from backprop.cli import main
from backprop.verify import differential_check
from codegen.render import compile_component
from codegen.validate import EngineDefect
from derive import rules
from derive.components import build
from reference import gate
from test_soundness import component


@pytest.fixture
def doubled_hadamard(monkeypatch):
    """The Hadamard rule's result doubled: a wrong backward that still compiles and runs."""
    right = rules.RULES[HadamardProduct]
    wrong = dataclasses.replace(right, vjp=lambda node, i, G: MatMul(2, right.vjp(node, i, G)))
    monkeypatch.setitem(rules.RULES, HadamardProduct, wrong)


def rms():
    c = D.Component("rms", "RMS normalisation")
    n, d = c.dims("n_T d")
    X, w = c.input("X", n, d), c.param("w", d)
    inv = c.let("inv", D.pointwise(1 / sp.sqrt(D.x + sp.Rational(1, 100)), D.row_mean(D.hadamard(X, X))))
    c.output("Y", D.hadamard(D.cols(inv, d), X, D.rows(w, n)))
    return c


@pytest.mark.parametrize("target", ["numpy", "torch", "numba"])
def test_compile_component_refuses_a_wrong_backward_in_one_line(doubled_hadamard, target):
    if target == "numba":
        pytest.importorskip("numba")
    with pytest.raises(EngineDefect) as refused:
        compile_component(rms(), target)
    message = str(refused.value)
    assert "\n" not in message
    assert "engine defect, not the definition's" in message
    assert "∂L/∂X" in message or "∂L/∂w" in message
    assert "sizes n_T=" in message and "batch" in message


def test_generate_writes_nothing_when_a_module_is_refused(doubled_hadamard, tmp_path):
    from codegen.generate import generate

    with pytest.raises(EngineDefect, match="engine defect"):
        generate(tmp_path, "numpy")
    assert not any(tmp_path.iterdir())


def test_generate_of_a_file_refuses_in_one_line_and_writes_nothing(doubled_hadamard, tmp_path, capsys):
    source = tmp_path / "norm.py"
    source.write_text("import sympy as sp\nfrom derive import Component, cols, hadamard, pointwise, row_mean, "
                      "rows, x\n\ndef build_norm():\n"
                      "    c = Component('norm', 'a norm')\n    n, d = c.dims('n_T d')\n"
                      "    X, w = c.input('X', n, d), c.param('w', d)\n"
                      "    inv = c.let('inv', pointwise(1 / sp.sqrt(x + 1), row_mean(hadamard(X, X))))\n"
                      "    c.output('Y', hadamard(cols(inv, d), X, rows(w, n)))\n    return c\n")
    out = tmp_path / "out"
    assert main(["generate", str(source), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "engine defect" in err
    assert not out.exists()


def test_the_gate_passes_every_built_in_component():
    for name in ("layernorm", "attention", "cross_entropy", "llama_attention"):
        c = build(name)
        for target in ("numpy", "torch"):
            assert gate.check_module(c, compile_component(c, target, validate=False), target) is None


def test_cases_take_every_dimension_at_one_two_and_three_and_every_batch_rank():
    c = build("mlp")
    chosen = gate.cases(c)
    for name in ("n_T", "d", "d_ff"):
        assert {case.sizes[name] for case in chosen} >= {1, 2, 3}
    assert {len(case.batch) for case in chosen} == {0, 1, 2}
    assert {case.config["activation"] for case in chosen} == {"gelu_tanh", "gelu", "relu"}


def test_cases_meet_the_requirements_and_try_a_count_of_one():
    chosen = gate.cases(build("attention"))
    assert all(case.sizes["d"] % case.config["n_heads"] == 0 for case in chosen)
    assert {case.config["n_heads"] for case in chosen} == {1, 2}
    assert {case.config["causal"] for case in chosen} == {True, False}


def test_without_torch_the_gate_uses_finite_differences_of_the_numpy_reference(monkeypatch):
    c = rms()
    modules = {t: compile_component(c, t, validate=False) for t in ("numpy", "torch")}
    monkeypatch.setattr(gate, "torch_installed", lambda: False)
    assert gate.check_module(c, modules["numpy"], "numpy") is None
    broken = compile_component(c, "numpy", validate=False)
    right_backward = broken.backward
    broken.backward = lambda G, cache: {k: 1.001 * v for k, v in right_backward(G, cache).items()}
    problem = gate.check_module(c, broken, "numpy")
    assert problem is not None and "finite differences" in problem
    attention = build("attention")  # its key-bias gradient is zero: rounding in the differences only
    assert gate.check_module(attention, compile_component(attention, "numpy", validate=False), "numpy") is None
    assert gate.check_module(c, modules["torch"], "torch") is None  # a Torch module cannot run without torch


@pytest.mark.parametrize("seed", range(40))
def test_the_numpy_reference_equals_the_torch_reference(seed):
    torch = pytest.importorskip("torch")
    from fuzz_components import RandomDraw, random_component
    from reference.semantics import ReferenceError, evaluate

    try:
        c = random_component(RandomDraw(seed))
    except Exception:  # noqa: BLE001 - a definition refused where it is written has nothing to evaluate
        return
    rng = np.random.default_rng(seed)
    for case in gate.cases(c, seed):
        arrays = gate.arguments(c, rng, case.sizes, case.batch, case.config)
        try:
            expected = gate._each(evaluate(c, {k: torch.from_numpy(v) for k, v in arrays.items()}, case.config))
        except ReferenceError:
            continue
        got = gate._each(evaluate(c, arrays, case.config))
        assert len(got) == len(expected) == len(c.output_symbols)
        for mine, theirs in zip(got, expected):
            assert mine.shape == theirs.shape
            np.testing.assert_allclose(mine, theirs.numpy(), rtol=1e-12, atol=1e-12, equal_nan=True)


# ---------------------------------------------------------------- the defect classes, right now


def right(c):
    result = differential_check(c, seed=1, trials=2)
    assert result.outcome == "right", f"{result.outcome}: {result.detail}"
    assert result.cases > 0
    compile_component(c, "numpy")  # and the gate lets it through


def test_squared_error_head_inline_keeps_n_batch_on_the_bias():
    c, (n, d, e) = component("n_T", "d", "e")
    X, T = c.input("X", n, d), c.input("T", n, e)
    W, b = c.param("W", d, e), c.param("b", e)
    r = lambda: D.sub(D.add(D.matmul(X, W), D.rows(b, n)), T)  # noqa: E731 - written twice, inline
    c.output("L", D.scale(sp.Rational(1, 2), D.batch_sum(D.token_sum(D.row_sum(D.hadamard(r(), r()))))))
    right(c)


def test_a_bias_inside_a_per_sequence_loss():
    c, (n, d) = component("n_T", "d")
    X, w = c.input("X", n, d), c.param("w", d)
    r = D.add(X, D.rows(w, n))
    c.output("L", D.token_sum(D.row_sum(D.hadamard(r, r))))
    right(c)


def test_parameters_inside_a_batch_sum():
    c, (n, d, e) = component("n_T", "d", "e")
    Z, P, Q = c.input("Z", n, d), c.param("P", n, e), c.param("Q", e, d)
    c.output("Y", D.batch_sum(D.sub(Z, D.matmul(P, Q))))
    right(c)


def test_a_value_without_heads_added_to_head_split_scores():
    c, (n, d) = component("n_T", "d")
    H = c.integer_config("n_heads", 2)
    X, W = c.input("X", n, d), c.param("W", d, d)
    Qh = c.let("Qh", D.split_heads(D.matmul(X, W), H))
    S = c.let("S", D.add(D.matmul(Qh, D.T(Qh)), D.matmul(X, D.T(X))))
    c.output("Y", D.merge_heads(D.matmul(D.softmax(S), Qh), H))
    right(c)


def test_a_parameter_split_into_heads():
    c, (n, d) = component("n_T", "d")
    H = c.integer_config("n_heads", 2)
    X, P = c.input("X", n, d), c.param("P", n, d)
    c.output("Y", D.merge_heads(D.hadamard(D.split_heads(X, H), D.split_heads(P, H)), H))
    right(c)


def test_nested_log_sum_exps_beside_the_inner_one():
    c, (n, d) = component("n_T", "d")
    Z = c.input("Z", n, d)
    c.output("Y", D.add(D.hadamard(Z, D.softmax(Z)), D.cols(D.logsumexp(D.logsumexp(Z)), d),
                        D.cols(D.logsumexp(Z), d)))
    right(c)


@pytest.mark.parametrize("build_output", [
    lambda c, n, d, b: D.T(D.add(b, b, b)),                             # (b + b + b)ᵀ: a column
    lambda c, n, d, b: D.hadamard(D.rows(b, n), D.rows(b, n)),          # a broadcast row times itself
    lambda c, n, d, b: D.rows(D.logsumexp(D.pointwise(sp.tanh(D.x), b)), n),  # lse of a function of a row
    lambda c, n, d, b: D.row_mean(b),                                   # 1 × 1, no batch: a number
    lambda c, n, d, b: D.matmul(D.T(D.matmul(b, c.param("W", d, d))), D.logsumexp(b)),  # a column times 1 × 1
])
def test_broadcast_and_one_by_one_values_come_back_at_their_declared_shapes(build_output):
    c, (n, d) = component("n_T", "d")
    X, b = c.input("X", n, d), c.param("b", d)
    c.output("Y", build_output(c, n, d, b))
    right(c)


def test_a_one_by_one_output_without_batch_is_a_number_by_one_rule():
    c, (n, d) = component("n_T", "d")
    c.input("X", n, d)
    b = c.param("b", d)
    c.output("m", D.row_mean(b))
    for target in ("numpy", "torch"):
        module = compile_component(c, target)
        out, _ = module.forward(*(np.zeros((2, 3, 4)), np.ones(4)) if target == "numpy" else
                                (__import__("torch").zeros(2, 3, 4, dtype=__import__("torch").float64),
                                 __import__("torch").ones(4, dtype=__import__("torch").float64)))
        assert tuple(out.shape) == ()


def test_a_dimension_no_argument_binds_is_refused_where_it_is_written():
    c, (n, d, e) = component("n_T", "d", "e")
    X = c.input("X", n, d)
    c.output("Y", D.add(X, D.cols(D.row_sum(D.cols(D.row_sum(X), e)), d)))
    with pytest.raises(D.DefinitionError, match="Y: dimension e is not the size of any argument"):
        D.derive(c)


# ---------------------------------------------------------------- passes and the check command


def test_a_pass_that_stops_on_the_unexpected_leaves_the_plan_as_it_was():
    from codegen import passes
    from codegen.lower import lower
    from derive.reverse import derive

    def broken(plan):
        plan.backward.clear()
        next(iter(()))  # StopIteration, after changing the plan

    derivation = derive(build("layernorm"))
    plain = lower(derivation, optimise=False)
    guarded = lower(derivation, passes=(broken,))
    assert [st.target for st in guarded.backward] == [st.target for st in plain.backward]
    assert [str(st.expr) for st in guarded.backward] == [str(st.expr) for st in plain.backward]
    assert any(note.startswith("broken: not applied (StopIteration") for note in guarded.notes)
    assert passes.optimise(plain, (broken,)) is plain


def _file(tmp_path, text):
    path = tmp_path / "blocks.py"
    path.write_text("import sympy as sp\nfrom derive import *\n\n" + text)
    return path


def test_check_file_takes_sizes_and_reports_every_failure_in_a_row(tmp_path, capsys):
    path = _file(tmp_path, (
        "def build_wide():\n"
        "    c = Component('wide', 'four times wider')\n"
        "    n, d, d_ff = c.dims('n_T d d_ff')\n"
        "    X, W, V = c.input('X', n, d), c.param('W', d, 4 * d_ff), c.param('V', 4 * d_ff, d)\n"
        "    c.output('Y', matmul(pointwise(sp.tanh(x), matmul(X, W)), V))\n"
        "    return c\n\n"
        "def build_inverse():\n"
        "    c = Component('inverse', 'no array code')\n"
        "    n, d = c.dims('n_T d')\n"
        "    c.output('Y', pointwise(sp.erfinv(x), c.input('X', n, d)))\n"
        "    return c\n"))
    assert main(["check", str(path), "--size", "d_ff=2", "--trials", "1"]) == 1
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    rows = {line.split()[0]: line for line in out.out.splitlines() if line.startswith(("wide", "inverse"))}
    assert rows["wide"].rstrip().endswith("ok")
    assert "FAIL" in rows["inverse"] and "erfinv" in rows["inverse"]
    assert main(["check", str(path), "--size", "e=2"]) == 2
    assert "no component" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["check", str(path), "--size", "d_ff"])


def test_numba_modules_are_validated_where_numba_is_not_installed(monkeypatch):
    """The main command installs no Numba, yet writes generated/numba/: the gate runs its kernels as
    the Python they are written as, with a stand-in for the module's ``import numba``."""
    import sys

    from codegen.lower import lower
    from codegen.render import BACKENDS, render_plan
    from codegen.validate import validated
    from derive.reverse import derive

    c = build("layernorm")
    text = render_plan(lower(derive(c)), BACKENDS["numba"])
    monkeypatch.setitem(sys.modules, "numba", None)  # ``import numba`` raises ImportError
    assert validated(c, text, "numba") == text
    assert sys.modules["numba"] is None  # the stand-in is gone again
