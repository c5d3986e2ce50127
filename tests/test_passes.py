"""The optimising passes: each keeps the values, and a user's component is optimised too."""
import numpy as np
import pytest
import sympy as sp
import torch

from codegen.lower import lower
from codegen.passes import (fuse_shared_operand, order_chains, read_forward_values, recompute_affine_values,
                            reuse_log_sum_exp)
from codegen.render import BACKENDS, compile_component, render_plan
from derive import Component, matmul
from derive.components import NAMES, build
from derive.reverse import derive
from backprop.verify import configurations, gradient_floor, random_arguments, relative_error, uniform_sizes
from test_component_files import RMSNORM

_BLOCKS: dict = {}
exec(RMSNORM, _BLOCKS)  # the README's RMSNorm and a SwiGLU: a user's components, from their source
_rmsnorm, _swiglu = _BLOCKS["build_rmsnorm"], _BLOCKS["build_swiglu"]


def _module(component, target, passes=None, optimise=True):
    import types

    plan = lower(derive(component), optimise=optimise, passes=passes)
    module = types.ModuleType("m")
    module.__source__ = render_plan(plan, BACKENDS[target], optimise=optimise)
    exec(module.__source__, module.__dict__)
    return module, plan


def _run(module, arrays, config, G, target):
    wrap = torch.from_numpy if target == "torch" else np.asarray
    out, cache = module.forward(*map(wrap, arrays.values()), **config)
    grads = module.backward(wrap(G), cache)
    return np.asarray(out), {k: np.asarray(v) for k, v in grads.items()}


def _same(component, arrays, configs, target, passes=None):
    """``arrays``: the arguments, or a function of the configuration that makes them."""
    plain, _ = _module(component, target, optimise=False)
    optimised, plan = _module(component, target, passes=passes)
    rng = np.random.default_rng(0)
    make = arrays if callable(arrays) else (lambda config: arrays)
    for config in configs:
        arrays = make(config)
        wrap = torch.from_numpy if target == "torch" else np.asarray
        ref_out, cache = plain.forward(*map(wrap, arrays.values()), **config)
        G = rng.standard_normal(tuple(ref_out.shape))
        ref = {k: np.asarray(v) for k, v in plain.backward(wrap(G), cache).items()}
        out, grads = _run(optimised, arrays, config, G, target)
        assert relative_error(out, np.asarray(ref_out)) <= 1e-12
        floor = gradient_floor(ref)
        for key, value in ref.items():
            assert relative_error(grads[key], value, floor) <= 1e-12, (component.name, key, config)
    return plan


@pytest.mark.parametrize("target", ["numpy", "torch"])
@pytest.mark.parametrize("name", NAMES)
def test_every_pass_together_keeps_the_values(name, target):
    sizes = uniform_sizes(name, 4)
    rng = np.random.default_rng(1)
    _same(build(name), lambda config: random_arguments(name, rng, sizes, (2, 3), config=config),
          configurations(name, sizes), target)


@pytest.mark.parametrize("one_pass", [read_forward_values, reuse_log_sum_exp, order_chains, fuse_shared_operand,
                                      recompute_affine_values],
                         ids=lambda p: p.__name__)
@pytest.mark.parametrize("name", ["layernorm", "lora_linear", "gpt2_block", "cross_entropy"])
def test_each_pass_alone_keeps_the_values(name, one_pass):
    sizes = {str(d): 4 for a in build(name).tensor_arguments for d in a.dims}
    arrays = random_arguments(name, np.random.default_rng(2), sizes, (3,))
    _same(build(name), arrays, configurations(name, sizes)[:2], "numpy", passes=[one_pass])


def _low_rank():
    c = Component("low_rank", "a low-rank map")
    n_T, d, r = c.dims("n_T d r")
    X = c.input("X", n_T, d)
    U, V = c.param("U", d, r), c.param("V", r, d)
    c.output("Y", matmul(X, U, V))
    return c


@pytest.mark.parametrize("target", ["numpy", "torch"])
def test_a_users_components_are_optimised_too(target):
    rng = np.random.default_rng(3)
    plan = _same(_rmsnorm(), {"X": rng.standard_normal((2, 3, 5)), "w": rng.standard_normal(5)}, [{}], target)
    assert any("read-forward-values: the backward reads ms" in n for n in plan.notes), plan.notes
    plan = _same(_low_rank(), {"X": rng.standard_normal((2, 7, 6)), "U": rng.standard_normal((6, 2)),
                               "V": rng.standard_normal((2, 6))}, [{}], target)
    assert any(n.startswith("order-chains: X U V") for n in plan.notes), plan.notes
    text = compile_component(_low_rank(), target).__source__
    assert "_chain(X, U, V)" in text and "order-chains" in text
    plan = _same(_swiglu(), {"X": rng.standard_normal((2, 3, 4)), "W": rng.standard_normal((4, 6)),
                             "V": rng.standard_normal((4, 6)), "W_2": rng.standard_normal((6, 4))}, [{}], target)
    assert any(n.startswith("fuse-shared-operand: X W, X V") for n in plan.notes), plan.notes


