"""Printing a fused group (``codegen.fusion``) as a Numba kernel: a loop over rows, and in each row a
loop over columns per statement, printed from the statements' expressions.

Each statement of the group becomes, in turn, inside ``for r in range(R)``:

* a value with one number per row (``mu = (1/d) X 1``): a local number, its row sums computed by
  a loop of their own first;
* a value with a number per entry: ``for j in range(cols): … = …``, into the output array's row
  when the group outputs it, or into a buffer of one row (made once per call) when only the group
  reads it.

Numbers are typed: ``T`` is the arrays' dtype, every constant is ``T(…)``, and a setting or size
is converted once (``t_eps = T(n_eps)``), so float32 stays float32; sums run in float64 and are
rounded once.  Only functions that vectorise reach a kernel (``fusion.VECTOR_FUNCTIONS``, and
square roots, ``math.sqrt``).  User names enter only behind a prefix (``a_X``,
``o_Y``, ``n_eps``), so no name of the kernel's own can be shadowed.
"""
from __future__ import annotations

import sympy as sp
from sympy import HadamardProduct, MatAdd, MatMul, MatrixSymbol, OneMatrix
from sympy.printing.pycode import PythonCodePrinter

from derive.primitives import ChoiceFunction, Elementwise
from derive.simplify import split_coefficient

from .fusion import Group, Unfusable, _kind, column_sum
from .printers import exact_size


class ScalarPrinter(PythonCodePrinter):
    """Scalar SymPy expressions as typed Numba code: constants ``T(c)``, settings ``t_name``."""

    def __init__(self, variables: dict, settings_used: set):
        super().__init__({"strict": True, "fully_qualified_modules": True})
        self.variables = variables  # SymPy symbol name → code (the entrywise variable)
        self.settings_used = settings_used

    def _print_Symbol(self, expr):
        if expr.name in self.variables:
            return self.variables[expr.name]
        self.settings_used.add(expr.name)
        return f"t_{expr.name}"

    def _print_Integer(self, expr):
        return f"T({int(expr)})"

    def _print_Rational(self, expr):
        return f"T({expr.p}/{expr.q})"

    def _print_Float(self, expr):
        return f"T({float(expr)!r})"

    def _print_NumberSymbol(self, expr):
        return f"T({float(expr)!r})"

    _print_Pi = _print_Exp1 = _print_NumberSymbol

    def _print_Half(self, expr):
        return "T(0.5)"

    def _print_Pow(self, expr, rational=False):
        base, e = expr.args
        b = self.parenthesize(base, 100)
        if e.is_Integer and 0 < abs(int(e)) <= 4:
            product = "(" + " * ".join([b] * abs(int(e))) + ")"
            return product if e > 0 else f"(T(1) / {product})"
        if e == sp.S.Half:
            return f"math.sqrt({self._print(base)})"
        if e == -sp.S.Half:
            return f"(T(1) / math.sqrt({self._print(base)}))"
        return f"{b} ** {self._print(e)}"

    def _print_Heaviside(self, expr):
        arg, h0 = expr.args
        a = self._print(arg)
        return f"(T(1) if {a} > T(0) else ({self._print(h0)} if {a} == T(0) else T(0)))"

    def _print_Max(self, expr):
        return self._extremum(expr, "max")

    def _print_Min(self, expr):
        return self._extremum(expr, "min")

    def _extremum(self, expr, how):
        code = self._print(expr.args[-1])
        for a in reversed(expr.args[:-1]):
            code = f"{how}({self._print(a)}, {code})"
        return code

    def _print_Abs(self, expr):
        return f"abs({self._print(expr.args[0])})"

    def _print_sign(self, expr):
        a = self._print(expr.args[0])
        return f"(T(1) if {a} > T(0) else (T(-1) if {a} < T(0) else T(0)))"

    def _print_Piecewise(self, expr):
        pieces = list(expr.args)
        if pieces[-1].cond is not sp.true:
            raise Unfusable("a piecewise function with no default")
        code = self._print(pieces[-1].expr)
        for e, cond in reversed(pieces[:-1]):
            code = f"({self._print(e)} if {self._print(cond)} else {code})"
        return code

    def _print_BooleanTrue(self, expr):
        return "True"

    def _print_BooleanFalse(self, expr):
        return "False"

    def _print_Not(self, expr):
        return f"(not {self._print(expr.args[0])})"

    def _print_Function(self, expr):
        raise Unfusable(f"no kernel code for {type(expr).__name__}")

    def emptyPrinter(self, expr):
        raise Unfusable(f"no kernel code for {type(expr).__name__}")

    def _print_not_supported(self, expr):
        raise Unfusable(f"no kernel code for {type(expr).__name__}")


