"""Rendering: a lowered module plan → the text of a generated Python module."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import jinja2
import sympy as sp

from derive.components import build
from derive.api import split_size
from derive.derivation import text
from derive.primitives import Cotangent, index_tables
from derive.reverse import derive

from .lower import lower
from .overwrite import overwrite_free_arrays
from .shapes import Shape
from .passes import release_after_last_use
from .plan import Emitted, ModulePlan
from .runtime import helper_blocks
from .backends import BACKENDS, Backend
from .layout import FULL
from .printers import UnprintableNode, paren

TEMPLATES = Path(__file__).parent / "templates"


def docstring_text(value) -> str:
    """User text (a title, a description, a doc) as it may stand inside a triple-quoted docstring:
    one line, backslashes and quotes escaped, so it is read back as the same text and never as code."""
    text = " ".join(str(value).splitlines()).replace("\\", "\\\\")
    return re.sub(r'"(?=")|(?<=")"|"$', r'\\"', text)  # no run of quotes can close the docstring


def comment_text(value) -> str:
    """User text as it may stand in a ``#`` comment: one line."""
    return " ".join(str(value).splitlines())


@lru_cache(maxsize=None)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    env.filters["doc"] = docstring_text
    env.filters["comment"] = comment_text
    return env


def compiled(text: str, what: str) -> str:
    """``text`` after compiling it in memory: a module that is not valid Python is an error naming
    the component (nothing is written)."""
    try:
        compile(text, f"<generated {what}>", "exec")
    except SyntaxError as e:
        raise GenerationError(f"{what}: the generated module does not compile ({e.msg}, line {e.lineno}); "
                              f"this is a bug in the engine") from None
    return text


_INIT = {
    "normal": "torch.empty({shape}, **factory).normal_(0.0, 0.02)",
    "zeros": "torch.zeros({shape}, **factory)",
    "ones": "torch.ones({shape}, **factory)",
}


def _module_context(c) -> dict:
    """Names and initialisers for the Torch ``Function`` and ``nn.Module``."""
    tensor_names = [a.name for a in c.tensor_arguments]
    config_names = [a.name for a in c.configs]
    dims = dims_in_order(c, c.params)
    parameters = []
    for a in c.params:
        shape = "(" + ", ".join(f"{d}" for d in a.dims) + ("," if len(a.dims) == 1 else "") + ")"
        parameters.append({"name": a.name, "init": _INIT[a.init].format(shape=shape),
                           "trainable": not a.frozen})
    configs = [a.keyword() for a in sorted(c.configs, key=lambda a: not a.required)]
    inputs = [a.name for a in c.inputs]
    return dict(
        tensor_names=tensor_names,
        config_names=config_names,
        apply_signature=", ".join(tensor_names + config_names),
        call_arguments=", ".join(tensor_names + [f"{n}={n}" for n in config_names]),
        module_dims=dims,
        module_signature=", ".join(["self"] + dims + configs + ["device=None", "dtype=None"]),
        config_literal="{" + ", ".join(f'"{n}": {n}' for n in config_names) + "}",
        parameters=parameters,
        module_inputs=", ".join(inputs),
        module_apply=", ".join([n if n in inputs else f"self.{n}" for n in tensor_names]
                               + [f"self.{n}" for n in config_names]),
        extra_repr='f"' + ", ".join(f"{n}={{self.{n}}}" for n in dims + config_names) + '"',
        choice_checks=[(a.name, repr(a.choices), repr(f"{a.name} must be one of {a.choices!r}, got "))
                       for a in c.configs if a.choices],
    )


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
    if argument.batched and not printer.is_batched(expr):
        printer.helpers_used.add("expand_batch")
        printer.symbols_used.add("_batch")
        return f"_expand_batch({code}, _batch)"
    return code


def _config_check(a) -> str | None:
    """The helper that checks (and normalises) a configuration value at call time, by its kind."""
    if a.symbol is None:
        return None  # a choice: checked against its options
    if a.symbol.is_integer:
        return "check_count"  # any integer type (NumPy's too), at least 1
    if isinstance(a.default, bool):
        return "check_flag"
    if a.symbol.is_positive:
        return "check_number"  # a finite real number
    return None  # a runtime object (a stack of blocks)