def test_side_by_side_uses_adjacent_blocks_as_given():
    namespace = {}
    exec(compile_component(_swiglu()).__source__, namespace)
    fused = np.arange(24.0).reshape(2, 12)
    together = namespace["_side_by_side"](fused[:, :4], fused[:, 4:8], fused[:, 8:])
    assert np.shares_memory(together, fused) and np.array_equal(together, fused)
    apart = namespace["_side_by_side"](fused[:, :4], fused[:, 8:])
    assert not np.shares_memory(apart, fused) and apart.shape == (2, 8)


class _Recorded:
    """A stand-in array that records the shapes of the products made with it."""

    log = []

    def __init__(self, shape):
        self.shape = shape

    def __matmul__(self, other):
        _Recorded.log.append((self.shape, other.shape))
        return _Recorded((self.shape[0], other.shape[1]))


def test_chain_orders_by_the_sizes_it_meets():
    namespace = {}
    exec(compile_component(_low_rank()).__source__, namespace)
    chain = namespace["_chain"]
    _Recorded.log = []
    chain(_Recorded((8192, 64)), _Recorded((64, 8192)), _Recorded((8192, 64)))
    assert _Recorded.log == [((64, 8192), (8192, 64)), ((8192, 64), (64, 64))]  # never 8192 × 8192
    _Recorded.log = []
    chain(_Recorded((4, 64)), _Recorded((64, 4)), _Recorded((4, 64)))
    assert _Recorded.log[0] == ((4, 64), (64, 4))


def test_show_plan(capsys):
    from backprop.cli import main

    assert main(["show", "layernorm", "--plan"]) == 0
    out = capsys.readouterr().out
    assert "lowered plan" in out and "read-forward-values" in out and "backward" in out


def test_a_chain_ending_in_a_vector_sums_first():
    from types import SimpleNamespace

    from sympy import MatMul, MatrixSymbol, OneMatrix

    from codegen.plan import Statement

    n, d = sp.symbols("n d", positive=True, integer=True)
    A, B, C = MatrixSymbol("A", n, d), MatrixSymbol("B", d, n), MatrixSymbol("C", n, d)
    plan = SimpleNamespace(forward=[Statement("y", MatMul(A, B, C, OneMatrix(d, 1)), None)], backward=[], notes=[])
    order_chains(plan)
    assert plan.forward[0].expr == MatMul(A, MatMul(B, MatMul(C, OneMatrix(d, 1))))  # never A B (n × n)
    assert plan.notes == ["order-chains: A B C 1: sums first, as A (B (C 1))"]


_X = sp.Symbol("x")


@pytest.mark.parametrize("body", [
    sp.diff(_X * (1 + sp.tanh(sp.sqrt(2 / sp.pi) * (_X + sp.Rational(44715, 10**6) * _X**3))) / 2, _X),
    sp.diff(_X / (1 + sp.exp(-_X)), _X, 2),
    sp.tanh(_X) ** 2 * sp.exp(-_X**2) + sp.cos(_X) * _X**3 - 1 / (1 + _X**2),
], ids=["gelu_tanh'", "silu''", "a user's function"])
@pytest.mark.parametrize("target", ["numpy", "torch"])
def test_in_place_functions_reuse_dead_buffers_and_keep_the_values(body, target):
    from codegen.inplace import InplaceFunction
    from codegen.printers import to_floats

    printer = BACKENDS[target].printer_class()
    code = InplaceFunction(lambda e: printer._entrywise(e, "x"), printer.array).define("f", to_floats(body))
    helpers = __import__(f"generated.{target}.gpt2_block", fromlist=["_scratch"])
    namespace = {"np": np, "torch": torch, "_scratch": helpers._scratch}
    exec(code, namespace)
    rng = np.random.default_rng(4)
    x, g = rng.standard_normal((3, 50)), rng.standard_normal((3, 50))
    wrap = torch.from_numpy if target == "torch" else np.asarray
    plain = sp.lambdify(_X, body, "numpy")(x)
    first = np.asarray(namespace["_f"](wrap(x))).copy()
    again = np.asarray(namespace["_f"](wrap(x)))  # the kept buffers, reused
    assert np.max(np.abs(first - plain)) <= 1e-12 * np.max(np.abs(plain))
    assert np.array_equal(again, first)
    times = namespace["_f"](wrap(x), times=wrap(g.copy()))  # Δ ∘ f'(x), into Δ's array
    assert np.array_equal(np.asarray(times), g * first)
    fresh = [line for line in code.splitlines()[2:] if " = " in line and "out=" not in line]
    written_over = [line for line in code.splitlines() if "out=" in line]
    assert written_over and len(fresh) <= 4, code  # a handful of arrays, however many operations


