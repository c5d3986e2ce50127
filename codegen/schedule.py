"""Scheduling printed statements (``codegen.emit``) for one backend: fused kernels, the cache, liveness
and writing into free arrays.

Each step rewrites the ``Emitted`` statements, never the plan: ``fuse_statements`` replaces runs of
row-local statements by one kernel's call (backends that fuse), the cache is what the backward reads
of the forward and does not make itself, ``release_after_last_use`` releases each array after its
last read, and ``overwrite_statements`` writes a statement's result into an array no longer needed.
"""
from __future__ import annotations

from dataclasses import dataclass

from .emit import Printed
from .overwrite import overwrite_free_arrays
from .passes import release_after_last_use
from .plan import Emitted, ModulePlan, dims_in_order
from .shapes import Shape


@dataclass
class Scheduled:
    """The statements as they are run: the forward and backward, what the forward caches for the
    backward, the arguments whose gradient is zero, and what scheduling did (for this backend)."""

    forward: list[Emitted]
    backward: list[Emitted]
    cached: list[str]
    zero: list[str]
    notes: list[str]


def schedule(plan: ModulePlan, printed: Printed, backend, printer, prefix: str = "",
             forward_only: bool = False) -> Scheduled:
    """``printed`` scheduled for ``backend``: the backward's kernels first (what they read, the forward
    caches), then the cache, the forward's kernels, liveness and overwriting."""
    c = plan.component
    forward_statements, backward_statements = list(printed.forward), list(printed.backward)
    gradient_targets = {st.target for _, st in printed.gradients if st is not None}
    declared = set(plan.outputs) | gradient_targets  # kept at their declared shape
    kernel_prefix = f"_{prefix.strip('_')}_" if prefix.strip("_") else "_"  # _block_forward_1, _forward_1
    if backend.fuses and not forward_only:
        backward_statements = fuse_statements(backward_statements, printer, c, gradient_targets, declared,
                                              f"{kernel_prefix}backward_", printed.backward_symbols)

    dims = dims_in_order(c, c.tensor_arguments)
    tensor_names = [a.name for a in c.tensor_arguments]
    names = tensor_names + [st.target for st in plan.forward] + [a.name for a in c.configs] + [
        str(s) for s, _, _ in c.scalars]
    zero = [name for name, st in printed.gradients if st is None]
    recomputed = {t for st in backward_statements for t in made_by(st)}  # the backward makes these
    cached = [n for n in names if (n in printed.backward_symbols or n in zero) and n not in recomputed]
    cached += [d for d in dims + ["n_batch", "_batch"] if d in printed.backward_symbols]
    if backend.fuses:
        forward_statements = fuse_statements(forward_statements, printer, c, set(cached) | set(plan.outputs),
                                             declared, f"{kernel_prefix}forward_", printed.forward_symbols)

    # Liveness: every array is released after its last use; the backward drops its cache once unpacked.
    # (Parameters are not released: their owner holds them; batched inputs and values may be large.)
    arrays = {a.name for a in c.inputs} | {t for st in forward_statements + backward_statements for t in made_by(st)}
    release_after_last_use(forward_statements, keep=set(cached) | set(plan.outputs) | (set(tensor_names)))
    returned = gradient_targets | set(zero)
    release_after_last_use(backward_statements, keep=returned | set(plan.given))
    for st in forward_statements + backward_statements:
        st.release = [n for n in st.release if n in arrays]
    if not forward_only:
        unread = sorted(n for n in cached if n in arrays and n not in returned
                        and not any(n in st.reads for st in backward_statements))
        if backward_statements:
            backward_statements[0].release = sorted(set(backward_statements[0].release) | set(unread))
    notes = []  # what scheduling did for this backend (the plan's notes hold for every backend)
    kernels = [st for st in forward_statements + backward_statements if st.outputs]
    if kernels:
        kernel_names = ", ".join(st.code.split("(")[0] for st in kernels)
        notes.append(f"fused: {len(kernels)} runs of entrywise statements and row reductions, each one "
                     f"Numba kernel making one pass over the rows ({kernel_names})")
    if printer.overwrite_free_arrays:
        entrywise = {f"_{n}" for n in printer.functions_used} | {f"_{t.upper()}" for t in printer.choices_used}
        notes += overwrite_statements(c, plan, forward_statements, backward_statements, cached, returned,
                                      forward_only, entrywise, backend.fused_updates)
    return Scheduled(forward_statements, backward_statements, cached, zero, notes)


def made_by(st) -> list[str]:
    """The names a statement makes: its target, or a fused kernel's outputs."""
    return st.outputs or [st.target]


def fuse_statements(statements, printer, c, needed_after: set, declared: set, prefix: str, used: set) -> list:
    """``statements`` with each fused group (``codegen.fusion``) replaced by one call of its kernel; the
    kernels' source goes to ``printer.kernels``.  A group whose kernel cannot be printed stays as it was."""
    from .fusion import Unfusable, find_groups, row_local, statement_key
    from .kernels import KernelPrinter

    def key_of(st):
        return statement_key(st, printer.ctx.batched, printer.ctx.headed)

    def fusable(st):
        return not st.wrapped and not st.updates and key_of(st) is not None and row_local(st.expr)

    choices = {a.name: a.choices for a in c.configs if a.choices}
    out = list(statements)
    for group in find_groups(statements, fusable, key_of, lambda st: set(st.reads),
                             needed_after):
        name = f"{prefix}{len(printer.kernels) + 1}"
        try:
            source, call, reads = KernelPrinter(group, printer, name, choices, declared).render()
        except Unfusable:
            continue
        printer.kernels.append(source)
        shapes = ", ".join(str(next(st.shape for st in group.statements if st.target == n)) for n in group.outputs)
        made = ", ".join(st.target for st in group.statements)
        call_statement = Emitted(", ".join(group.outputs), group.statements[-1].expr, None,
                                 f"fused: {made} (one pass over the rows, {name}_rows)", code=call,
                                 reads=reads, outputs=list(group.outputs), shape_note=shapes,
                                 fused=[st.target for st in group.statements])
        first = out.index(group.statements[0])
        for st in group.statements:
            out.remove(st)
        out.insert(first, call_statement)
        used |= reads
    return out


def overwrite_statements(c, plan, forward_statements, backward_statements, cached, returned, forward_only, entrywise,
               fused_updates) -> list[str]:
    """Statements that write into arrays no longer needed (``overwrite``); returns the note."""
    arguments = {a.name: Shape.of(a.symbol.shape, a.batched, a.is_vector, heads=a.heads).axes()
                 for a in c.tensor_arguments}
    scalars = set(dims_in_order(c, c.tensor_arguments)) | {a.name for a in c.configs} | {
        str(s) for s, _, _ in c.scalars} | {"n_batch"}
    keep = set(cached) | set(plan.outputs) | {a.name for a in c.tensor_arguments}
    done = overwrite_free_arrays(forward_statements, keep, arguments, scalars, entrywise, fused_updates)
    if not forward_only:
        forward = {**arguments, **{st.target: st.shape.axes() for st in plan.forward}}
        for name, given in zip(plan.outputs, plan.given):
            forward[given] = next(st for st in plan.forward if st.target == name).shape.axes()
        done += overwrite_free_arrays(backward_statements, returned | set(plan.given), forward, scalars, entrywise,
                                      fused_updates)
    if not done:
        return []
    return [f"overwrite: {', '.join(done)} updated in place (+=, *=) in the array the statement made or in one no longer needed, not a new array per operation"]