def _choice_scalar_line(symbol, config: str, options: dict, printer) -> str:
    """``weight = 1/(n_batch*(n_T - 1)) if reduction == "mean" else 1``."""
    items = list(options.items())
    code = printer.scalar(items[-1][1])
    for key, value in reversed(items[:-1]):
        code = f"{printer.scalar(value)} if {config} == {key!r} else {code}"
    return f"{symbol} = {code}"


def _names_literal(names: list[str]) -> str:
    """``{"X": X, "W": W}``: arguments by name, for a helper's messages."""
    return "{" + ", ".join(f'"{n}": {n}' for n in names) + "}"


def _forward_prologue(c, backend, printer, forward_symbols, backward_symbols, dims):
    """Argument conversion and checks, dimension binding, derived scalars: the forward's first lines."""
    lines = [backend.as_array(a.name, a.dtype) for a in c.tensor_arguments]
    printer.helpers_used.add("check_dtypes")
    floats = [a.name for a in c.tensor_arguments if a.dtype != "int"]
    ints = [a.name for a in c.tensor_arguments if a.dtype == "int"]
    if floats:  # low precision is computed in float32 and the results rounded back (``rounded``)
        lines += [f"dtype, compute_dtype = _check_dtypes({_names_literal(floats)}, {_names_literal(ints)})",
                  "if compute_dtype != dtype:  # computed in float32 and rounded back, as torch's layers accumulate"]
        lines += [f"    {n} = {backend.rounded(n, 'compute_dtype')}" for n in floats]
    else:
        lines.append(f"_check_dtypes({_names_literal(floats)}, {_names_literal(ints)})")
    for a in c.configs:  # first: a size may be a dimension times a count (n_heads*d_h)
        check = _config_check(a)
        if check:
            printer.helpers_used.add(check)
            lines.append(f'{a.name} = _{check}("{a.name}", {a.name})')
        if a.choices:
            lines += [f"if {a.name} not in {a.choices!r}:",
                      f'    raise ValueError({f"{a.name} must be one of {a.choices!r}, got "!r} + repr({a.name}))']
    lines.append("dims = {}")
    for a in c.tensor_arguments:
        expected = "(" + ", ".join(_expected_size(d, c) for d in a.dims) + ("," if len(a.dims) == 1 else "") + ")"
        lines.append(f'_check_shape("{a.name}", {a.name}, {expected}, dims, batched={a.batched})')
    later = []
    for condition, message in c.requirements:
        later += [f"if not ({printer.scalar(condition)}):",
                  f'    raise ValueError({message + "; got "!r} + f"{_values_message(condition)}")']
    for index, size in index_tables(c.definitions):
        printer.helpers_used.add("check_indices")
        name = printer.doprint(index)
        later.append(f'_check_indices("{name}", {name}, {printer.scalar(size)})')
    for symbol, config, options in c.scalars:
        if str(symbol) in forward_symbols | backward_symbols:
            later.append(_choice_scalar_line(symbol, config, options, printer))
    used = forward_symbols | backward_symbols | printer.symbols_used
    used_dims = [d for d in dims if d in used]
    if used_dims:
        lines.append(", ".join(used_dims) + " = " + ", ".join(f'dims["{d}"]' for d in used_dims))
    if "_batch" in used:
        lines.append('_batch = dims.get("...", ())  # the leading batch axes')
    if "n_batch" in used:
        printer.helpers_used.add("math")
        lines.append('n_batch = math.prod(dims["..."])  # sequences in the batch')
        lines += ["if n_batch < 1:",
                  f'    raise ValueError(f"the batch is empty (leading dimensions {{dims[\'...\']}}): '
                  f'{c.name} needs at least one sequence")']
    return lines + later


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


@dataclass
class FunctionSet:
    """One derived component as ``forward``/``backward`` functions (names may carry a prefix)."""

    component: object
    forward_name: str
    backward_name: str
    signature: str
    argument_doc: list
    forward_prologue: list
    forward: list
    cache_literal: str
    output: str
    backward_prologue: list
    backward: list
    returns: list
    output_code: str = ""  # the output as returned: in the arguments' dtype
    forward_only: bool = False
    notes: list = None  # what the passes and the printer did to this part, named by part
    printing_notes: list = None  # what the printer did (for this backend only)


