"""``backprop train``: a character-level GPT-2 or LLaMA trained with the generated backward pass.

The gradient comes from ``generated.numpy.<model>`` (default), ``generated.torch.<model>``
(``--backend torch``) or, for comparison, torch autograd on the reference
model (``--backend autograd``); everything else (data, AdamW, schedule) is the
same code, so the backends can be compared step for step.  What differs between the
model families is in ``backprop.models``.
"""
from __future__ import annotations

import hashlib
import json
import math
import signal
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from . import checkpoints, models
from .checkpoints import CheckpointError

BACKENDS = ("numpy", "numba", "torch", "autograd")


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

    def state(self, to_numpy) -> tuple[dict, int]:
        """The moments as NumPy arrays (keys ``adamw.m.<name>``, ``adamw.v.<name>``) and the step count."""
        moments = {f"adamw.m.{k}": np.asarray(to_numpy(v)) for k, v in self.m.items()}
        moments |= {f"adamw.v.{k}": np.asarray(to_numpy(v)) for k, v in self.v.items()}
        return moments, self.t

    def restore(self, moments: dict, t: int, to_backend) -> None:
        """Continue from ``state()``'s output."""
        for k in self.m:
            self.m[k], self.v[k] = to_backend(moments[f"adamw.m.{k}"]), to_backend(moments[f"adamw.v.{k}"])
        self.t = t

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


@dataclass
class Step:
    """What a training step calls, for one backend: ``loss_and_grads(state, idx) -> (loss, grads)`` and
    ``loss(state, idx)`` on the trained arrays, and the conversions between NumPy and the backend."""

    to_backend: object
    loss_and_grads: object
    loss: object
    to_numpy: object
    stop: object = bool  # stop(requested): do all processes stop at this step (Ctrl-C seen by one)?
    generated: object = None  # for torch.distributed: the generated loss_and_grads, or
    reference: object = None  # the reference model's loss that autograd differentiates


def gradient_function(config: "TrainConfig", base: dict | None = None, alpha: float | None = None,
                      world=None) -> Step:
    """The ``Step`` of ``config``'s backend, for its model.

    With ``base`` (frozen parameters) and ``alpha``, the trained state is a set of LoRA
    adapters and ``loss_and_grads(adapters, idx)`` differentiates the adapted model.  With a
    ``world`` of several processes (torch.distributed), each takes its slice of every global batch
    and the gradients are averaged over them (``backprop.distributed``).
    """
    backend, options, compile = config.backend, models.options(config), config.compile
    lora = base is not None
    if backend in ("numpy", "numba"):  # the NumPy step, or the same with fused Numba kernels
        gpt2 = models.module(config, backend)

        def loss_and_grads(state, idx):
            if lora:
                return gpt2.lora_loss_and_grads(base, state, idx, alpha=alpha, **options)
            return gpt2.loss_and_grads(state, idx, **options)

        return Step(lambda a: a, loss_and_grads, lambda state, idx: loss_and_grads(state, idx)[0], lambda a: a)
    import torch

    device = world.device if world is not None else "cpu"
    to_backend = (lambda a: torch.from_numpy(a).to(device)) if device != "cpu" else torch.from_numpy
    frozen = {k: to_backend(v) for k, v in base.items()} if lora else None
    tokens = lambda idx: torch.as_tensor(idx).to(device)  # noqa: E731
    reference = None
    if backend == "torch":
        gpt2 = models.module(config, "torch")
        compiled = {"compile": True} if compile else {}  # GPT-2's step alone has a compiled form

        def loss_and_grads(state, idx):
            if lora:
                return gpt2.lora_loss_and_grads(frozen, state, tokens(idx), alpha=alpha, **options)
            return gpt2.loss_and_grads(state, tokens(idx), **options, **compiled)
    elif backend == "autograd":
        from generated.torch.gpt2 import merge_lora

        reference_loss = models.reference_loss(config)

        def reference(state, idx):
            model = merge_lora(frozen, state, alpha=alpha) if lora else state
            return reference_loss(model, tokens(idx))

        def loss_and_grads(state, idx):
            leaves = {k: v.detach().requires_grad_() for k, v in state.items()}
            loss = reference(leaves, idx)
            loss.backward()
            return loss.detach(), {k: v.grad for k, v in leaves.items()}
    else:
        raise ValueError(f"unknown backend {backend!r}; known: {', '.join(BACKENDS)}")
    return Step(to_backend, loss_and_grads, lambda state, idx: loss_and_grads(state, idx)[0],
                lambda t: t.detach().cpu().numpy(), stop=world.any if world is not None else bool,
                generated=loss_and_grads if reference is None else None, reference=reference)


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
    compile: bool = False  # run the generated Torch step under torch.compile
    model: str = "gpt2"  # or "llama" (backprop.models)
    kv_heads: int = 0  # LLaMA's key and value heads; 0: as many as heads
    rope_theta: float = 10000.0  # LLaMA's rotary base


