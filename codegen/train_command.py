"""The ``backprop train`` command: flags, outputs, summary."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np

from .training import (
    BACKENDS,
    CharData,
    TrainConfig,
    default_corpus,
    plot,
    sample,
    save_checkpoint,
    train_loop,
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = TrainConfig()
    p.add_argument("--data", help="a UTF-8 text file (default: the Python reference manual that ships with Python)")
    p.add_argument("--out", default="runs/char-gpt2", help="folder for the checkpoint, plot and sample "
                                                           "(default: runs/char-gpt2)")
    p.add_argument("--backend", choices=BACKENDS, default=d.backend,
                   help="whose backward pass: the generated NumPy or Torch code, or torch autograd (default numpy)")
    p.add_argument("--layers", type=int, default=d.layers, help=f"blocks (default {d.layers})")
    p.add_argument("--width", type=int, default=d.width, help=f"model width d (default {d.width})")
    p.add_argument("--heads", type=int, default=d.heads, help=f"attention heads (default {d.heads})")
    p.add_argument("--context", type=int, default=d.context, help=f"tokens per sequence (default {d.context})")
    p.add_argument("--batch", type=int, default=d.batch, help=f"sequences per step (default {d.batch})")
    p.add_argument("--steps", type=int, default=d.steps, help=f"optimizer steps (default {d.steps})")
    p.add_argument("--lr", type=float, default=d.lr, help=f"peak learning rate (default {d.lr})")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay, help="AdamW weight decay on matrices")
    p.add_argument("--seed", type=int, default=d.seed, help=f"random seed (default {d.seed})")
    p.add_argument("--eval-every", type=int, default=d.eval_every, help="steps between validation losses")
    p.add_argument("--untied", action="store_true", help="an untied logits layer with bias (the paper's)")
    p.add_argument("--sample-chars", type=int, default=d.sample_chars, help="characters to sample at the end")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--lora", metavar="r=R,alpha=A",
                   help="fine-tune LoRA adapters of --init (base frozen) on q, k, v, attProj, expand, contract "
                        "and the logits layer, e.g. r=16,alpha=32")
    p.add_argument("--init", metavar="CHECKPOINT", help="the base checkpoint for --lora")


def _config(args) -> TrainConfig:
    names = {f.name for f in fields(TrainConfig)}
    values = {k: v for k, v in vars(args).items() if k in names}
    values["tied"] = not args.untied
    config = TrainConfig(**values)
    for name in ("layers", "width", "heads", "context", "batch", "steps", "eval_every"):
        if getattr(config, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
    if config.width % config.heads:
        raise ValueError(f"--width {config.width} must be divisible by --heads {config.heads}")
    if config.context < 2:
        raise ValueError("--context must be at least 2 (each position predicts the next)")
    return config


def _text(path: str | None) -> tuple[str, str]:
    if path is None:
        return default_corpus()
    text = Path(path).read_text(encoding="utf-8")
    if not text:
        raise ValueError(f"{path} is empty")
    return text, path


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
    return r, alpha


def run(args) -> int:
    if args.lora or args.init:
        return run_lora(args)
    config = _config(args)
    text, source = _text(args.data)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from .gpt2_params import init_params

    data = CharData(text)
    params = init_params(np.random.default_rng(config.seed), config.layers, config.width, config.context,
                         len(data.vocab), tied=config.tied)
    count = sum(v.size for v in params.values())
    print(f"data: {source}: {len(text):,} characters, vocabulary {len(data.vocab)}", file=sys.stderr)
    print(f"model: {config.layers} layers, d {config.width}, {config.heads} heads, context {config.context}, "
          f"{count:,} parameters; backward: {config.backend}", file=sys.stderr)
    result = train_loop(params, data, config, progress=not args.no_progress)
    checkpoint = out / "model.safetensors"
    save_checkpoint(checkpoint, params, config, data.vocab)
    name = Path(args.data).name if args.data else "the Python reference manual"
    return _report(out, result, config, data, params, f"char-level GPT-2 ({config.backend} backward) on {name}",
                   [checkpoint])


def _report(out: Path, result, config: TrainConfig, data: CharData, params: dict, title: str,
            written: list[Path], history: dict | None = None) -> int:
    """The loss plot, a sample from ``params``, ``history.json`` and the summary lines of a run."""
    picture, sample_path, history_path = out / "loss.png", out / "sample.txt", out / "history.json"
    plot(result, picture, title)
    text_sample = sample(params, data, config, config.sample_chars) if config.sample_chars else ""
    sample_path.write_text(text_sample, encoding="utf-8")
    summary = {"steps": config.steps, "first_loss": result.losses[0], "last_loss": result.losses[-1],
               "val_losses": dict(zip(result.val_steps, result.val_losses)),
               "tokens_per_s": round(result.tokens_per_s), "seconds": round(result.seconds, 1)}
    history_path.write_text(json.dumps({"losses": result.losses, **summary, **(history or {})}, indent=1))
    print(f"loss {result.losses[0]:.3f} → {result.losses[-1]:.3f}, validation {result.val_losses[-1]:.3f}; "
          f"{result.tokens_per_s:,.0f} tokens/s, {result.seconds:.0f} s")
    print("wrote " + ", ".join(str(p) for p in [*written, picture, sample_path, history_path]))
    if text_sample:
        print("sample:\n" + text_sample)
    return 0


def run_lora(args) -> int:
    """Fine-tune LoRA adapters of a frozen checkpoint; the adapters are written on their own."""
    from derive.components.gpt2 import parameter_count

    from .gpt2_params import init_adapters
    from .training import load_checkpoint

    if not (args.lora and args.init):
        raise ValueError("LoRA fine-tuning needs both --lora r=R,alpha=A and --init CHECKPOINT")
    r, alpha = parse_lora(args.lora)
    base, base_config, vocab, _ = load_checkpoint(Path(args.init))
    config = _config(args)
    for name in ("layers", "width", "heads", "context", "activation", "eps", "tied"):
        setattr(config, name, getattr(base_config, name))
    text, source = _text(args.data)
    kept = "".join(ch for ch in text if ch in set(vocab))
    if len(kept) < len(text):
        print(f"warning: dropped {len(text) - len(kept):,} characters outside the base model's vocabulary",
              file=sys.stderr)
    data = CharData(kept, vocab)
    adapters = init_adapters(np.random.default_rng(config.seed), base, r)
    total = sum(v.size for v in base.values()) + sum(v.size for v in adapters.values())
    trainable = sum(v.size for v in adapters.values())
    small = parameter_count(12, 768, 1024, 50257, tied=True, lora_rank=r)["lora"]
    print(f"data: {source}: {len(kept):,} characters", file=sys.stderr)
    print(f"LoRA r={r}, alpha={alpha}: {total:,} parameters in all, {trainable:,} trainable "
          f"({100 * trainable / total:.1f} %); for GPT-2 small shapes: {small:,} trainable", file=sys.stderr)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = train_loop(adapters, data, config, progress=not args.no_progress, base=base, alpha=alpha)
    from . import safetensors

    adapter_path = out / "adapters.safetensors"
    safetensors.save(adapter_path, adapters, {"format": "pedestrian-backprop lora", "r": str(r),
                                              "alpha": str(alpha), "base": str(args.init)})
    print("the adapters are written on their own; fold them into the base with `backprop merge`")
    return _report(out, result, config, data, merge(base, adapters, alpha),
                   f"LoRA r={r} fine-tuning ({config.backend} backward)", [adapter_path],
                   {"trainable": trainable, "total": total})


def merge(base: dict, adapters: dict, alpha: float) -> dict:
    from generated.numpy.gpt2 import merge_lora

    return merge_lora(base, adapters, alpha=alpha)


def run_merge(args) -> int:
    """Write the base checkpoint with the adapters folded into its weights."""
    from . import safetensors
    from .training import load_checkpoint, save_checkpoint

    base, config, vocab, _ = load_checkpoint(Path(args.init))
    adapters, metadata = safetensors.load(Path(args.adapters))
    if metadata.get("format") != "pedestrian-backprop lora":
        raise ValueError(f"{args.adapters}: not an adapter file written by `backprop train --lora`")
    merged = merge(base, adapters, float(metadata["alpha"]))
    config.tied = "lm_head.weight" not in merged
    save_checkpoint(Path(args.out), merged, config, vocab, {"merged_from": f"{args.init} + {args.adapters}"})
    print(f"wrote {args.out}: {sum(v.size for v in merged.values()):,} parameters "
          f"(LoRA r={metadata['r']}, alpha={metadata['alpha']} merged)")
    return 0