def function_set(plan: ModulePlan, backend: Backend, printer, prefix: str = "",
                 forward_only: bool = False) -> FunctionSet:
    """Print one plan's statements with ``printer`` (shared by the parts of one module).  The plan is
    read, never written: printing makes an ``Emitted`` statement of each of its statements, and
    scheduling (fusion, liveness, overwriting) rewrites those."""
    c = plan.component
    printer.ctx = plan.context
    emitted = {id(st): Emitted.of(st) for st in plan.forward + plan.backward}  # one per statement
    forward = [emitted[id(st)] for st in plan.forward]
    backward = [] if forward_only else [emitted[id(st)] for st in plan.backward]
    gradients = [] if forward_only else [(n, st and emitted[id(st)]) for n, st in plan.gradients]
    forward_symbols, backward_symbols = set(), set()
    out = c.output_symbol
    scalar_output = out.shape == (1, 1) and out not in plan.context.batched
    gradient_of = {id(st): c.argument(name) for name, st in gradients if st is not None}
    headed_names = {printer.ctx.names.get(symbol, symbol.name): h for symbol, h in printer.ctx.headed.items()}
    for statements, used in ((forward, forward_symbols), (backward, backward_symbols)):
        floats = [a.name for a in c.tensor_arguments if a.dtype != "int"]
        printer.like = "grad_out" if statements is backward else (floats[0] if floats else "None")
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
            if st.target == plan.output and not scalar_output or argument is not None:
                # an output or a gradient has its declared shape: a broadcast is expanded
                declared_code = _declared(printer, st.code, layout, st.expr, argument)
                st.wrapped = st.wrapped or argument is not None and declared_code != st.code and (
                    argument.is_vector or argument.batched and not printer.is_batched(st.expr))
                st.code = declared_code
            st.updates, st.shape_note = [], ""  # a plan may be printed for more than one backend
            st.reads = set(printer.symbols_used)
            used |= st.reads
    printer.symbols_used = forward_symbols | backward_symbols

    if scalar_output:  # a loss: a 0-d array
        st = forward[-1]
        st.code = f"({st.code}).reshape(())"
    forward_statements, backward_statements = list(forward), list(backward)
    gradient_targets = {st.target for _, st in gradients if st is not None}
    declared = {plan.output} | gradient_targets  # kept at their declared shape
    kernel_prefix = f"_{prefix.strip('_')}_" if prefix.strip("_") else "_"  # _block_forward_1, _forward_1
    if backend.fuses and not forward_only:  # the backward first: what its kernels read, the forward caches
        backward_statements = fuse_statements(backward_statements, printer, c, gradient_targets, declared,
                                              f"{kernel_prefix}backward_", backward_symbols)

    dims = dims_in_order(c, c.tensor_arguments)
    tensor_names = [a.name for a in c.tensor_arguments]
    names = tensor_names + [st.target for st in plan.forward] + [a.name for a in c.configs] + [
        str(s) for s, _, _ in c.scalars]

    floating = any(a.dtype != "int" for a in c.tensor_arguments)  # then rounded to the arguments' dtype
    rounded = (lambda code: backend.rounded(code, "dtype")) if floating else (lambda code: code)
    returns, zero_args = [], []
    for name, st in gradients:
        if st is None:
            returns.append((name, rounded(backend.zeros_like(name))))
            zero_args.append(name)
        else:
            returns.append((name, rounded(st.target)))

    recomputed = {t for st in backward_statements for t in made_by(st)}  # the backward makes these
    cached = [n for n in names if (n in backward_symbols or n in zero_args) and n not in recomputed]
    cached += [d for d in dims + ["n_batch", "_batch"] if d in backward_symbols]
    if backend.fuses:
        forward_statements = fuse_statements(forward_statements, printer, c, set(cached) | {plan.output},
                                             declared, f"{kernel_prefix}forward_", forward_symbols)
    cache_literal = "{" + ", ".join([f'"{n}": {n}' for n in cached] + [f'"out_shape": {plan.output}.shape',
                                                                          f'"out_dtype": {plan.output}.dtype'] + (
        ['"dtype": dtype'] if floating else [])) + "}"

    # Liveness: every array is released after its last use; the backward drops its cache once unpacked.
    # (Parameters are not released: their owner holds them; batched inputs and values may be large.)
    arrays = {a.name for a in c.inputs} | {t for st in forward_statements + backward_statements for t in made_by(st)}
    release_after_last_use(forward_statements, keep=set(cached) | {plan.output} | (set(tensor_names)))
    returned = gradient_targets | set(zero_args)
    release_after_last_use(backward_statements, keep=returned | {"grad_out"})
    for st in forward_statements + backward_statements:
        st.release = [n for n in st.release if n in arrays]
    if not forward_only:
        unread = sorted(n for n in cached if n in arrays and n not in returned
                        and not any(n in st.reads for st in backward_statements))
        if backward_statements:
            backward_statements[0].release = sorted(set(backward_statements[0].release) | set(unread))
    printing_notes = []  # what printing did for this backend (the plan's notes hold for every backend)
    kernels = [st for st in forward_statements + backward_statements if st.outputs]
    if kernels:
        kernel_names = ", ".join(st.code.split("(")[0] for st in kernels)
        printing_notes.append(f"fused: {len(kernels)} runs of entrywise statements and row reductions, each one "
                              f"Numba kernel making one pass over the rows ({kernel_names})")
    if printer.overwrite_free_arrays:
        entrywise = {f"_{n}" for n in printer.functions_used} | {f"_{t.upper()}" for t in printer.choices_used}
        printing_notes += _overwrite(c, plan, forward_statements, backward_statements, cached, returned,
                                     forward_only, entrywise, backend.name == "torch")
    backward_prologue = [f'{n} = cache["{n}"]' for n in cached] + (['dtype = cache["dtype"]'] if floating else [])
    if scalar_output:
        backward_prologue.append(backend.as_array("grad_out", "float"))
    backward_prologue += [
        'if grad_out.shape != cache["out_shape"]:',
        '    raise ValueError(f"grad_out: expected shape {cache[\'out_shape\']}, got {grad_out.shape}")',
        backend.cast("grad_out", 'cache["out_dtype"]') + "  # the dtype the forward computed in",
        "del cache  # each array is released after its last use below",
    ]
    signature = ", ".join(tensor_names)
    if c.configs:
        signature += ", *, " + ", ".join(a.keyword() for a in c.configs)
    return FunctionSet(
        component=c, forward_name=f"{prefix}forward", backward_name=f"{prefix}backward",
        signature=signature, argument_doc=_argument_doc(c),
        forward_prologue=_forward_prologue(c, backend, printer, forward_symbols, set(cached), dims),
        forward=forward_statements, cache_literal=cache_literal, output=plan.output, output_code=rounded(plan.output),
        backward_prologue=backward_prologue, backward=backward_statements, returns=returns, forward_only=forward_only,
        notes=[f"{prefix.strip('_') or c.name}: {n}" for n in ([] if forward_only else plan.notes) + printing_notes],
        printing_notes=printing_notes)