class Progress:
    """A one-line progress bar on stderr: step, loss, validation loss, tokens/s, time left.

    ``stage``: (k, n) for run k of n equal runs of one experiment: the line also says which run this
    is and the time left for all of them, estimated from this run's pace."""

    def __init__(self, total: int, enabled: bool = True, width: int = 24, done: int = 0, stage=None):
        self.total, self.width, self.start, self.first = total, width, time.time(), done
        self.stage = stage
        self.tty = enabled and sys.stderr.isatty()  # redraw one line
        self.plain = enabled and not self.tty  # a line every tenth of the run (logs, CI)

    def update(self, step: int, loss: float, val: float | None, tokens_per_s: float) -> None:
        done = (step + 1) / self.total
        elapsed = time.time() - self.start
        left = elapsed / (step + 1 - self.first) * (self.total - step - 1)
        bar = "#" * int(self.width * done) + "-" * (self.width - int(self.width * done))
        val_text = f" val {val:.3f}" if val is not None else ""
        line = (f"[{bar}] {step + 1}/{self.total} loss {loss:.3f}{val_text} "
                f"{tokens_per_s:,.0f} tok/s {int(left) // 60}:{int(left) % 60:02d} left")
        if self.stage is not None:
            k, n = self.stage
            whole = left + (n - k) * (elapsed / (step + 1 - self.first) * self.total)  # the runs after this one
            line = f"run {k}/{n} " + line + f", about {int(whole) // 60}:{int(whole) % 60:02d} for all {n}"
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


@dataclass
class TrainState:
    """Everything a run needs to continue exactly where it stopped (``--resume``).

    ``params`` and ``moments`` are NumPy arrays; ``rng`` is the state of the
    generator that draws the training batches.
    """

    step: int
    params: dict
    moments: dict
    adam_t: int
    rng: dict
    losses: list
    val_steps: list
    val_losses: list
    seconds: float = 0.0

    def finite(self) -> bool:
        return all_finite(self.params)


def all_finite(arrays: dict) -> bool:
    return all(np.isfinite(v).all() for v in arrays.values())


def refuse_non_finite(path: Path, arrays: dict, what: str = "weights") -> None:
    """Nothing non-finite is written: ``Diverged`` before ``path`` would get such ``arrays``."""
    if not all_finite(arrays):
        raise Diverged(f"{path}: refusing to write non-finite {what}", None)


class TrainingStopped(Exception):
    """Training stopped before its last step; ``state`` is the last good state (or None)."""

    def __init__(self, message: str, state: TrainState | None):
        super().__init__(message)
        self.state = state


class Diverged(TrainingStopped):
    """A non-finite loss or non-finite weights: nothing of that step is kept."""


class Interrupted(TrainingStopped):
    """Ctrl-C: the run stopped at a step boundary."""


class _DeferredInterrupt:
    """Ctrl-C sets a flag that the loop reads between steps, so a step is never half applied.

    A second Ctrl-C interrupts at once.  Under torchrun (``patient``) the terminal's Ctrl-C reaches every
    process and torchrun then forwards it again (or SIGTERM): every signal only sets the flag, and the
    processes agree on the step to stop at, so the state is saved whole.
    """

    def __init__(self, patient: bool = False):
        self.requested, self.patient = False, patient
        self.signals = (signal.SIGINT, signal.SIGTERM) if patient else (signal.SIGINT,)

    def __enter__(self):
        try:
            self.previous = [(s, signal.signal(s, self._handle)) for s in self.signals]
        except ValueError:  # not the main thread: Ctrl-C is not ours to catch
            self.previous = []
        return self

    def _handle(self, signum, frame):
        if self.requested and not self.patient:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        for s, previous in self.previous:
            signal.signal(s, previous)
        return False


