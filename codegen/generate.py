"""Writing generated/: every component, every backend, byte-deterministic."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from derive.components import NAMES, build
from derive.reverse import derive

from .atomic import write_bytes
from .lower import lower
from .render import BACKENDS, render_llama, render_model, render_plan
from .validate import validated

PACKAGE_DOC = {None: "Generated backward code: output of ``backprop generate``, never edited by hand."} | {
    name: backend.package_doc for name, backend in BACKENDS.items()}
HEADER = "# GENERATED FILE: DO NOT EDIT. Regenerate with: backprop generate\n"


@dataclass(frozen=True)
class Output:
    path: Path  # relative to the folder that holds generated/
    text: str
    component: str | None = None
    gradients: tuple[str, ...] = ()


def targets(choice: str) -> list[str]:
    if choice == "all":
        return sorted(BACKENDS)
    if choice not in BACKENDS:
        raise ValueError(f"unknown target {choice!r}; known: {', '.join(sorted(BACKENDS))}, all")
    return [choice]


def outputs(target_choice: str = "all", names: tuple[str, ...] = NAMES, progress=None) -> list[Output]:
    """Every file that ``backprop generate`` writes, in a fixed order; each component's module
    validated against the reference semantics first (``codegen.validate``)."""
    files = [Output(Path("generated/__init__.py"), f'{HEADER}"""{PACKAGE_DOC[None]}"""\n')]
    plans = []
    for name in names:
        if progress:
            progress(f"deriving {name}")
        plans.append(lower(derive(build(name))))
    for target in targets(target_choice):
        files.append(Output(Path(f"generated/{target}/__init__.py"), f'{HEADER}"""{PACKAGE_DOC[target]}"""\n'))
        for plan in plans:
            text = validated(plan.component, render_plan(plan, BACKENDS[target]), target)
            grads = tuple(n for n, _ in plan.gradients)
            files.append(Output(Path(f"generated/{target}/{plan.component.name}.py"), text,
                                plan.component.name, grads))
        if progress:
            progress(f"deriving gpt2 ({target})")
        files.append(Output(Path(f"generated/{target}/gpt2.py"), render_model(target), "gpt2",
                            ("every parameter",)))
        if progress:
            progress(f"deriving llama ({target})")
        files.append(Output(Path(f"generated/{target}/llama.py"), render_llama(target), "llama",
                            ("every parameter",)))
    return files


def component_outputs(plans, source: str, regenerate: str, target_choice: str = "all") -> list[Output]:
    """The files of a package of components defined outside the built-ins, relative to its folder:
    ``__init__.py``, ``<target>/__init__.py`` and ``<target>/<name>.py``."""
    doc = f"Backward code generated from {source} by ``{regenerate}``, never edited by hand."
    from .render import comment_text

    header = f"{GENERATED_MARK.decode()} Regenerate with: {comment_text(regenerate)}\n"
    files = [Output(Path("__init__.py"), f'{header}{_docstring(doc)}\n')]
    for target in targets(target_choice):
        files.append(Output(Path(f"{target}/__init__.py"), f'{header}"""{PACKAGE_DOC[target]}"""\n'))
        for plan in plans:
            text = validated(plan.component, render_plan(plan, BACKENDS[target], source=source,
                                                         regenerate=regenerate), target)
            files.append(Output(Path(f"{target}/{plan.component.name}.py"), text, plan.component.name,
                                tuple(n for n, _ in plan.gradients)))
    return files


def _docstring(text: str) -> str:
    """``text`` as a Python docstring literal, whatever characters a user's path holds."""
    from .render import docstring_text

    return f'"""{docstring_text(text)}"""'