@pytest.mark.parametrize("target", ["numpy", "torch"])
@pytest.mark.parametrize("name", ["layernorm", "attention", "gpt2_block", "cross_entropy", "lora_linear", "rmsnorm"])
def test_overwriting_free_arrays_keeps_the_values_bit_for_bit(name, target, monkeypatch):
    """``T = a; T op= b`` computes ``a op b``; operands move only where the operation commutes.
    (torch's fused multiply-adds, ``addcmul_`` and ``add_(alpha=)``, agree within rounding.)"""
    component = _rmsnorm() if name == "rmsnorm" else build(name)
    sizes = {str(d): 4 for a in component.tensor_arguments for d in a.dims}
    rng = np.random.default_rng(6)
    arrays = ({"X": rng.standard_normal((2, 3, 4)), "w": rng.standard_normal(4)} if name == "rmsnorm"
              else random_arguments(name, rng, sizes, (2, 3)))
    config = {} if name == "rmsnorm" else configurations(name, sizes)[0]
    optimised, _ = _module(component, target)
    assert "updated in place" in optimised.__doc__ or name == "cross_entropy"
    monkeypatch.setattr(BACKENDS[target].printer_class, "overwrite_free_arrays", False)
    plain, _ = _module(component, target)
    assert "updated in place" not in plain.__doc__
    out, _ = plain.forward(*map(torch.from_numpy if target == "torch" else np.asarray, arrays.values()), **config)
    G = rng.standard_normal(tuple(out.shape))
    ref_out, ref = _run(plain, arrays, config, G, target)
    got_out, got = _run(optimised, arrays, config, G, target)
    assert np.array_equal(got_out, ref_out)
    fused = "addcmul_(" in optimised.__source__ or "alpha=" in optimised.__source__
    for key in ref:
        if fused:
            assert relative_error(got[key], ref[key], gradient_floor(ref)) <= 1e-14, key
        else:
            assert np.array_equal(got[key], ref[key]), key


def _statements(*lines):
    """Printed statements ``target = code  # shape`` with their reads and releases (liveness)."""
    import ast

    from codegen.plan import Emitted
    from codegen.passes import release_after_last_use
    from codegen.shapes import Shape

    out = []
    for line in lines:
        code, shape = line.split("  # ")
        target, code = code.split(" = ", 1)
        axes = [a.strip() for a in shape.strip()[1:-1].split(",") if a.strip()]
        st = Emitted(target, None, Shape(tuple(sp.sympify(a) for a in axes if a != "..."), "..." in axes),
                     code=code)
        st.reads = {n.id for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Name)}
        out.append(st)
    release_after_last_use(out, keep={"X", "w"})
    return out


def _overwrite(*lines, keep=frozenset(), fused=False):
    from codegen.overwrite import overwrite_free_arrays

    statements = _statements(*lines)
    overwrite_free_arrays(statements, set(keep) | {"X", "w"}, {"X": ("...", "n", "d"), "w": ("d",)}, {"d"},
                          fused_updates=fused)
    return {st.target: (st.code, st.updates) for st in statements}


def test_overwrite_writes_into_a_free_array_and_into_a_fresh_partial_result():
    got = _overwrite("A = X * w  # (..., n, d)", "B = A + X * 2  # (..., n, d)", "C = 1/d * (B * X)  # (..., n, d)")
    assert got["B"] == ("A", ["B += X * 2"])  # A is read for the last time: its array becomes B
    assert got["C"] == ("B", ["C *= X", "C *= 1/d"])


def test_overwrite_leaves_what_is_still_needed_kept_or_aliased():
    got = _overwrite("A = X * w  # (..., n, d)", "B = A + X  # (..., n, d)", "C = A * B  # (..., n, d)")
    assert got["B"] == ("A + X", [])  # A is read again below
    assert got["C"] == ("A", ["C *= B"])
    got = _overwrite("A = X * w  # (..., n, d)", "V = A[..., :2]  # (..., n, 2)", "B = A + X  # (..., n, d)",
                     "C = V * 2  # (..., n, 2)")
    assert got["B"] == ("A + X", [])  # V is a view of A's array
    got = _overwrite("A = X * w  # (..., n, d)", "B = A + X  # (..., n, d)", keep={"A"})
    assert got["B"] == ("A + X", [])  # the cache keeps A