def fused_runs(plan) -> list[tuple[str, list[str], list[str]]]:
    """(forward or backward, the statements, the values the kernel outputs) of each run the numba target
    fuses into one kernel."""
    f = function_set(plan, BACKENDS["numba"], module_printer(BACKENDS["numba"], plan.context))
    runs = []
    for part, statements in (("forward", f.forward), ("backward", f.backward)):
        for st in statements:
            if st.outputs:
                runs.append((part, list(st.fused), list(st.outputs)))
    return runs


def describe(plan) -> str:
    """The lowered plan as text: forward, cache, backward, what the passes did, and the runs the numba
    target fuses (printing decides the arrays' layouts, which fusing reads)."""
    # Every value by its name in the code: dX for Δ_X = ∂L/∂X, grad_out for the upstream gradient.
    code_names = {s: sp.MatrixSymbol(name, *s.shape) for s, name in plan.context.names.items()
                  if isinstance(s, Cotangent)}
    out = plan.component.output_symbol
    lines = [f"{plan.component.name}: lowered plan (dX is ∂L/∂X; grad_out is the upstream gradient "
             f"∂L/∂{out.name})", "", "forward"]
    lines += [f"  {st.target} = {text(st.expr)}    {st.shape}" for st in plan.forward]
    lines += ["", "backward"]
    for st in plan.backward:
        lines.append(f"  {st.target} = {text(st.expr.xreplace(code_names))}    {st.shape}")
    lines += ["", "passes"] + [f"  {n}" for n in plan.notes or ["(none applied)"]]
    runs = fused_runs(plan)
    lines += ["", "fused (the numba target: each run one kernel, one pass over the rows)"]
    lines += [f"  {part}: {', '.join(names)} → {', '.join(outputs)}" for part, names, outputs in runs] or [
        "  (no run of entrywise statements and row reductions)"]
    return "\n".join(lines) + "\n"


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