def train_loop(params: dict, data: CharData, config: TrainConfig, progress: bool = True,
               base: dict | None = None, alpha: float | None = None, resume: TrainState | None = None,
               save_every: int = 0, on_checkpoint=None, world=None, stage=None) -> Result:
    """Train ``params`` (NumPy arrays, updated in place) with AdamW; returns the loss history.
    ``stage``: (k, n) when this is run k of n of one experiment (the progress line says so).

    With ``base`` and ``alpha``, ``params`` are LoRA adapters of the frozen model ``base``.
    ``resume`` continues a run from its saved state.  Every ``save_every`` steps (0: never)
    ``on_checkpoint(state)`` receives the current state.  A non-finite loss raises
    ``Diverged`` and Ctrl-C raises ``Interrupted``, each with the last good state.
    """
    step_of = gradient_function(config, base, alpha, world=world)
    to_backend, objective, evaluate, to_numpy = step_of.to_backend, step_of.loss_and_grads, step_of.loss, \
        step_of.to_numpy
    names = list(params)
    if resume is not None:
        params.update({k: resume.params[k].copy() for k in names})
    state = {k: to_backend(v) for k, v in params.items()}
    if world is not None and world.distributed:  # each rank its slice of the batch; DDP averages the gradients
        from .data_parallel import data_parallel

        objective, evaluate = data_parallel(world, state, step_of.generated, step_of.reference)
    optimizer = AdamW({k: state[k] for k in names}, weight_decay=config.weight_decay)
    rng = np.random.default_rng(config.seed)
    first = 0
    losses, val_steps, val_losses, seconds_before = [], [], [], 0.0
    if resume is not None:
        optimizer.restore(resume.moments, resume.adam_t, to_backend)
        rng.bit_generator.state = resume.rng
        first, seconds_before = resume.step, resume.seconds
        losses, val_steps, val_losses = list(resume.losses), list(resume.val_steps), list(resume.val_losses)
    val_batches = [batch(np.random.default_rng(10_000 + i), data.val, config.batch, config.context)
                   for i in range(config.eval_batches)]

    def snapshot(step: int) -> TrainState:
        moments, t = optimizer.state(to_numpy)
        return TrainState(step, {k: np.array(to_numpy(state[k])) for k in names}, moments, t,
                          rng.bit_generator.state, list(losses), list(val_steps), list(val_losses),
                          seconds_before + time.time() - start)

    bar = Progress(config.steps, progress, done=first, stage=stage)
    val = val_losses[-1] if val_losses else None
    start = time.time()
    patient = world is not None and world.distributed  # under torchrun a signal may come more than once
    with _DeferredInterrupt(patient) as interrupt, np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        try:
            for step in range(first, config.steps):
                if step_of.stop(interrupt.requested):  # under torchrun: when any process saw Ctrl-C
                    raise Interrupted(f"interrupted at step {step}", snapshot(step))
                idx = batch(rng, data.train, config.batch, config.context)
                loss, grads = objective(state, idx)
                loss = float(loss)
                if not math.isfinite(loss):
                    raise Diverged(f"training diverged at step {step + 1}: the loss is {loss}", None)
                optimizer.step({k: state[k] for k in names}, grads, learning_rate(step, config.steps, config.lr))
                losses.append(loss)
                if (step + 1) % config.eval_every == 0 or step + 1 == config.steps:
                    val = float(np.mean([float(evaluate(state, v)) for v in val_batches]))
                    val_steps.append(step + 1)
                    val_losses.append(val)
                bar.update(step, losses[-1], val, (step + 1 - first) * idx.size / (time.time() - start))
                if save_every and (step + 1) % save_every == 0 and step + 1 < config.steps and on_checkpoint:
                    saved = snapshot(step + 1)
                    if not saved.finite():
                        raise Diverged(f"training diverged at step {step + 1}: the weights are not finite", None)
                    on_checkpoint(saved)
        except KeyboardInterrupt:  # a second Ctrl-C, mid-step: the step in flight is dropped
            raise Interrupted(f"interrupted during step {len(losses) + 1}", None) from None
        finally:
            bar.close()
    seconds = time.time() - start
    for k in names:
        params[k] = np.asarray(to_numpy(state[k]))
    if not all_finite(params):
        raise Diverged(f"training diverged by step {config.steps}: the weights are not finite", None)
    done = config.steps - first
    return Result(losses, val_steps, val_losses, params, done * config.batch * config.context / max(seconds, 1e-9),
                  seconds_before + seconds)


