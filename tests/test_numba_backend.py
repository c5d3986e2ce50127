"""The numba target: the NumPy modules' contract, with each run of entrywise statements and row reductions
one fused kernel (``codegen.fusion``, ``codegen.kernels``), against autograd in float64."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("numba")
torch = pytest.importorskip("torch")

import sympy as sp  # noqa: E402

from derive.api import Component, add, cols, hadamard, pointwise, row_mean, rows, sub, x  # noqa: E402
from backprop.verify import check_component, check_llama, check_model, differential_check  # noqa: E402
from codegen.lower import lower  # noqa: E402
from codegen.render import describe  # noqa: E402
from codegen.render import compile_component, fused_runs  # noqa: E402
from derive.components import NAMES, build  # noqa: E402
from derive.reverse import derive  # noqa: E402


@pytest.mark.parametrize("name", NAMES)
def test_every_component_agrees_with_autograd(name):
    results = check_component(name, seed=1, trials=2, target="numba")
    worst = max(results, key=lambda r: r.error)
    assert worst.error <= 1e-10, f"{worst.case} ∂{worst.gradient}: {worst.error:.2e}"


def test_the_models_agree_with_autograd():
    for check in (check_model, check_llama):
        worst = max(r.error for r in check(seed=2, trials=1, target="numba"))
        assert worst <= 1e-10


def test_layernorm_and_its_backward_are_one_kernel_each():
    runs = fused_runs(lower(derive(build("layernorm"))))
    assert [(part, outputs) for part, _, outputs in runs] == [
        ("forward", ["sigma", "Xbar", "Y"]), ("backward", ["dX", "dw", "db"])]
    assert "fused (the numba target" in describe(lower(derive(build("layernorm"))))


def test_float32_stays_float32_and_agrees_with_numpy():
    from generated.numba import layernorm as fused
    from generated.numpy import layernorm as plain

    rng = np.random.default_rng(0)
    X, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((3, 5, 16), (16,), (16,)))
    G = rng.standard_normal((3, 5, 16)).astype(np.float32)
    out, cache = fused.forward(X, w, b)
    grads = fused.backward(G, cache)
    ref_out, ref_cache = plain.forward(X, w, b)
    ref_grads = plain.backward(G, ref_cache)
    assert out.dtype == np.float32 and all(g.dtype == np.float32 for g in grads.values())
    np.testing.assert_allclose(out, ref_out, rtol=1e-5, atol=1e-5)
    for k in ref_grads:
        np.testing.assert_allclose(grads[k], ref_grads[k], rtol=1e-4, atol=1e-4)


def test_a_users_norm_is_fused_as_a_built_in_is():
    c = Component("my_norm", "a user's RMS normalisation, centred and shifted")
    n_T, d = c.dims("n_T d")
    X = c.input("X", n_T, d)
    g, b = c.param("g", d, init="ones"), c.param("b", d, init="zeros")
    eps = c.config("eps", 1e-6)
    Xc = c.let("Xc", sub(X, cols(row_mean(X), d)))
    r = c.let("r", pointwise(1 / sp.sqrt(x + eps), row_mean(hadamard(Xc, Xc))))
    c.output("Y", add(hadamard(cols(r, d), Xc, rows(g, n_T)), rows(b, n_T)))
    module = compile_component(c, "numba")
    assert "@_kernel" in module.__source__
    assert differential_check(c, seed=3).outcome == "right"


def test_a_library_call_stays_numpy_s_and_the_statements_around_it_are_fused():
    source = compile_component(build("mlp"), "numba").__source__
    assert "math.exp" not in source and "math.tanh" not in source  # GELU's tanh: NumPy's vectorised call
    assert "_softmax(" in compile_component(build("attention"), "numba").__source__


def test_a_second_process_loads_the_kernels_from_the_cache(tmp_path):
    script = textwrap.dedent("""
        import numpy as np
        from generated.numba import rmsnorm
        X = np.ones((2, 3, 8)); g = np.ones(8)
        out, cache = rmsnorm.forward(X, g)
        rmsnorm.backward(np.ones_like(out), cache)
        hits = sum(sum(k.stats.cache_hits.values()) for k in (rmsnorm._forward_2_rows, rmsnorm._backward_1_rows))
        print(hits, repr(rmsnorm.compile_seconds()))
    """)
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
            for _ in range(2)]
    hits, seconds = int(runs[1][0]), float(runs[1][1])
    assert hits == 2, runs  # both kernels loaded, none compiled
    assert seconds > 0.0  # the loading is counted as compile time, and reported
