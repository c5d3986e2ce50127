"""The ``backprop`` command: list, show, generate, check, report, train, merge.

``list``, ``show``, ``generate``, ``check`` and ``report`` take built-in component names or a
component file (``FILE.py``, every ``build*`` function in it, or ``FILE.py:FUNC``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from codegen.backends import BACKENDS
from derive.components import MODELS, NAMES, UnknownComponent, build
from derive.derivation import render
from derive.reverse import derive

ROOT = Path(__file__).resolve().parent.parent
TARGETS = (*BACKENDS, "all")  # the backends' registry, codegen/backends.py
TARGETS_HELP = f"{', '.join(BACKENDS)} or all (default: all)"


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def _or_exit(errors, fn, *args):
    """``fn(*args)``; an error of the types ``errors`` is one line on stderr and exit status 2."""
    try:
        return fn(*args)
    except errors as e:
        print(f"backprop: {e}", file=sys.stderr)
        raise SystemExit(2)


def _component(name: str):
    return _or_exit(UnknownComponent, build, name)


def _file_components(spec: str):
    """The components of a component file, or one error line and exit status 2."""
    from .component_files import ComponentFileError, load

    return _or_exit(ComponentFileError, load, spec)


def _derive(file_component):
    from .component_files import ComponentFileError

    return _or_exit(ComponentFileError, file_component.derive)


def is_file(spec) -> bool:
    from .component_files import is_component_file

    return spec is not None and is_component_file(spec)


def _file_argument(args) -> bool:
    """A positional FILE that is not a component file is refused (``generate linear``, ``list mlp``)."""
    if args.file is not None and not is_file(args.file):
        print(f"backprop: {args.command} takes a component file FILE.py[:FUNC], not {args.file!r} "
              f"(the built-ins need no argument)", file=sys.stderr)
        return False
    return True


def cmd_list(args) -> int:
    if not _file_argument(args):
        return 2
    rows = []
    components = [fc.component for fc in _file_components(args.file)] if args.file else [build(n) for n in NAMES]
    for c in components:
        name = c.name
        shape = lambda a: "(" + ", ".join((["..."] if a.batched else []) + [str(d) for d in a.dims]) + (  # noqa
            ",)" if len(a.dims) == 1 and not a.batched else ")")
        rows.append([
            name,
            ", ".join(f"{a.name} {shape(a)}" for a in c.inputs),
            ", ".join(f"{a.name} {shape(a)}" + (" frozen" if a.frozen else "") for a in c.params),
            ", ".join(a.keyword() for a in c.configs) or "—",
        ])
    print(_table(rows, ["component", "inputs", "parameters", "configuration"]))
    return 0


def cmd_show(args) -> int:
    from derive.components import MODELS, build_model

    if is_file(args.name):
        derivations = [_derive(fc) for fc in _file_components(args.name)]
    else:
        component = build_model(args.name) if args.name in MODELS else _component(args.name)
        derivations = [derive(component)]
    if args.jvp:
        from derive.forward_mode import NoForwardMode, linearise, render_forward_mode

        if args.latex or args.plan or args.closed:
            print("backprop show: --jvp prints the forward mode as text; it does not combine with --latex, "
                  "--plan or --closed", file=sys.stderr)
            return 2
        try:
            print("\n".join(render_forward_mode(linearise(d.component)) for d in derivations), end="")
        except NoForwardMode as e:
            print(f"backprop show: {e}", file=sys.stderr)
            return 2
        return 0
    if args.plan:
        from codegen.lower import lower
        from codegen.render import describe

        print("\n".join(describe(lower(d)) for d in derivations), end="")
        return 0
    if args.latex:
        from derive.latex_document import render_latex

        print("\n".join(render_latex(d, closed=args.closed) for d in derivations), end="")
        return 0
    print("\n".join(render(d, closed=args.closed) for d in derivations), end="")
    return 0


def cmd_generate(args) -> int:
    from codegen.generate import generate

    if not _file_argument(args):
        return 2
    if args.file:
        return _generate_file(args)
    root = Path(args.out) if args.out else ROOT
    progress = (lambda msg: print(f"  {msg}…", file=sys.stderr)) if not args.quiet else None
    report = generate(root, args.target, check=args.check, progress=progress)  # a ValueError: one line, exit 2
    return _report_files(report, Path(), "generated/", args.check, "backprop generate")


def _report_files(report, base: Path, label: str, check: bool, command: str) -> int:
    """The table of generated files and their status; with ``check``, each stale, missing or stray file
    in one line and exit 1, else the counts."""
    rows = [[s.output.component or "(package)",
             s.output.path.parent.name if s.output.path.parent.name in TARGETS else "",
             ", ".join(s.output.gradients), str(base / s.output.path), s.status] for s in report]
    print(_table(rows, ["component", "target", "gradients", "file", "status"]))
    bad = [s for s in report if s.status in ("stale", "missing", "stray")]
    if check:
        if bad:
            for s in bad:
                what = f"not written by `{command}` (stray)" if s.status == "stray" else s.status
                print(f"backprop: {base / s.output.path} is {what}", file=sys.stderr)
            print(f"backprop: {label} is out of date; run `{command}`"
                  + (" and remove the stray files" if any(s.status == "stray" for s in bad) else ""),
                  file=sys.stderr)
            return 1
        print(f"{label} is up to date ({len(report)} files)")
        return 0
    counts = {k: sum(s.status == k for s in report) for k in ("written", "unchanged", "kept", "removed", "stray")}
    print(", ".join(f"{n} {k}" for k, n in counts.items() if n or k in ("written", "unchanged")))
    for s in report:
        if s.status == "stray":
            print(f"backprop: {base / s.output.path} was not written by `{command}`; left alone", file=sys.stderr)
        elif s.status == "kept":
            print(f"backprop: {base / s.output.path} was not written by `{command}`; kept as it is (it makes the "
                  "folder a package all the same)", file=sys.stderr)
    return 0


def _generate_file(args) -> int:
    """``generate FILE --out DIR``: DIR/<target>/<name>.py for each component of the file."""
    from codegen.generate import component_outputs, write_outputs
    from codegen.lower import lower

    if not args.out:
        print("backprop: generate FILE needs --out DIR (the package folder to write)", file=sys.stderr)
        return 2
    loaded = _file_components(args.file)
    plans = [lower(_derive(fc)) for fc in loaded]
    source = _spelling(loaded[0].path)
    function = args.file.rpartition(".py:")[2] if ".py:" in args.file else ""
    command = f"backprop generate {source}{':' + function if function else ''} --out {_spelling(args.out)}" + (
        f" --target {args.target}" if args.target != "all" else "")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        print(f"backprop: --out {args.out}: is a file, not a folder", file=sys.stderr)
        return 2
    from codegen.generate import owner, same_command
    from codegen.render import GenerationError

    try:
        files = component_outputs(plans, source, command, args.target)
    except GenerationError as e:
        print(f"backprop: {source}: {e}", file=sys.stderr)
        return 2
    if not args.check and not args.force:
        for f in files:
            path = out / f.path
            written_by = owner(path) if path.is_file() and path.name != "__init__.py" else command
            if not same_command(written_by, command):
                by = f"was written by `{written_by}`" if written_by else "was not written by `backprop generate`"
                print(f"backprop: {path} exists and {by}; choose another --out or pass --force to overwrite it",
                      file=sys.stderr)
                return 2
    report = write_outputs(out, files, check=args.check, command=command, force=args.force)
    return _report_files(report, out, args.out, args.check, command)


def _spelling(path) -> str:
    """A path as a header records it: relative to the current folder and normalised, so ``x.py``,
    ``./x.py`` and an absolute spelling of the same file give the same generated bytes."""
    import os

    return Path(os.path.relpath(os.path.abspath(path))).as_posix()


def _check_file(args) -> int:
    """``check FILE``: each component against the reference semantics, autograd of its generated Torch
    forward and finite differences; one line per component, a failure of any kind one row."""
    from .verify import check_any_component, differential_check, dimension_names

    loaded = _file_components(args.name)
    known = {n for fc in loaded for n in dimension_names(fc.component)}
    unknown = sorted(set(args.size) - known)
    if unknown:
        print(f"backprop: --size {', '.join(unknown)}: no component of {args.name} has such a dimension "
              f"(they have {', '.join(sorted(known)) or 'none'})", file=sys.stderr)
        return 2
    rows, failed = [], False
    for fc in loaded:
        row = [fc.component.name, fc.function, "0", "-", "-", "-"]
        try:
            _derive(fc)
            sizes = {k: v for k, v in args.size.items() if k in dimension_names(fc.component)}
            result = check_any_component(fc.component, seed=args.seed, trials=args.trials, sizes=sizes)
            reference = differential_check(fc.component, seed=args.seed, trials=args.trials, tol=args.tol,
                                           sizes=sizes)
        except Exception as e:  # noqa: BLE001 - every failure is a row of its own, never a traceback
            failed = True
            rows.append(row + [f"FAIL: {_one_line(e)}"])
            continue
        ok = (result.cases > 0 and result.autograd <= args.tol and result.finite_differences <= FD_TOLERANCE
              and reference.outcome == "right")
        failed |= not ok
        status = "ok" if ok else ("FAIL" if result.cases else "FAIL (no sizes meet the requirements)")
        if reference.outcome != "right":
            status = f"FAIL against the reference semantics: {reference.outcome}: {reference.detail}"
        rows.append([fc.component.name, fc.function, str(result.cases), f"{reference.worst:.2e}",
                     f"{result.autograd:.2e}", f"{result.finite_differences:.2e}", status])
    print(_table(rows, ["component", "function", "cases", "vs reference", "vs autograd", "vs finite diff.",
                        "status"]))
    print(f"tolerances: {args.tol:.0e} against the reference semantics (the forward definition evaluated with "
          f"torch, and autograd through it) and against autograd (float64, both backends), {FD_TOLERANCE:.0e} "
          "against central finite differences")
    return 1 if failed else 0


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _size(text: str) -> tuple[str, int]:
    """``NAME=VALUE`` of ``--size``: a dimension's name and a size of at least 1."""
    import argparse

    name, sep, value = text.partition("=")
    if not sep or not name.strip().isidentifier():
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=VALUE, e.g. d_ff=4")
    try:
        size = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: the size must be a whole number") from None
    if size < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: the size must be at least 1")
    return name.strip(), size


