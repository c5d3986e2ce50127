"""Writing a statement's result into an array that is no longer needed (``+=``, ``*=``).

``dX = da5 + dXc + (1/d) dmu 1ᵀ`` printed as one expression makes an array for ``da5 + dXc`` and
another for the sum; when ``dXc`` is read for the last time here and nothing else refers to its
array, the statement becomes::

    dX = dXc  # (..., n_T, d), dXc's array, updated in place
    dX += da5
    dX += 1/d * dmu

and makes none.  When no operand is free, the first fresh partial result of the statement's full
shape (a product, a sum) is the array the rest is added or multiplied into.  An entrywise function
applies in place too (``np.exp(T, out=T)``; ``T.exp_()`` in torch, which autograd can record), a
scalar function of the module multiplies itself into the array (``T = f(x, times=T)``, the chain
rule's Δ ∘ f'(x)), and a helper that updates its first argument when told it is fresh
(``_add_at_targets``) does so.

The arithmetic is the same, operation for operation: ``T = a; T op= b`` computes ``a op b``, and
an operand moves to the right only where the operation commutes (``+``, ``*``), which IEEE
arithmetic does exactly.  So the values are bit-for-bit those of the plain statement, except
where torch adds a product in one fused operation (``T.addcmul_(A, B, value=c)`` for
``T += c A ∘ B``, ``T.add_(A, alpha=c)``), which agrees within rounding.

An array is *free* at a statement when

* a statement of the same function made it with a fresh result at the top (an arithmetic
  operation, a product, a sum over an axis: never a view, a slice, an alias or a helper's result),
* every statement that reads it has a fresh result at the top (so no other name refers to it),
* it is read for the last time here, and nothing keeps it (the cache, the outputs).

Shapes come from the statements' shapes (``codegen.shapes``), by axis name; an operand whose shape this pass cannot tell
is never written into, and an update is made only when the other operand broadcasts to the
result's shape.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass

from derive.scalar_functions import unary_calls

SCALAR = ()  # the shape of a Python number

#: Calls whose result is always a new array of their own.
FRESH_CALLS = {"_rows_matmul", "torch.nn.functional.linear", "_row_dot", "_column_dot", "_scatter_add_rows",
               "_scatter_rows", "_gather_rows"}
#: Reductions over one axis that keep it (``keepdims``): the axis becomes 1.
_REDUCTIONS = {"sum"}
_UPDATES = {ast.Add: "+=", ast.Sub: "-=", ast.Mult: "*=", ast.Div: "/="}
#: Entrywise functions that can write their result over their argument (``np.exp(T, out=T)``, ``T.exp_()``).
UNARY = unary_calls()  # derive.scalar_functions, the one table
#: Helpers that update their first argument in place when told it is ``fresh``.
UPDATING_HELPERS = {"_add_at_targets", "_softmax"}
_COMMUTES = (ast.Add, ast.Mult)


def broadcast(a: tuple | None, b: tuple | None) -> tuple | None:
    """The shape of an elementwise operation on ``a`` and ``b``; None when it cannot be told."""
    if a is None or b is None:
        return None
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else None
        y = b[-i] if i <= len(b) else None
        if x is None or x == y or y == "1":
            out.append(y if x is None else x)
        elif y is None or x == "1":
            out.append(x if y is None else y)
        else:
            return None
    return tuple(reversed(out))


def _swap(shape):
    return None if shape is None or len(shape) < 2 else shape[:-2] + (shape[-1], shape[-2])


def _keyword(call: ast.Call, *names):
    return next((k.value for k in call.keywords if k.arg in names), None)


class Shapes:
    """The shape of a printed expression, from the shapes of the arrays it names."""

    def __init__(self, arrays: dict[str, tuple], scalars: set[str], entrywise: set[str] = frozenset()):
        self.arrays, self.scalars, self.entrywise = arrays, scalars, entrywise  # entrywise: functions' names

    def of(self, node: ast.AST) -> tuple | None:
        if isinstance(node, ast.Constant):
            return SCALAR if isinstance(node.value, (int, float)) else None
        if isinstance(node, ast.Name):
            return self.arrays.get(node.id, SCALAR if node.id in self.scalars else None)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            return self.of(node.operand)
        if isinstance(node, ast.BinOp):
            left, right = self.of(node.left), self.of(node.right)
            if isinstance(node.op, ast.MatMult):
                if not left or not right or len(left) < 2 or len(right) < 2:
                    return None
                batch = broadcast(left[:-2], right[:-2])
                return None if batch is None else batch + (left[-2], right[-1])
            if isinstance(node.op, ast.Pow):
                return left if right == SCALAR else None
            return broadcast(left, right)
        if isinstance(node, ast.Attribute) and node.attr in ("mT", "T"):
            return _swap(self.of(node.value))
        if isinstance(node, ast.Call):
            return self._call(node)
        return None

    def _call(self, node: ast.Call) -> tuple | None:
        name = ast.unparse(node.func)
        table = node.func.value if isinstance(node.func, ast.Subscript) else node.func  # _TABLE[choice](x)
        if (isinstance(table, ast.Name) and table.id in self.entrywise or name in UNARY) and len(node.args) == 1:
            return self.of(node.args[0])
        if name == "_row_dot" and len(node.args) == 2:
            rows = self.of(node.args[0])
            return None if not rows else rows[:-1] + ("1",)
        if name == "_rows_matmul" and len(node.args) == 2:
            rows, weight = self.of(node.args[0]), self.of(node.args[1])
            return None if not rows or not weight else rows[:-1] + (weight[-1],)
        if name == "torch.nn.functional.linear" and len(node.args) >= 2:
            rows, weight = self.of(node.args[0]), self.of(node.args[1])
            return None if not rows or not weight else rows[:-1] + (weight[-2],)
        if name == "math.sqrt":
            return SCALAR if self.of(node.args[0]) == SCALAR else None
        if isinstance(node.func, ast.Attribute) and node.func.attr == "swapaxes":
            axes = [ast.unparse(a) for a in node.args]
            return _swap(self.of(node.func.value)) if sorted(axes) == ["-1", "-2"] else None
        if isinstance(node.func, ast.Attribute) and node.func.attr in _REDUCTIONS:
            shape = self.of(node.func.value)
            axis = node.args[0] if node.args else _keyword(node, "axis", "dim")
            keep = _keyword(node, "keepdims", "keepdim")
            if shape is None or axis is None or not (isinstance(keep, ast.Constant) and keep.value is True):
                return None
            try:
                k = int(ast.literal_eval(axis))
            except ValueError:
                return None
            if k >= 0 or -k > len(shape):
                return None
            return shape[:k] + ("1",) + (shape[k + 1:] if k != -1 else ())
        return None


def makes_fresh_array(node: ast.AST) -> bool:
    """True when evaluating ``node`` returns a new array that nothing else refers to."""
    if isinstance(node, ast.BinOp):
        return True
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return True
    if isinstance(node, ast.Call):
        name = ast.unparse(node.func)
        reduction = isinstance(node.func, ast.Attribute) and node.func.attr in _REDUCTIONS
        return name in FRESH_CALLS | UNARY | UPDATING_HELPERS or reduction
    return False


@dataclass
class Update:
    """``target = start`` followed by one line per step, ``{T}`` standing for the target."""

    start: str
    start_name: str | None  # the free array the result is written into, if one is
    steps: list[tuple[str, str | None]]  # (line, the operand it reads besides the target)


def _names(node: ast.AST) -> list[str]:
    return [n.id for n in ast.walk(node) if isinstance(n, ast.Name)]


class Rewriter:
    """Plans the updates of one statement: ``code``'s result, of shape ``shape``."""

    def __init__(self, code: str, shape: tuple, free: set[str], shapes: Shapes, fused_updates: bool = False):
        self.code, self.shape, self.free, self.shapes = code, shape, free, shapes
        self.fused_updates = fused_updates  # torch's addcmul_ and add_(alpha=) for T += c A ∘ B

    def _text(self, node) -> str:
        return ast.get_source_segment(self.code, node)

    def plan(self, node) -> Update | None:
        """The way to compute ``node`` (of the statement's shape) that makes the fewest arrays."""
        return max(self.options(node), key=_saved, default=None)

    def options(self, node) -> list[Update]:
        """Every way to compute ``node`` into one array: a free array or a fresh partial result,
        then updates in place."""
        if isinstance(node, ast.Name):
            free = node.id in self.free and self.shapes.of(node) == self.shape
            return [Update(node.id, node.id, [])] if free else []
        if self.shapes.of(node) != self.shape:
            return []
        found = [Update(self._text(node), None, [])] if makes_fresh_array(node) else []
        if isinstance(node, ast.BinOp) and type(node.op) in _UPDATES:
            sides = [(node.left, node.right)]
            if isinstance(node.op, _COMMUTES):
                sides.append((node.right, node.left))
            for into, operand in sides:
                if broadcast(self.shape, self.shapes.of(operand)) != self.shape:
                    continue
                text, line = self._text(operand), f"{{T}} {_UPDATES[type(node.op)]} {self._text(operand)}"
                if isinstance(node.op, ast.Mult) and self._entrywise_call(operand):
                    line = f"{{T}} = {text[:-1]}, times={{T}})"  # f(x) multiplies itself into T: Δ ∘ f'(x)
                elif isinstance(node.op, (ast.Add, ast.Sub)) and self.fused_updates:
                    line = self._fused_update(operand, isinstance(node.op, ast.Sub)) or line
                for inner in self.options(into):
                    found += self._then(inner, (line, text))
        if isinstance(node, ast.Call) and ast.unparse(node.func) in UNARY and len(node.args) == 1 \
                and not node.keywords:
            module, fn = ast.unparse(node.func).split(".")
            # torch: the method form, which autograd can record (an ``out=`` call it refuses)
            line = f"{{T}}.{fn}_()" if module == "torch" else f"{module}.{fn}({{T}}, out={{T}})"
            for inner in self.options(node.args[0]):
                found += self._then(inner, (line, None))
        return found

    def _fused_update(self, operand, subtract: bool) -> str | None:
        """torch: ``T += c (A ∘ B)`` as ``T.addcmul_(A, B, value=c)`` and ``T += c A`` as
        ``T.add_(A, alpha=c)``: one pass, no array for the product (within rounding: torch may
        fuse the multiplication and the addition)."""
        scale, rest = self._split_scalar(operand)
        if scale is None and not (isinstance(rest, ast.BinOp) and isinstance(rest.op, ast.Mult)):
            return None
        value = scale or "1"
        if subtract:
            value = f"-{value}" if _atomic(value) else f"-({value})"
        factors = self._split_scalar(rest)[1] if scale is None else rest
        if isinstance(factors, ast.BinOp) and isinstance(factors.op, ast.Mult) and not any(
                self.shapes.of(f) in (SCALAR, None) for f in (factors.left, factors.right)):
            extra = "" if value == "1" else f", value={value}"
            return f"{{T}}.addcmul_({self._text(factors.left)}, {self._text(factors.right)}{extra})"
        if scale is None or self.shapes.of(rest) in (SCALAR, None):
            return None
        return f"{{T}}.add_({self._text(rest)}, alpha={value})"

    def _split_scalar(self, node):
        """(the scalar factor's code or None, the rest) of ``c * E`` or ``E * c``."""
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
            if self.shapes.of(node.left) == SCALAR and self.shapes.of(node.right) not in (SCALAR, None):
                return self._text(node.left), node.right
            if self.shapes.of(node.right) == SCALAR and self.shapes.of(node.left) not in (SCALAR, None):
                return self._text(node.right), node.left
        return None, node

    def _entrywise_call(self, node) -> bool:
        """``f(x)`` or ``_TABLE[choice](x)`` for a scalar function of the module (which takes ``times``)."""
        if not (isinstance(node, ast.Call) and len(node.args) == 1 and not node.keywords):
            return False
        table = node.func.value if isinstance(node.func, ast.Subscript) else node.func
        return isinstance(table, ast.Name) and table.id in self.shapes.entrywise

    @staticmethod
    def _then(inner: Update, step) -> list[Update]:
        """``inner`` followed by ``step``, unless the free array it starts from is read after it
        has been written over (the first step may read it: its operand is computed first)."""
        candidate = Update(inner.start, inner.start_name, inner.steps + [step])
        later = [o for _, o in candidate.steps[1:] if o is not None]
        if candidate.start_name is not None and any(
                candidate.start_name in _names(ast.parse(o, mode="eval")) for o in later):
            return []
        return [candidate]


