"""Printing a scalar function as NumPy code that reuses its own buffers.

``x (1 + tanh(c (x + a x³)))/2`` printed as one expression makes a fresh array
for every operation; here each operation writes into a buffer the function
itself made and no longer needs (``np.multiply(b, x, out=b)``), so a step
faults in a few pages instead of a dozen.  The arithmetic is the same, operation
for operation up to the order of a sum's or a product's terms, so the values agree with the plain
expression within rounding.

A buffer whose last use has passed takes the next fresh result (``np.multiply(t0, c, out=t0)``
rather than a new array), so a function of many steps makes only as many arrays as it holds at
once; those for intermediate values are kept between calls (``_scratch``, one per buffer and
thread), and ``f(x, times=Δ)`` multiplies the value into Δ's array (the chain rule's
Δ ∘ f'(x)), so a training step makes none.
"""
from __future__ import annotations

import re

import sympy as sp

from derive.scalar_functions import ufuncs

#: SymPy functions with a NumPy ufunc of the same name, which can write in place.
UFUNCS = ufuncs()  # derive.scalar_functions, the one table


#: ``name = np.ufunc(args)``: a fresh array of ``x``'s shape and dtype, which can be written ``out=`` a dead buffer.
_UFUNC_LINE = re.compile(r"^(\w+) = (\w+\.\w+)\((.*)\)$")


class _Value:
    def __init__(self, code: str, owned: bool, array: bool):
        self.code, self.owned, self.array = code, owned, array