def test_overwrite_never_grows_an_array_by_broadcasting_or_reads_it_after_writing():
    got = _overwrite("m = X.sum(-1, keepdim=True)  # (..., n, 1)", "B = m + X  # (..., n, d)")
    assert got["B"] == ("m + X", [])  # m is smaller than the result
    got = _overwrite("A = X * w  # (..., n, d)", "B = (A + X) * A  # (..., n, d)")
    assert got["B"] == ("A", ["B *= A + X"])  # A + X is computed before A's array is written over
    got = _overwrite("A = X * w  # (..., n, d)", "B = (A - X) / A  # (..., n, d)")
    assert got["B"] == ("A - X", ["B /= A"])  # A's array would be read after it was written over
    got = _overwrite("A = X * w  # (..., n, d)", "B = A * f(X)  # (..., n, d)")
    assert got["B"] == ("A * f(X)", [])  # f's shape is not known


def test_overwrite_applies_entrywise_functions_and_updating_helpers_in_place():
    got = _overwrite("A = X * w  # (..., n, d)", "B = np.exp(A - 1)  # (..., n, d)")
    assert got["B"] == ("A", ["B -= 1", "np.exp(B, out=B)"])
    got = _overwrite("A = X * w  # (..., n, d)", "B = torch.sqrt(A + 1)  # (..., n, d)")
    assert got["B"] == ("A", ["B += 1", "B.sqrt_()"])  # the method form: autograd can record it
    got = _overwrite("A = X * w  # (..., n, d)", "B = _add_at_targets(2 * np.exp(A), X, w, fresh=False)  # (..., n, d)")
    assert got["B"] == ("A", ["np.exp(B, out=B)", "B *= 2", "B = _add_at_targets(B, X, w, fresh=True)"])


def _scaled_product():
    """A user's component: an activation, a scale and shift of it (kept for the weight's gradient),
    a product."""
    from derive import add, hadamard, pointwise, rows, x

    c = Component("scaled_product", "tanh, scaled and shifted, times a weight")
    n_T, d, k = c.dims("n_T d k")
    X = c.input("X", n_T, d)
    w, b, W = c.param("w", d), c.param("b", d), c.param("W", d, k)
    A = c.let("A", pointwise(sp.tanh(x), X))
    H = c.let("H", add(hadamard(A, rows(w, n_T)), rows(b, n_T)))
    c.output("Y", matmul(H, W))
    return c


@pytest.mark.parametrize("target", ["numpy", "torch"])
def test_an_affine_value_is_recomputed_not_kept(target):
    rng = np.random.default_rng(8)
    arrays = {"X": rng.standard_normal((2, 3, 4)), "w": rng.standard_normal(4), "b": rng.standard_normal(4),
              "W": rng.standard_normal((4, 5))}
    plan = _same(_scaled_product(), arrays, [{}], target)
    assert any(n.startswith("recompute-affine-values: H = ") for n in plan.notes), plan.notes
    for component in (_scaled_product(), build("gpt2_block")):
        text = compile_component(component, target).__source__
        cache_line = next(line for line in text.splitlines() if line.strip().startswith("cache = {"))
        assert '"H"' not in cache_line and '"ln_1_Y"' not in cache_line and '"ln_2_Y"' not in cache_line
    assert '"ln_1_Xbar"' in cache_line


def test_numpy_modules_contract_row_sums_of_entrywise_products():
    """(A ∘ B) 1 and Σ_batch 1ᵀ (A ∘ B) are one einsum each in a NumPy module (no A ∘ B array)."""
    text = compile_component(build("layernorm")).__source__
    assert "_row_dot(dXbar, Xbar)" in text and "_column_dot(grad_out, Xbar)" in text
    assert "_row_dot" not in compile_component(build("layernorm"), "torch").__source__
    assert "_row_dot" not in compile_component(build("layernorm"), optimise=False).__source__


