"""The check a primitive's declaration (``derive.declare``) passes when it is made.

At small random sizes (the declaration's ``examples``, else sizes drawn for its operands that its
shape rule and its reference accept), in float64, with two sequences in the batch:

* its shape rule gives the reference's output shape;
* its NumPy and Torch lowerings give the reference's value;
* its VJP, evaluated through the reference semantics, gives for each operand the directional
  derivative of ⟨G, reference⟩ that central differences measure (and its JVP, when it has one, the
  derivative along every operand at once).

A disagreement refuses the declaration in one line naming the primitive and what disagreed.  With
torch the reference is the declaration's own; without it, a user's primitive is measured through its
NumPy lowering (the engine's run their references on NumPy arrays too).
"""
from __future__ import annotations

import itertools

import numpy as np
import sympy as sp
from sympy import MatrixExpr, MatrixSymbol

from derive.declare import DeclarationError, Primitive, install_checker

from .semantics import Evaluator, Value, declared_value, run_lowering

#: Operand sizes tried for a primitive without examples: every operand at the same (rows, cols),
#: then different columns; the first sizes its shape rule and reference accept are used.
TRIED = ((3, 4), (2, 6), (4, 2), (1, 3), (3, 1))
STEP = 1e-6
TOLERANCE = 1e-6


def _arrays():
    try:
        import torch  # noqa: F401
    except ImportError:
        from .arrays import NumpyArrays

        return NumpyArrays()
    from .arrays import TorchArrays

    return TorchArrays()


def examples(primitive: Primitive) -> list[tuple]:
    """(operand shapes, parameters, head count) to check at: the declaration's, else drawn."""
    if primitive.examples:
        return [tuple(e) for e in primitive.examples]
    k = len(primitive.operands)
    drawn = [tuple([size] * k) for size in TRIED]
    drawn += [shapes for shapes in itertools.product(TRIED[:3], repeat=k) if len(set(shapes)) > 1][:6]
    return [(shapes, (), None) for shapes in drawn]


class _Case:
    """One example: the operands as symbols and random data, the node, the evaluator."""

    def __init__(self, primitive: Primitive, shapes, params, heads, xp, rng):
        self.primitive, self.params, self.xp = primitive, tuple(params), xp
        self.symbols = [MatrixSymbol(f"A{i}", *shape) for i, shape in enumerate(shapes)]
        self.node = primitive.node(*self.symbols, *(sp.sympify(p) for p in params))
        self.shape = tuple(int(s) for s in self.node.shape)
        lead = (2, heads or 1)
        self.data = [self.array(rng.standard_normal(lead + tuple(shape))) for shape in shapes]
        self.heads = heads

    def array(self, values: np.ndarray):
        return self.xp.torch.from_numpy(values) if self.xp.name == "torch" else values

    def value(self, data: list):
        return declared_value(self.xp, self.primitive, data, list(self.params))

    def evaluate(self, expr: MatrixExpr, extra: dict):
        env = {s: Value(d, True, self.heads) for s, d in zip(self.symbols, self.data)}
        env.update(extra)
        return Evaluator(None, env, {"__dtype__": self.data[0].dtype}, 2, self.xp).ev(expr).data


def _numpy(a) -> np.ndarray:
    return a.detach().numpy() if hasattr(a, "detach") else np.asarray(a)


def _lowering_value(primitive: Primitive, backend: str, data: list, params: list) -> np.ndarray:
    """The ``backend``'s code of the primitive run on ``data`` (``semantics.run_lowering``), as NumPy."""
    if backend == "torch":
        import torch

        data = [torch.from_numpy(_numpy(d)) for d in data]
    else:
        data = [_numpy(d) for d in data]
    return _numpy(run_lowering(primitive, backend, data, params))


def _directional(case: _Case, G, directions: list) -> float:
    """d/dt ⟨G, reference(A + t V)⟩ at t = 0 by central differences (V zero for operands not moved)."""
    def at(t):
        moved = [a + t * v if v is not None else a for a, v in zip(case.data, directions)]
        return float((_numpy(case.value(moved)) * _numpy(G)).sum())

    return (at(STEP) - at(-STEP)) / (2 * STEP)


def _agree(measured: float, derived: float, scale: float) -> bool:
    return abs(measured - derived) <= TOLERANCE * max(1.0, scale, abs(measured), abs(derived))