#: Central differences in float64 with step 1e-6 are good to about 1e-9 relative; a wrong rule is off by O(1).
FD_TOLERANCE = 1e-6


def _check_arguments(args) -> str | None:
    """Why ``check``'s flags cannot work (one line), or None."""
    if args.trials < 1:
        return f"--trials must be at least 1, got {args.trials}"
    if args.seed < 0:
        return f"--seed must be 0 or more, got {args.seed}"
    if not args.tol > 0:
        return f"--tol must be a number above 0, got {args.tol}"
    try:
        import torch  # noqa: F401
    except ImportError:
        return "`check` compares with torch autograd; install torch (pip install 'pedestrian-backprop[torch]')"
    return None


def cmd_check(args) -> int:
    from .verify import MODEL_CHECKS, check_component

    names = [] if is_file(args.name) else [args.name] if args.name else list(NAMES)
    for n in names:
        if n not in NAMES and n not in MODEL_CHECKS:
            print(f"backprop: unknown component {n!r}; `check` knows: {', '.join(NAMES + tuple(MODEL_CHECKS))}",
                  file=sys.stderr)
            return 2
    problem = _check_arguments(args)
    if problem:
        print(f"backprop: {problem}", file=sys.stderr)
        return 2
    if args.size and not is_file(args.name):
        print("backprop: --size is for a component file; the built-ins are checked at sizes of their own",
              file=sys.stderr)
        return 2
    args.size = dict(args.size)
    if is_file(args.name):
        return _check_file(args)
    from codegen.generate import targets

    chosen = targets(args.target)
    for target in [t for t in chosen if not BACKENDS[t].installed()]:
        if args.target == target:
            print(f"backprop: --target {target} {BACKENDS[target].missing}", file=sys.stderr)
            return 2
        chosen.remove(target)
        print(f"backprop: the {target} target is not checked: it {BACKENDS[target].missing}", file=sys.stderr)
    rows, summary, worst = [], [], 0.0
    for n in names:
        for target in chosen:
            check = MODEL_CHECKS.get(n) or (lambda **kw: check_component(n, **kw))
            results = list(check(seed=args.seed, trials=args.trials, target=target))
            for r in results:
                rows.append([n, target, r.case, r.gradient, f"{r.error:.2e}",
                             "ok" if r.error <= args.tol else "FAIL"])
            component_worst = max((r.error for r in results), default=0.0)
            failed = sorted({r.gradient for r in results if not r.error <= args.tol})
            summary.append([n, target, str(len({r.case for r in results})), str(len({r.gradient for r in results})),
                            f"{component_worst:.2e}", "ok" if not failed else "FAIL: " + ", ".join(failed)])
            worst = max(worst, component_worst)
    if args.verbose:
        print(_table(rows, ["component", "target", "case", "gradient", "max rel. error", "status"]))
    else:
        print(_table(summary, ["component", "target", "cases", "gradients", "max rel. error", "status"]))
    print(f"worst relative error {worst:.2e} (tolerance {args.tol:.0e}, float64)"
          + ("" if args.verbose else "; every case and gradient with --verbose"))
    return 0 if worst <= args.tol else 1


