"""The reference semantics: a component's forward definition evaluated directly, with torch.

This is the authority the generated code is checked against (the validation gate every generated
module passes before it is returned or written, ``backprop check``, the tests and the differential
fuzzer).  It shares nothing with the printers or the lowering: every value is held at its full
size, ``(B, H, rows, cols)`` — B the sequences of the batch (1 for a value shared by the batch), H
the heads (1 for a value without heads) — and every primitive is one obviously-right line of torch
(``reference/arrays.py``), broadcasting spelled out.  Autograd through it gives the reference
gradients.  Given NumPy arrays, the same lines run in NumPy (for a machine without torch).

The batch semantics it implements (docs/writing-components.md, "Batch semantics"):

* an input is one sequence's value with leading batch axes; a parameter is shared by the batch;
* a batch-free value meeting a batched one is the same value for every sequence;
* ``Σ_batch A`` sums A over the sequences, so for a batch-free A it is n_batch · A;
* a value without heads meeting a head-split one is the same value for every head.

Its output, the one rule for every shape: an output comes back at its declared shape (rows, cols)
behind the batch axes when it carries the batch, and with its heads axis before the rows when it
has one; except that a 1 × 1 output that carries neither the batch nor heads is a number, shape ()
(a loss).  Every backend follows the same rule; gradients always have their argument's declared
shape (a vector (d,), a matrix (rows, cols), behind the batch axes for an input).
"""
from __future__ import annotations

import functools
import inspect
import math
from dataclasses import dataclass

import numpy as np
import sympy as sp
from sympy import HadamardProduct, MatAdd, MatMul, MatrixSymbol, OneMatrix, Transpose, ZeroMatrix

from derive.api import split_size
from derive.declare import primitive_of
from derive.scalar_functions import SCALAR_FUNCTIONS
from derive.primitives import (
    BatchSum,
    ChoiceFunction,
    Elementwise,
    Gather,
    IndexSlice,
    Pick,
    RotaryAngles,
)

from .arrays import arrays_for


class ReferenceError(ValueError):
    """The definition cannot be evaluated for these arguments (a requirement fails, a size is wrong)."""


@dataclass
class Value:
    """A value at full size: ``data`` is (B, H, rows, cols); ``batched`` and ``heads`` say what B and H are."""

    data: object  # torch.Tensor
    batched: bool
    heads: int | None  # the head count, or None


# ------------------------------------------------------------------------ scalars


def scalar_function(expr: sp.Expr, x: sp.Symbol, value, scalars: dict):
    """``expr`` (a SymPy expression of ``x``) evaluated entrywise on the array ``value``."""
    xp = arrays_for(value)
    functions = xp.functions()

    def ev(e):
        if e == x:
            return value
        if e.is_Number or e.is_NumberSymbol:
            return float(e)
        if e.is_Symbol:
            return float(scalars[e])
        if isinstance(e, sp.Piecewise):
            out = None
            for (piece, cond) in reversed(e.args):
                piece_value = _tensor(ev(piece), value)
                out = piece_value if out is None else xp.where(_condition(cond, ev, value), piece_value, out)
            return out
        args = [ev(a) for a in e.args]
        if isinstance(e, sp.Add):
            out = args[0]
            for a in args[1:]:
                out = out + a
            return out
        if isinstance(e, sp.Mul):
            out = args[0]
            for a in args[1:]:
                out = out * a
            return out
        if isinstance(e, sp.Pow):
            base, exponent = args
            return xp.power(base, exponent, value)
        if type(e).__name__ in SCALAR_FUNCTIONS:  # derive.scalar_functions, the one table
            return functions[type(e).__name__](_tensor(args[0], value))
        if isinstance(e, (sp.Max, sp.Min)):
            pick = functions["maximum" if isinstance(e, sp.Max) else "minimum"]
            out = _tensor(args[0], value)
            for a in args[1:]:
                out = pick(out, _tensor(a, value))
            return out
        if isinstance(e, sp.Heaviside):
            arg, at_zero = _tensor(args[0], value), float(e.args[1]) if len(e.args) > 1 else 0.5
            return xp.as_dtype(xp.where(arg > 0, 1.0, xp.where(arg < 0, 0.0, at_zero)), value)
        raise ReferenceError(f"the reference has no array form for {type(e).__name__} in {e}")

    return _tensor(ev(expr), value)


