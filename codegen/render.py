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

from .backends import BACKENDS, Backend
from .emit import GenerationError, emit
from .lower import lower
from .plan import ModulePlan, dims_in_order
from .printers import UnprintableNode
from .runtime import helper_blocks
from .schedule import made_by, schedule
from .shapes import Shape

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


def _function_context(c, f: FunctionSet, jvp: JvpSet | None) -> dict:
    """What the torch.func-ready ``Function`` needs: the cache's numbers without its arrays, the cache's
    entries that are arguments (saved as given, converted to the dtype computed in where they are
    floating point), and the derived forward mode's parameters."""
    floating = any(a.dtype != "int" for a in c.tensor_arguments)
    constants = [f'"{n}": {n}' for n in f.cached_constants]
    constants += ['"out_dtype": compute_dtype', '"dtype": dtype'] if floating else []
    index = {a.name: i for i, a in enumerate(c.tensor_arguments)}
    tangent_of = dict(jvp.tangents or []) if jvp is not None else {}
    names = [a.name for a in c.tensor_arguments] + [a.name for a in c.configs]
    parameters = [tangent_of.get(n, f"_tangent_{i}") for i, n in enumerate(names)]
    call = [a.name for a in c.tensor_arguments] + [tangent_of[a.name] for a in c.tensor_arguments
                                                    if a.name in tangent_of]
    return dict(
        constants_literal="{" + ", ".join(constants) + "}",
        cached_arrays_literal="(" + "".join(f'"{n}", ' for n in f.cached_arrays).rstrip() + ")",
        cached_arguments=[(n, index[n], c.argument(n).dtype != "int", c.argument(n).is_scalar)
                          for n in f.cached_arguments],
        jvp_parameters=parameters,
        jvp_arguments=", ".join(call),
    )


def _module_checks(c, printer) -> dict:
    """What an nn.Module checks before any call: the requirements on its sizes and configuration alone
    (``Attention(8, n_heads=3)`` is refused when it is made), and each input against the sizes the module
    was made with (an input of the wrong width is named, not the weight it meets)."""
    dims = dims_in_order(c, c.params)
    known = {c._dims[d] for d in dims} | {a.symbol for a in c.configs if a.symbol is not None}
    construction = []
    for condition, message in c.requirements:
        condition = sp.sympify(condition)
        if condition.free_symbols and condition.free_symbols <= known:
            construction += [f"if not ({printer.scalar(condition)}):",
                             f'    raise ValueError({message + "; got "!r} + f"{_values_message(condition)}")']
    inputs = []
    prefilled = "{" + ", ".join(f'"{d}": self.{d}' for d in dims) + "}"
    for a in c.inputs:
        if all(split_size(d, set(c._dims.values()))[1] == 1 for d in a.dims) and any(
                str(d) in dims for d in a.dims):
            expected = "(" + ", ".join(_expected_size(d, c) for d in a.dims) + ("," if len(a.dims) == 1 else "") + ")"
            inputs.append(f'_check_shape("{a.name}", {a.name}, {expected}, {prefilled}, batched=True)')
    return dict(construction_checks=construction, input_checks=inputs)


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


def _forward_prologue(c, backend, printer, forward_symbols, backward_symbols, dims, arrays: bool = True):
    """Argument conversion and checks, dimension binding, derived scalars: the forward's first lines.
    Without ``arrays``, only what the arguments' shapes, dtypes and the configuration give (no array is
    converted to the dtype computed in, no index read)."""
    lines = [backend.as_array(a.name, a.dtype) for a in c.tensor_arguments]
    printer.helpers_used.add("check_dtypes")
    floats = [a.name for a in c.tensor_arguments if a.dtype != "int"]
    ints = [a.name for a in c.tensor_arguments if a.dtype == "int"]
    if floats and not arrays:
        lines.append(f"dtype, compute_dtype = _check_dtypes({_names_literal(floats)}, {_names_literal(ints)})")
    elif floats:  # low precision is computed in float32 and the results rounded back (``rounded``)
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
    shared = [a for a in c.inputs if a.frozen and a.dtype == "float"]  # broadcast over the batch axes
    for a in c.tensor_arguments:
        expected = "(" + ", ".join(_expected_size(d, c) for d in a.dims) + ("," if len(a.dims) == 1 else "") + ")"
        batched = '"shared"' if a in shared else a.batched
        lines.append(f'_check_shape("{a.name}", {a.name}, {expected}, dims, batched={batched})')
    if shared:
        printer.helpers_used.add("broadcast_batches")
        names = [a.name for a in shared]
        cores = "{" + ", ".join(f'"{a.name}": {len(a.dims)}' for a in shared) + "}"  # each one's axes after the batch
        lines.append(f"{', '.join(names)}{',' if len(names) == 1 else ''} = _broadcast_batches("
                     f"{_names_literal(names)}, {cores}, dims)")
    for a in c.tensor_arguments:
        if a.is_scalar:  # a number (per sequence for an input) computes as the 1 × 1 value it is in the definition
            lines.append(f"{a.name} = {a.name}.reshape(*{a.name}.shape, 1, 1)")
    later = []
    for condition, message in c.requirements:
        later += [f"if not ({printer.scalar(condition)}):",
                  f'    raise ValueError({message + "; got "!r} + f"{_values_message(condition)}")']
    for index, size in index_tables(c.definitions) if arrays else ():
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
    cached_arguments: list = None  # the cache's entries that are arguments (as computed in)
    cached_arrays: list = None  # … that are arrays the forward computed
    cached_constants: list = None  # … that are numbers: sizes, configuration, derived scalars
    constants_prologue: list = None  # the forward's first lines without an array computed