class KernelPrinter:
    """One group's kernel (``rows``), the Python function that lays out its arrays (``call``), and the
    call's code.  ``printer``: the module's array printer (its context names the values and knows
    their layouts); ``choices``: configuration name → its accepted values, in the options' order."""

    def __init__(self, group: Group, printer, name: str, choices: dict, declared: set):
        self.group, self.printer, self.name, self.choices = group, printer, name, choices
        self.declared = declared  # outputs kept at their declared shape (an output, a gradient)
        ctx = printer.ctx
        self.ctx = ctx
        self.code_of = {s: ctx.names.get(s, s.name) for st in group.statements
                        for s in st.expr.free_symbols if isinstance(s, MatrixSymbol)}
        self.made = {st.target: st for st in group.statements}
        self.outputs = list(group.outputs)
        self.rows, self.batched, self.heads = group.key
        self.inputs: dict[str, dict] = {}  # code name → {"ndim", "row": its row's index code, "source"}
        self.settings: set[str] = set()  # sizes and settings (SymPy symbol names)
        self.choice_configs: set[str] = set()
        self.constants: list[str] = []
        self.counter = 0
        self.lines: list[str] = []  # where the current expression's preparatory lines go
        self.row_lines: list[str] = []
        self.row_prologue: list[str] = []  # per row: the row of an operand repeated per sequence
        self.buffers: list[tuple[str, str]] = []
        self.column_values: set[str] = set()
        self.sums: list[str] = []  # column sums over every row: complete only after the last
        self.full_values: set[str] = set()

    # -- names

    def fresh(self, stem: str) -> str:
        self.counter += 1
        return f"{stem}{self.counter}"

    def size(self, expr, prefix: str = "n_") -> str:
        """A size as exact integer code: in the kernel its symbols are the ``n_`` arguments; with
        ``prefix=""``, in the caller, the function's own names.  Each symbol becomes an argument."""
        expr = sp.sympify(expr)
        for s in expr.free_symbols:
            self.settings.add(s.name)
        return exact_size(expr.xreplace({s: sp.Symbol(f"{prefix}{s.name}") for s in expr.free_symbols}), sp.pycode)

    def scalar(self, expr, variables=None) -> str:
        return ScalarPrinter(variables or {}, self.settings).doprint(expr)

    # -- operands

    def operand(self, symbol: MatrixSymbol, column: bool) -> str:
        name = self.code_of[symbol]
        if name in self.made:  # a value of the group
            if name in self.sums:
                raise Unfusable(f"{name} read before every row is summed into it")
            if name in self.column_values:
                return f"v_{name}"
            if name not in self.full_values:
                raise Unfusable(f"{name} read before the group makes it")
            return f"o_{name}[r, j]" if name in self.outputs else f"b_{name}[j]"
        layout = self.printer.layout(symbol)
        if name not in self.inputs:
            self.inputs[name] = self._input(symbol, name, layout)
        info = self.inputs[name]
        if info["ndim"] == 1:
            return f"a_{name}[{'0' if symbol.shape[1] == 1 else 'j'}]"
        col = "0" if (layout.cols or symbol.shape[1] == 1) else "j"
        if col == "j" and column:
            raise Unfusable(f"{name} read along a row where one number per row is computed")
        return f"a_{name}[{info['row']}, {col}]"

    def _input(self, symbol, name: str, layout) -> dict:
        if layout.ndim == 0:
            raise Unfusable(f"{name} is a number array")
        if layout.ndim == 1:
            return {"ndim": 1, "row": None, "source": False}
        batched, heads = symbol in self.ctx.batched, self.ctx.headed.get(symbol)
        if layout.rows:
            if batched or heads is not None:
                raise Unfusable(f"{name} repeats one row per sequence")
            return {"ndim": 2, "row": "0", "source": False}
        if symbol.shape[0] != self.rows:
            raise Unfusable(f"{name} has other rows")
        if (batched, heads) == (self.batched, self.heads):
            return {"ndim": 2, "row": "r", "source": True}
        if not batched and (heads is None or heads == self.heads):  # one sequence's rows, repeated
            index = f"r_{name}"
            self.row_prologue.append(f"{index} = r % a_{name}.shape[0]")
            return {"ndim": 2, "row": index, "source": False}
        raise Unfusable(f"{name}'s leading axes differ from the group's")

    # -- expressions: the entry at (r, j), or the row's number

    def entry(self, e, column: bool) -> str:
        if not column and not isinstance(e, MatrixSymbol) and _kind(e) == "column":
            outer, self.lines = self.lines, self.row_lines  # the same along the row: computed once per row
            try:
                return self.entry(e, True)
            finally:
                self.lines = outer
        if isinstance(e, MatrixSymbol):
            return self.operand(e, column)
        if isinstance(e, MatAdd):
            return "(" + " + ".join(self.entry(a, column) for a in e.args) + ")"
        if isinstance(e, HadamardProduct):
            return "(" + " * ".join(self.entry(a, column) for a in e.args) + ")"
        if isinstance(e, Elementwise):
            x = self.fresh("x")
            self.lines.append(f"{x} = {self.entry(e.arg, column)}")
            return self.apply(e.fn, x)
        if isinstance(e, MatMul):
            c, body = split_coefficient(e)
            factors = list(body.args) if isinstance(body, MatMul) else [body]
            if len(factors) == 1:
                code = self.entry(factors[0], column)
            else:
                a, b = factors
                if isinstance(b, OneMatrix) and b.shape[1] == 1:
                    code = self.row_sum(a)
                elif isinstance(b, OneMatrix):  # v 1ᵀ
                    code = self.entry(a, True)
                else:  # 1 wᵀ
                    code = self.entry(b, column)
            if c == 1:
                return code
            if c == -1:
                return f"(-{code})"
            return f"({self.constant(c)} * {code})"
        raise Unfusable(type(e).__name__)

    def constant(self, c) -> str:
        """A coefficient, computed once per call."""
        name = f"k{len(self.constants) + 1}"
        self.constants.append(f"{name} = {self.scalar(c)}")
        return name

    def apply(self, fn, x: str) -> str:
        if isinstance(fn, ChoiceFunction):
            if fn.config not in self.choices:
                raise Unfusable(f"the choice {fn.config} has no values")
            self.choice_configs.add(fn.config)
            codes = [self.apply(option, x) for option in fn.options]
            code = codes[-1]
            for i in reversed(range(len(codes) - 1)):
                code = f"({codes[i]} if c_{fn.config} == {i} else {code})"
            return code
        (var,), body = fn.body.signature, fn.body.expr
        return "(" + self.scalar(body, {var.name: x}) + ")"

    def reduction(self, start: str, e, combine) -> str:
        """A loop over a row of ``e`` into an accumulator (printed before the statement that reads it)."""
        acc = self.fresh("s")
        outer, self.lines = self.lines, []
        code = self.entry(e, False)
        body, self.lines = self.lines, outer
        self.row_lines += [f"{acc} = {start}", f"for j in range({self.size(e.shape[1])}):"]
        self.row_lines += [f"    {line}" for line in body] + [f"    {combine(acc, code)}"]
        return acc

    def row_sum(self, e) -> str:
        acc = self.reduction("0.0", e, lambda acc, code: f"{acc} += {code}")
        return f"T({acc})"

    # -- the kernel

    def statement_lines(self, st) -> list[str]:
        name = st.target
        self.lines, self.row_lines = [], []
        summed = column_sum(st.expr)
        if summed is not None:  # Σ_batch 1ᵀ E: each row's entries added to the column's sum (float64)
            code = self.entry(summed, False)
            self.sums.append(name)
            lines = ([f"# {st.comment}"] if st.comment else []) + self.row_lines
            lines += [f"for j in range({self.size(summed.shape[1])}):"]
            return lines + [f"    {line}" for line in self.lines] + [f"    o_{name}[j] += {code}"]
        column = st.shape.core[1] == 1
        code = self.entry(st.expr, column)
        lines = [f"# {st.comment}"] if st.comment else []
        if column:
            lines += self.row_lines + self.lines + [f"v_{name} = {code}"]
            self.column_values.add(name)
            if name in self.outputs:
                if name in self.declared and st.expr.shape[1] != 1:
                    lines += [f"for j in range({self.size(st.expr.shape[1])}):", f"    o_{name}[r, j] = v_{name}"]
                else:
                    lines.append(f"o_{name}[r, 0] = v_{name}")
            return lines
        target = f"o_{name}[r, j]" if name in self.outputs else f"b_{name}[j]"
        if name not in self.outputs:
            self.buffers.append((f"b_{name}", self.size(st.expr.shape[1])))
        lines += self.row_lines + [f"for j in range({self.size(st.expr.shape[1])}):"]
        lines += [f"    {line}" for line in self.lines] + [f"    {target} = {code}"]
        self.full_values.add(name)
        return lines

    def render(self) -> tuple[str, str, set[str]]:
        """(the module-level source of the kernel and its caller, the call's code, the names it reads)."""
        body = []
        for st in self.group.statements:
            body += self.statement_lines(st)
        sources = [n for n, info in self.inputs.items() if info["source"]]
        if not sources:
            raise Unfusable("no input has the group's rows")
        source = sources[0]
        out_cols = {}
        for name in self.outputs:
            st = self.made[name]
            full = name in self.declared or name in self.sums or st.shape.core[1] != 1
            out_cols[name] = self.size(st.expr.shape[1] if full else 1, prefix="")
        settings = sorted(self.settings)
        choice_configs = sorted(self.choice_configs)
        inputs = list(self.inputs)
        kernel_args = [f"a_{n}" for n in inputs] + [f"o_{n}" for n in self.outputs] + [
            f"n_{s}" for s in settings] + [f"c_{c}" for c in choice_configs]
        lines = ["@_kernel",
                 f"def {self.name}_rows({', '.join(kernel_args)}):",
                 f'    """{", ".join(st.target for st in self.group.statements)}: row by row."""',
                 f"    T = a_{source}.dtype.type"]
        lines += [f"    t_{s} = T(n_{s})" for s in settings]
        lines += [f"    {c}" for c in self.constants]
        lines += [f"    {b} = np.empty({n}, a_{source}.dtype)" for b, n in self.buffers]
        lines += [f"    for r in range(a_{source}.shape[0]):"]
        lines += [f"        {line}" for line in self.row_prologue]
        lines += [f"        {line}" for line in body]
        # the caller: the arrays as rows, the outputs made
        call_args = inputs + settings + choice_configs
        caller = [f"def {self.name}({', '.join(call_args)}):",
                  f'    """{", ".join(self.outputs)}: one pass over the rows of {source} (``{self.name}_rows``)."""',
                  f"    lead = {source}.shape[:-1]"]
        for name in self.outputs:
            if name in self.sums:  # summed in float64, rounded once at the end
                caller.append(f"    o_{name} = np.zeros({out_cols[name]}, np.float64)")
                continue
            caller.append(f"    o_{name} = np.empty(lead + ({out_cols[name]},), {source}.dtype)")
        kernel_call = []
        for n in inputs:
            info = self.inputs[n]
            kernel_call.append(n if info["ndim"] == 1 else _as_rows(n))
        kernel_call += [f"o_{n}" if n in self.sums else _as_rows(f"o_{n}") for n in self.outputs]
        kernel_call += settings
        kernel_call += [f"{self.choices[c]!r}.index({c})" for c in choice_configs]
        caller.append(f"    _launch({self.name}_rows, {', '.join(kernel_call)})")
        caller.append("    return " + ", ".join(f"o_{n}.astype({source}.dtype)" if n in self.sums else f"o_{n}"
                                           for n in self.outputs))
        reads = set(inputs) | set(settings) | set(choice_configs)
        return "\n".join(lines) + "\n\n\n" + "\n".join(caller), f"{self.name}({', '.join(call_args)})", reads


def _as_rows(array: str) -> str:
    """``array`` (…, cols) as (rows, cols), the row count from its leading axes: ``reshape(-1, 0)``
    cannot tell how many rows an array of no columns has (first_rows(n_T − 1) at n_T = 1, transposed)."""
    return f"{array}.reshape(math.prod({array}.shape[:-1]), {array}.shape[-1])"