def _condition(cond, ev, value):
    xp = arrays_for(value)
    if cond is sp.true:
        return xp.all_true(value)
    if cond is sp.false:
        return xp.all_false(value)
    if isinstance(cond, sp.And):
        out = _condition(cond.args[0], ev, value)
        for c in cond.args[1:]:
            out = out & _condition(c, ev, value)
        return out
    if isinstance(cond, sp.Or):
        out = _condition(cond.args[0], ev, value)
        for c in cond.args[1:]:
            out = out | _condition(c, ev, value)
        return out
    if isinstance(cond, sp.Not):
        return ~_condition(cond.args[0], ev, value)
    lhs, rhs = _tensor(ev(cond.lhs), value), _tensor(ev(cond.rhs), value)
    ops = {sp.StrictGreaterThan: "gt", sp.GreaterThan: "ge", sp.StrictLessThan: "lt",
           sp.LessThan: "le", sp.Equality: "eq", sp.Unequality: "ne"}
    return xp.compare(ops[type(cond)], lhs, rhs)


def _tensor(v, like):
    xp = arrays_for(like)
    return v if xp.is_array(v) else xp.full_like(like, float(v))


def _number(e: sp.Expr, scalars: dict):
    """A scalar of sizes and configuration, as a Python number (a bool for a flag)."""
    e = sp.sympify(e)
    value = e.xreplace({s: sp.sympify(scalars[s]) for s in e.free_symbols if s in scalars})
    if value.free_symbols:
        raise ReferenceError(f"{e}: no value for {', '.join(sorted(map(str, value.free_symbols)))}")
    if value in (sp.true, sp.false):
        return bool(value)
    return float(value) if not value.is_Integer else int(value)


# ------------------------------------------------------------------------ matrices


