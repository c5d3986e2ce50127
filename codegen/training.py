"""``backprop train``: a character-level GPT-2 trained with the generated backward pass.

The gradient comes from ``generated.numpy.gpt2`` (default), ``generated.torch.gpt2``
(``--backend torch``) or, for comparison, torch autograd on the reference
model (``--backend autograd``); everything else (data, AdamW, schedule) is the
same code, so the backends can be compared step for step.
"""
from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from . import safetensors

BACKENDS = ("numpy", "torch", "autograd")


def default_corpus() -> tuple[str, str]:
    """Real English prose that ships with Python: the reference manual's topics (pydoc_data)."""
    from pydoc_data import topics

    return "".join(topics.topics[k] for k in sorted(topics.topics)), "Python reference manual (pydoc_data.topics)"


@dataclass
class CharData:
    """A text as character indices, split 90 / 10 into training and validation."""

    text: str
    vocab: list[str] = field(default_factory=list)

    def __post_init__(self):
        if not self.vocab:
            self.vocab = sorted(set(self.text))
        index = {ch: i for i, ch in enumerate(self.vocab)}
        unknown = sorted(set(self.text) - set(index))
        if unknown:
            raise ValueError(f"the text has characters outside the vocabulary: {''.join(unknown[:20])!r}")
        ids = np.fromiter((index[ch] for ch in self.text), dtype=np.int64, count=len(self.text))
        split = int(0.9 * len(ids))
        self.train, self.val = ids[:split], ids[split:]

    def encode(self, text: str) -> np.ndarray:
        index = {ch: i for i, ch in enumerate(self.vocab)}
        return np.array([index[ch] for ch in text if ch in index], dtype=np.int64)

    def decode(self, ids) -> str:
        return "".join(self.vocab[int(i)] for i in ids)


def batch(rng: np.random.Generator, ids: np.ndarray, size: int, context: int) -> np.ndarray:
    """``size`` random windows of ``context`` tokens: (size, context)."""
    if len(ids) <= context:
        raise ValueError(f"the text ({len(ids)} tokens in this split) is shorter than the context ({context})")
    starts = rng.integers(0, len(ids) - context, size)
    return np.stack([ids[s:s + context] for s in starts])


class AdamW:
    """AdamW (decoupled weight decay on matrices only), written once for NumPy and torch arrays."""

    def __init__(self, params: dict, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1):
        self.betas, self.eps, self.weight_decay, self.t = betas, eps, weight_decay, 0
        self.m = {k: v * 0 for k, v in params.items()}
        self.v = {k: v * 0 for k, v in params.items()}

    def step(self, params: dict, grads: dict, lr: float) -> None:
        self.t += 1
        b1, b2 = self.betas
        for k, p in params.items():
            g = grads[k]
            self.m[k] = b1 * self.m[k] + (1 - b1) * g
            self.v[k] = b2 * self.v[k] + (1 - b2) * g * g
            m_hat = self.m[k] / (1 - b1 ** self.t)
            v_hat = self.v[k] / (1 - b2 ** self.t)
            if p.ndim >= 2:
                p -= lr * self.weight_decay * p
            p -= lr * m_hat / (v_hat ** 0.5 + self.eps)


