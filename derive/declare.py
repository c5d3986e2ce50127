"""One home per primitive: a primitive declared once, everything about it side by side.

As JAX's ``lax.py`` registers a primitive's abstract evaluation, JVP, transpose and lowerings
together, ``define_primitive`` takes all of a primitive at once:

* ``shape(*operand_shapes, *params)``: the output's (rows, cols) from the operands' (its abstract
  evaluation; a ``ValueError`` it raises is the user's shape mismatch);
* ``vjp(G, *operands, *params)``: the cotangent of the operand (a tuple, one per operand, for
  several), built from primitives, this one included; its docstring's first line is the identity
  ``backprop show`` prints beside each step;
* ``reference(*tensors, *params)``: the value, computed with torch on tensors with leading batch
  axes (the authority the generated code is checked against, independent of the printers);
* ``numpy``, ``torch`` (and optionally ``numba``): the code of each backend, a format string over
  the operands' code then the parameters' (``"np.cumsum({0}, axis=-2)"``) or a callable returning
  code; the Numba target uses the NumPy lowering unless the declaration gives its own;
* ``notation`` (text for ``show``: a format string or a callable of the operands' text) and
  ``latex``; ``linear``: linear in each operand, from which the simplifier's zero and factor facts
  follow (``f(0) = 0``, ``f(c A) = c f(A)``); ``jvp(T, *operands, *params)``: the tangent of the
  output for the operand's tangent ``T`` (a tuple for several operands).

The engine's own primitives use the same call with what users rarely need: ``params`` (sizes,
counts and flags the node carries besides its operands; those named in ``sizes`` print as exact
integers, ``d // n_heads``, as does any integer one), ``requires`` (the size conditions the
generated forward checks), ``heads`` (the head count of the result, for primitives that change it),
``runtime`` (helper functions' source per backend, inlined into generated modules so they stay
standalone) and ``examples`` (operand shapes and parameters the declaration is checked at).  The
engine's references run on NumPy arrays too (where torch is not installed); one that needs what a
tensor's methods cannot say in both libraries (an exponential, a logarithm) takes the keyword-only
``xp``, the reference's operations of the library it runs on (``reference.arrays``).

Its signatures and format strings are checked when it is made; its rules before its first use (they
may name the constructor being declared, which exists only once ``define_primitive`` returns): the
shape rule against the reference's output, each backend's code against the reference's value, the
VJP (and JVP) against central differences of the reference at small random sizes
(``reference.declarations``, which the reference package installs: every command,
``compile_component`` and the validation gate load it).  A wrong rule is refused in one line naming
the primitive.
"""
from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import sympy as sp
from sympy import MatrixExpr

from .errors import DefinitionError, ShapeMismatch
from .primitives import Node


class DeclarationError(DefinitionError):
    """A primitive's declaration is malformed or its rules disagree with its reference."""


@dataclass(eq=False)
class Primitive:
    """Everything about one primitive (see the module docstring for each piece)."""

    name: str
    operands: tuple[str, ...]
    params: tuple[str, ...]
    shape: Callable
    vjp: Callable
    reference: Callable
    lowerings: dict[str, str | Callable]
    notation: str | Callable | None = None
    latex: str | Callable | None = None
    linear: bool = False
    jvp: Callable | None = None
    requires: Callable | None = None
    heads: Callable | None = None
    runtime: dict[str, dict[str, str]] = field(default_factory=dict)
    examples: tuple = ()
    builtin: bool = False
    sizes: tuple[str, ...] = ()
    node: type | None = None
    checked: bool = False
    checking: bool = False
    refusal: str | None = None

    @property
    def identity(self) -> str:
        """The first line of the VJP's docstring: the Frobenius-product identity it implements."""
        doc = (self.vjp.__doc__ or "").strip()
        return doc.splitlines()[0].rstrip(".") if doc else f"the declared vector-Jacobian product of {self.name}"

    def lowering(self, backend: str) -> str | Callable:
        """The code of ``backend`` (the Numba target falls back on NumPy's)."""
        if backend in self.lowerings:
            return self.lowerings[backend]
        if backend == "numba" and "numpy" in self.lowerings:
            return self.lowerings["numpy"]
        raise DeclarationError(f"{self.name}: no lowering for the {backend} backend")

    def runtime_for(self, backend: str) -> dict[str, str]:
        """Helper name → source the ``backend``'s code of this primitive calls."""
        if backend in self.runtime:
            return self.runtime[backend]
        return self.runtime.get("numpy", {}) if backend == "numba" and "numba" not in self.lowerings else {}

    def code(self, backend: str, operands: list[str], params: list[str], wrap: Callable[[str], str] = str) -> str:
        """The ``backend``'s code of the primitive applied to printed operands and parameters.  ``wrap``
        parenthesises a code that is not atomic: applied to every argument of a callable lowering, and
        in a format string wherever a placeholder is not a whole argument of a call (``f({0}, …)``)."""
        lowering = self.lowering(backend)
        values = list(operands) + list(params)
        if callable(lowering):
            return lowering(*map(wrap, values))
        return fill(lowering, values, wrap)

    def text(self, operands: list[str], params: list[str], wrap: Callable[[str], str] = str) -> str:
        """Its notation for ``show`` (``name(A, B)`` when the declaration gives none); ``wrap`` as for
        ``code``, for a format string (a callable notation gets the operands' text as it is)."""
        default = f"{self.name}({', '.join(operands)})"
        return _written(self.notation, default, operands, params, wrap)

    def latex_text(self, operands: list[str], params: list[str], wrap: Callable[[str], str] = str) -> str:
        """Its LaTeX, as ``text`` does its notation (``\\operatorname{name}(…)`` when there is none)."""
        name = self.name.replace("_", r"\_")
        default = rf"\operatorname{{{name}}}\left({', '.join(operands)}\right)"
        return _written(self.latex, default, operands, params, wrap)