def sample(params: dict, data: CharData, config: TrainConfig, chars: int, prompt: str = "\n",
           seed: int = 0) -> str:
    """``chars`` characters from the model after ``prompt``, at ``config.temperature``."""
    model = models.module(config, "numpy")
    rng = np.random.default_rng(seed)
    ids = list(data.encode(prompt)) or [0]  # a prompt outside the vocabulary starts from token 0
    start = len(ids)
    for _ in range(chars):
        window = np.array([ids[-config.context:]])
        z = model.logits(params, window, **models.options(config))[0, -1]
        z = z.astype(np.float64) / max(config.temperature, 1e-6)
        p = np.exp(z - z.max())
        ids.append(int(rng.choice(len(p), p=p / p.sum())))
    return data.decode(ids[start:])


def plot(result: Result, path: Path, title: str) -> None:
    """Training and validation loss curves as a PNG (written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from codegen.atomic import atomic_path

    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    steps = np.arange(1, len(result.losses) + 1)
    ax.plot(steps, result.losses, lw=0.8, alpha=0.5, label="training (per step)")
    window = max(1, len(result.losses) // 50)
    if len(result.losses) >= window:
        smooth = np.convolve(result.losses, np.ones(window) / window, mode="valid")
        ax.plot(steps[window - 1:], smooth, lw=1.5, label=f"training (mean of {window})")
    ax.plot(result.val_steps, result.val_losses, "o-", lw=1.5, label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats per character)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as temp:
        fig.savefig(temp, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)


MODEL_FORMAT = "pedestrian-backprop gpt2"
STATE_FORMAT = "pedestrian-backprop training state"


def tensors_sha256(tensors: dict) -> str:
    """A fingerprint of a set of arrays: names, dtypes, shapes and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name])
        h.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
        h.update(array.tobytes())
    return h.hexdigest()


def save_checkpoint(path: Path, params: dict, config: TrainConfig, vocab: list[str], extra: dict | None = None):
    """A model checkpoint: the parameters, with the configuration and vocabulary as metadata."""
    refuse_non_finite(path, params)
    metadata = {"format": MODEL_FORMAT, "config": json.dumps(asdict(config)), "vocab": json.dumps(vocab)}
    checkpoints.save(path, params, metadata | (extra or {}))


def metadata_json(path: Path, metadata: dict, key: str, kind: type):
    if key not in metadata:
        raise CheckpointError(f"{path}: no {key!r} metadata: not a checkpoint written by `backprop train`")
    try:
        value = json.loads(metadata[key])
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: corrupt {key!r} metadata ({e.msg})") from None
    if not isinstance(value, kind):
        raise CheckpointError(f"{path}: corrupt {key!r} metadata (not a JSON {kind.__name__})")
    return value


def config_from_metadata(path: Path, metadata: dict) -> TrainConfig:
    """The configuration a checkpoint records, refused in one line if no model could have it."""
    values = metadata_json(path, metadata, "config", dict)
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise CheckpointError(f"{path}: unknown configuration field(s) {', '.join(unknown)} in its metadata")
    problem = config_problem(values)
    if problem:
        raise CheckpointError(f"{path}: impossible configuration in its metadata: {problem}")
    return TrainConfig(**values)


def _kind(default) -> tuple[type, ...]:
    return {bool: (bool,), int: (int,), float: (int, float), str: (str,)}[type(default)]


