"""Validated generation: a generated module run against the reference semantics before anyone gets it.

Whatever the sweep, the simplifier and the passes did, the module that comes out is called on a
few small random cases and compared with the reference semantics (``reference.semantics``): the
forward with the definition evaluated directly, every gradient with autograd through it (or, where
torch is not installed, with central finite differences of the reference forward evaluated in
NumPy).  The cases cover every dimension at sizes 1, 2 and 3, no batch axis, one and two, and the
configuration at its defaults and at each other choice.  A disagreement is reported in one line
naming the value or gradient, the case and the error (``check_module``); the caller refuses the
module with it.  This turns an undiscovered engine defect from a silent wrong number into a
refusal.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import sympy as sp

from derive.api import split_size
from derive.primitives import Repeat, index_tables

from .arrays import torch_installed
from .semantics import ReferenceError, evaluate

#: Relative error allowed in float64 against the reference and autograd through it.
TOLERANCE = 1e-10
#: Against central finite differences of the reference forward (no torch).
FD_TOLERANCE = 1e-6
#: The least denominator of an output's relative error: an output that is zero in exact arithmetic
#: (x · rotate_half(x)) is rounding in both, and an absolute 1e-14 at the tolerance lets it through.
OUTPUT_FLOOR = 1e-4
#: Batch axes of the cases, in turn: none, one, two.
BATCHES = ((), (2,), (2, 3))


@dataclass(frozen=True)
class Case:
    """One call: sizes of the dimensions, leading batch axes, configuration."""

    sizes: dict
    batch: tuple
    config: dict

    def label(self) -> str:
        sizes = ", ".join(f"{k}={v}" for k, v in self.sizes.items())
        config = ", ".join(f"{k}={v!r}" for k, v in self.config.items())
        return f"sizes {sizes or '-'}, batch {self.batch}" + (f", {config}" if config else "")


# ------------------------------------------------------------------ cases


def dimension_names(c) -> list[str]:
    """The dimensions the arguments of ``c`` are declared with, in order (d_h of n_heads*d_h)."""
    names = []
    for a in c.tensor_arguments:
        for size in a.dims:
            dimension, _ = split_size(size, set(c._dims.values()))
            if dimension is not None and str(dimension) not in names:
                names.append(str(dimension))
    return names


def configurations(c) -> list[dict]:
    """The configuration at its defaults (a required count 2, a required number 1.5), then each other
    choice of each choice and flag and each required count at 1, the rest at the defaults."""
    base = {}
    for a in c.configs:
        if not a.required:
            base[a.name] = a.default
        elif a.symbol is not None and a.symbol.is_integer:
            base[a.name] = 2
        else:
            base[a.name] = 1.5
    configs = [dict(base)]
    for a in c.configs:
        if a.required and a.symbol is not None and a.symbol.is_integer:
            configs.append({**base, a.name: 1})  # a count of one: one head, one group
        elif a.choices:
            configs += [{**base, a.name: v} for v in a.choices if v != base[a.name]]
        elif isinstance(a.default, bool):
            configs.append({**base, a.name: not a.default})
    return configs


def meets_requirements(c, sizes: dict, config: dict) -> bool:
    """Whether ``sizes`` (by dimension name) and ``config`` satisfy every requirement of ``c``."""
    table = {sp.Symbol(k, positive=True, integer=True): v for k, v in sizes.items()}
    table.update({a.symbol: config[a.name] for a in c.configs
                  if a.symbol is not None and isinstance(config.get(a.name), (int, float))
                  and not isinstance(config.get(a.name), bool)})
    table[c.batch_size()] = 1
    for condition, _ in c.requirements:
        value = sp.sympify(condition).xreplace(table)
        if value.free_symbols or not bool(value):
            return False
    return True


def sizes_near(c, preferred: dict, config: dict, rng: random.Random) -> dict | None:
    """Sizes meeting ``c``'s requirements, as many of them at ``preferred`` as can be: the preferred
    sizes themselves when they do, else the best of a search over sizes 1 … 8."""
    names = list(preferred)
    if meets_requirements(c, preferred, config):
        return dict(preferred)
    best, score = None, -1
    for _ in range(400):
        trial = {k: (preferred[k] if rng.random() < 0.5 else rng.randint(1, 8)) for k in names}
        if meets_requirements(c, trial, config):
            s = sum(trial[k] == preferred[k] for k in names) - 1e-3 * sum(trial.values())
            if s > score:
                best, score = trial, s
    return best


def cases(c, seed: int = 0) -> list[Case]:
    """Every dimension at 1, 2 and 3 (one pattern a case, shifted per dimension), with no batch axis,
    one and two, at the default configuration; then each other configuration once."""
    rng = random.Random(seed)
    names = dimension_names(c)
    out = []
    configs = configurations(c)
    for k in range(3):
        preferred = {n: (i + k) % 3 + 1 for i, n in enumerate(names)}
        sizes = sizes_near(c, preferred, configs[0], rng)
        if sizes is not None:
            out.append(Case(sizes, BATCHES[k], configs[0]))
    for j, config in enumerate(configs[1:]):
        preferred = {n: (i + j) % 3 + 2 for i, n in enumerate(names)}
        sizes = sizes_near(c, preferred, config, rng)
        if sizes is not None:
            out.append(Case(sizes, BATCHES[(j + 1) % 3], config))
    return out


def arguments(c, rng: np.random.Generator, sizes: dict[str, int], batch: tuple[int, ...],
              config: dict | None = None, dtype=np.float64) -> dict[str, np.ndarray]:
    """Random inputs and parameters of ``c`` with the given dimension sizes (and ``config``'s counts,
    for a size n_heads*d_h); integer indices with repeats, below the size of the table they index."""
    tables = {index.name: size for index, size in index_tables(c.definitions)}
    values = {sp.Symbol(k, positive=True, integer=True): v for k, v in sizes.items()}
    values.update({a.symbol: (config or {}).get(a.name, a.default) for a in c.configs
                   if a.symbol is not None and a.symbol.is_integer})
    values = {k: v for k, v in values.items() if isinstance(v, (int, np.integer)) and not isinstance(v, bool)}
    out = {}
    # a frozen float input may carry fewer batch axes than the others (broadcast), where others carry them
    others = any(not (a.frozen and a.dtype == "float") for a in c.inputs)
    for a in c.tensor_arguments:
        shape = tuple(sp.sympify(sp.sympify(d).xreplace(values)) for d in a.dims)
        if not all(s.is_Integer for s in shape):
            missing = ", ".join(sorted(map(str, sp.Tuple(*shape).free_symbols)))
            raise ValueError(f"{a.name}: shape {a.dims} needs {missing} (give it with --size {missing}=N, "
                             "or in the configuration)")
        shape = tuple(int(s) for s in shape)
        if a.batched and a.frozen and a.dtype == "float" and batch and others and rng.integers(2):
            shape = (1,) * rng.integers(0, len(batch) + 1) + shape  # shared by the sequences: broadcast
        elif a.batched:
            shape = batch + shape
        if a.dtype == "int":
            size = tables.get(a.name)
            high = int(sp.sympify(size).xreplace(values)) if size is not None else 3
            out[a.name] = rng.integers(0, max(high, 1), size=shape)
        else:
            out[a.name] = rng.standard_normal(shape).astype(dtype)
    return out


# ------------------------------------------------------------------ errors


def relative_error(a, b, floor: float = 0.0) -> float:
    """max |a − b| / max |b|; ``floor`` bounds the denominator below for gradients that are
    zero up to rounding (the key bias: autograd leaves ~1e-18 where the engine proves 0)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or not np.array_equal(np.isfinite(a), np.isfinite(b)):
        return float("inf")  # a shape or a NaN that differs is a failure, never dropped
    finite = np.isfinite(b)
    if not finite.all():
        if not np.array_equal(a[~finite], b[~finite]):
            return float("inf")
        a, b = a[finite], b[finite]
    scale = max(float(np.max(np.abs(b), initial=0.0)), floor, 1e-300)
    return float(np.max(np.abs(a - b), initial=0.0)) / scale