def _written(form: str | Callable | None, default: str, operands: list[str], params: list[str],
             wrap: Callable[[str], str]) -> str:
    """A notation ``form`` applied to the operands' and parameters' text: ``default`` when there is none,
    a callable's result, or a format string filled (``fill``)."""
    if form is None:
        return default
    if callable(form):
        return form(*operands, *params)
    return fill(form, list(operands) + list(params), wrap)


#: A placeholder ``{i}`` (group 1), or a brace written twice.
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{(\d+)\}")


def fill(template: str, values: list[str], wrap: Callable[[str], str] = str) -> str:
    """``template`` with ``{i}`` replaced by ``values[i]``, wrapped by ``wrap`` unless it stands whole as an
    argument of a call or an index (``f({0}, …)``, ``A[:{1}]``); ``{{`` and ``}}`` are braces."""
    def one(match):
        if match.group(1) is None:
            return match.group(0)[0]
        i = int(match.group(1))
        before, after = template[:match.start()].rstrip(), template[match.end():].lstrip()
        whole_argument = before.endswith(("(", ",", "[", ":")) and after.startswith((")", ",", "]", ":"))
        return values[i] if whole_argument else wrap(values[i])

    return _PLACEHOLDER.sub(one, template)


class Declared(Node):
    """A node of a declared primitive: its operands, then its parameters; the shape from its rule."""

    primitive: Primitive

    @property
    def shape(self):
        """The declaration's shape rule on the operands' shapes (computed once per node)."""
        shape = self.__dict__.get("_shape")
        if shape is None:
            p = self.primitive
            shape = self.__dict__["_shape"] = tuple(p.shape(*(a.shape for a in self.operands), *self.params))
        return shape

    @property
    def operands(self) -> tuple[MatrixExpr, ...]:
        return self.args[: len(self.primitive.operands)]

    @property
    def params(self) -> tuple:
        return self.args[len(self.primitive.operands):]


#: Every declared primitive by name: the engine's and its users'.
PRIMITIVES: dict[str, Primitive] = {}

#: Called with each new declaration (``reference.declarations`` installs the numeric check).
_CHECKERS: list[Callable[[Primitive], None]] = []


def install_checker(check: Callable[[Primitive], None]) -> None:
    """Check every user's declaration with ``check`` before its first use."""
    if check not in _CHECKERS:
        _CHECKERS.append(check)


def ensure_checked(primitive: Primitive) -> None:
    """Run the installed checks on a user's declaration once, before it is first used (its rules may
    name the constructor being declared, which exists only once ``define_primitive`` has returned).
    The engine's own are checked by its tests, not at every start: ``tests/test_user_primitives.py``
    walks them all.  A refusal is kept: every later use repeats it."""
    if primitive.builtin or primitive.checked or primitive.checking:
        return
    if primitive.refusal is not None:
        raise DeclarationError(primitive.refusal)
    primitive.checking = True
    try:
        for check in _CHECKERS:
            check(primitive)
    except DeclarationError as e:
        primitive.refusal = str(e)
        if PRIMITIVES.get(primitive.name) is primitive:
            del PRIMITIVES[primitive.name]
        raise
    finally:
        primitive.checking = False
    primitive.checked = bool(_CHECKERS)


def sizes_differ(a, b) -> bool:
    """Whether two sizes may differ: not the same expression, and SymPy cannot prove them equal (for the
    shape rules and head counts of declarations)."""
    return a != b and sp.simplify(sp.sympify(a) - b) != 0


def primitive_of(node) -> Primitive | None:
    """The declaration of ``node``'s primitive, or None for SymPy's nodes and the sweep's own."""
    return getattr(type(node), "primitive", None) if isinstance(node, Declared) else None


