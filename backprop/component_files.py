"""Components from a user's file: ``FILE.py`` (every ``build*`` function) or ``FILE.py:FUNC``.

A component file is plain Python that imports ``derive`` and defines top-level
functions whose names start with ``build`` and which return a ``Component``,
as the built-ins do.  Every problem (a missing file, a syntax error, no build
function, a shape mismatch, a primitive without a rule) is one
``ComponentFileError`` line naming the file, the function and what is wrong.
"""
from __future__ import annotations

import hashlib
import importlib.util
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path

from derive.api import Component
from derive.reverse import Derivation, derive


class ComponentFileError(ValueError):
    """A component file that cannot be loaded, built or derived, said in one line."""


@dataclass
class FileComponent:
    """One component built by one function of a file."""

    path: Path
    function: str
    component: Component

    @property
    def where(self) -> str:
        return f"{self.path.as_posix()}:{self.function}"

    def derive(self) -> Derivation:
        """The derivation, with any failure (a primitive without a rule…) as one line."""
        try:
            return derive(self.component)
        except Exception as e:  # noqa: BLE001 - every failure is reported, in one line
            raise ComponentFileError(f"{self.where}: {_one_line(e)}") from None


def is_component_file(spec: str) -> bool:
    """Does a command-line name point at a file (``x.py`` or ``x.py:build_y``)?"""
    return spec.endswith(".py") or ".py:" in spec


def split_spec(spec: str) -> tuple[Path, str | None]:
    if ".py:" in spec:
        path, _, function = spec.rpartition(".py:")
        return Path(path + ".py"), function
    return Path(spec), None


def load(spec: str) -> list[FileComponent]:
    """Every component ``spec`` selects, in the order the file defines its functions."""
    path, wanted = split_spec(spec)
    if not path.exists():
        raise ComponentFileError(f"{path.as_posix()}: no such file")
    if not path.is_file():
        raise ComponentFileError(f"{path.as_posix()}: not a file")
    module = _import(path)
    builders = [name for name, obj in vars(module).items()
                if name.startswith("build") and inspect.isfunction(obj) and obj.__module__ == module.__name__]
    if not builders:
        raise ComponentFileError(f"{path.as_posix()}: no top-level function whose name starts with 'build'")
    if wanted is not None:
        if wanted not in builders:
            raise ComponentFileError(f"{path.as_posix()}: no build function {wanted!r}; "
                                     f"the file has: {', '.join(builders)}")
        builders = [wanted]
    loaded, names = [], {}
    for name in builders:
        where = f"{path.as_posix()}:{name}"
        try:
            component = getattr(module, name)()
        except Exception as e:  # noqa: BLE001 - a definition error, whatever its type, is one line
            raise ComponentFileError(f"{where}: {_one_line(e)}") from None
        if not isinstance(component, Component):
            raise ComponentFileError(f"{where}: returned {type(component).__name__}, not a derive.Component")
        try:
            component.validate()
        except ValueError as e:
            raise ComponentFileError(f"{where}: {_one_line(e)}") from None
        if component.name in names:
            raise ComponentFileError(f"{where}: component name {component.name!r} is also built by "
                                     f"{names[component.name]}")
        names[component.name] = name
        loaded.append(FileComponent(path, name, component))
    return loaded


def _import(path: Path):
    """Run the file as a module of its own (a name of its own, so two files never clash)."""
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    name = f"_backprop_component_file_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        sys.modules.pop(name, None)
        raise ComponentFileError(f"{path.as_posix()}: line {e.lineno}: syntax error: {e.msg}") from None
    except Exception as e:  # noqa: BLE001
        sys.modules.pop(name, None)
        line = _line_in(e, path)
        raise ComponentFileError(f"{path.as_posix()}{line}: {_one_line(e)}") from None
    return module


def _line_in(error: BaseException, path: Path) -> str:
    """``: line N`` of the innermost frame of ``error`` that runs in ``path``, if any."""
    tb, line = error.__traceback__, ""
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename).resolve() == path.resolve():
            line = f": line {tb.tb_lineno}"
        tb = tb.tb_next
    return line


def _one_line(error: BaseException) -> str:
    text = str(error).strip()
    if isinstance(error, KeyError) and text.startswith("'"):
        text = f"unknown name {text}"
    first = text.splitlines()[0] if text else ""
    kind = type(error).__name__
    return f"{kind}: {first}" if first else kind