def _overwrite(c, plan, forward_statements, backward_statements, cached, returned, forward_only, entrywise,
               fused_updates) -> list[str]:
    """Statements that write into arrays no longer needed (``overwrite``); returns the note."""
    arguments = {a.name: Shape.of(a.symbol.shape, a.batched, a.is_vector).axes()
                 for a in c.tensor_arguments}
    scalars = set(dims_in_order(c, c.tensor_arguments)) | {a.name for a in c.configs} | {
        str(s) for s, _, _ in c.scalars} | {"n_batch"}
    keep = set(cached) | {plan.output} | {a.name for a in c.tensor_arguments}
    done = overwrite_free_arrays(forward_statements, keep, arguments, scalars, entrywise, fused_updates)
    if not forward_only:
        forward = {**arguments, **{st.target: st.shape.axes() for st in plan.forward}}
        output = next(st for st in plan.forward if st.target == plan.output)
        forward["grad_out"] = output.shape.axes()
        done += overwrite_free_arrays(backward_statements, returned | {"grad_out"}, forward, scalars, entrywise,
                                      fused_updates)
    if not done:
        return []
    return [f"overwrite: {', '.join(done)} updated in place (+=, *=) in the array the statement made or in one no longer needed, not a new array per operation"]


def _argument_doc(c) -> list[str]:
    lines = []
    for a in c.arguments:
        if a.role == "config":
            extra = f" (one of {', '.join(map(repr, a.choices))})" if a.choices else ""
            default = "required" if a.required else f"default {a.default!r}"
            lines.append(f"{a.name}: configuration, {default}{extra}" + (f": {a.doc}" if a.doc else ""))
        else:
            shape = Shape.of(a.symbol.shape, a.batched, a.is_vector)
            kind = ("integer " if a.dtype == "int" else "") + {"input": "input", "param": "parameter"}[a.role]
            kind += ", frozen" if a.frozen else ""
            lines.append(f"{a.name}: {kind} {shape}" + (f": {a.doc}" if a.doc else ""))
    return lines


def module_parts(printer, backend: Backend, components) -> tuple[list[str], list[str]]:
    """(imports, top-level blocks): the helpers, scalar functions and choice tables the printer used."""
    functions = []
    for _, fn in sorted(printer.functions_used.items()):
        try:
            functions.append(printer.function_definition(fn))
        except (UnprintableNode, NotImplementedError) as e:
            reason = str(e).strip().splitlines()[0]
            raise GenerationError(f"{', '.join(c.name for c in components)}: no {printer.array} code for "
                                  f"{fn.describe()}: {reason}") from None
    choices = {a.name: a for c in components for a in c.configs if a.choices}
    tables = []
    for table, fn in sorted(printer.choices_used.items()):
        entries = ", ".join(f'"{choices[fn.config].choices[i]}": _{opt.name}' for i, opt in enumerate(fn.options))
        tables.append(f"_{table.upper()} = {{{entries}}}")
    wanted = {"check_shape"} | backend.always_helpers | (printer.helpers_used - {"math"}) | (
        {"kernel_runtime"} if printer.kernels else set())
    # the backend's helpers and the declared primitives' own, with every helper they call
    helpers, standard = helper_blocks(backend.runtime, wanted, printer.runtime_used)
    blocks = [block for _, block in helpers]
    if "math" in printer.helpers_used or printer.kernels:  # math.sqrt of sizes, math.prod of a kernel's rows
        standard.add("math")
    imports = ([f"import {m}" for m in sorted(standard)] + [""] if standard else []) + list(backend.imports)
    return imports, blocks + functions + tables + printer.kernels