def _user_errors(run):
    """``run(args)``, with a bad flag or an unreadable file reported in one line and exit status 2,
    and a failed write or a stopped run in one line with exit status 1."""
    from .training import TrainingStopped

    def command(args) -> int:
        try:
            return run(args)
        except (ValueError, FileNotFoundError, IsADirectoryError) as e:
            print(f"backprop: {e}", file=sys.stderr)
            return 2
        except (OSError, TrainingStopped) as e:
            print(f"backprop: {e}", file=sys.stderr)
            return 1

    return command


def cmd_report(args) -> int:
    """``report [NAMES | FILE] --out DIR``: a Markdown and an HTML page per component, and an index."""
    from codegen.lower import lower
    from codegen.render import BACKENDS, GenerationError, render_plan
    from derive.components import MODELS, build_model, model_source

    from .report import page, write_report

    entries = []  # (derivation, source, regenerate)
    names = args.names or list(NAMES)
    for spec in names:
        if is_file(spec):
            for fc in _file_components(spec):
                entries.append((_derive(fc), fc.path.as_posix()))
        elif spec in MODELS:
            entries.append((derive(build_model(spec)), model_source(spec)))
        else:
            entries.append((derive(_component(spec)), f"derive/components/{spec}.py"))
    pages = []
    for derivation, source in entries:
        name = derivation.component.name
        if not args.quiet:
            print(f"  {name}…", file=sys.stderr)
        plan = lower(derivation)
        try:
            code = {label: render_plan(plan, BACKENDS[target], source=source)
                    for label, target in (("NumPy", "numpy"), ("PyTorch", "torch"))}
        except GenerationError as e:
            print(f"backprop: {e}", file=sys.stderr)
            return 2
        pages.append(page(derivation, code, source))
    written = write_report(pages, Path(args.out), force=args.force)  # a ReportError: one line, exit 2
    print(f"wrote {len(written)} files into {args.out}: open {Path(args.out) / 'index.html'}")
    return 0