def config_problem(values: dict, name=str) -> str | None:
    """Why the configuration ``values`` (field → value) describes no model that can be trained, or None.

    ``name`` says a field as the message names it: itself in a checkpoint's metadata, its flag on the
    command line (``backprop train``), so both are checked by this one function."""
    defaults = asdict(TrainConfig())
    for field_name, value in values.items():
        kinds = _kind(defaults[field_name])
        if not isinstance(value, kinds) or (bool not in kinds and isinstance(value, bool)):
            return f"{name(field_name)} is {value!r}, expected {' or '.join(k.__name__ for k in kinds)}"
    config = {**defaults, **values}
    for field_name in ("layers", "width", "heads", "context", "batch", "steps", "eval_every", "eval_batches"):
        if config[field_name] < 1:
            return f"{name(field_name)} must be at least 1, got {config[field_name]}"
    for field_name in ("seed", "sample_chars"):
        if config[field_name] < 0:
            return f"{name(field_name)} must be 0 or more, got {config[field_name]}"
    for field_name in ("lr", "eps", "temperature", "rope_theta"):
        if not (math.isfinite(config[field_name]) and config[field_name] > 0):
            return f"{name(field_name)} must be a finite number above 0, got {config[field_name]}"
    if not (math.isfinite(config["weight_decay"]) and config["weight_decay"] >= 0):
        return f"{name('weight_decay')} must be a finite number, 0 or more, got {config['weight_decay']}"
    if config["width"] % config["heads"]:
        return f"{name('width')} {config['width']} must be divisible by {name('heads')} {config['heads']}"
    if config["context"] < 2:
        return f"{name('context')} must be at least 2 (each position predicts the next), got {config['context']}"
    if config["backend"] not in BACKENDS:
        return f"{name('backend')} {config['backend']!r} is not one of {', '.join(BACKENDS)}"
    known = activations()
    if config["activation"] not in known:
        return f"{name('activation')} {config['activation']!r} is not one of {', '.join(known)}"
    return models.problem(config, name)


def activations() -> tuple[str, ...]:
    """The activations the generated GPT-2 takes (its MLP's choices)."""
    from derive.components import build

    return next(a.choices for a in build("mlp").configs if a.name == "activation")


def vocab_from_metadata(path: Path, metadata: dict) -> list[str]:
    """The vocabulary a checkpoint records: distinct single characters."""
    vocab = metadata_json(path, metadata, "vocab", list)
    if not vocab or not all(isinstance(ch, str) and len(ch) == 1 for ch in vocab):
        raise CheckpointError(f"{path}: corrupt 'vocab' metadata (expected a list of single characters)")
    if len(set(vocab)) < len(vocab):
        repeated = next(ch for ch in vocab if vocab.count(ch) > 1)
        raise CheckpointError(f"{path}: corrupt 'vocab' metadata ({repeated!r} appears twice)")
    return vocab


def check_tensors(path: Path, tensors: dict, expected: dict[str, tuple]) -> None:
    """Every expected key present with its shape, nothing else; the error names the checkpoint key."""
    missing = [k for k in expected if k not in tensors]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise CheckpointError(f"{path}: missing tensor {missing[0]!r}{more}")
    unexpected = sorted(set(tensors) - set(expected))
    if unexpected:
        more = f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1 else ""
        raise CheckpointError(f"{path}: unexpected tensor {unexpected[0]!r}{more}")
    for k, shape in expected.items():
        if tuple(tensors[k].shape) != tuple(shape):
            raise CheckpointError(f"{path}: {k!r} has shape {tuple(tensors[k].shape)}, expected {tuple(shape)}")
        if not np.issubdtype(tensors[k].dtype, np.floating):
            raise CheckpointError(f"{path}: {k!r} has dtype {tensors[k].dtype}, expected floating point")


def load_checkpoint(path: Path) -> tuple[dict, TrainConfig, list[str], dict]:
    """(parameters as float32, configuration, vocabulary, metadata) of a model checkpoint, validated."""
    params, metadata = checkpoints.load(path)
    if metadata.get("format") != MODEL_FORMAT:
        found = f"format {metadata['format']!r}" if "format" in metadata else "no format metadata"
        raise CheckpointError(f"{path}: not a model checkpoint written by `backprop train` ({found})")
    config = config_from_metadata(path, metadata)
    vocab = vocab_from_metadata(path, metadata)
    expected = models.parameter_shapes(config, len(vocab), head_bias="lm_head.bias" in params and not config.tied)
    check_tensors(path, params, expected)
    return {k: v.astype(np.float32, copy=False) for k, v in params.items()}, config, vocab, metadata