class Evaluator:
    """Evaluates one component's definitions on given arguments (torch tensors or NumPy arrays)."""

    def __init__(self, component, values: dict[MatrixSymbol, Value], scalars: dict, n_batch: int, xp):
        self.xp = xp
        self.c = component
        self.env = values
        self.scalars = scalars
        self.n_batch = n_batch

    def ev(self, e) -> Value:
        xp = self.xp
        if isinstance(e, MatrixSymbol):
            if e not in self.env:
                raise ReferenceError(f"{e.name} is not an argument or an earlier definition")
            return self.env[e]
        if isinstance(e, OneMatrix):
            return Value(xp.ones((1, 1, *self.shape(e)), self.dtype), False, None)
        if isinstance(e, ZeroMatrix):
            return Value(xp.zeros((1, 1, *self.shape(e)), self.dtype), False, None)
        if isinstance(e, MatMul):
            coefficient = sp.Mul(*[a for a in e.args if not isinstance(a, sp.MatrixExpr)])
            factors = [self.ev(a) for a in e.args if isinstance(a, sp.MatrixExpr)]
            out = factors[0]
            for f in factors[1:]:
                out = self.combine(out, f, lambda a, b: a @ b)
            return Value(_number(coefficient, self.scalars) * out.data, out.batched, out.heads)
        if isinstance(e, MatAdd):
            return self.entrywise([self.ev(a) for a in e.args], lambda a, b: a + b)
        if isinstance(e, HadamardProduct):
            return self.entrywise([self.ev(a) for a in e.args], lambda a, b: a * b)
        if isinstance(e, Transpose):
            a = self.ev(e.arg)
            return Value(xp.mT(a.data), a.batched, a.heads)
        if isinstance(e, Elementwise):
            a = self.ev(e.arg)
            fn = e.fn
            if isinstance(fn, ChoiceFunction):
                choices = self.c.argument(fn.config).choices
                fn = fn.options[choices.index(self.scalars[sp.Symbol(fn.config)])]
            (x,), body = fn.body.signature, fn.body.expr
            return Value(scalar_function(body, x, a.data, self.scalars), a.batched, a.heads)
        if isinstance(e, BatchSum):
            a = self.ev(e.arg)
            if a.batched:
                return Value(xp.sum(a.data, 0), False, a.heads)
            return Value(self.n_batch * a.data, False, a.heads)  # the same value for each sequence
        declared = primitive_of(e)
        if declared is not None:
            return self.declared(declared, e)
        if isinstance(e, RotaryAngles):
            n, d = _number(e.rows, self.scalars), _number(e.cols, self.scalars)
            theta = _number(e.theta, self.scalars)
            frequencies = theta ** (-2 * xp.arange(d // 2) / d)
            angles = xp.arange(n)[:, None] * xp.concat((frequencies, frequencies))
            return Value(xp.cast(angles, self.dtype).reshape(1, 1, n, d), False, None)
        if isinstance(e, Gather):
            table, index = self.ev(e.table), self.ev(e.index)
            T, idx = _lead_broadcast(xp, table.data, index.data)  # (B, H, V, d), (B, H, 1, n)
            rows = xp.take_rows(T, xp.mT(idx))  # (B, H, n, d): row idx[t] of T
            return Value(rows, table.batched or index.batched, _join_heads(table.heads, index.heads))
        if isinstance(e, IndexSlice):
            a = self.ev(e.index)
            return Value(a.data[..., _number(e.start, self.scalars):], a.batched, a.heads)
        if isinstance(e, Pick):
            z, t = self.ev(e.arg), self.ev(e.targets)
            return self.combine(z, t, lambda z, t: xp.take_last(*_lead_broadcast(xp, z, xp.mT(t))))
        raise ReferenceError(f"the reference semantics has no meaning for {type(e).__name__} ({e})")

    def declared(self, primitive, e) -> Value:
        """A declared primitive: its own reference on the operands (B, H, rows, cols) and its parameters'
        numbers; the head count from its ``heads`` rule when it changes it."""
        operands = [self.ev(a) for a in e.operands]
        params = [_number(p, self.scalars) for p in e.params]
        heads = None
        for v in operands:
            heads = _join_heads(heads, v.heads)
        if primitive.heads is not None:
            heads = primitive.heads(heads, *params)
        data = declared_value(self.xp, primitive, [v.data for v in operands], params)
        return Value(data, any(v.batched for v in operands), heads)

    @property
    def dtype(self):
        return self.scalars["__dtype__"]

    def shape(self, e) -> tuple[int, int]:
        return tuple(_number(s, self.scalars) for s in e.shape)

    def combine(self, a: Value, b: Value, op) -> Value:
        """``op`` on two values, each broadcast over the batch and the heads the other has."""
        heads = _join_heads(a.heads, b.heads)
        return Value(op(a.data, b.data), a.batched or b.batched, heads)

    def entrywise(self, values: list[Value], op) -> Value:
        out = values[0]
        for v in values[1:]:
            out = self.combine(out, v, op)
        return out


def declared_value(xp, primitive, data: list, params: list):
    """A declared primitive's value: its reference (written for torch; the engine's own run on NumPy
    arrays too, given the library's operations ``xp`` where they ask for them), or without torch for
    a user's, its NumPy lowering run."""
    if xp.name == "torch" or primitive.builtin:
        library = {"xp": xp} if _takes_library(primitive.reference) else {}
        return primitive.reference(*data, *params, **library)
    return run_lowering(primitive, "numpy", data, params)


@functools.lru_cache(maxsize=None)
def _takes_library(reference) -> bool:
    """Whether ``reference`` takes the keyword-only ``xp``: ``reference.arrays``' operations, for what a
    tensor's methods cannot say in both libraries (an exponential, a logarithm)."""
    parameter = inspect.signature(reference).parameters.get("xp")
    return parameter is not None and parameter.kind is parameter.KEYWORD_ONLY


#: Backend name → the namespace of its runtime helpers, which an engine's primitive's code may call
#: besides its own (``codegen.runtime`` installs it: the reference package depends on derive alone).
_RUNTIMES: list = []


def install_runtime(namespace_of) -> None:
    """Run each lowering with the helpers of ``namespace_of(backend)`` defined."""
    if namespace_of not in _RUNTIMES:
        _RUNTIMES.append(namespace_of)


def run_lowering(primitive, backend: str, data: list, params: list):
    """The ``backend``'s code of a declared primitive run on ``data`` (arrays of that backend's library):
    the backend's runtime helpers and the primitive's own defined first, as a generated module has them."""
    namespace: dict = {"math": math}
    for namespace_of in _RUNTIMES:
        namespace.update(namespace_of(backend))
    if backend == "torch":
        import torch

        namespace["torch"] = torch
    else:
        import numpy as np

        namespace["np"] = np
    for source in primitive.runtime_for(backend).values():
        exec(source, namespace)  # the declaration's own helper, as generated modules define it
    names = [f"_operand{i}" for i in range(len(data))]
    namespace.update(zip(names, data))
    return eval(primitive.code(backend, names, [repr(p) for p in params]), namespace)


def _flatten_last(a):
    """(..., p, q) → (..., p·q)."""
    return a.reshape(*a.shape[:-2], a.shape[-2] * a.shape[-1])


def _lead_broadcast(xp, a, b):
    """``a`` and ``b`` expanded to their common (B, H); their last two axes kept."""
    lead = tuple(max(x, y) for x, y in zip(a.shape[:2], b.shape[:2]))
    return xp.expand(a, (*lead, *a.shape[2:])), xp.expand(b, (*lead, *b.shape[2:]))


def _join_heads(a, b):
    if a is not None and b is not None and a != b:
        raise ReferenceError(f"values with {a} and {b} heads meet")
    return a if a is not None else b


# ------------------------------------------------------------------------ a component


def evaluate(component, arguments: dict, config: dict):
    """The output of ``component`` for ``arguments`` (torch tensors, or NumPy arrays, by name, in the
    generated code's layout: batched inputs (..., *dims), parameters (*dims)) and ``config`` (by name).

    Returns an array in the generated code's layout (the rule in this module's docstring):
    (..., rows, cols) for a batched output, (rows, cols) for a batch-free one, () for a batch-free
    1 × 1 value (a loss), with the heads axis before the rows where the output has one.
    """
    c = component
    xp = arrays_for(next(iter(arguments.values()), None))
    scalars: dict = {}
    batch = None
    dims: dict = {}
    floats = [t for t in arguments.values() if xp.is_float(t)]
    scalars["__dtype__"] = floats[0].dtype if floats else xp.float64
    values: dict[MatrixSymbol, Value] = {}
    counts = {a.symbol: config.get(a.name, a.default) for a in c.configs if a.symbol is not None}
    # frozen float inputs (masks, tables) broadcast over the batch axes of the others
    shared = {a.name for a in c.inputs if a.frozen and a.dtype == "float"}
    others = [tuple(arguments[a.name].shape[:arguments[a.name].ndim - len(a.dims)]) for a in c.inputs
              if a.name not in shared]
    own = [tuple(arguments[n].shape[:arguments[n].ndim - len(c.argument(n).dims)]) for n in shared]
    full = others[0] if others else (tuple(np.broadcast_shapes(*own)) if own else ())
    for a in c.tensor_arguments:
        t = arguments[a.name]
        core = len(a.dims)
        if a.name in shared:
            lead = tuple(t.shape[:t.ndim - core])
            if tuple(np.broadcast_shapes(lead, full)) != tuple(full):
                raise ReferenceError(f"{a.name}: batch {lead} does not broadcast to {full}")
            t = xp.expand(t, (*full, *t.shape[t.ndim - core:]))
        shape = tuple(t.shape)
        if len(shape) < core or (not a.batched and len(shape) != core):
            raise ReferenceError(f"{a.name}: shape {shape} does not fit {a.dims}")
        lead, tail = shape[:len(shape) - core], shape[len(shape) - core:]
        for d, n in zip(a.dims, tail):
            dimension, factor = split_size(d, set(c._dims.values()))
            if dimension is None and not factor.is_Integer:  # a count: the configuration's value
                if _number(factor, counts) != n:
                    raise ReferenceError(f"{a.name}: {n} where {factor} = {_number(factor, counts)}")
                continue
            if dimension is not None and factor != 1:  # n_heads*d_h: d_h is the size over the count
                k = _number(factor, counts)
                if n % k:
                    raise ReferenceError(f"{a.name}: {n} is not a multiple of {factor} = {k}")
                d, n = dimension, n // k
            if (int(d) if d.is_Integer else dims.setdefault(d, n)) != n:
                raise ReferenceError(f"{a.name}: {d} = {n} but another argument has {dims[d]}")
        if a.batched:
            if batch is not None and batch != lead:
                raise ReferenceError(f"{a.name}: batch {lead} but another input has {batch}")
            batch = lead
        B = math.prod(lead) if a.batched else 1
        if a.heads is not None:  # (…, count, rows, cols): one matrix per head
            heads = _number(a.heads, counts)
            values[a.symbol] = Value(t.reshape(B, heads, *tail[1:]), a.batched, heads)
            continue
        matrix = t.reshape(*lead, 1, tail[0]) if core == 1 else t.reshape(*lead, 1, 1) if core == 0 else t
        values[a.symbol] = Value(matrix.reshape(B, 1, *matrix.shape[-2:]), a.batched, None)
    batch = batch if batch is not None else ()
    n_batch = math.prod(batch)
    scalars.update(dims)
    scalars[c.batch_size()] = n_batch
    for a in c.configs:
        value = config.get(a.name, a.default)
        if a.symbol is not None:
            scalars[a.symbol] = value
        scalars[sp.Symbol(a.name)] = value  # choices are looked up by name
    for symbol, name, options in c.scalars:
        scalars[symbol] = _number(options[config.get(name, c.argument(name).default)], scalars)
    for condition, message in c.requirements:
        if not _number(condition, scalars):
            raise ReferenceError(f"{c.name}: {message}")
    evaluator = Evaluator(c, values, scalars, n_batch, xp)
    for d in c.definitions:
        v = evaluator.ev(d.expr)
        if v.data.shape[-2:] != evaluator.shape(d.symbol):
            raise ReferenceError(f"{d.name}: evaluates to {tuple(v.data.shape[-2:])}, declared {d.symbol.shape}")
        values[d.symbol] = v
    outputs = tuple(_given_shape(values[o], o, batch) for o in c.output_symbols)
    return outputs if len(outputs) > 1 else outputs[0]


def _given_shape(out: "Value", symbol: MatrixSymbol, batch: tuple):
    """An output as the generated code gives it: behind the batch axes when it carries the batch, with
    its heads axis before the rows, a number when it is 1 × 1 and carries neither."""
    data = out.data if out.heads is not None else out.data[:, 0]
    if out.batched:
        return data.reshape(*batch, *data.shape[1:])
    data = data[0]
    return data.reshape(()) if symbol.shape == (1, 1) else data


def gradients(component, arguments: dict, config: dict, grad_out) -> tuple[object, dict]:
    """(output, {argument: ∂L/∂argument}) by autograd through ``evaluate``, L = ⟨grad_out, output⟩
    (torch tensors); for several outputs, a tuple of each and L = Σ_i ⟨grad_out_i, output_i⟩."""
    import torch

    leaves = {}
    for a in component.tensor_arguments:
        t = arguments[a.name]
        leaves[a.name] = t.detach().clone().requires_grad_(a.receives_gradient) if t.is_floating_point() else t
    with torch.enable_grad():
        out = evaluate(component, leaves, config)
        several = isinstance(out, tuple)
        outs, given = (out, grad_out) if several else ((out,), (grad_out,))
        pairs = [(o, g) for o, g in zip(outs, given) if o.requires_grad and g is not None]
        wanted = {k: t for k, t in leaves.items() if t.requires_grad}
        if pairs and wanted:
            grads = torch.autograd.grad([o for o, _ in pairs], list(wanted.values()), [g for _, g in pairs],
                                        allow_unused=True)
        else:
            grads = [None] * len(wanted)
    detached = tuple(o.detach() for o in outs)
    return (detached if several else detached[0]), {k: (g if g is not None else torch.zeros_like(wanted[k]))
                                                    for k, g in zip(wanted, grads)}