def function_set(plan: ModulePlan, backend: Backend, printer, prefix: str = "",
                 forward_only: bool = False) -> FunctionSet:
    """One plan as a module's functions: its statements printed (``emit``), scheduled (``schedule``),
    then the prologues, the cache and the returns around them.  ``printer`` is shared by the parts of
    one module; the plan is read, never written."""
    c = plan.component
    printed = emit(plan, printer, forward_only)
    scheduled = schedule(plan, printed, backend, printer, prefix, forward_only)
    cached = scheduled.cached
    floating = any(a.dtype != "int" for a in c.tensor_arguments)  # then rounded to the arguments' dtype
    rounded = (lambda code: backend.rounded(code, "dtype")) if floating else (lambda code: code)
    returns = [(name, rounded(_number_shaped(backend.zeros_like(name), c.argument(name)) if st is None else st.target))
               for name, st in printed.gradients]
    first = plan.outputs[0]
    if plan.several:
        shapes = "(" + ", ".join(f"{o}.shape" for o in plan.outputs) + ")"
        described = [f'"out_shapes": {shapes}', f'"out_dtype": {first}.dtype', f'"out_device": {backend.device_of(first)}']
    else:
        described = [f'"out_shape": {first}.shape', f'"out_dtype": {first}.dtype']
    cache_literal = "{" + ", ".join([f'"{n}": {n}' for n in cached] + described + (
        ['"dtype": dtype'] if floating else [])) + "}"
    backward_prologue = [f'{n} = cache["{n}"]' for n in cached] + (['dtype = cache["dtype"]'] if floating else [])
    if plan.several:  # one upstream gradient per output, None for zero
        printer.helpers_used.add("upstream_gradients")
        names = "(" + ", ".join(f'"{o}"' for o in plan.outputs) + ")"
        backward_prologue.append(f"{', '.join(plan.given)} = _upstream_gradients(grad_out, {names}, "
                                 f'cache["out_shapes"], cache["out_dtype"], cache["out_device"])')
    else:
        if printed.numbers:
            backward_prologue.append(backend.as_array("grad_out", "float"))
        backward_prologue += [
            'if grad_out.shape != cache["out_shape"]:',
            '    raise ValueError(f"grad_out: expected shape {cache[\'out_shape\']}, got {grad_out.shape}")',
            backend.cast("grad_out", 'cache["out_dtype"]') + "  # the dtype the forward computed in"]
    backward_prologue.append("del cache  # each array is released after its last use below")
    signature = ", ".join(a.name for a in c.tensor_arguments)
    if c.configs:
        signature += ", *, " + ", ".join(a.keyword() for a in c.configs)
    dims = dims_in_order(c, c.tensor_arguments)
    tensor_names = {a.name for a in c.tensor_arguments}
    shared = {a.name for a in c.inputs if a.frozen and a.dtype == "float"}
    computed = {t for st in scheduled.forward for t in made_by(st)} | {st.target for st in plan.forward}
    constants_prologue = _forward_prologue(c, backend, printer, printed.forward_symbols, set(cached), dims,
                                           arrays=False)
    return FunctionSet(
        component=c, forward_name=f"{prefix}forward", backward_name=f"{prefix}backward",
        signature=signature, argument_doc=_argument_doc(c),
        forward_prologue=_forward_prologue(c, backend, printer, printed.forward_symbols, set(cached), dims),
        forward=scheduled.forward, cache_literal=cache_literal, output=", ".join(plan.outputs),
        output_code="(" + ", ".join(rounded(o) for o in plan.outputs) + ")" if plan.several else rounded(first),
        backward_prologue=backward_prologue, backward=scheduled.backward, returns=returns, forward_only=forward_only,
        notes=[f"{prefix.strip('_') or c.name}: {n}" for n in ([] if forward_only else plan.notes) + scheduled.notes],
        printing_notes=scheduled.notes,
        # a frozen input broadcast over the batch is cached as the forward saw it: a view at the batch's shape
        cached_arguments=[n for n in cached if n in tensor_names and n not in shared],
        cached_arrays=[n for n in cached if n in computed and n not in tensor_names or n in shared],
        cached_constants=[n for n in cached if n not in computed and n not in tensor_names],
        constants_prologue=constants_prologue)