def _saved(update: Update) -> int:
    """Arrays not made: one per update, and one more when the first value is a free array."""
    return len(update.steps) + (update.start_name is not None)


def _atomic(code: str) -> bool:
    node = ast.parse(code, mode="eval").body
    return isinstance(node, (ast.Name, ast.Constant, ast.Call, ast.Attribute))


def overwrite_free_arrays(statements, keep: set[str], arrays: dict[str, tuple], scalars: set[str],
                          entrywise: set[str] = frozenset(), fused_updates: bool = False) -> list[str]:
    """Rewrite ``statements`` (one function's, printed, with ``release`` set) to update arrays in
    place where the module docstring says it is safe; returns the names of the rewritten targets.
    ``arrays``: the shapes of the arrays the statements read besides their own targets;
    ``scalars``: the names of numbers (sizes, settings); ``entrywise``: the names of the scalar
    functions and of their choice tables, whose result has their argument's shape; ``fused_updates``:
    torch's fused multiply-adds (``addcmul_``, ``add_(alpha=)``) for an update that adds a product.
    """
    trees = {}
    for st in statements:
        try:
            trees[st.target] = ast.parse(st.code, mode="eval").body
        except SyntaxError:
            trees[st.target] = None
    shapes = Shapes(dict(arrays), scalars, entrywise)
    for st in statements:
        if st.shape is not None:
            shapes.arrays[st.target] = st.shape.axes()
    private = {st.target for st in statements if trees[st.target] is not None and makes_fresh_array(trees[st.target])}
    for st in statements:
        tree = trees[st.target]
        if tree is None or not makes_fresh_array(tree):
            private -= set(st.reads)  # an alias, a view or a helper's result may refer to these arrays
    private -= keep
    rewritten = []
    for st in statements:
        tree, shape = trees[st.target], shapes.arrays.get(st.target)
        if tree is None or not shape:
            continue
        free = private & set(st.release)
        rewriter = Rewriter(st.code, shape, free, shapes, fused_updates)
        helper = isinstance(tree, ast.Call) and ast.unparse(tree.func) in UPDATING_HELPERS and tree.args
        update = rewriter.plan(tree.args[0] if helper else tree)
        if update is None or not (update.steps or (helper and update.start_name)):
            continue
        st.code, st.updates = update.start, [line.replace("{T}", st.target) for line, _ in update.steps]
        if helper:  # the helper's own update, into the array made above (or the free one it is given)
            rest = [rewriter._text(a) for a in tree.args[1:]] + [
                f"{k.arg}={rewriter._text(k.value)}" for k in tree.keywords if k.arg != "fresh"] + ["fresh=True"]
            first = st.target if update.steps else update.start
            call = f"{ast.unparse(tree.func)}({', '.join([first] + rest)})"
            if update.steps:
                st.updates.append(f"{st.target} = {call}")
            else:
                st.code = call
        if helper and not update.steps:
            st.shape_note = f", {update.start_name}'s array given to be written over"
        else:
            st.shape_note = f", {update.start_name}'s array, updated in place" if update.start_name else \
                ", updated in place"
        rewritten.append(st.target)
    return rewritten