@pytest.mark.parametrize("target", ["numpy", "torch"])
def test_the_log_sum_exp_read_off_the_kept_softmax_is_stable(target):
    """lse(Z) = max(Z) − log(max(softmax(Z))) for logits far apart, huge or with −∞ entries; the
    cross-entropy keeps softmax(Z) for its backward, not Z."""
    module = __import__(f"generated.{target}.cross_entropy", fromlist=["_"])
    rng = np.random.default_rng(9)
    Z = rng.standard_normal((3, 5, 7)) * np.array([1.0, 1e2, 1e4])[:, None, None] + 1e3
    Z[0, 0, 1:] = -np.inf
    wrap = torch.from_numpy if target == "torch" else np.asarray
    P = module._softmax(wrap(Z), False)
    got = np.asarray(module._logsumexp_of_softmax(wrap(Z), P))
    m = Z.max(axis=-1, keepdims=True)
    direct = m + np.log(np.exp(Z - m).sum(axis=-1, keepdims=True))
    np.testing.assert_allclose(got, direct, rtol=1e-14, atol=0)
    text = compile_component(build("cross_entropy"), target).__source__
    cache_line = next(line for line in text.splitlines() if line.strip().startswith("cache = {"))
    assert '"softmax_Z"' in cache_line and '"Z"' not in cache_line


@pytest.mark.parametrize("target", ["numpy", "torch"])
def test_logits_the_backward_reads_besides_keep_the_log_sum_exp_instead(target):
    from derive import add, hadamard, logsumexp, row_sum

    c = Component("lse_and_square", "log-sum-exp plus the squares of the logits")
    n_T, d, k = c.dims("n_T d k")
    X, W = c.input("X", n_T, d), c.param("W", d, k)
    Z = c.let("Z", matmul(X, W))
    c.output("Y", add(logsumexp(Z), row_sum(hadamard(Z, Z))))
    rng = np.random.default_rng(10)
    plan = _same(c, {"X": rng.standard_normal((2, 3, 4)), "W": rng.standard_normal((4, 5))}, [{}], target)
    assert plan.notes == ["reuse-log-sum-exp: softmax(Z) = exp(Z − lse(Z) 1ᵀ) with lse(Z) kept from the forward"]


def test_overwrite_fuses_a_multiply_add_for_torch():
    lines = ("A = X * w  # (..., n, d)", "m = X.sum(-1, keepdim=True)  # (..., n, 1)",
             "B = A + 2/d * (m * X)  # (..., n, d)", "C = B - 1/d * m  # (..., n, d)", "D = C + X * X  # (..., n, d)")
    got = _overwrite(*lines, fused=True)
    assert got["B"] == ("A", ["B.addcmul_(m, X, value=2/d)"])
    assert got["C"] == ("B", ["C.add_(m, alpha=-(1/d))"])
    assert got["D"] == ("C", ["D.addcmul_(X, X)"])
    assert _overwrite(*lines)["B"] == ("A", ["B += 2/d * (m * X)"])  # NumPy: no such operation


def test_the_plan_carries_each_arrays_axes_as_fields_not_as_text():
    """Batch axes, a heads axis and the core sizes are fields of every statement's shape; the comment
    beside a statement is printed from them."""
    plan = lower(derive(build("attention")))
    shapes = {st.target: st.shape for st in plan.forward + plan.backward}
    n_T, d = (sp.Symbol(n, positive=True, integer=True) for n in ("n_T", "d"))
    Q_h, dX, dW_q = shapes["Q_h"], shapes["dX"], shapes["dW_q"]
    assert Q_h.batched and str(Q_h.heads) == "n_heads" and Q_h.core[0] == n_T
    assert str(Q_h) == f"(..., n_heads, n_T, {Q_h.core[1]})"
    assert dX.batched and dX.heads is None and dX.core == (n_T, d) and str(dX) == "(..., n_T, d)"
    assert not dW_q.batched and str(dX.without_batch()) == "(n_T, d)"


def test_values_nothing_reads_are_not_computed_and_the_rest_is_unchanged():
    """A let that neither the output nor the backward reads is dropped (unread-values); a stack of blocks,
    whose forward keeps its backward's caches, never would be."""
    from backprop.verify import differential_check
    from derive import add, hadamard, rows, token_sum

    c = Component("unread", "an unused let")
    n, d = c.dims("n_T d")
    X, W = c.input("X", n, d), c.param("W", d, d)
    c.let("unused", matmul(X, W))
    square = c.let("square", hadamard(X, X))
    c.output("Y", add(square, rows(token_sum(matmul(X, W)), n)))
    plan = lower(derive(c))
    assert [st.target for st in plan.forward] == ["square", "Y"]
    assert any(n.startswith("unread-values: unused not computed") for n in plan.notes)
    source = compile_component(c, "numpy").__source__
    assert "\n    unused = " not in source.split("\ndef forward")[1] and "unread-values" in source
    assert differential_check(c, seed=3, trials=2).outcome == "right"