def _class_name(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def _positional(fn: Callable, what: str, name: str) -> list[str]:
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        raise DeclarationError(f"{name}: {what} has no signature to read its operands from") from None
    if any(p.kind is p.VAR_POSITIONAL for p in parameters):
        raise DeclarationError(f"{name}: {what} must name each operand (no *args)")
    return [p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            and p.default is p.empty]


def _placeholders(lowering: str) -> set[int]:
    return {int(m) for m in _PLACEHOLDER.findall(lowering) if m}


def define_primitive(name: str, *, shape: Callable, vjp: Callable, reference: Callable,
                     numpy: str | Callable, torch: str | Callable, notation: str | Callable | None = None,
                     linear: bool = False, jvp: Callable | None = None, numba: str | Callable | None = None,
                     latex: str | Callable | None = None, params: tuple[str, ...] = (),
                     requires: Callable | None = None, heads: Callable | None = None,
                     runtime: dict[str, dict[str, str]] | None = None, examples: tuple = (),
                     sizes: tuple[str, ...] = (), builtin: bool = False) -> Callable[..., MatrixExpr]:
    """Declare the primitive ``name`` and return its constructor, used in components as the built-ins
    are: ``flip = define_primitive("flip_tokens", …)`` then ``c.let("R", flip(X))``.

    The operands are the reference's positional arguments less the ``params``; the constructor takes
    the operands (matrix expressions), then the parameters.  See the module docstring for each piece.
    """
    if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
        raise DeclarationError(f"primitive name {name!r} must be an identifier not starting with '_'")
    existing = PRIMITIVES.get(name)
    if existing is not None and existing.builtin:
        raise DeclarationError(f"{name}: a primitive of the engine has that name")
    for what, fn in (("shape", shape), ("vjp", vjp), ("reference", reference)):
        if not callable(fn):
            raise DeclarationError(f"{name}: {what} must be callable")
    arguments = _positional(reference, "reference", name)
    params = tuple(params)
    if len(arguments) <= len(params):
        raise DeclarationError(f"{name}: reference takes {len(arguments)} argument(s); it needs each operand "
                               f"then the parameters {params}")
    operands = tuple(arguments[: len(arguments) - len(params)])
    arity = len(operands) + len(params)
    for what, fn, extra in (("shape", shape, 0), ("vjp", vjp, 1), ("jvp", jvp, 1)):
        if fn is not None and len(_positional(fn, what, name)) != arity + extra:
            expected = ("G, " if what == "vjp" else "T, " if what == "jvp" else "") + ", ".join(operands + params)
            raise DeclarationError(f"{name}: {what} must take ({expected})")
    lowerings = {"numpy": numpy, "torch": torch} | ({"numba": numba} if numba is not None else {})
    for backend, lowering in lowerings.items():
        if isinstance(lowering, str):
            stray = sorted(i for i in _placeholders(lowering) if i >= arity)
            if stray:
                raise DeclarationError(f"{name}: the {backend} lowering uses {{{stray[0]}}} but the primitive "
                                       f"has {arity} operand(s) and parameter(s)")
        elif not callable(lowering):
            raise DeclarationError(f"{name}: the {backend} lowering must be a format string or a callable")
    primitive = Primitive(name, operands, params, shape, vjp, reference, lowerings, notation, latex, bool(linear),
                          jvp, requires, heads, dict(runtime or {}), tuple(examples), builtin, tuple(sizes))
    if set(primitive.sizes) - set(params):
        raise DeclarationError(f"{name}: sizes {sorted(set(primitive.sizes) - set(params))} are not among its params")
    primitive.node = type(_class_name(name), (Declared,), {
        "fields": operands + params, "primitive": primitive,
        "linear": operands if linear else (),
        "__doc__": (reference.__doc__ or f"The primitive {name}.").strip(),
        "__module__": getattr(reference, "__module__", __name__),
    })
    PRIMITIVES[name] = primitive

    def construct(*args: Any) -> MatrixExpr:
        if len(args) != arity:
            raise TypeError(f"{name} takes {', '.join(operands + params)}")
        ensure_checked(primitive)
        values = [sp.sympify(a) for a in args]
        for operand, value in zip(operands, values):
            if not isinstance(value, MatrixExpr):
                raise TypeError(f"{name}: operand {operand} must be a matrix expression, got {value!r}")
        node = primitive.node(*values)
        try:
            node.shape
        except (ValueError, TypeError, ArithmeticError) as e:
            shapes = ", ".join(f"({a.shape[0]}, {a.shape[1]})" for a in values[: len(operands)])
            raise ShapeMismatch(f"{name}: operands of shapes {shapes}: {e}") from None
        return node

    construct.__name__ = construct.__qualname__ = name
    construct.__doc__ = primitive.node.__doc__
    construct.primitive = primitive
    return construct
