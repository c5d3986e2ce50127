"""The ``backprop train`` and ``backprop merge`` commands: flags, outputs, summary.

Nothing is overwritten by surprise: a run folder that already holds a run, or
a merge target that exists, is refused before any work starts unless
``--force`` is given.  A run saves its state every ``--save-every`` steps and
on Ctrl-C, and ``--resume`` continues it exactly.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np

from codegen.atomic import write_text

from . import models
from .checkpoints import CheckpointError
from .models import MODELS
from .run_folder import RunFolder
from .training import (
    BACKENDS,
    CharData,
    Diverged,
    Interrupted,
    Result,
    TrainConfig,
    config_problem,
    default_corpus,
    load_state,
    plot,
    sample,
    save_checkpoint,
    save_state,
    train_loop,
)

DEFAULT_OUT = Path("runs/char-gpt2")  # runs/char-llama for --model llama
STATE_FILE = "checkpoint.safetensors"
#: Flags a LoRA run takes from its base checkpoint, and flags a resumed run takes from its state.
SHAPE_FLAGS = ("model", "layers", "width", "heads", "kv_heads", "context", "untied")
RESUME_FLAGS = ("data", "backend", "compile", "model", "layers", "width", "heads", "kv_heads", "context", "batch", "steps",
                "lr", "weight_decay",
                "seed", "eval_every", "untied", "lora", "init", "force", "sample_chars")


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = TrainConfig()
    # Defaults are None here and filled in by _config, so a flag the user gave can be told apart.
    p.add_argument("--data", help="a UTF-8 text file (default: the Python reference manual that ships with Python)")
    p.add_argument("--out", help=f"folder for the checkpoint, plot and sample (default: {DEFAULT_OUT}; "
                                 "with --lora: a folder 'lora' beside the --init checkpoint)")
    p.add_argument("--force", action="store_true", help="write into --out even if it already holds a run")
    p.add_argument("--resume", metavar="RUN", help="continue the run in folder RUN (or its checkpoint.safetensors) "
                                                   "from its last saved step, with its own settings")
    p.add_argument("--save-every", type=int, default=200, metavar="N",
                   help="save a resumable checkpoint every N steps (default 200; 0: only on Ctrl-C)")
    p.add_argument("--backend", choices=BACKENDS,
                   help="whose backward pass: the generated NumPy code, the same with fused Numba kernels (the "
                        "numba extra), the generated Torch code, or torch autograd (default numpy)")
    p.add_argument("--compile", action="store_true", default=None,
                   help="with --backend torch: run the generated step under torch.compile (compiles on the first "
                        "step, which takes a while; reported)")
    p.add_argument("--model", choices=MODELS, help="gpt2 (the paper's, default) or llama (RMSNorm, rotary "
                                                   "embeddings, grouped-query attention, SwiGLU, no biases)")
    p.add_argument("--layers", type=int, help=f"blocks (default {d.layers})")
    p.add_argument("--width", type=int, help=f"model width d (default {d.width})")
    p.add_argument("--heads", type=int, help=f"attention heads (default {d.heads})")
    p.add_argument("--kv-heads", type=int, help="with --model llama: key and value heads, each shared by "
                                                "heads / kv-heads query heads (default: as many as --heads; 1: "
                                                "multi-query)")
    p.add_argument("--context", type=int, help=f"tokens per sequence (default {d.context})")
    p.add_argument("--batch", type=int, help=f"sequences per step (default {d.batch})")
    p.add_argument("--steps", type=int, help=f"optimizer steps (default {d.steps})")
    p.add_argument("--lr", type=float, help=f"peak learning rate (default {d.lr})")
    p.add_argument("--weight-decay", type=float, help=f"AdamW weight decay on matrices (default {d.weight_decay})")
    p.add_argument("--seed", type=int, help=f"random seed, 0 or more (default {d.seed})")
    p.add_argument("--eval-every", type=int, help=f"steps between validation losses (default {d.eval_every})")
    p.add_argument("--untied", action="store_true", default=None, help="an untied logits layer with bias (the paper's)")
    p.add_argument("--sample-chars", type=int, help=f"characters to sample at the end (default {d.sample_chars})")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--device", help="with --backend torch or autograd: cpu (default), cuda or cuda:N; under "
                                    "torchrun, cuda gives each process its local GPU")
    p.add_argument("--join-timeout", type=float, default=120.0, metavar="S",
                   help="under torchrun: seconds to wait for every process to join (default 120)")
    p.add_argument("--lora", metavar="r=R,alpha=A",
                   help="fine-tune LoRA adapters of --init (base frozen) on q, k, v, attProj, expand, contract "
                        "and the logits layer, e.g. r=16,alpha=32")
    p.add_argument("--init", metavar="CHECKPOINT", help="the base checkpoint for --lora")


def _info(args, message: str) -> None:
    """A progress message on stderr, from rank 0 alone under torchrun."""
    if args.world.main:
        print(message, file=sys.stderr)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _given(args, names) -> list[str]:
    return [_flag(n) for n in names if getattr(args, n, None) not in (None, False)]


def _config(args, base: TrainConfig | None = None) -> TrainConfig:
    """The run's configuration: the flags given, else the defaults, checked.

    With ``base`` (a LoRA run's base model) the model's shape is ``base``'s.
    """
    config = TrainConfig()
    if base is not None:
        for name in ("model", "layers", "width", "heads", "kv_heads", "rope_theta", "context", "activation", "eps",
                     "tied"):
            setattr(config, name, getattr(base, name))
    names = {f.name for f in fields(TrainConfig)} - ({"layers", "width", "heads", "context"} if base else set())
    for key, value in vars(args).items():
        if key in names and value is not None:
            setattr(config, key, value)
    if args.untied:
        config.tied = False
    if base is None and config.model == "llama":
        config.eps = 1e-6  # LlamaForCausalLM's rms_norm_eps
    problem = config_problem(asdict(config), name=_flag)  # the checks a checkpoint's configuration meets
    if problem:
        raise ValueError(problem)
    if getattr(args, "save_every", 0) < 0:
        raise ValueError(f"--save-every must be 0 or more, got {args.save_every}")
    if config.compile and (config.backend != "torch" or getattr(args, "lora", None) or config.model != "gpt2"):
        raise ValueError("--compile runs the generated Torch step of GPT-2: it needs --backend torch (and no --lora "
                         "or --model llama)")
    return config


def _text(path: str | None) -> tuple[str, str]:
    """(text, where it came from): the file ``path`` as UTF-8, or the default corpus."""
    if path is None:
        return default_corpus()
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"--data {path}: is a folder, not a text file")
    if not p.exists():
        raise ValueError(f"--data {path}: no such file")
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"--data {path}: not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start})") \
            from None
    if not text:
        raise ValueError(f"--data {path}: the file is empty")
    return text, path


def _fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def parse_lora(spec: str) -> tuple[int, float]:
    """``r=16,alpha=32`` → (16, 32.0)."""
    values = {}
    for item in spec.split(","):
        key, _, value = item.partition("=")
        if key.strip() not in ("r", "alpha") or not value:
            raise ValueError(f"--lora {spec!r}: expected r=R,alpha=A (for example r=16,alpha=32)")
        values[key.strip()] = value.strip()
    if set(values) != {"r", "alpha"}:
        raise ValueError(f"--lora {spec!r}: give both r and alpha")
    try:
        r, alpha = int(values["r"]), float(values["alpha"])
    except ValueError:
        raise ValueError(f"--lora {spec!r}: r must be an integer and alpha a number") from None
    if r < 1:
        raise ValueError(f"--lora: r must be at least 1, got {r}")
    if not math.isfinite(alpha):
        raise ValueError(f"--lora: alpha must be a finite number, got {values['alpha']}")
    return r, alpha


def _claim(folder: RunFolder, force: bool) -> None:
    """With the folder held, before any work starts: refuse a folder that holds a run unless ``force``;
    a run that replaces one writes into a staging folder, so the earlier run stays whole until the
    new one has something to keep."""
    existing = folder.existing_run()
    if existing and not force:
        raise ValueError(f"--out {folder.path} already holds a run ({', '.join(existing)}); choose another "
                         f"--out, continue it with --resume {folder.path}, or pass --force to overwrite it")
    if existing:
        folder.stage()


def check_output_file(out: Path, force: bool, inputs: dict[str, str]) -> None:
    """Refuse an output file that is one of the inputs (always) or exists (unless ``force``)."""
    if out.is_dir():
        raise ValueError(f"--out {out}: is a folder; give a file name")
    for flag, path in inputs.items():
        if out.exists() and Path(path).exists() and os.path.samefile(out, path):
            raise ValueError(f"--out {out} is the {flag} file; it is read, never written (even with --force): "
                             "write elsewhere")
    if out.exists() and not force:
        raise ValueError(f"--out {out} exists; choose another name or pass --force to overwrite it")


def run(args) -> int:
    """``backprop train``: in one process, or as one rank of a torchrun (``backprop.distributed``)."""
    from .distributed import check_run, join

    if not (math.isfinite(args.join_timeout) and args.join_timeout > 0):
        raise ValueError(f"--join-timeout must be a number of seconds above 0, got {args.join_timeout}")
    world = args.world = join(args.device, args.join_timeout)
    try:
        if args.resume:  # its settings are the state's: checked when it is loaded (``_resume``)
            return run_resume(args)
        defaults = TrainConfig()  # refused before the run folder is touched
        check_run(world, args.backend or defaults.backend, args.batch or defaults.batch)
        if args.lora or args.init:
            return run_lora(args)
        config = _config(args)
        out = Path(args.out) if args.out else DEFAULT_OUT.with_name(f"char-{config.model}")
        with held(world, out, claim=lambda folder: _claim(folder, args.force)) as folder:
            return _run_new(args, folder, config)
    except ValueError:
        if world.main:
            raise
        return 2  # rank 0 says why, in one line
    finally:
        world.close()


class WorkerFolder:
    """The run folder as a rank other than 0 sees it: rank 0 holds it and writes it; this rank writes nothing."""

    staged = False

    def __init__(self, path: Path):
        self.path = self.files = Path(path)

    def stage(self) -> None:
        pass

    def commit(self) -> None:
        pass


@contextmanager
def held(world, path: Path, flag: str = "--out", claim=None):
    """The run folder, held (and claimed) by rank 0 alone; every rank learns rank 0's verdict before any
    work starts, so a refused run stops them all."""
    if not world.main:
        world.verdict(None)
        yield WorkerFolder(path)
        return
    with ExitStack() as stack:
        try:
            folder = stack.enter_context(RunFolder(path, flag))
            if claim is not None:
                claim(folder)
        except ValueError as e:
            world.verdict(str(e))
            raise
        world.verdict(None)
        yield folder


def _run_new(args, folder: RunFolder, config: TrainConfig) -> int:
    text, source = _text(args.data)
    data = CharData(text)
    params = models.init_params(np.random.default_rng(config.seed), config, len(data.vocab))
    count = sum(v.size for v in params.values())
    _info(args, f"data: {source}: {len(text):,} characters, vocabulary {len(data.vocab)}")
    processes = f" ({args.world.size} processes, rank 0 speaking)" if args.world.distributed else ""
    _info(args, f"model: {models.describe(config)}, {config.layers} layers, d {config.width}, {config.heads} heads, "
                f"context {config.context}, {count:,} parameters; backward: {config.backend}{processes}")
    extra = {"data": args.data or "", "data_sha256": _fingerprint(text)}
    return _train(args, folder, params, data, config, extra, title=_title(config, args.data))


def _title(config: TrainConfig, data: str | None) -> str:
    name = Path(data).name if data else "the Python reference manual"
    return f"char-level {models.describe(config)} ({config.backend} backward) on {name}"


def _train(args, folder: RunFolder, params: dict, data: CharData, config: TrainConfig, extra: dict, title: str,
           resume=None, lora: dict | None = None) -> int:
    """Train, saving state periodically and on Ctrl-C; then the model (or adapters) and the report.

    Every file goes to ``folder.files``: the run folder, or its staging folder when this run
    replaces another; the finished run's files are staged and committed together.
    """
    world = args.world
    out = folder.path
    saved = {"step": resume.step if resume else None}
    replacing = folder.staged  # before the finished files are staged below

    def save(state) -> None:
        if world.main:  # rank 0 alone writes
            save_state(folder.files / STATE_FILE, state, config, data.vocab, extra)
        saved["step"] = state.step

    base, alpha = (lora["base"], lora["alpha"]) if lora else (None, None)
    save_every = getattr(args, "save_every", 200)
    state_path = out / STATE_FILE
    try:
        result = train_loop(params, data, config, progress=not args.no_progress and world.main, base=base,
                            alpha=alpha, resume=resume, save_every=save_every, on_checkpoint=save, world=world)
    except Interrupted as e:
        if not world.main:
            return 130
        if e.state is None:
            where = (f"{state_path} (step {saved['step']})" if saved["step"] is not None and not replacing
                     else "nothing" + (f"; the earlier run in {out} is as it was" if replacing else ""))
            print(f"backprop: {e}; the step in flight was dropped; last saved: {where}", file=sys.stderr)
            return 130
        save(e.state)
        partial = Result(e.state.losses, e.state.val_steps, e.state.val_losses, e.state.params, 0.0, e.state.seconds)
        _write_report(folder.files, partial, config, title, complete=False, world_size=world.size)
        folder.commit()
        print(f"backprop: {e}: saved {state_path} and the report so far; "
              f"continue with `backprop train --resume {out}`", file=sys.stderr)
        return 130
    except Diverged as e:
        if not world.main:
            return 1
        if replacing:
            kept = f"the earlier run in {out} is as it was"
        else:
            kept = (f"the last good state is {state_path} (step {saved['step']})" if saved["step"] is not None
                    else "no weights were saved")
        print(f"backprop: {e}; nothing non-finite was written, {kept}; try a lower --lr", file=sys.stderr)
        return 1
    if not world.main:
        return 0  # the weights are rank 0's too: DDP kept them equal
    folder.stage()  # the finished run's files replace the state and the report so far together
    try:
        written = _write_finished(folder, params, result, data, config, extra, title, lora, world.size)
    except OSError as e:
        where = str(e).replace(str(folder.files), str(out))  # name the file as it would be, not its staging
        kept = (f"the earlier run in {out} is as it was" if replacing else
                f"the last saved state is {state_path} (step {saved['step']})" if saved["step"] is not None else
                "nothing of this run was saved")
        raise OSError(f"{where}; {kept}") from None
    print(f"loss {result.losses[0]:.3f} → {result.losses[-1]:.3f}, validation {result.val_losses[-1]:.3f}; "
          f"{result.tokens_per_s:,.0f} tokens/s, {result.seconds:.0f} s")
    if config.compile:
        from generated.torch import gpt2

        print(f"torch.compile: {gpt2.compile_seconds():.1f} s to compile the step (on the first step)")
    print("wrote " + ", ".join(str(p) for p in [written["model"], out / "loss.png", out / "sample.txt",
                                                  out / "history.json"]))
    if written["sample"]:
        print("sample:\n" + written["sample"])
    return 0


def _write_finished(folder: RunFolder, params: dict, result: Result, data: CharData, config: TrainConfig,
                    extra: dict, title: str, lora: dict | None, world_size: int = 1) -> dict:
    """The finished run's model (or adapters), history, plot and sample, staged and then committed."""
    if lora:
        _save_adapters(folder.files, params, lora, data, config)
        report_params = _merge(lora["base"], params, lora["alpha"])
        written = folder.path / "adapters.safetensors"
    else:
        save_checkpoint(folder.files / "model.safetensors", params, config, data.vocab, extra)
        report_params = params
        written = folder.path / "model.safetensors"
    history = {"trainable": lora["trainable"], "total": lora["total"]} if lora else None
    _write_report(folder.files, result, config, title, complete=True, history=history, world_size=world_size)
    text_sample = sample(report_params, data, config, config.sample_chars) if config.sample_chars else ""
    write_text(folder.files / "sample.txt", text_sample)
    folder.commit()  # the state it supersedes goes with the rest of the earlier files
    return {"model": written, "sample": text_sample}


def _write_report(out: Path, result: Result, config: TrainConfig, title: str, complete: bool,
                  history: dict | None = None, world_size: int = 1) -> None:
    """The loss plot and ``history.json`` of a run, finished or not."""
    if result.losses:
        plot(result, out / "loss.png", title + ("" if complete else f" (stopped at step {len(result.losses)})"))
    summary = {"steps": config.steps, "steps_done": len(result.losses), "complete": complete,
               "first_loss": result.losses[0] if result.losses else None,
               "last_loss": result.losses[-1] if result.losses else None,
               "val_losses": dict(zip(result.val_steps, result.val_losses)),
               "tokens_per_s": round(result.tokens_per_s), "seconds": round(result.seconds, 1),
               "world_size": world_size}
    write_text(out / "history.json", json.dumps({"losses": result.losses, **summary, **(history or {})}, indent=1))


def run_lora(args) -> int:
    """Fine-tune LoRA adapters of a frozen checkpoint; the adapters are written on their own."""
    if not (args.lora and args.init):
        raise ValueError("LoRA fine-tuning needs both --lora r=R,alpha=A and --init CHECKPOINT")
    ignored = _given(args, SHAPE_FLAGS)
    if ignored:
        raise ValueError(f"{', '.join(ignored)}: a LoRA run takes the model's shape from --init; drop "
                         + ("it" if len(ignored) == 1 else "them"))
    r, alpha = parse_lora(args.lora)
    out = Path(args.out) if args.out else Path(args.init).parent / "lora"
    if Path(args.init).exists() and out.resolve() == Path(args.init).resolve().parent:
        raise ValueError(f"--out {out} is the base run's folder: the run would replace the files of the "
                         "checkpoint it fine-tunes (even with --force); choose another --out")
    with held(args.world, out, claim=lambda folder: _claim(folder, args.force)) as folder:
        return _run_lora(args, folder, r, alpha)


def _run_lora(args, folder: RunFolder, r: int, alpha: float) -> int:
    from derive.components.gpt2 import parameter_count

    from .gpt2_params import init_adapters
    from .training import load_checkpoint, tensors_sha256

    base, base_config, vocab, base_metadata = load_checkpoint(Path(args.init))
    if base_config.model != "gpt2":
        raise ValueError(f"--init {args.init}: a {base_config.model} checkpoint; --lora adapts GPT-2's blocks only")
    config = _config(args, base_config)
    text, source = _text(args.data)
    kept = "".join(ch for ch in text if ch in set(vocab))
    if len(kept) < len(text):
        _info(args, f"warning: dropped {len(text) - len(kept):,} characters outside the base model's vocabulary")
    data = CharData(kept, vocab)
    adapters = init_adapters(np.random.default_rng(config.seed), base, r)
    total = sum(v.size for v in base.values()) + sum(v.size for v in adapters.values())
    trainable = sum(v.size for v in adapters.values())
    small = parameter_count(12, 768, 1024, 50257, tied=True, lora_rank=r)["lora"]
    _info(args, f"data: {source}: {len(kept):,} characters")
    _info(args, f"LoRA r={r}, alpha={alpha}: {total:,} parameters in all, {trainable:,} trainable "
                f"({100 * trainable / total:.1f} %); for GPT-2 small shapes: {small:,} trainable")
    base_hash = tensors_sha256(base)
    lora = {"base": base, "alpha": alpha, "r": r, "init": str(args.init), "base_sha256": base_hash,
            "trainable": trainable, "total": total}
    extra = {"data": args.data or "", "data_sha256": _fingerprint(kept),
             "lora": json.dumps({"r": r, "alpha": alpha, "init": str(args.init), "base_sha256": base_hash})}
    return _train(args, folder, adapters, data, config, extra, f"LoRA r={r} fine-tuning ({config.backend} backward)",
                  lora=lora)


def _save_adapters(out: Path, adapters: dict, lora: dict, data: CharData, config: TrainConfig) -> Path:
    from . import checkpoints
    from .training import refuse_non_finite

    path = out / "adapters.safetensors"  # out: where the run writes (its folder, or the staging folder)
    refuse_non_finite(path, adapters, "adapters")
    checkpoints.save(path, adapters, {"format": ADAPTER_FORMAT, "r": str(lora["r"]), "alpha": str(lora["alpha"]),
                                      "base": lora["init"], "base_sha256": lora["base_sha256"]})
    print("the adapters are written on their own; fold them into the base with `backprop merge`")
    return path


ADAPTER_FORMAT = "pedestrian-backprop lora"


def run_resume(args) -> int:
    """Continue a run from its saved state, with the settings it was started with."""
    given = _given(args, RESUME_FLAGS)
    if given:
        raise ValueError(f"{', '.join(given)}: a resumed run keeps the settings it was started with; drop "
                         + ("it" if len(given) == 1 else "them"))
    path = Path(args.resume)
    folder = path.parent if path.suffix == ".safetensors" else path
    state_path = path if path.suffix == ".safetensors" else path / STATE_FILE
    if args.out and Path(args.out).resolve() != folder.resolve():
        raise ValueError(f"--out {args.out}: a resumed run writes into its own folder {folder}; drop --out")
    if not folder.is_dir():
        raise ValueError(f"--resume {args.resume}: no such run folder")
    def resumable(_):
        if not state_path.exists():
            done = [n for n in ("model.safetensors", "adapters.safetensors") if (folder / n).exists()]
            if done:
                raise ValueError(f"--resume {args.resume}: the run is complete ({folder / done[0]}); "
                                 "nothing to resume")
            raise ValueError(f"--resume {args.resume}: no {STATE_FILE} there to resume from")

    with held(args.world, folder, "--resume", claim=resumable) as run_folder:
        return _resume(args, run_folder, state_path)


def _resume(args, folder: RunFolder, state_path: Path) -> int:
    from .gpt2_params import adapter_shapes
    from .training import check_tensors, load_checkpoint, tensors_sha256

    from .distributed import check_run

    state, config, vocab, metadata = load_state(state_path)
    check_run(args.world, config.backend, config.batch)  # the run's own settings on this world
    lora_meta = _lora_metadata(state_path, metadata)
    text, source = _text(metadata.get("data") or None)
    if lora_meta:
        text = "".join(ch for ch in text if ch in set(vocab))
    if _fingerprint(text) != metadata.get("data_sha256"):
        raise ValueError(f"--resume {args.resume}: the training text {source} has changed since the run started")
    data = CharData(text, vocab)
    extra = {k: metadata[k] for k in ("data", "data_sha256", "lora") if k in metadata}
    if lora_meta is None:
        _info(args, f"resuming {folder.path} at step {state.step} of {config.steps}")
        params = {k: v.copy() for k, v in state.params.items()}
        return _train(args, folder, params, data, config, extra, _title(config, metadata.get("data") or None),
                      resume=state)
    base, *_ = load_checkpoint(Path(lora_meta["init"]))
    if tensors_sha256(base) != lora_meta["base_sha256"]:
        raise ValueError(f"--resume {args.resume}: the base checkpoint {lora_meta['init']} has changed since "
                         "the run started")
    check_tensors(state_path, {f"param.{k}": v for k, v in state.params.items()},
                  {f"param.{k}": shape for k, shape in adapter_shapes(base, lora_meta["r"]).items()})
    _info(args, f"resuming {folder.path} at step {state.step} of {config.steps}")
    adapters = {k: v.copy() for k, v in state.params.items()}
    total = sum(v.size for v in base.values()) + sum(v.size for v in adapters.values())
    lora = {**lora_meta, "base": base, "trainable": sum(v.size for v in adapters.values()), "total": total}
    return _train(args, folder, adapters, data, config, extra,
                  f"LoRA r={lora['r']} fine-tuning ({config.backend} backward)", resume=state, lora=lora)


def _lora_metadata(path: Path, metadata: dict) -> dict | None:
    """A LoRA state's record of its adapters and base, checked; None for a full run's state."""
    from .training import metadata_json

    if "lora" not in metadata:
        return None
    lora = metadata_json(path, metadata, "lora", dict)
    kinds = {"r": int, "alpha": (int, float), "init": str, "base_sha256": str}
    if any(not isinstance(lora.get(k), t) or isinstance(lora.get(k), bool) for k, t in kinds.items()):
        raise CheckpointError(f"{path}: corrupt 'lora' metadata (expected r, alpha, init and base_sha256)")
    if lora["r"] < 1 or not math.isfinite(lora["alpha"]):
        raise CheckpointError(f"{path}: corrupt 'lora' metadata (r {lora['r']}, alpha {lora['alpha']})")
    return lora


def _merge(base: dict, adapters: dict, alpha: float) -> dict:
    from generated.numpy.gpt2 import merge_lora

    return merge_lora(base, adapters, alpha=alpha)


def run_merge(args) -> int:
    """Write the base checkpoint with the adapters folded into its weights, after checking they belong."""
    from . import checkpoints
    from .gpt2_params import adapter_shapes
    from .training import check_tensors, load_checkpoint, save_checkpoint, tensors_sha256

    out = Path(args.out)
    check_output_file(out, args.force, {"--init": args.init, "--adapters": args.adapters})
    base, config, vocab, base_metadata = load_checkpoint(Path(args.init))
    if config.model != "gpt2":
        raise ValueError(f"--init {args.init}: a {config.model} checkpoint; LoRA adapters are GPT-2's only")
    if "merged_from" in base_metadata:
        raise ValueError(f"--init {args.init}: already has adapters merged in ({base_metadata['merged_from']}); "
                         "merge into the base the adapters were trained on")
    adapters, metadata = checkpoints.load(Path(args.adapters))
    if metadata.get("format") != ADAPTER_FORMAT:
        raise ValueError(f"--adapters {args.adapters}: not an adapter file written by `backprop train --lora`")
    try:
        r, alpha = int(metadata["r"]), float(metadata["alpha"])
    except (KeyError, ValueError):
        raise CheckpointError(f"{args.adapters}: corrupt r/alpha metadata") from None
    if "base_sha256" not in metadata:
        raise ValueError(f"--adapters {args.adapters}: does not record the base it was trained on; "
                         "re-train it with this version of `backprop train --lora`")
    if metadata["base_sha256"] != tensors_sha256(base):
        raise ValueError(f"--adapters {args.adapters}: trained on another base ({metadata.get('base', '?')}), "
                         f"not on {args.init}")
    expected = adapter_shapes(base, r)
    stray = sorted(set(adapters) - set(expected))
    if stray:
        raise ValueError(f"--adapters {args.adapters}: {stray[0]!r}"
                         + (f" (and {len(stray) - 1} more)" if len(stray) > 1 else "") + " matches no layer of the base")
    check_tensors(Path(args.adapters), adapters, expected)
    merged = _merge(base, adapters, alpha)
    config.tied = "lm_head.weight" not in merged
    save_checkpoint(out, merged, config, vocab, {"merged_from": f"{args.init} + {args.adapters}"})
    print(f"wrote {args.out}: {sum(v.size for v in merged.values()):,} parameters "
          f"(LoRA r={r}, alpha={alpha} merged)")
    return 0