def optimisation_notes(notes: list[str], printer, parts) -> list[str]:
    """What the passes and the printer did, one line each, for the module's docstring."""
    out = list(dict.fromkeys(notes))
    if "rows_matmul" in printer.helpers_used:
        out.append("rows-matmul: a batched value times a weight is one 2-D product over all its rows")
    if printer.inplace_functions and (printer.helpers_used | set(printer.runtime_used)) & {"softmax", "causal_zero"}:
        out.append("causal mask: made once per size and reused")
    if printer.inplace_functions and printer.functions_used:
        out.append("in-place functions: each scalar function computes in buffers of its own (kept between calls)")
    if any(st.release for f in parts for st in f.forward + f.backward):
        out.append("liveness: every array is released after its last use (del); the backward drops its cache")
    return out


def module_printer(backend: Backend, context):
    """The printer of a whole module: it may call the module's helpers.  NumPy contracts (A ∘ B) 1
    with ``einsum`` (about four times faster than multiplying and summing); torch's multiply and
    sum are as fast as its contraction."""
    printer = backend.printer_class(context)
    printer.backend = backend.name
    printer.contract_entrywise_products = backend.name != "torch"
    return printer


def render_plan(plan: ModulePlan, backend: Backend, source: str | None = None,
                regenerate: str | None = None, optimise: bool = True) -> str:
    """The module text; ``source`` names the file of the definition (a built-in's by default)
    and ``regenerate`` the command that rewrites the module.  Without ``optimise`` the printer
    makes no flattened products and no in-place scalar functions (the reference the passes'
    tests compare against)."""
    c = plan.component
    printer = module_printer(backend, plan.context)
    if not optimise:
        printer.flatten_products = printer.inplace_functions = printer.overwrite_free_arrays = False
        printer.contract_entrywise_products = False
    functions = function_set(plan, backend, printer)
    imports, blocks = module_parts(printer, backend, [c])
    return compiled(environment().get_template(backend.template).render(
        component=c,
        source=source or f"derive/components/{c.name}.py",
        regenerate=regenerate or f"backprop generate --target {backend.name}",
        target=backend.name,
        backend=backend,
        forward_text=[f"{d.name} = {text(d.expr)}" for d in c.definitions],
        gradient_text=[f"∂L/∂{n} = {text(adj.expr)}" for n, adj in plan.derivation.gradients.items()],
        optimisations=optimisation_notes(plan.notes + functions.printing_notes, printer, [functions]),
        imports=imports,
        blocks=blocks,
        f=functions,
        **_module_context(c),
    ), f"{c.name} ({backend.name})")


def _values_message(condition) -> str:
    """F-string fields naming the values a requirement reads, e.g. ``d={d}, n_heads={n_heads}``."""
    names = sorted(str(s) for s in condition.free_symbols)
    return ", ".join(f"{n}={{{n}}}" for n in names)


def _expected_size(size, c) -> str:
    """One entry of ``_check_shape``'s expected shape: a fixed size (``3``), a dimension's name
    (``"d"``), or a dimension with the factor it is multiplied by and its name
    (``("d_h", n_heads, "n_heads")``)."""
    dimension, factor = split_size(size, set(c._dims.values()))
    if dimension is None:
        return str(size)
    if factor == 1:
        return f'"{dimension}"'
    return f'("{dimension}", {sp.pycode(factor)}, "{factor}")'


def dims_in_order(c, arguments) -> list[str]:
    """The dimension names of ``arguments`` of component ``c``, each once, in order of first
    appearance (the dimension of a size n_heads*d_h is d_h; a fixed size names nothing)."""
    order: list[str] = []
    for a in arguments:
        for d in a.dims:
            dimension, _ = split_size(d, set(c._dims.values()))
            if dimension is not None and str(dimension) not in order:
                order.append(str(dimension))
    return order