def gradient_floor(grads: dict) -> float:
    """1e-3 of the largest gradient entry of one call, and at least 1e-4.

    Relative errors are measured against at least this: a gradient that is zero in exact arithmetic
    (the key bias) is, in autograd, rounding of terms as large as the others, about 1e-16 of them
    times the number of terms; an absolute error of 1e-14 at the tolerance lets through the rounding
    of a zero summed over a batch, and nothing a wrong rule produces."""
    largest = max((float(np.max(np.abs(g), initial=0.0)) for g in grads.values()), default=0.0)
    return max(1e-3 * largest, 1e-4)


def _as_numpy(t):
    return t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)


@dataclass
class Outcome:
    """How a module fared on one case: ``problem`` when it disagreed (or the reference gave the case no
    meaning), not when it agreed or the case was outside the definition's domain."""

    kind: str = "right"  # "right" | "skipped" | "undefined" | "wrong shape" | "wrong value" | "crash"
    detail: str = ""
    worst: float = 0.0

    @property
    def problem(self) -> bool:
        return self.kind not in ("right", "skipped")


# ------------------------------------------------------------------ one case


def _each(value) -> tuple:
    """The outputs of a call as a tuple: one output is a tuple of one."""
    return value if isinstance(value, tuple) else (value,)


def reference_values(c, arrays: dict, case: Case, rng: np.random.Generator):
    """((outputs), (G, one per output), {gradient}, tolerance) of the reference semantics, or an Outcome
    when the case is outside the definition's domain (skipped) or the reference gives it no meaning
    (undefined)."""
    try:
        if torch_installed():
            import torch

            from .semantics import gradients

            tensors = {k: torch.from_numpy(v) for k, v in arrays.items()}
            outs = tuple(o.numpy() for o in _each(evaluate(c, tensors, case.config)))
            if not all(np.all(np.isfinite(o)) for o in outs):
                return Outcome("skipped")
            Gs = tuple(rng.standard_normal(o.shape) for o in outs)
            given = tuple(torch.from_numpy(G) for G in Gs)
            _, grads = gradients(c, tensors, case.config, given if len(given) > 1 else given[0])
            return outs, Gs, {k: v.numpy() for k, v in grads.items()}, TOLERANCE
        outs = tuple(np.asarray(o) for o in _each(evaluate(c, arrays, case.config)))
        if not all(np.all(np.isfinite(o)) for o in outs):
            return Outcome("skipped")
        Gs = tuple(rng.standard_normal(o.shape) for o in outs)
        return outs, Gs, None, FD_TOLERANCE
    except ReferenceError as e:
        return Outcome("undefined", str(e))


