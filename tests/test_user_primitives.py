"""Primitives declared by users (``derive.define_primitive``): the worked example of
docs/writing-components.md in every backend against autograd through independent torch code, with
and without batch axes; declarations with a wrong rule refused in one line; and every registered
primitive, the engine's included, complete and checked."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from sympy import MatrixSymbol, ZeroMatrix

import reference  # noqa: F401  (installs the declarations' check)
from backprop.component_files import load
from codegen.render import compile_component
from derive import Component, DeclarationError, ShapeMismatch, T, add, define_primitive, hadamard, sub
from derive.declare import PRIMITIVES, Declared
from derive.derivation import latex, text
from derive.families.heads import share_heads, sum_groups
from derive.families.rotary import rotate_half
from derive.families.tokens import prefix_sum
from derive.reverse import derive
from derive.simplify import simplify
from reference.declarations import check_declaration

torch = pytest.importorskip("torch")

DOCS = Path(__file__).resolve().parent.parent / "docs" / "writing-components.md"


def worked_example(tmp_path) -> Path:
    """The docs' worked example, exactly as printed there, as a component file."""
    section = DOCS.read_text().split("### Worked example: a token flip and a cumulative sum", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    path = tmp_path / "cumulative.py"
    path.write_text(code)
    return path


@pytest.fixture(scope="module")
def running_mix(tmp_path_factory):
    (loaded,) = load(str(worked_example(tmp_path_factory.mktemp("docs"))))
    return loaded.component


def independent(X, W):
    """The example written directly in torch: Y = cumsum(flip(X) W) ∘ X."""
    return torch.cumsum(torch.flip(X, (-2,)) @ W, dim=-2) * X


@pytest.mark.parametrize("target", ["numpy", "torch", "numba"])
@pytest.mark.parametrize("batch", [(), (3,), (2, 2)])
def test_the_docs_example_agrees_with_autograd_in_every_backend(running_mix, target, batch):
    module = compile_component(running_mix, target)  # the validation gate runs first
    rng = np.random.default_rng(len(batch))
    n, d = 5, 3
    X = torch.tensor(rng.standard_normal((*batch, n, d)), requires_grad=True)
    W = torch.tensor(rng.standard_normal((d, d)), requires_grad=True)
    G = torch.tensor(rng.standard_normal((*batch, n, d)))
    Y = independent(X, W)
    dX, dW = torch.autograd.grad(Y, (X, W), G)
    arrays = (lambda t: t.detach()) if target == "torch" else (lambda t: t.detach().numpy())
    out, cache = module.forward(arrays(X), arrays(W))
    grads = module.backward(arrays(G), cache)
    for got, want in ((out, Y), (grads["X"], dX), (grads["W"], dW)):
        got = np.asarray(got.detach() if hasattr(got, "detach") else got)
        want = want.detach().numpy()
        assert got.shape == want.shape
        assert np.abs(got - want).max() <= 1e-10 * max(1.0, np.abs(want).max())


def test_the_docs_example_derives_and_shows_in_its_notation(running_mix):
    derivation = derive(running_mix)
    assert text(derivation.gradients["W"].expr) == "Σ_batch (flip(X)ᵀ flip(cumsum(flip(Δ_H))))"
    assert r"\operatorname{cumulative\_sum}" in latex(derivation.gradients["W"].expr)


def _flip_reference(A):
    return A.flip(-2)


def declare_flip(name, **changes):
    def vjp(G, A):
        """Ḡ · flip(A) = flip(Ḡ) · A."""
        return constructor(G)

    pieces = dict(shape=lambda a: a, vjp=vjp, reference=_flip_reference, numpy="np.flip({0}, axis=-2)",
                  torch="torch.flip({0}, (-2,))", linear=True)
    pieces.update(changes)
    constructor = define_primitive(name, **pieces)
    return constructor


def test_a_declaration_with_a_wrong_vjp_is_refused_in_one_line():
    def wrong(G, A):
        """Ḡ · flip(A) = Ḡ · A (wrong: the flip is missing)."""
        return G

    flip = declare_flip("flip_wrong_vjp", vjp=wrong)
    with pytest.raises(DeclarationError) as refused:  # at its first use, before any derivation
        flip(MatrixSymbol("A", 3, 2))
    message = str(refused.value)
    assert "\n" not in message and message.startswith("flip_wrong_vjp: its vjp disagrees with finite differences")
    assert "flip_wrong_vjp" not in PRIMITIVES
    with pytest.raises(DeclarationError, match="flip_wrong_vjp: its vjp disagrees"):
        flip(MatrixSymbol("B", 3, 2))  # and at every use after


@pytest.mark.parametrize("changes, says", [
    (dict(shape=lambda a: (a[1], a[0])), "its shape rule gives"),
    (dict(numpy="np.flip({0}, axis=-1)"), "its numpy lowering disagrees with its reference"),
    (dict(torch="torch.flip({0}, (-1,))"), "its torch lowering disagrees with its reference"),
    (dict(numpy="np.flip({1}, axis=-2)"), "the numpy lowering uses {1}"),
    (dict(jvp=lambda T, A: T), "its jvp disagrees"),
    (dict(vjp=lambda G: G), "vjp must take (G, A)"),
])
def test_a_declaration_whose_pieces_disagree_is_refused(changes, says):
    with pytest.raises(DeclarationError, match=re.escape(says)):
        declare_flip("flip_broken", **changes)(MatrixSymbol("A", 3, 2))
    assert "flip_broken" not in PRIMITIVES


def test_a_user_cannot_take_an_engine_primitives_name():
    with pytest.raises(DeclarationError, match="a primitive of the engine has that name"):
        declare_flip("rotate_half")


def _same(a, b):
    if tuple(a) != tuple(b):
        raise ValueError("operands of the same shape")
    return a


def test_a_primitive_of_two_operands_gives_each_its_cotangent():
    flip = declare_flip("flip_for_pairs")

    def vjp(G, A, B):
        """Ḡ · (A ∘ flip(B)) = (Ḡ ∘ flip(B)) · A + flip(Ḡ ∘ A) · B."""
        return hadamard(G, flip(B)), flip(hadamard(G, A))

    times_flipped = define_primitive(
        "times_flipped", shape=_same, vjp=vjp, reference=lambda A, B: A * B.flip(-2), linear=True,
        numpy="{0} * np.flip({1}, axis=-2)", torch="{0} * torch.flip({1}, (-2,))")
    c = Component("pair", "pair", "")
    n, d = c.dims("n d")
    A, B = c.input("A", n, d), c.input("B", n, d)
    with pytest.raises(ShapeMismatch, match=r"times_flipped: operands of shapes \(n, d\), \(d, n\)"):
        times_flipped(A, T(B))
    c.output("Y", times_flipped(A, B))
    module = compile_component(c, "numpy")  # the gate compares both cotangents with autograd first
    rng = np.random.default_rng(0)
    a, b, g = (rng.standard_normal((2, 4, 3)) for _ in range(3))
    out, cache = module.forward(a, b)
    grads = module.backward(g, cache)
    assert np.allclose(grads["A"], g * b[..., ::-1, :]) and np.allclose(grads["B"], (g * a)[..., ::-1, :])

    # an operand that is an expression, not a name: its code is parenthesised where the format puts it
    c = Component("pair_of_sums", "pair", "")
    n, d = c.dims("n d")
    A, B = c.input("A", n, d), c.param("B", n, d)
    c.output("Y", times_flipped(add(A, B), sub(B, A)))
    for target in ("numpy", "torch", "numba"):
        compile_component(c, target)  # validated against autograd through the reference


@pytest.mark.parametrize("name", sorted(PRIMITIVES))
def test_every_registered_primitive_is_complete_and_checked(name):
    p = PRIMITIVES[name]
    assert issubclass(p.node, Declared) and p.node.primitive is p
    assert (p.vjp.__doc__ or "").strip(), f"{name}: its vjp states no identity"
    assert (p.node.__doc__ or "").strip(), f"{name}: no docstring says what it is"
    for backend in ("numpy", "torch", "numba"):
        assert p.lowering(backend)
        helpers = re.findall(r"\b_(\w+)\(", p.lowering(backend) if isinstance(p.lowering(backend), str) else
                             p.code(backend, ["A"] * len(p.operands), ["2"] * len(p.params)))
        assert set(helpers) <= set(p.runtime_for(backend)), f"{name}: {backend} code calls a helper it does not define"
    symbols = [MatrixSymbol(f"A{i}", 4, 4) for i in range(len(p.operands))]
    node = p.node(*symbols, *[sp.Integer(2)] * len(p.params))
    assert text(node) and latex(node)
    if p.builtin:
        assert p.notation is not None and p.latex is not None and p.examples
        check_declaration(p)  # the engine's own are checked here, not at every start


@pytest.mark.parametrize("build", [
    lambda A: rotate_half(A),
    lambda A: share_heads(A, 2, 4),
    lambda A: sum_groups(A, 4, 2),
    lambda A: prefix_sum(A),
    lambda A: prefix_sum(A, sp.true),
])
def test_the_zero_and_factor_facts_follow_from_linearity(build):
    A = MatrixSymbol("A", 4, 4)
    assert simplify(build(ZeroMatrix(4, 4)))[0] == ZeroMatrix(4, 4)
    assert simplify(build(3 * A))[0] == 3 * build(A)


def test_without_torch_a_declaration_is_measured_through_its_numpy_code(monkeypatch):
    import reference.declarations as declarations
    from reference.arrays import NumpyArrays

    monkeypatch.setattr(declarations, "_arrays", lambda: NumpyArrays())
    declarations.check_declaration(declare_flip("flip_without_torch").primitive)  # right: accepted

    def wrong(G, A):
        """Ḡ · flip(A) = 2 flip(Ḡ) · A (wrong)."""
        return 2 * constructor(G)

    constructor = declare_flip("flip_without_torch_wrong", vjp=wrong)
    with pytest.raises(DeclarationError, match="flip_without_torch_wrong: its vjp disagrees"):
        constructor(MatrixSymbol("A", 3, 2))


def test_a_notation_enters_generated_code_only_as_text(tmp_path):
    """A notation is user text: quotes and backslashes in it stay inside the module's docstring."""
    odd = declare_flip("flip_oddly_written", notation='"""{0}\\\\n""" + 1')
    c = Component("odd_notation", "odd", "")
    n, d = c.dims("n d")
    X = c.input("X", n, d)
    c.output("Y", hadamard(odd(X), X))
    for target in ("numpy", "torch"):
        module = compile_component(c, target)
        assert '"""X\\\\n""" + 1' in module.__doc__