def cmd_experiment(args) -> int:
    from .experiments import run

    out = Path(args.out) if args.out else Path("experiments") / args.name
    finding = run(args.name, out, steps=args.steps, progress=not args.no_progress, force=args.force,
                  backend=args.backend)
    print(finding)
    print(f"wrote {out / (args.name + '.png')}, {out / (args.name + '.json')}, {out / (args.name + '.md')}")
    return 0


def cmd_train(args) -> int:
    from .train_command import run

    return run(args)


def cmd_merge(args) -> int:
    from .train_command import run_merge

    return run_merge(args)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pedestrian-backprop")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "(not installed)"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="backprop", description=(
        "Derive the backward pass of Transformer components from their forward definitions "
        "and generate code for it."))
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    s = sub.add_parser("list", help="components with their inputs, parameters, configuration and shapes",
                       description="List the built-in components, or those of a component file, with their "
                                   "inputs, parameters (shapes, frozen ones marked) and configuration keywords.")
    s.add_argument("file", nargs="?", metavar="FILE.py", help="a component file (default: the built-ins)")
    s.set_defaults(fn=cmd_list)
    s = sub.add_parser("show", help="the derivation of one component, step by step",
                       description="Print a derivation as the paper writes it: the forward definition, each "
                                   "Frobenius-product step of the reverse sweep with its rule, the gradients in "
                                   "index-free notation and the facts used to simplify them; or, with --plan, "
                                   "the statements the generated code runs.")
    s.add_argument("name", help=f"one of: {', '.join(NAMES)}; a model part: {', '.join(MODELS)}; or a "
                                "component file FILE.py[:FUNC]")
    s.add_argument("--latex", action="store_true", help="formulas in LaTeX")
    s.add_argument("--closed", action="store_true", help="also each gradient in closed form: the cotangents "
                                                         "substituted back and simplified, as the paper states them")
    s.add_argument("--plan", action="store_true", help="the lowered plan instead: the statements the generated "
                                                       "code runs and what the optimising passes did")
    s.add_argument("--jvp", action="store_true", help="the forward-mode derivation instead: each value's tangent, "
                                                      "pushed forward from each primitive's differential (what "
                                                      "the generated jvp computes)")
    s.set_defaults(fn=cmd_show)
    s = sub.add_parser("generate", help="regenerate generated/ (or check it is up to date); or generate the "
                                        "modules of a component file",
                       description="Derive every built-in component and write generated/numpy and "
                                   "generated/torch (byte-deterministic; --check compares only), or write the "
                                   "NumPy and Torch modules of a component file into the package folder --out. "
                                   "Only files this same command wrote are replaced or removed.")
    s.add_argument("file", nargs="?", metavar="FILE.py", help="a component file FILE.py[:FUNC]; needs --out "
                                                               "(default: the built-ins into generated/)")
    s.add_argument("--target", default="all", choices=TARGETS, help=TARGETS_HELP)
    s.add_argument("--check", action="store_true", help="write nothing; exit 1 if the files are stale")
    s.add_argument("--out", help="built-ins: write generated/ under this folder instead of the project root; "
                                 "a component file: the package folder to write (DIR/numpy, DIR/torch)")
    s.add_argument("--force", action="store_true", help="a component file: overwrite files in --out that "
                                                         "`backprop generate` did not write")
    s.add_argument("--quiet", action="store_true", help="no progress messages")
    s.set_defaults(fn=_user_errors(cmd_generate))
    s = sub.add_parser("check", help="compare the generated modules with torch autograd",
                       description="Run each generated backward, both backends, in float64 on random sizes "
                                   "with batch dimensions and compare it with torch autograd (and, for a "
                                   "component file, with the reference semantics and finite differences); one "
                                   "line per component and target, exit status 1 past --tol.")
    s.add_argument("name", nargs="?", help=f"one of: {', '.join(NAMES)}; gpt2 or llama for a whole model; or a "
                                           "component file FILE.py[:FUNC] (default: every built-in component)")
    s.add_argument("--target", default="all", choices=TARGETS, help=TARGETS_HELP)
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.add_argument("--trials", type=int, default=3, help="random shapes per component (default 3)")
    s.add_argument("--tol", type=float, default=1e-10, help="largest accepted relative error (default 1e-10)")
    s.add_argument("--verbose", action="store_true", help="one line per case and gradient instead of one per "
                                                          "component and target")
    s.add_argument("--size", type=_size, action="append", default=[], metavar="NAME=VALUE",
                   help="a component file's dimension at a fixed size (repeatable, e.g. --size d_ff=4); the "
                        "others are drawn at random")
    s.set_defaults(fn=cmd_check)
    s = sub.add_parser("report", help="the derivations as pages to read: Markdown and self-contained HTML",
                       description="Write, per component, a Markdown page and an HTML page (MathML formulas, no "
                                   "script, no network) with the forward definition, the reverse sweep step by "
                                   "step, the results and facts, the closed forms and the generated code; and "
                                   "index.html linking them.")
    s.add_argument("names", nargs="*", metavar="NAME", help=f"built-in components ({', '.join(NAMES)}), model "
                                                            "parts, or a component file FILE.py[:FUNC] (default: "
                                                            "every built-in)")
    s.add_argument("--out", default="report", help="the folder to write (default: report)")
    s.add_argument("--force", action="store_true", help="overwrite files of the same names not written by "
                                                         "`backprop report`")
    s.add_argument("--quiet", action="store_true", help="no progress messages")
    s.set_defaults(fn=_user_errors(cmd_report))
    from .experiments import DEFAULT_STEPS, EXPERIMENTS

    s = sub.add_parser("experiment", help="run one of the paper's proposed experiments: plot, numbers, finding",
                       description="A small char-level study answering one of the paper's open questions; "
                                   "writes NAME.png, NAME.json and NAME.md (the finding with its figures).")
    s.add_argument("name", choices=EXPERIMENTS, help=", ".join(
        f"{k} ({f'default {v} steps' if v else 'trains nothing'})" for k, v in DEFAULT_STEPS.items()))
    s.add_argument("--steps", type=int, help="training steps per run (default: the experiment's own)")
    s.add_argument("--out", help="folder to write (default: experiments/NAME)")
    s.add_argument("--backend", choices=("numpy", "torch"),
                   help="lora-alpha, norm-jacobian and embedding-sparsity: whose generated code (default numpy); "
                        "the others use the generated Torch modules")
    s.add_argument("--force", action="store_true", help="overwrite the experiment's earlier files")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.set_defaults(fn=_user_errors(cmd_experiment))
    from .train_command import add_arguments

    s = sub.add_parser("train", help="train a character-level GPT-2 with the generated backward pass",
                       description="Train a character-level GPT-2 whose whole backward pass is generated code, "
                                   "with AdamW; or fine-tune LoRA adapters of a checkpoint (--lora, --init).")
    add_arguments(s)
    s.set_defaults(fn=_user_errors(cmd_train))
    s = sub.add_parser("merge", help="fold LoRA adapters into their base checkpoint",
                       description="Write a new checkpoint: the base with the adapters folded into its weights "
                                   "(W + α/r · A B), after checking the adapters were trained on this base.")
    s.add_argument("--init", required=True, metavar="CHECKPOINT", help="the base checkpoint")
    s.add_argument("--adapters", required=True, help="adapters written by `backprop train --lora`")
    s.add_argument("--out", required=True, help="the merged checkpoint to write (a new file)")
    s.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    s.set_defaults(fn=_user_errors(cmd_merge))
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.fn(args)
    except KeyboardInterrupt:  # every file is written atomically: what was being written is left as it was
        print(f"backprop: {args.command} interrupted; files being written were left as they were", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