def directional_error(loss, arrays: dict, name: str, gradient, rng: np.random.Generator, floor: float = 0.0,
                      steps=(1e-2, 1e-3, 1e-4, 1e-5)) -> float:
    """Relative error of ⟨gradient, v⟩ against central differences of ``loss`` along a random v.

    Each difference is Richardson-extrapolated from steps h and h/2 (error O(h⁴)), and the best of
    several h counts: a function with sharp curvature agrees at a small step, rounding-limited ones
    at a larger; a wrong rule agrees at none.  ``floor`` (per entry of v) bounds the denominator below,
    as ``gradient_floor`` does: a gradient that is zero in exact arithmetic differs by rounding only."""
    value = arrays[name]
    v = rng.standard_normal(value.shape)

    def central(step):
        return (loss({**arrays, name: value + step / 2 * v}) - loss({**arrays, name: value - step / 2 * v})) / step

    analytic = float(np.sum(gradient * v))
    best = float("inf")
    for h in steps:
        numeric = (4 * central(h / 2) - central(h)) / 3
        scale = max(abs(numeric), abs(analytic), 1e-3 * float(np.abs(gradient).sum() * np.abs(v).max() + 1e-12),
                    floor * float(np.abs(v).sum()))
        best = min(best, abs(numeric - analytic) / scale)
        if best <= FD_TOLERANCE:
            break  # agreement at one step is enough
    return best