def check_declaration(primitive: Primitive, seed: int = 0) -> None:
    """Refuse ``primitive`` (``DeclarationError``, one line) when a rule disagrees with its reference."""
    xp, rng = _arrays(), np.random.default_rng(seed)
    name, checked = primitive.name, 0
    for shapes, params, heads in examples(primitive):
        try:
            case = _Case(primitive, shapes, params, heads, xp, rng)
            out = case.value(case.data)
        except (ValueError, TypeError, IndexError, RuntimeError, ArithmeticError):
            if primitive.examples:
                raise
            continue  # sizes this primitive does not take: the next
        sizes = ", ".join(f"({r}, {c})" for r, c in shapes)
        if tuple(out.shape[-2:]) != case.shape:
            raise DeclarationError(f"{name}: its shape rule gives {case.shape} for operands {sizes}; its reference "
                                   f"gives {tuple(out.shape[-2:])}")
        for backend in ("numpy", "torch"):
            if backend == "torch" and xp.name != "torch":
                continue
            try:
                lowered = _lowering_value(primitive, backend, case.data, list(params))
            except Exception as e:  # the user's code: any failure is the declaration's to report
                raise DeclarationError(f"{name}: its {backend} lowering fails on operands {sizes}: "
                                       f"{type(e).__name__}: {e}") from None
            reference_value = _numpy(out)  # (B, H, rows, cols): an axis of 1 where the code has none (no heads)
            squeezed = [tuple(n for n in shape if n != 1) for shape in (lowered.shape, reference_value.shape)]
            if squeezed[0] != squeezed[1] or not np.allclose(
                    lowered.reshape(reference_value.shape), reference_value, rtol=1e-10, atol=1e-12):
                raise DeclarationError(f"{name}: its {backend} lowering disagrees with its reference on operands "
                                       f"{sizes}")
        G_symbol = MatrixSymbol("G", *case.shape)
        G = case.array(rng.standard_normal(tuple(out.shape)))
        cotangents = primitive.vjp(G_symbol, *case.symbols, *case.node.params)
        if not isinstance(cotangents, (tuple, list)):
            cotangents = (cotangents,)
        if len(cotangents) != len(case.symbols):
            raise DeclarationError(f"{name}: its vjp returns {len(cotangents)} cotangent(s) for "
                                   f"{len(case.symbols)} operand(s)")
        extra = {G_symbol: Value(G, True, _heads_of(case))}
        for i, (symbol, cotangent) in enumerate(zip(case.symbols, cotangents)):
            if not isinstance(cotangent, MatrixExpr) or tuple(cotangent.shape) != tuple(symbol.shape):
                got = getattr(cotangent, "shape", type(cotangent).__name__)
                raise DeclarationError(f"{name}: its vjp gives {got} for operand {primitive.operands[i]} of shape "
                                       f"{tuple(symbol.shape)}; it must be a matrix expression of that shape")
            derived_gradient = _numpy(case.evaluate(cotangent, extra))
            V = rng.standard_normal(_numpy(case.data[i]).shape)
            directions = [case.array(V) if j == i else None for j in range(len(case.data))]
            measured = _directional(case, G, directions)
            derived = float((np.broadcast_to(derived_gradient, V.shape) * V).sum())
            scale = float(np.linalg.norm(_numpy(G)) * np.linalg.norm(V))
            if not _agree(measured, derived, scale):
                raise DeclarationError(f"{name}: its vjp disagrees with finite differences of its reference for "
                                       f"operand {primitive.operands[i]} (operands {sizes}): "
                                       f"{derived:.6g} against {measured:.6g}")
        if primitive.jvp is not None:
            tangents = [MatrixSymbol(f"T{i}", *s.shape) for i, s in enumerate(case.symbols)]
            V = [rng.standard_normal(_numpy(d).shape) for d in case.data]
            tangent = tangents[0] if len(tangents) == 1 else tuple(tangents)
            dY = primitive.jvp(tangent, *case.symbols, *case.node.params)
            if not isinstance(dY, MatrixExpr) or tuple(dY.shape) != case.shape:
                raise DeclarationError(f"{name}: its jvp must give a matrix expression of the output's shape "
                                       f"{case.shape}")
            extra = {t: Value(case.array(v), True, case.heads) for t, v in zip(tangents, V)}
            derived = float((_numpy(case.evaluate(dY, extra)) * _numpy(G)).sum())
            measured = _directional(case, G, [case.array(v) for v in V])
            scale = float(np.linalg.norm(_numpy(G)) * sum(np.linalg.norm(v) for v in V))
            if not _agree(measured, derived, scale):
                raise DeclarationError(f"{name}: its jvp disagrees with finite differences of its reference "
                                       f"(operands {sizes}): {derived:.6g} against {measured:.6g}")
        checked += 1
        if checked == 2:
            return
    if not checked:
        raise DeclarationError(f"{name}: its shape rule or its reference refuses every small size tried "
                               f"({', '.join(map(str, TRIED))} for each operand); give examples=")


def _heads_of(case: _Case):
    """The head count of the primitive's output in ``case``."""
    p = case.primitive
    return p.heads(case.heads, *case.params) if p.heads is not None else case.heads


install_checker(check_declaration)
