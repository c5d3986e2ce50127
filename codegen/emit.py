"""Printing a plan: each statement of a lowered, laid-out plan as the code of one backend.

``emit`` reads the plan and never writes it: it makes an ``Emitted`` statement of each, with its
printed code, the names it reads, and the wrapping that gives an output or a gradient its declared
shape.  Scheduling (``codegen.schedule``) then rewrites those.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from derive.derivation import text

from .layout import FULL
from .plan import Emitted, ModulePlan
from .printers import UnprintableNode, paren


class GenerationError(ValueError):
    """A derivation that cannot be printed for a backend, said in one line."""


def print_code(printer, expr, component, target: str = "") -> str:
    """``printer.doprint(expr)``, with a printer's refusal turned into one line naming the value."""
    try:
        return printer.doprint(expr)
    except (UnprintableNode, NotImplementedError) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        where = f" {target} = {text(expr)}" if target else f" {text(expr)}"
        raise GenerationError(f"{component.name}: no {printer.array} code for{where}: {reason}") from None


def _sum_of(terms: list):
    return terms[0] if len(terms) == 1 else sp.MatAdd(*terms)


def _declared(printer, code: str, layout, expr, argument) -> str:
    """Printed ``code`` of ``expr`` at its declared shape: an output at (…, rows, cols), a gradient at
    its argument's shape (a vector (d,), a batched input with the batch axes even where the gradient
    is the same for every sequence)."""
    if argument is not None and argument.is_vector and layout.ndim == 1 and not layout.cols:
        return code  # already (d,)
    code = printer.full_code(code, layout, expr.shape)
    if argument is None:
        return code
    if argument.is_vector:
        return f"{paren(code)}.reshape(-1)"
    if argument.is_scalar:  # a number: its batch axes, or ()
        if not argument.batched:
            return f"{paren(code)}.reshape(())"
        if not printer.is_batched(expr):
            printer.helpers_used.add("expand_batch")
            code = f"_expand_batch({code}, _batch)"
        printer.symbols_used.add("_batch")
        return f"{paren(code)}.reshape(_batch)"
    if argument.batched and not printer.is_batched(expr):
        printer.helpers_used.add("expand_batch")
        printer.symbols_used.add("_batch")
        return f"_expand_batch({code}, _batch)"
    return code


@dataclass
class Printed:
    """A plan's statements as printed: the forward, the backward, (argument, its gradient's statement
    or None), and the names each part reads."""

    forward: list[Emitted]
    backward: list[Emitted]
    gradients: list[tuple[str, Emitted | None]]
    forward_symbols: set
    backward_symbols: set
    numbers: set  # the outputs that are losses: 0-d arrays


def emit(plan: ModulePlan, printer, forward_only: bool = False) -> Printed:
    """Every statement of ``plan`` printed with ``printer`` (the forward alone with ``forward_only``)."""
    c = plan.component
    printer.ctx = plan.context
    emitted = {id(st): Emitted.of(st) for st in plan.forward + plan.backward}  # one per statement
    forward = [emitted[id(st)] for st in plan.forward]
    backward = [] if forward_only else [emitted[id(st)] for st in plan.backward]
    gradients = [] if forward_only else [(n, st and emitted[id(st)]) for n, st in plan.gradients]
    forward_symbols, backward_symbols = set(), set()
    numbers = plan.numbers()
    gradient_of = {id(st): c.argument(name) for name, st in gradients if st is not None}
    headed_names = {printer.ctx.names.get(symbol, symbol.name): h for symbol, h in printer.ctx.headed.items()}
    floats = [a.name for a in c.tensor_arguments if a.dtype != "int"]
    for statements, used in ((forward, forward_symbols), (backward, backward_symbols)):
        printer.like = plan.given[0] if statements is backward else (floats[0] if floats else "None")
        for st in statements:
            printer.symbols_used = set()
            st.code = print_code(printer, st.expr, c, st.target)
            layout = printer.layout(st.expr)  # the printed code's; the statement's is ``lay_out``'s
            argument = gradient_of.get(id(st))
            st.wrapped = False
            if statements is backward and printer.has_heads(st.expr) and st.target not in headed_names:
                # a value without heads met head-split ones: its cotangent is their sum over the heads,
                # term by term: a term without heads is already the value's own (through a merge)
                printer.helpers_used.add("sum_heads")
                terms = st.expr.args if isinstance(st.expr, sp.MatAdd) else (st.expr,)
                headed = [t for t in terms if printer.has_heads(t)]
                rest = [t for t in terms if not printer.has_heads(t)]
                if rest:
                    summed = print_code(printer, _sum_of(headed), c, st.target)
                    own = print_code(printer, _sum_of(rest), c, st.target)
                    st.code = f"_sum_heads({summed}) + {paren(own)}"
                else:
                    st.code = f"_sum_heads({st.code})"
                st.wrapped = True
            elif statements is backward and st.target in headed_names and not printer.has_heads(st.expr):
                # the cotangent of a head-split value that is the same for every head: given its heads axis
                printer.helpers_used.add("expand_heads")
                st.code = (f"_expand_heads({printer.full_code(st.code, layout, st.expr.shape)}, "
                           f"{printer.size(headed_names[st.target])})")
                st.wrapped = True
                layout = FULL
            if st.target in plan.outputs and st.target not in numbers or argument is not None:
                # an output or a gradient has its declared shape: a broadcast is expanded
                declared_code = _declared(printer, st.code, layout, st.expr, argument)
                st.wrapped = st.wrapped or argument is not None and declared_code != st.code and (
                    argument.is_vector or argument.batched and not printer.is_batched(st.expr))
                st.code = declared_code
            st.reads = set(printer.symbols_used)
            used |= st.reads
    printer.symbols_used = forward_symbols | backward_symbols

    for st in forward:
        if st.target in numbers:  # a loss: a 0-d array
            st.code = f"({st.code}).reshape(())"
    return Printed(forward, backward, gradients, forward_symbols, backward_symbols, numbers)