def run_case(c, module, target: str, case: Case, rng: np.random.Generator, tol: float | None = None,
             forward_mode: bool = True) -> Outcome:
    """``module`` (generated for ``target``) against the reference semantics on ``case``; with
    ``forward_mode``, its ``jvp`` too (``forward_mode_outcome``)."""
    arrays = arguments(c, rng, case.sizes, case.batch, case.config)
    found = reference_values(c, arrays, case, rng)
    if isinstance(found, Outcome):
        return found
    ref_outs, G, ref_grads, tolerance = found
    tolerance = tol if tol is not None else tolerance
    where = case.label()
    several = len(ref_outs) > 1
    try:
        if target == "torch":
            import torch

            args = [torch.from_numpy(v) for v in arrays.values()]
            out, cache = module.forward(*args, **case.config)
            given = tuple(torch.from_numpy(g) for g in G)
            got = {k: _as_numpy(v) for k, v in module.backward(given if several else given[0], cache).items()}
        else:
            out, cache = module.forward(*arrays.values(), **case.config)
            got = module.backward(G if several else G[0], cache)
    except Exception as e:  # noqa: BLE001 - a crash at call time is an engine defect
        first = str(e).splitlines()[0] if str(e) else ""
        return Outcome("crash", f"{target}: {type(e).__name__}: {first} ({where})")
    outs = out if several else (out,)
    if not isinstance(outs, tuple) or len(outs) != len(ref_outs):
        return Outcome("wrong shape", f"{target}: forward gives {type(out).__name__}, not the {len(ref_outs)} "
                       f"outputs declared ({where})", float("inf"))
    worst = 0.0
    for symbol, out, ref_out in zip(c.output_symbols, outs, ref_outs):
        label = f"output {symbol.name}" if several else "output"
        out = _as_numpy(out)
        if out.shape != ref_out.shape:
            return Outcome("wrong shape", f"{target} {label}: shape {out.shape}, declared {ref_out.shape} ({where})",
                           float("inf"))
        error = relative_error(out, ref_out, OUTPUT_FLOOR)
        if not error <= tolerance:
            return Outcome("wrong value", f"{target} {label} off by {error:.1e} ({where})", error)
        worst = max(worst, error)
    wanted = [a for a in c.tensor_arguments if a.receives_gradient]
    for a in wanted:
        if a.name not in got:
            return Outcome("wrong shape", f"{target}: no ∂L/∂{a.name} ({where})", float("inf"))
        g = _as_numpy(got[a.name])
        if g.shape != arrays[a.name].shape:
            return Outcome("wrong shape", f"{target} ∂L/∂{a.name}: shape {g.shape}, declared "
                           f"{arrays[a.name].shape} ({where})", float("inf"))
        if not np.all(np.isfinite(g)):
            return Outcome("wrong value", f"{target} ∂L/∂{a.name} is not finite ({where})", float("inf"))
    if ref_grads is not None:
        floor = gradient_floor(ref_grads)
        for a in wanted:
            error = relative_error(_as_numpy(got[a.name]), ref_grads[a.name], floor)
            if not error <= tolerance:
                return Outcome("wrong value", f"{target} ∂L/∂{a.name} off by {error:.1e} ({where})", error)
            worst = max(worst, error)
        if target == "torch" and case.batch == BATCHES[1]:  # the Function's wiring: one batch shape is enough
            problem = function_problem(c, module, arrays, case, G, ref_grads, tolerance)
            if problem is not None:
                return problem
        if not forward_mode:
            return Outcome("right", "", worst)
        return forward_mode_outcome(c, module, target, arrays, case, G, ref_grads, rng, tolerance, worst)

    def loss(moved):
        return sum(float(np.sum(g * np.asarray(o))) for g, o in zip(G, _each(evaluate(c, moved, case.config))))

    floor = gradient_floor({a.name: _as_numpy(got[a.name]) for a in wanted})
    for a in wanted:
        error = directional_error(loss, arrays, a.name, _as_numpy(got[a.name]), rng, floor)
        if not error <= tolerance:
            return Outcome("wrong value", f"{target} ∂L/∂{a.name} off by {error:.1e} against finite "
                           f"differences ({where})", error)
        worst = max(worst, error)
    gradients = {a.name: _as_numpy(got[a.name]) for a in wanted}
    if not forward_mode:
        return Outcome("right", "", worst)
    return forward_mode_outcome(c, module, target, arrays, case, G, gradients, rng, tolerance, worst)


def function_problem(c, module, arrays: dict, case: Case, G: tuple, gradients: dict,
                     tolerance: float) -> Outcome | None:
    """The Torch module's ``autograd.Function`` (what ``nn.Module`` and training call) against the
    gradients just checked: autograd through it with the same upstream gradients; None when it agrees."""
    import torch

    function = getattr(module, f"{c.module_class}Function", None)
    if function is None or not gradients:
        return None  # nothing is differentiated: the module's forward is what was checked
    leaves = {a.name: torch.from_numpy(arrays[a.name]).requires_grad_(a.name in gradients)
              for a in c.tensor_arguments}
    config = [case.config.get(a.name, a.default) for a in c.configs]
    try:
        with torch.enable_grad():
            outs = _each(function.apply(*leaves.values(), *config))
            wanted = [t for t in leaves.values() if t.requires_grad]
            found = torch.autograd.grad(outs, wanted, [torch.from_numpy(g) for g in G], allow_unused=True)
    except Exception as e:  # noqa: BLE001 - a crash at call time is an engine defect
        first = str(e).splitlines()[0] if str(e) else ""
        return Outcome("crash", f"torch {c.module_class}Function: {type(e).__name__}: {first} ({case.label()})")
    floor = gradient_floor(gradients)
    for name, g in zip([n for n, t in leaves.items() if t.requires_grad], found):
        g = np.zeros_like(gradients[name]) if g is None else g.numpy()
        error = relative_error(g, gradients[name], floor)
        if not error <= tolerance:
            return Outcome("wrong value", f"torch {c.module_class}Function: ∂L/∂{name} off by {error:.1e} "
                           f"({case.label()})", error)
    return None


