"""Forward mode: the tangent of every value, pushed forward from the arguments' tangents.

Where the reverse sweep transposes each primitive's differential (Ḡ · dY = (…) · dA), forward mode
reads the same differential forwards: dY as a linear map of the operands' dA.  Each primitive's
differential is declared beside it (a declared primitive's ``jvp``), or follows from the node's
kind:

* linear in each operand (``+``, ``Aᵀ``, products, ``A ∘ B``, a gather, a pick, Σ_batch, a declared
  primitive with ``linear=True``): the product rule, d f(A, B) = f(dA, B) + f(A, dB);
* entrywise ``f(A)``: dY = f′(A) ∘ dA, f′ from ``sympy.diff`` (as the reverse rule's);
* integer indices, constants (rotary angles, 1 vectors) and frozen values: no tangent.

The result is a component of its own (``jvp_component``): the arguments, their tangents ``dX`` (for
each argument that receives a gradient), the forward definitions the tangents read, and the tangent
definitions ``dY = …``, whose outputs are the outputs' tangents.  It is generated as any component is,
so a JVP is printed by the same printers; the validation gate checks it against the gradients it has
checked by the adjoint identity ⟨G, J t⟩ = Σ ⟨∂L/∂a, t_a⟩ (``reference.gate.forward_mode_outcome``).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import sympy as sp
from sympy import HadamardProduct, MatAdd, MatMul, MatrixExpr, MatrixSymbol, Transpose, ZeroMatrix

from .api import RESERVED_NAMES, Component, Definition
from .declare import primitive_of
from .errors import DefinitionError
from .primitives import BatchSum, Elementwise, Gather, Pick, Repeat, matrix_children
from .simplify import simplify


class NoForwardMode(DefinitionError):
    """A primitive of the definition declares no differential to push forward (named)."""


class ConstantOutputs(ValueError):
    """No output depends on a differentiable argument: every tangent is zero (nothing to derive)."""


@dataclass
class Tangent:
    """``d<name> = expr``: the tangent of one forward value."""

    value: MatrixSymbol       # the forward value
    symbol: MatrixSymbol      # its tangent's symbol
    expr: MatrixExpr          # in the tangents of the arguments and earlier values


@dataclass
class ForwardDerivation:
    """The forward-mode derivation of a component: argument tangents, then one tangent per value."""

    component: Component
    arguments: dict = field(default_factory=dict)  # argument symbol → its tangent's symbol
    tangents: list[Tangent] = field(default_factory=list)

    def tangent(self, symbol: MatrixSymbol) -> MatrixSymbol | None:
        if symbol in self.arguments:
            return self.arguments[symbol]
        return next((t.symbol for t in self.tangents if t.value == symbol), None)


def _sum(terms: list[MatrixExpr]) -> MatrixExpr | None:
    return None if not terms else terms[0] if len(terms) == 1 else MatAdd(*terms)


def _with(args: tuple, i: int, replacement) -> tuple:
    return args[:i] + (replacement,) + args[i + 1:]


def push_forward(expr: MatrixExpr, known: dict) -> MatrixExpr | None:
    """dY for Y = ``expr``: the tangent of ``expr`` given ``known`` (a symbol → its tangent, only for
    symbols that have one); None where nothing it reads has a tangent."""
    memo: dict = {}

    def d(e):
        if e in memo:
            return memo[e]
        if isinstance(e, MatrixSymbol):
            result = known.get(e)
        elif not isinstance(e, MatrixExpr) or not any(d(c) is not None for c in matrix_children(e)):
            result = None  # a constant, or a value of frozen arguments
        else:
            result = _rule(e, d)
        memo[e] = result
        return result

    return d(expr)


def _rule(e: MatrixExpr, d) -> MatrixExpr:
    """dY for the node ``e`` whose operands have tangents ``d(operand)`` (None: none)."""
    declared = primitive_of(e)
    if declared is not None:
        operands = e.operands
        tangents = [d(a) for a in operands]
        if declared.jvp is not None:
            full = tuple(t if t is not None else ZeroMatrix(*a.shape) for t, a in zip(tangents, operands))
            return declared.jvp(full if len(full) > 1 else full[0], *operands, *e.params)
        if declared.linear:  # linear in each operand: the product rule
            return _sum([type(e)(*_with(e.args, i, t)) for i, t in enumerate(tangents) if t is not None])
        raise NoForwardMode(f"{declared.name} declares no jvp and is not linear: its differential cannot be "
                            "pushed forward (give define_primitive a jvp)")
    if isinstance(e, MatAdd):
        return _sum([t for t in (d(a) for a in e.args) if t is not None])
    if isinstance(e, (MatMul, HadamardProduct)):  # multilinear in its matrices; scalars are constants
        terms = []
        for i, a in enumerate(e.args):
            if isinstance(a, MatrixExpr) and (t := d(a)) is not None:
                terms.append(type(e)(*_with(e.args, i, t)))
        return _sum(terms)
    if isinstance(e, Transpose):
        return Transpose(d(e.arg))
    if isinstance(e, Elementwise):
        return HadamardProduct(Elementwise(e.fn.derivative(), e.arg), d(e.arg))
    if isinstance(e, BatchSum):
        return BatchSum(d(e.arg))
    if isinstance(e, (Gather, Pick)):  # linear in the table (the values); integer indices take no tangent
        return type(e)(*_with(e.args, 0, d(e.args[0])))
    if isinstance(e, Repeat):
        raise NoForwardMode("a stack of blocks (Repeat) has no forward mode: push forward through its block")
    raise NoForwardMode(f"no forward-mode rule for primitive {type(e).__name__} (in {e})")


def linearise(component: Component) -> ForwardDerivation:
    """The tangent of every forward value, in definition order, simplified as the sweep's cotangents are."""
    component.validate()
    taken = ({a.name for a in component.arguments} | {d.name for d in component.definitions}
             | {str(s) for s in component._dims.values()} | {str(s) for s, _, _ in component.scalars})
    derivation = ForwardDerivation(component)
    known: dict = {}
    for a in component.tensor_arguments:
        if a.receives_gradient:
            symbol = MatrixSymbol(_tangent_name(a.name, taken), *a.symbol.shape)
            derivation.arguments[a.symbol] = known[a.symbol] = symbol
    values: dict = {}  # an earlier value's expression → its name: a rule that restates it reads it instead
    for definition in component.definitions:
        expr = push_forward(definition.expr, known)
        values.setdefault(definition.expr, definition.symbol)
        if expr is None:
            continue
        expr, _ = simplify(expr.xreplace(values))
        if isinstance(expr, ZeroMatrix) or expr == 0:
            continue
        symbol = MatrixSymbol(_tangent_name(definition.name, taken), *definition.symbol.shape)
        derivation.tangents.append(Tangent(definition.symbol, symbol, expr))
        known[definition.symbol] = symbol
    return derivation