class InplaceFunction:
    """Three-address NumPy code for one scalar expression of ``x``, buffers reused where they are fresh."""

    def __init__(self, fallback, array: str = "np"):
        self.fallback = fallback  # prints what this class does not handle (a fresh array)
        self.np = array
        self.lines: list[str] = []
        self.reusable: set[int] = set()  # indices of lines that make a fresh array with one ufunc call
        self.count = 0

    def _buffer(self) -> str:
        self.count += 1
        return f"b{self.count}"

    def _fresh(self, code: str, ufunc: bool = False) -> _Value:
        """A new array named ``b<k>``; ``ufunc``: ``code`` is one ufunc call that can take ``out=``."""
        name = self._buffer()
        self.lines.append(f"{name} = {code}")
        if ufunc:
            self.reusable.add(len(self.lines) - 1)
        return _Value(name, True, True)

    def value(self, e: sp.Expr, names: dict) -> _Value:
        if e in names:
            return _Value(names[e], False, True)
        if e.is_Number:
            return _Value(repr(float(e)), False, False)
        if isinstance(e, sp.Add):
            return self._fold(e, names, "add", "subtract")
        if isinstance(e, sp.Mul):
            return self._fold(e, names, "multiply", None)
        if isinstance(e, sp.Pow):
            base, exp = e.args
            b = self.value(base, names)
            if exp == 2:
                return self._unary("square", b)
            if exp == -1:
                return self._unary("reciprocal", b)
            if exp == sp.Rational(1, 2):
                return self._unary("sqrt", b)
        if isinstance(e, sp.Function) and type(e) in UFUNCS and len(e.args) == 1:
            return self._unary(UFUNCS[type(e)], self.value(e.args[0], names))
        return self._fresh(self.fallback(e.xreplace({k: sp.Symbol(v) for k, v in names.items()})))

    def _unary(self, ufunc: str, a: _Value) -> _Value:
        if a.owned:
            self.lines.append(f"{self.np}.{ufunc}({a.code}, out={a.code})")
            return a
        return self._fresh(f"{self.np}.{ufunc}({a.code})", ufunc=True)

    def _fold(self, e, names, op: str, inverse: str | None) -> _Value:
        """A sum or product: array terms first (into an owned buffer), then the constant."""
        constant = [a for a in e.args if a.is_Number]
        terms = [a for a in e.args if not a.is_Number]
        values = []
        for t in terms:
            negative = inverse is not None and t.could_extract_minus_sign()
            values.append((self.value(-t if negative else t, names), negative))
        values.sort(key=lambda v: (not v[0].owned, v[1]))  # an owned, positive buffer accumulates
        (acc, negative), rest = values[0], values[1:]
        if negative:
            acc = self._fresh(f"{self.np}.negative({acc.code})", ufunc=True)
        elif not acc.owned:
            if rest and not rest[0][1]:
                other, _ = rest.pop(0)
                acc = self._fresh(f"{self.np}.{op}({acc.code}, {other.code})", ufunc=True)
            elif constant and op == "multiply":
                acc = self._fresh(f"{self.np}.multiply({acc.code}, {float(constant.pop())!r})", ufunc=True)
            else:
                acc = self._fresh(f"{acc.code}.{'copy' if self.np == 'np' else 'clone'}()")
        for v, neg in rest:
            self.lines.append(f"{self.np}.{inverse if neg else op}({acc.code}, {v.code}, out={acc.code})")
        if constant:
            c = constant[0]
            if not (op == "multiply" and c == 1) and not (op == "add" and c == 0):
                self.lines.append(f"{acc.code} {'+' if op == 'add' else '*'}= {float(c)!r}")
        return acc

    def _reuse_dead_buffers(self, result: str) -> tuple[str, set[str]]:
        """Write each fresh ufunc result into a buffer whose last use has passed (or is this very
        line: an elementwise operation may write over its own operand).  Only buffers that ufunc
        lines made are reused, so each has ``x``'s shape and dtype.  Returns the result's name and
        the buffers the ufunc lines made (each first assigned by one of them)."""
        name = re.compile(r"\b[bt]\d+\b")
        lines, alias, reusable = [], {}, set()
        for i, line in enumerate(self.lines):  # one name per array: ``t1 = b2`` is dropped
            line = name.sub(lambda m: alias.get(m.group(0), m.group(0)), line)
            same = re.fullmatch(r"([bt]\d+) = ([bt]\d+)", line)
            if same:
                alias[same.group(1)] = same.group(2)
                continue
            if i in self.reusable:
                reusable.add(len(lines))
            lines.append(line)
        result = alias.get(result, result)
        last_use = {n: i for i, line in enumerate(lines) for n in name.findall(line)}
        last_use[result] = len(lines)
        buffer, made, free, out = {}, set(), [], []  # buffer: name → the array it lives in
        for i, line in enumerate(lines):
            dying = [buffer.get(n, n) for n in dict.fromkeys(name.findall(line)) if last_use[n] == i]
            line = name.sub(lambda m: buffer.get(m.group(0), m.group(0)), line)
            match = _UFUNC_LINE.match(line) if i in reusable else None
            target = None
            if match:
                candidates = free + [b for b in dying if b in made and b != match.group(1) and b not in free]
                if candidates:
                    target = candidates[0]
                    buffer[match.group(1)] = target
                    line = f"{match.group(2)}({match.group(3)}, out={target})"
                else:
                    made.add(match.group(1))
            free = [b for b in free if b != target]
            free += [b for b in dying if b in made and b != target and b not in free]
            out.append(line)
        self.lines = out
        return buffer.get(result, result), made

    def define(self, name: str, body: sp.Expr, guard: str | None = None) -> str:
        """``def _name(x, times=None): …`` with the common subexpressions of ``body`` computed once.

        The buffers for intermediate values are kept between calls (``_scratch``), so a training
        step does not fault in fresh pages for them; the result is a new array, or, with ``times``
        (the chain rule's Δ ∘ f'(x)), multiplied into that array.

        ``guard``: a condition and a plain expression, ``(condition, code)``, returned first when the
        condition holds (torch, recording a graph: no in-place operation there).
        """
        temps, (reduced,) = sp.cse(body, symbols=sp.numbered_symbols("t"), optimizations="basic")
        names = {sp.Symbol("x"): "x"}
        for t, v in temps:
            value = self.value(v, names)
            if value.owned:  # the buffer is the temporary: give it its name
                self.lines = [re.sub(rf"\b{value.code}\b", str(t), line) for line in self.lines]
            else:
                self.lines.append(f"{t} = {value.code}")
            names[t] = str(t)
        result = self.value(reduced, names)
        if not result.array:  # a constant function: an array like x
            result = self._fresh(f"{self.np}.full_like(x, {result.code})")
        result.code, made = self._reuse_dead_buffers(result.code)
        if len(self.lines) == 1 and self.lines[0].startswith(f"{result.code} = "):  # one operation
            return times_form(name, self.lines[0].split(" = ", 1)[1])
        lines = [f"def _{name}(x, times=None):",
                 '    """Computed in buffers of its own, each operation in place; ``times``: multiplied into it."""']
        if guard is not None:
            lines += [f"    if {guard[0]}:", f"        value = {guard[1]}",
                      "        return value if times is None else times * value"]
        for line in self.lines:
            match = _UFUNC_LINE.match(line)
            if match and match.group(1) in made:  # the first value of a buffer: where it lives
                where = f'_scratch("{name}.{match.group(1)}", x)'
                if match.group(1) == result.code:
                    where = f"None if times is None else {where}"
                line = f"{match.group(1)} = {match.group(2)}({match.group(3)}, out={where})"
            lines.append(f"    {line}")
        lines += ["    if times is None:", f"        return {result.code}", f"    times *= {result.code}",
                  "    return times"]
        return "\n".join(lines)


def times_form(name: str, code: str, doc: str | None = None) -> str:
    """``def _name(x, times=None)`` for a function of one operation ``code``: its value, or ``times``
    multiplied by it in place; ``doc``: its docstring."""
    docstring = f'    """{doc}"""\n' if doc else ""
    return (f"def _{name}(x, times=None):\n{docstring}    if times is None:\n        return {code}\n"
            f"    times *= {code}\n    return times")