def _refuse_blocked(root: Path, files: list[Output]) -> None:
    """Refuse, before anything is written, an output whose folder or name is taken by something else
    (a file where a folder must go, a folder where a file must go)."""
    for out in files:
        path = root / out.path
        for folder in [root, *(root / p for p in reversed(out.path.parents[:-1]))]:
            if folder.exists() and not folder.is_dir():
                raise ValueError(f"{folder} is a file where `backprop generate` needs a folder; move it away or "
                                 "choose another --out")
        if path.is_dir():
            raise ValueError(f"{path} is a folder where `backprop generate` writes a file; move it away")


def write_outputs(root: Path, files: list[Output], check: bool = False, command: str = "backprop generate",
                  force: bool = False) -> list["FileStatus"]:
    """Write each file under ``root`` whose bytes differ (atomically), or with ``check`` only compare.

    A package ``__init__.py`` that is there already and was not written by ``command`` (by
    hand, or by another ``backprop generate``) is kept as it is, unless ``force``: any
    ``__init__.py`` makes the folder a package.
    """
    if not check:
        _refuse_blocked(root, files)
    report = []
    for out in files:
        path = root / out.path
        current = path.read_bytes() if path.is_file() else None
        if current == out.text.encode():
            report.append(FileStatus(out, "unchanged"))
        elif current is not None and path.name == "__init__.py" and not force \
                and not same_command(owner(path), command):
            report.append(FileStatus(out, "kept"))
        elif check:
            report.append(FileStatus(out, "missing" if current is None else "stale"))
        else:
            write_bytes(path, out.text.encode())
            report.append(FileStatus(out, "written"))
    return report


@dataclass
class FileStatus:
    output: Output
    status: str  # "written" | "unchanged" | "kept" | "stale" | "missing" | "stray" | "removed"


GENERATED_MARK = b"# GENERATED FILE: DO NOT EDIT."
_REGENERATE = re.compile(rb"Regenerate with: (?P<command>[^\n]*)")


def owner(path: Path) -> str | None:
    """The command a generated file says rewrites it (its ``Regenerate with:`` line), or None for a
    file that does not say it was generated."""
    try:
        with open(path, "rb") as f:
            head = f.read(2048)
    except OSError:
        return None
    if not head.startswith(GENERATED_MARK):
        return None
    found = _REGENERATE.search(b"\n".join(head.split(b"\n")[:5]))
    return found["command"].decode("utf-8", errors="replace").strip() if found else None


def same_command(a: str | None, b: str) -> bool:
    """Whether two ``backprop generate`` commands write the same files (they may differ in --target)."""
    strip = lambda c: " ".join(re.sub(r"\s--target\s+\S+", "", c).split())  # noqa: E731
    return a is not None and strip(a) == strip(b)


def generate(root: Path, target_choice: str = "all", check: bool = False, progress=None) -> list[FileStatus]:
    """Write (or, with ``check``, only compare) every generated file under ``root``.

    Files are compared byte for byte, so a truncated file or one that is not
    UTF-8 is stale and gets rewritten (atomically).  Files in the generated
    folders that the engine does not write are reported as stray; a stray file
    that this same command wrote (a built-in since removed: its header says
    ``Regenerate with: backprop generate``) is deleted when writing; any other,
    a user's own or one generated from a component file, is left alone.
    """
    files = outputs(target_choice, progress=progress)
    report = write_outputs(root, files, check)
    for path in stray_files(root, {out.path for out in files}, targets(target_choice)):
        output = Output(path.relative_to(root), "")
        if not check and same_command(owner(path), "backprop generate"):
            path.unlink()
            report.append(FileStatus(output, "removed"))
        else:
            report.append(FileStatus(output, "stray"))
    return report


def stray_files(root: Path, expected: set[Path], chosen: list[str]) -> list[Path]:
    """Files in generated/ and generated/<target>/ that ``backprop generate`` does not write."""
    folders = [root / "generated"] + [root / "generated" / t for t in chosen]
    found = []
    for folder in folders:
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                if path.is_file() and not path.name.startswith(".") and path.relative_to(root) not in expected:
                    found.append(path)
    return found