def _model_functions(model, backend: Backend):
    """A model module's block and its tied and untied top levels (loss, and logits forward only), printed
    by one printer: ``(block_plan, printer, parts, components)``; ``model`` has ``block()`` and
    ``build(tied, output)``."""
    block_plan = lower(derive(model.block()))
    printer = module_printer(backend, block_plan.context)
    parts, components = [function_set(block_plan, backend, printer, "_block_")], [block_plan.component]
    for tied in (True, False):
        kind = "tied" if tied else "untied"
        for output in ("loss", "logits"):
            plan = lower(derive(model.build(tied, output)))
            prefix = f"_{kind}_" if output == "loss" else f"_{kind}_logits_"
            parts.append(function_set(plan, backend, printer, prefix, forward_only=output == "logits"))
            components.append(plan.component)
    return block_plan, printer, parts, components


def render_model(target: str = "numpy") -> str:
    """generated/<target>/gpt2.py: the block, the tied and untied top levels, their logits."""
    from derive.components import gpt2

    backend = BACKENDS[target]
    _, printer, parts, components = _model_functions(gpt2, backend)
    from derive.components import gpt2_lora

    lora_block_plan = lower(derive(gpt2_lora.block()))
    parts.append(function_set(lora_block_plan, backend, printer, "_lora_block_"))
    components.append(lora_block_plan.component)
    for tied in (True, False):
        plan = lower(derive(gpt2_lora.build(tied)))
        parts.append(function_set(plan, backend, printer, f"_lora_{'tied' if tied else 'untied'}_"))
        components.append(plan.component)
    imports, blocks = module_parts(printer, backend, components)
    top = gpt2.build(True)
    adapters = [(a.name, a.name[2:], a.name[0]) for a in lora_block_plan.component.params if not a.frozen]
    block_keys = [(n, *(k.split(":") if ":" in k else (k, None))) for n, k in gpt2.HF_BLOCK.items()]
    plans_notes = [n for f in parts for n in getattr(f, "notes", [])]
    return environment().get_template("model.py.jinja").render(
        target=target, backend=backend, imports=imports, blocks=blocks, parts=parts,
        optimisations=optimisation_notes(plans_notes, printer, parts),
        block_text=[f"{d.name} = {text(d.expr)}" for d in gpt2.block().definitions],
        model_text=[f"{d.name} = {text(d.expr)}" for d in top.definitions],
        block_keys=block_keys, top_keys=list(gpt2.HF_TOP.items()),
        lora_adapters=adapters, lora_weights=gpt2_lora.BLOCK_ADAPTERS,
    )


def render_llama(target: str = "numpy") -> str:
    """generated/<target>/llama.py: the block, the tied and untied top levels, their logits."""
    from derive.components import llama

    backend = BACKENDS[target]
    _, printer, parts, components = _model_functions(llama, backend)
    imports, blocks = module_parts(printer, backend, components)
    plans_notes = [n for f in parts for n in getattr(f, "notes", [])]
    return environment().get_template("llama.py.jinja").render(
        target=target, backend=backend, imports=imports, blocks=blocks, parts=parts,
        optimisations=optimisation_notes(plans_notes, printer, parts),
        block_text=[f"{d.name} = {text(d.expr)}" for d in llama.block().definitions],
        model_text=[f"{d.name} = {text(d.expr)}" for d in llama.build(True).definitions],
        block_keys=list(llama.HF_BLOCK.items()), top_keys=list(llama.HF_TOP.items()),
    )


def render_component(name: str, target: str = "numpy") -> str:
    """The generated module for built-in component ``name``."""
    return render_plan(lower(derive(build(name))), BACKENDS[target])


def compile_component(component, target: str = "numpy", optimise: bool = True, validate: bool = True):
    """Derive, render and import a component defined outside the built-ins.

    Returns a module object with ``forward`` and ``backward``; nothing is written to disk.  The
    module is validated against the reference semantics first (``codegen.validate``): a
    disagreement raises ``EngineDefect`` naming the gradient and the case.  ``optimise=False``
    skips the optimising passes; ``validate=False`` the gate (for harnesses that compare on their
    own).
    """
    from .validate import agreeing, load

    source = render_plan(lower(derive(component), optimise=optimise), BACKENDS[target], optimise=optimise)
    module = load(source, component.name, target)
    return agreeing(component, module, target) if validate else module