def forward_mode_outcome(c, module, target: str, arrays: dict, case: Case, G, gradients: dict,
                         rng: np.random.Generator, tolerance: float, worst: float) -> Outcome:
    """The module's ``jvp`` (the derived forward mode) against the gradients just checked, by the adjoint
    identity ⟨G, J t⟩ = Σ_a ⟨∂L/∂a, t_a⟩ (L = ⟨G, output⟩) for random tangents t: a tangent that is off
    is off along a random G.  A definition without forward mode (its ``jvp`` raises
    NotImplementedError, naming why) is not checked."""
    jvp = getattr(module, "jvp", None)
    if jvp is None or not gradients:
        return Outcome("right", "", worst)
    tangents = {name: rng.standard_normal(arrays[name].shape) for name in gradients}  # in jvp's order
    names = list(tangents)
    try:
        if target == "torch":
            import torch

            tangent = jvp(*(torch.from_numpy(v) for v in arrays.values()),
                          *(torch.from_numpy(tangents[n]) for n in names), **case.config)
        else:
            tangent = jvp(*arrays.values(), *(tangents[n] for n in names), **case.config)
        tangent = tuple(_as_numpy(t) for t in _each(tangent))
    except NotImplementedError:
        return Outcome("right", "", worst)
    except Exception as e:  # noqa: BLE001 - a crash at call time is an engine defect
        first = str(e).splitlines()[0] if str(e) else ""
        return Outcome("crash", f"{target} jvp: {type(e).__name__}: {first} ({case.label()})")
    if [t.shape for t in tangent] != [np.shape(g) for g in G]:
        return Outcome("wrong shape", f"{target} jvp: shapes {[t.shape for t in tangent]}, the outputs' "
                       f"{[np.shape(g) for g in G]} ({case.label()})", float("inf"))
    forward = sum(float(np.sum(g * t)) for g, t in zip(G, tangent))
    backward = sum(float(np.sum(gradients[n] * tangents[n])) for n in names)
    # a tangent that is zero in exact arithmetic (the softmax of one entry) is rounding on both sides: as
    # OUTPUT_FLOOR does for outputs, the denominator is at least that share of ‖G‖ ‖t‖
    floor = OUTPUT_FLOOR * float(np.sqrt(sum(np.sum(g ** 2) for g in G))) * float(
        np.sqrt(sum(np.sum(tangents[n] ** 2) for n in names)))
    scale = max(sum(float(np.sum(np.abs(g * t))) for g, t in zip(G, tangent)) + sum(
        float(np.sum(np.abs(gradients[n] * tangents[n]))) for n in names), floor, 1e-300)
    error = abs(forward - backward) / scale
    if not error <= tolerance:
        return Outcome("wrong value", f"{target} jvp off by {error:.1e}: ⟨G, J t⟩ against Σ ⟨∂L/∂a, t_a⟩ "
                       f"({case.label()})", error)
    return Outcome("right", "", max(worst, error))


def check_module(c, module, target: str, seed: int = 0, before=None, forward_mode: bool = True) -> str | None:
    """One line naming the first disagreement of ``module`` with the reference semantics (its ``jvp`` too
    with ``forward_mode``) over ``cases(c)``, or None when it agrees on all of them; ``before(case)`` is
    called before each."""
    if any(d.expr.has(Repeat) for d in c.definitions):
        return None  # a stack of blocks: its blocks are validated as components, the model by its own check
    if target == "torch" and not torch_installed():
        return None  # a Torch module runs only where torch is; its plan is the one the NumPy module validated
    rng = np.random.default_rng(seed)
    for case in cases(c, seed):
        if before is not None:
            before(case)
        outcome = run_case(c, module, target, case, rng, forward_mode=forward_mode)
        if outcome.kind == "undefined":
            return f"the reference semantics gives it no meaning: {outcome.detail} ({case.label()})"
        if outcome.problem:
            return f"{outcome.kind}: {outcome.detail}"
    return None