@dataclass
class JvpSet:
    """A module's forward mode: ``jvp(arguments…, tangents…, *, configuration)`` → the output's tangent,
    printed from the component the forward-mode derivation makes (``derive.forward_mode``); or, where the
    definition has none, the reason, which the function raises."""

    signature: str
    body: list
    inner: FunctionSet | None = None
    tangents: list = None  # (argument, its tangent's name), for each argument that has one
    raises: bool = False  # the definition has no forward mode: the function raises why


def jvp_set(plan: ModulePlan, backend: Backend, printer) -> JvpSet:
    """The forward mode of ``plan``'s component, printed by ``printer`` (one module's)."""
    from derive.forward_mode import ConstantOutputs, NoForwardMode, jvp_component, linearise

    c = plan.component
    config = ", ".join(a.keyword() for a in c.configs)
    try:
        derivation = linearise(c)
    except NoForwardMode as e:
        signature = ", ".join(a.name for a in c.tensor_arguments) + ", *tangents" + (f", {config}" if config else "")
        return JvpSet(signature, [f"raise NotImplementedError({str(e)!r})"], raises=True)
    try:
        inner = function_set(lower(derive(jvp_component(derivation))), backend, printer, "_jvp_", forward_only=True)
    except ConstantOutputs:
        inner = None
    tangents = [(a.name, derivation.arguments[a.symbol].name) for a in c.tensor_arguments
                if a.symbol in derivation.arguments]
    signature = ", ".join([a.name for a in c.tensor_arguments] + [f"{t}=None" for _, t in tangents])
    signature += (", *, " + config) if config else ""
    body = []
    for argument, tangent in tangents:
        body += [f"if {tangent} is None:  # no tangent: zero",
                 f"    {tangent} = {backend.zeros_like(backend.array_of(argument))}"]
    arguments = ", ".join(a.name for a in c.tensor_arguments)
    keywords = "".join(f", {a.name}={a.name}" for a in c.configs)
    varying = [derivation.tangent(o) is not None for o in c.output_symbols]
    if all(varying):
        body.append(f"return {inner.forward_name}({arguments}, {', '.join(t for _, t in tangents)}{keywords})[0]")
        return JvpSet(signature, body, inner, tangents)
    # an output that depends on no differentiable argument has a zero tangent, of its shape
    body.append(f"outputs = {_forward_call(plan, arguments, keywords)}")
    if inner is not None:
        body += [f"derived = {inner.forward_name}({arguments}, {', '.join(t for _, t in tangents)}{keywords})[0]",
                 "derived = iter(derived if isinstance(derived, tuple) else (derived,))"]
    parts = [f"next(derived)" if v else backend.zeros_like(f"outputs[{i}]") for i, v in enumerate(varying)]
    body.append(f"return ({', '.join(parts)}{',' if len(parts) == 1 else ''})" if plan.several else f"return {parts[0]}")
    return JvpSet(signature, body, inner, tangents)


def _forward_call(plan, arguments: str, keywords: str) -> str:
    """The module's forward called for the outputs alone, each in a tuple."""
    return f"forward({arguments}{keywords})[0]" + ("" if plan.several else ",")



def _number_shaped(code: str, argument) -> str:
    """``code`` of a number argument's shape (…, 1, 1) as the argument was given: its batch axes, or ()."""
    return f"{code}.reshape({code}.shape[:-2])" if argument.is_scalar else code


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
    given = ", ".join(f"{g} is ∂L/∂{o} given" for o, g in zip(plan.outputs, plan.given))
    lines = [f"{plan.component.name}: lowered plan (dX is ∂L/∂X; {given})" if plan.several else
             f"{plan.component.name}: lowered plan (dX is ∂L/∂X; grad_out is the upstream gradient "
             f"∂L/∂{plan.output})", "", "forward"]
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


def _argument_doc(c) -> list[str]:
    lines = []
    for a in c.arguments:
        if a.role == "config":
            extra = f" (one of {', '.join(map(repr, a.choices))})" if a.choices else ""
            default = "required" if a.required else f"default {a.default!r}"
            lines.append(f"{a.name}: configuration, {default}{extra}" + (f": {a.doc}" if a.doc else ""))
        else:
            shape = "(...)" if a.is_scalar and a.batched else "()" if a.is_scalar else Shape.of(
                a.symbol.shape, a.batched, a.is_vector, heads=a.heads)
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
    printer.contract_entrywise_products = backend.contracts_entrywise_products
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
    jvp = jvp_set(plan, backend, printer) if backend.forward_mode else None
    printer.helpers_used |= backend.component_helpers
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
        jvp=jvp,
        **_module_context(c),
        **_function_context(c, functions, jvp),  # what the Torch template's Function and nn.Module read
        several=plan.several, n_outputs=len(plan.outputs),
        **_module_checks(c, printer),
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