def save_state(path: Path, state: TrainState, config: TrainConfig, vocab: list[str], extra: dict) -> None:
    """The resumable state of a run: weights, AdamW moments, step, batch generator, history."""
    refuse_non_finite(path, state.params)
    metadata = {"format": STATE_FORMAT, "config": json.dumps(asdict(config)), "vocab": json.dumps(vocab),
                "step": str(state.step), "adam_t": str(state.adam_t), "rng": json.dumps(state.rng),
                "history": json.dumps({"losses": state.losses, "val_steps": state.val_steps,
                                       "val_losses": state.val_losses, "seconds": state.seconds})}
    tensors = {f"param.{k}": v for k, v in state.params.items()} | state.moments
    checkpoints.save(path, tensors, metadata | extra)


def load_state(path: Path) -> tuple[TrainState, TrainConfig, list[str], dict]:
    """(state, configuration, vocabulary, metadata) of a file written by ``save_state``, checked as a
    model checkpoint is: the weights against the configuration (a LoRA state's adapters are checked
    against its base by the caller), the moments against the weights, the step and history against
    each other, and the batch generator's state."""
    tensors, metadata = checkpoints.load(path)
    if metadata.get("format") != STATE_FORMAT:
        raise CheckpointError(f"{path}: not a training state written by `backprop train` "
                              f"(format {metadata.get('format')!r})")
    config = config_from_metadata(path, metadata)
    vocab = vocab_from_metadata(path, metadata)
    history = metadata_json(path, metadata, "history", dict)
    rng = metadata_json(path, metadata, "rng", dict)
    try:
        step, adam_t = int(metadata["step"]), int(metadata["adam_t"])
    except (KeyError, ValueError):
        raise CheckpointError(f"{path}: corrupt step metadata") from None
    if not 0 <= step < config.steps:
        raise CheckpointError(f"{path}: step {step} is outside the run's 0 … {config.steps - 1}")
    if adam_t != step:
        raise CheckpointError(f"{path}: the optimizer has taken {adam_t} steps, the run {step}")
    params = {k[len("param."):]: v for k, v in tensors.items() if k.startswith("param.")}
    moments = {k: v for k, v in tensors.items() if k.startswith("adamw.")}
    if "lora" not in metadata:
        expected = models.parameter_shapes(config, len(vocab), head_bias="lm_head.bias" in params and not config.tied)
        check_tensors(path, {f"param.{k}": v for k, v in params.items()},
                      {f"param.{k}": shape for k, shape in expected.items()})
    stray = sorted(set(tensors) - {f"param.{k}" for k in params} - set(moments))
    if stray or set(moments) != {f"adamw.{m}.{k}" for m in "mv" for k in params}:
        raise CheckpointError(f"{path}: the optimizer moments do not match the weights")
    for k, v in moments.items():
        weight = params[k.split(".", 2)[2]]  # adamw.m.<name>
        if v.shape != weight.shape:
            raise CheckpointError(f"{path}: {k!r} has shape {v.shape}, its weight {weight.shape}")
    losses, val_steps, val_losses = (history.get(k) for k in ("losses", "val_steps", "val_losses"))
    if not all(isinstance(x, list) for x in (losses, val_steps, val_losses)) or len(losses) != step \
            or len(val_steps) != len(val_losses) or not isinstance(history.get("seconds", 0.0), (int, float)):
        raise CheckpointError(f"{path}: corrupt 'history' metadata (expected {step} losses and matching "
                              "validation steps and losses)")
    try:
        np.random.default_rng().bit_generator.state = rng
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: corrupt 'rng' metadata ({type(e).__name__}: {e})") from None
    state = TrainState(step, params, moments, adam_t, rng, losses, val_steps, val_losses,
                       float(history.get("seconds", 0.0)))
    return state, config, vocab, metadata