def jvp_component(derivation: ForwardDerivation) -> Component:
    """The forward-mode derivation as a component: the arguments and their tangents (frozen: nothing
    flows backwards through it), the forward values the tangents of the outputs read, then the tangents;
    its outputs are the tangents of the outputs that have one, in order (an output that depends on no
    differentiable argument has a zero tangent, which its caller makes; ``ConstantOutputs`` when none
    has one)."""
    c = derivation.component
    out_tangents = [t for t in (derivation.tangent(o) for o in c.output_symbols) if t is not None]
    if not out_tangents:
        raise ConstantOutputs(f"{c.name}: no output depends on a differentiable argument")
    j = Component(c.name, c.title, c.description, c.class_name)
    j._dims = dict(c._dims)
    j.scalars = list(c.scalars)
    j.requirements = list(c.requirements)
    for a in c.arguments:
        j.arguments.append(a if a.role == "config" else _frozen(a, a.name, a.symbol))
    for a in c.tensor_arguments:
        if a.heads is not None:  # one matrix per head: so is its tangent
            j._headed[a.symbol] = a.heads
        if a.symbol in derivation.arguments:
            tangent = derivation.arguments[a.symbol]
            j.arguments.append(_frozen(a, tangent.name, tangent, doc=f"the tangent of {a.name}"))
            if a.heads is not None:
                j._headed[tangent] = a.heads
    # the definitions the outputs' tangents read, with their heads; then the tangents
    tangent_of = {t.symbol: t for t in derivation.tangents}
    needed = set().union(*(_reads(t, tangent_of, {d.symbol: d for d in c.definitions}) for t in out_tangents))
    for d in c.definitions:
        if d.symbol in needed:
            j.definitions.append(Definition(d.symbol, d.expr, d.doc))
            if d.symbol in c._headed:
                j._headed[d.symbol] = c._headed[d.symbol]
    for t in derivation.tangents:
        if t.symbol in needed:  # checked as any definition is: a tangent the engine got ill-formed is refused
            j.let(t.symbol.name, t.expr, doc=f"the tangent of {t.value.name}")
    j.output_symbols = list(out_tangents)
    return j


def _tangent_name(name: str, taken: set) -> str:
    """``d<name>``, or ``d<name>_2``… where that is taken (the name is added to ``taken``)."""
    candidate, k = f"d{name}", 1
    while candidate in taken or candidate in RESERVED_NAMES:
        k += 1
        candidate = f"d{name}_{k}"
    taken.add(candidate)
    return candidate


def _frozen(a, name: str, symbol: MatrixSymbol, doc: str | None = None):
    """``a`` renamed to ``name`` and ``symbol``, frozen where it is floating point: the forward-mode
    component differentiates nothing."""
    return replace(a, name=name, symbol=symbol, frozen=a.dtype == "float", doc=a.doc if doc is None else doc)


def _reads(target: MatrixSymbol, tangents: dict, definitions: dict) -> set:
    """Every tangent and forward value that ``target`` reads, itself included."""
    seen: set = set()
    stack = [target]
    while stack:
        s = stack.pop()
        if s in seen:
            continue
        seen.add(s)
        expr = tangents[s].expr if s in tangents else definitions[s].expr if s in definitions else None
        if expr is not None:
            stack += [n for n in sp.preorder_traversal(expr) if isinstance(n, MatrixSymbol)]
    return seen


def render_forward_mode(derivation: ForwardDerivation) -> str:
    """The forward-mode derivation as text: each forward value, then its tangent beneath it."""
    from .derivation import text

    c = derivation.component
    tangents = {t.value: t for t in derivation.tangents}
    arguments = ", ".join(f"{t.name} of {s.name}" for s, t in derivation.arguments.items())
    lines = [f"{c.name}: forward mode (the tangent dV of each value V, pushed forward from each primitive's "
             "differential)", "", f"tangents of the arguments: {arguments or 'none (nothing is differentiable)'}", ""]
    for d in c.definitions:
        lines.append(f"  {d.name} = {text(d.expr)}")
        if d.symbol in tangents:
            t = tangents[d.symbol]
            lines.append(f"    {t.symbol.name} = {text(t.expr)}")
    lines.append("")
    for o in c.output_symbols:
        out = derivation.tangent(o)
        lines.append(f"tangent of the output {o.name}: "
                     f"{out.name if out is not None else 'zero (no differentiable argument)'}")
    return "\n".join(lines) + "\n"