def learning_rate(step: int, steps: int, peak: float) -> float:
    """Linear warm-up over the first 5 % of steps, then cosine decay to a tenth of the peak."""
    warmup = max(1, steps // 20)
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def gradient_function(backend: str, n_heads: int, activation: str, eps: float, base: dict | None = None,
                      alpha: float | None = None):
    """(to_backend, loss_and_grads, to_numpy) for one backend.

    With ``base`` (frozen parameters) and ``alpha``, the trained state is a set of LoRA
    adapters and ``loss_and_grads(adapters, idx)`` differentiates the adapted model.
    """
    options = {"n_heads": n_heads, "eps": eps, "activation": activation}
    lora = base is not None
    if backend == "numpy":
        from generated.numpy import gpt2

        def loss_and_grads(state, idx):
            if lora:
                return gpt2.lora_loss_and_grads(base, state, idx, alpha=alpha, **options)
            return gpt2.loss_and_grads(state, idx, **options)

        return (lambda a: a), loss_and_grads, (lambda a: a)
    import torch

    frozen = {k: torch.from_numpy(v) for k, v in base.items()} if lora else None
    if backend == "torch":
        from generated.torch import gpt2

        def loss_and_grads(state, idx):
            if lora:
                return gpt2.lora_loss_and_grads(frozen, state, torch.from_numpy(idx), alpha=alpha, **options)
            return gpt2.loss_and_grads(state, torch.from_numpy(idx), **options)
    elif backend == "autograd":
        from generated.torch.gpt2 import merge_lora

        from .gpt2_params import reference_loss

        def loss_and_grads(state, idx):
            leaves = {k: v.detach().requires_grad_() for k, v in state.items()}
            model = merge_lora(frozen, leaves, alpha=alpha) if lora else leaves
            loss = reference_loss(model, torch.from_numpy(idx), n_heads, eps, activation)
            loss.backward()
            return loss.detach(), {k: v.grad for k, v in leaves.items()}
    else:
        raise ValueError(f"unknown backend {backend!r}; known: {', '.join(BACKENDS)}")
    return torch.from_numpy, loss_and_grads, (lambda t: t.detach().cpu().numpy())


@dataclass
class TrainConfig:
    layers: int = 2
    width: int = 128
    heads: int = 4
    context: int = 64
    batch: int = 16
    steps: int = 2000
    lr: float = 3e-3
    weight_decay: float = 0.1
    seed: int = 0
    eval_every: int = 200
    eval_batches: int = 8
    backend: str = "numpy"
    activation: str = "gelu_tanh"
    eps: float = 1e-5
    tied: bool = True
    sample_chars: int = 400
    temperature: float = 0.8


class Progress:
    """A one-line progress bar on stderr: step, loss, validation loss, tokens/s, time left."""

    def __init__(self, total: int, enabled: bool = True, width: int = 24):
        self.total, self.width, self.start = total, width, time.time()
        self.tty = enabled and sys.stderr.isatty()  # redraw one line
        self.plain = enabled and not self.tty  # a line every tenth of the run (logs, CI)

    def update(self, step: int, loss: float, val: float | None, tokens_per_s: float) -> None:
        done = (step + 1) / self.total
        elapsed = time.time() - self.start
        left = elapsed / done - elapsed
        bar = "#" * int(self.width * done) + "-" * (self.width - int(self.width * done))
        val_text = f" val {val:.3f}" if val is not None else ""
        line = (f"[{bar}] {step + 1}/{self.total} loss {loss:.3f}{val_text} "
                f"{tokens_per_s:,.0f} tok/s {int(left) // 60}:{int(left) % 60:02d} left")
        if self.tty:
            print("\r" + line, end="", file=sys.stderr, flush=True)
        elif self.plain and (step + 1 == self.total or (step + 1) % max(1, self.total // 10) == 0):
            print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.tty:
            print(file=sys.stderr)


@dataclass
class Result:
    losses: list
    val_steps: list
    val_losses: list
    params: dict
    tokens_per_s: float
    seconds: float


def train_loop(params: dict, data: CharData, config: TrainConfig, progress: bool = True,
               base: dict | None = None, alpha: float | None = None) -> Result:
    """Train ``params`` (NumPy arrays, updated in place) with AdamW; returns the loss history.

    With ``base`` and ``alpha``, ``params`` are LoRA adapters of the frozen model ``base``.
    """
    to_backend, objective, to_numpy = gradient_function(config.backend, config.heads, config.activation,
                                                        config.eps, base, alpha)
    state = {k: to_backend(v) for k, v in params.items()}
    names = list(params)
    optimizer = AdamW({k: state[k] for k in names}, weight_decay=config.weight_decay)
    rng = np.random.default_rng(config.seed)
    val_batches = [batch(np.random.default_rng(10_000 + i), data.val, config.batch, config.context)
                   for i in range(config.eval_batches)]
    bar = Progress(config.steps, progress)
    losses, val_steps, val_losses, val = [], [], [], None
    start = time.time()
    for step in range(config.steps):
        idx = batch(rng, data.train, config.batch, config.context)
        loss, grads = objective(state, idx)
        optimizer.step({k: state[k] for k in names}, grads, learning_rate(step, config.steps, config.lr))
        losses.append(float(loss))
        if (step + 1) % config.eval_every == 0 or step + 1 == config.steps:
            val = float(np.mean([float(objective(state, v)[0]) for v in val_batches]))
            val_steps.append(step + 1)
            val_losses.append(val)
        bar.update(step, losses[-1], val, (step + 1) * idx.size / (time.time() - start))
    bar.close()
    seconds = time.time() - start
    for k in names:
        params[k] = np.asarray(to_numpy(state[k]))
    return Result(losses, val_steps, val_losses, params, config.steps * config.batch * config.context / seconds,
                  seconds)


def sample(params: dict, data: CharData, config: TrainConfig, chars: int, prompt: str = "\n",
           seed: int = 0) -> str:
    """``chars`` characters from the model after ``prompt``, at ``config.temperature``."""
    from generated.numpy import gpt2

    rng = np.random.default_rng(seed)
    ids = list(data.encode(prompt)) or [0]  # a prompt outside the vocabulary starts from token 0
    start = len(ids)
    for _ in range(chars):
        window = np.array([ids[-config.context:]])
        z = gpt2.logits(params, window, n_heads=config.heads, eps=config.eps, activation=config.activation)[0, -1]
        z = z.astype(np.float64) / max(config.temperature, 1e-6)
        p = np.exp(z - z.max())
        ids.append(int(rng.choice(len(p), p=p / p.sum())))
    return data.decode(ids[start:])


def plot(result: Result, path: Path, title: str) -> None:
    """Training and validation loss curves as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    steps = np.arange(1, len(result.losses) + 1)
    ax.plot(steps, result.losses, lw=0.8, alpha=0.5, label="training (per step)")
    window = max(1, len(result.losses) // 50)
    smooth = np.convolve(result.losses, np.ones(window) / window, mode="valid")
    ax.plot(steps[window - 1:], smooth, lw=1.5, label=f"training (mean of {window})")
    ax.plot(result.val_steps, result.val_losses, "o-", lw=1.5, label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats per character)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def save_checkpoint(path: Path, params: dict, config: TrainConfig, vocab: list[str], extra: dict | None = None):
    metadata = {"format": "pedestrian-backprop gpt2", "config": json.dumps(asdict(config)),
                "vocab": json.dumps(vocab)}
    safetensors.save(path, params, metadata | (extra or {}))


def load_checkpoint(path: Path) -> tuple[dict, TrainConfig, list[str], dict]:
    params, metadata = safetensors.load(path)
    if "config" not in metadata or "vocab" not in metadata:
        raise ValueError(f"{path}: not a checkpoint written by `backprop train` (no config/vocab metadata)")
    return params, TrainConfig(**json.loads(metadata["config"])), json.loads(metadata["vocab"]), metadata
