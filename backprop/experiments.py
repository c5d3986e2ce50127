"""``backprop experiment NAME``: the paper's proposed experiments, each a small char-level study.

Every experiment writes ``NAME.png`` (the figure), ``NAME.json`` (the numbers) and ``NAME.md``
(the finding with its figures) into ``--out``, atomically, and prints the finding.  The models
are built from the generated Torch modules (their backward passes are the derived ones) or, for
LoRA, trained with the generated NumPy/Torch GPT-2; the data is the Python reference manual
that ships with Python.

* ``key-bias``: the same initial model trained with b_k and with b_k removed, softmax attention
  and sigmoid attention: with softmax the losses agree to float32 rounding and b_k never moves.
* ``positions``: causal attention with and without position embeddings, and non-causal
  attention without them (the control that cannot see order): validation losses.
* ``lora-alpha``: LoRA fine-tuning of one trained base on a second text for several α at fixed r:
  the final loss and the adapters' norm against α (α scales the adapters' updates).
* ``norm-jacobian``: ∂Y/∂X over tokens for LayerNorm and for the same normalisation over tokens
  (BatchNorm-style), assembled from the generated backward: block-diagonal against coupled.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from codegen.atomic import atomic_path, write_text

from .training import CharData, Progress, batch, default_corpus

EXPERIMENTS = ("key-bias", "positions", "lora-alpha", "norm-jacobian")


class TinyModel:
    """Pre-LN attention layers and the next-token head, from the generated Torch modules:
    X = embedding(idx); X ← X + proj(attn(LN(X))) per layer; loss = cross_entropy(LN(X), idx)."""

    def __init__(self, vocab: int, d: int, heads: int, context: int, normalisation: str = "softmax",
                 causal: bool = True, positions: bool = True, key_bias: bool = True, seed: int = 0,
                 layers: int = 1):
        import torch

        from generated.torch.attention import Attention
        from generated.torch.cross_entropy import CrossEntropy
        from generated.torch.embedding import Embedding
        from generated.torch.layernorm import LayerNorm
        from generated.torch.linear import Linear
        from generated.torch.sigmoid_attention import SigmoidAttention

        torch.manual_seed(seed)
        attention = {"softmax": Attention, "sigmoid": SigmoidAttention}[normalisation]
        self.embedding = Embedding(vocab, d, context)
        self.layers = [(LayerNorm(d), attention(d, heads, causal=causal), Linear(d, d)) for _ in range(layers)]
        self.attention = self.layers[0][1]
        self.ln_2, self.head = LayerNorm(d), CrossEntropy(d, vocab)
        with torch.no_grad():  # a key bias that is not zero, so that it could matter
            for _, attn, _ in self.layers:
                attn.b_k.normal_(0.0, 0.5)
        if not key_bias:
            for _, attn, _ in self.layers:
                attn.b_k.requires_grad_(False).zero_()
        if not positions:
            self.embedding.W_pos.requires_grad_(False).zero_()
        self.modules = [self.embedding, *(m for layer in self.layers for m in layer), self.ln_2, self.head]

    def parameters(self):
        return [p for m in self.modules for p in m.parameters() if p.requires_grad]

    def loss(self, idx, last_only: bool = False):
        """Mean next-token loss of every position of ``idx``; with ``last_only``, of the window
        idx[:, :-1] predicting idx[:, -1] from its last position only (no position attends to its
        own target, even without a causal mask)."""
        import torch

        window = idx[:, :-1] if last_only else idx
        X = self.embedding(window)
        for ln, attention, proj in self.layers:
            X = X + proj(attention(ln(X)))
        H = self.ln_2(X)
        if not last_only:
            return self.head(H, idx)
        last = H[:, -1:, :]
        target = idx[:, -1:]  # cross_entropy scores position 0 against token 1: the window's next token
        return self.head(torch.cat([last, last], dim=1), torch.cat([target, target], dim=1))


def train_tiny(model: TinyModel, data: CharData, steps: int, context: int, batch_size: int, lr: float,
               bar: Progress | None = None, done: int = 0, last_only: bool = False) -> dict:
    """AdamW (decay on matrices only), the same batches for every model; losses and validation."""
    import torch

    matrices = [p for p in model.parameters() if p.dim() >= 2]
    vectors = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": matrices, "weight_decay": 0.1},
                                   {"params": vectors, "weight_decay": 0.0}], lr=lr)
    rng = np.random.default_rng(0)
    losses = []
    for step in range(steps):
        idx = torch.from_numpy(batch(rng, data.train, batch_size, context + last_only))
        optimizer.zero_grad()
        loss = model.loss(idx, last_only)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        if bar is not None:
            bar.update(done + step, losses[-1], None, 0.0)
    with torch.no_grad():
        val = [float(model.loss(torch.from_numpy(batch(np.random.default_rng(10_000 + i), data.val, batch_size,
                                                            context + last_only)), last_only)) for i in range(32)]
    return {"losses": losses, "val": float(np.mean(val))}


def _data(chars: int = 200_000) -> CharData:
    return CharData(default_corpus()[0][:chars])


def key_bias(steps: int, progress: bool, backend: str = "torch") -> tuple[dict, str]:
    data = _data()
    runs, bar = {}, Progress(4 * steps, progress)
    for k, (normalisation, with_bias) in enumerate([(n, b) for n in ("softmax", "sigmoid") for b in (True, False)]):
        model = TinyModel(len(data.vocab), 64, 4, 32, normalisation, key_bias=with_bias)
        start = model.attention.b_k.detach().clone()
        result = train_tiny(model, data, steps, 32, 16, 3e-3, bar, k * steps)
        result["b_k_moved"] = float((model.attention.b_k.detach() - start).abs().max())
        runs[f"{normalisation}, {'with' if with_bias else 'without'} b_k"] = result
    bar.close()
    gaps = {n: float(np.max(np.abs(np.subtract(runs[f"{n}, with b_k"]["losses"], runs[f"{n}, without b_k"]["losses"]))))
            for n in ("softmax", "sigmoid")}
    numbers = {"steps": steps, "max_loss_gap": gaps,
               "b_k_moved": {k: r["b_k_moved"] for k, r in runs.items() if "with b_k" in k},
               "final_loss": {k: r["losses"][-1] for k, r in runs.items()},
               "runs": {k: r["losses"] for k, r in runs.items()}}
    finding = (f"With softmax, training with and without the key bias gives the same losses up to float32 "
               f"rounding (largest gap {gaps['softmax']:.2e} over {steps} steps) and b_k never moves "
               f"(largest change {numbers['b_k_moved']['softmax, with b_k']:.1e}): its gradient is exactly zero. "
               f"With sigmoid scores the runs differ (largest gap {gaps['sigmoid']:.2e}) and b_k moves by "
               f"{numbers['b_k_moved']['sigmoid, with b_k']:.2e}: the rows of P no longer sum to a constant.")
    _plot({k: r["losses"] for k, r in runs.items()}, "step", "training loss", "Key bias: with and without", numbers)
    return numbers, finding


def positions(steps: int, progress: bool, backend: str = "torch") -> tuple[dict, str]:
    data = _data()
    cases = {"causal, with positions": (True, True), "causal, no positions": (True, False),
             "non-causal, no positions": (False, False)}
    runs, bar = {}, Progress(len(cases) * steps, progress)
    for k, (name, (causal, with_positions)) in enumerate(cases.items()):
        # Two layers: a position's first-layer output depends on how many tokens it may attend to,
        # which is how a causal mask can tell the last position about order.
        model = TinyModel(len(data.vocab), 64, 4, 32, causal=causal, positions=with_positions, layers=2)
        runs[name] = train_tiny(model, data, steps, 32, 32, 3e-3, bar, k * steps, last_only=True)
    bar.close()
    val = {k: r["val"] for k, r in runs.items()}
    numbers = {"steps": steps, "validation_loss": val, "runs": {k: r["losses"] for k, r in runs.items()}}
    gain = val["non-causal, no positions"] - val["causal, no positions"]
    finding = (f"Predicting the character after a 32-character window from its last position, validation loss after "
               f"{steps} steps: causal with position embeddings {val['causal, with positions']:.3f}, causal without "
               f"{val['causal, no positions']:.3f}, non-causal without {val['non-causal, no positions']:.3f} "
               f"(a bag of characters: it cannot see order). The causal mask alone "
               + (f"recovers order: {gain:.3f} nats better than the control" if gain > 0 else
                  f"does not beat the control here ({gain:+.3f} nats)")
               + f", and explicit positions add {val['causal, no positions'] - val['causal, with positions']:+.3f}.")
    _plot({k: r["losses"] for k, r in runs.items()}, "step", "training loss", "Positions and the causal mask", numbers)
    return numbers, finding


def lora_alpha(steps: int, progress: bool, backend: str = "numpy") -> tuple[dict, str]:
    from .gpt2_params import init_adapters, init_params
    from .training import TrainConfig, train_loop

    text = default_corpus()[0]
    base_text, second = text[:150_000], text[-60_000:]
    base_data = CharData(base_text)
    vocab = base_data.vocab
    config = TrainConfig(layers=1, width=64, heads=4, context=32, batch=16, steps=steps, eval_every=steps,
                         eval_batches=4, lr=3e-3, backend=backend)
    params = init_params(np.random.default_rng(0), 1, 64, 32, len(vocab))
    train_loop(params, base_data, config, progress=progress)
    data = CharData("".join(ch for ch in second if ch in set(vocab)), vocab)
    alphas, r = (0.25, 1.0, 4.0, 16.0), 4
    results = {}
    for alpha in alphas:
        adapters = init_adapters(np.random.default_rng(1), params, r)
        lora_config = TrainConfig(**{**vars(config), "lr": 1e-3})
        result = train_loop(adapters, data, lora_config, progress=progress, base=params, alpha=alpha)
        norm = math.sqrt(sum(float(np.sum(((alpha / r) * (adapters[k] @ adapters[k.replace('.A', '.B')])) ** 2))
                             for k in adapters if k.endswith(".A")))
        results[alpha] = {"final_loss": result.losses[-1], "val": result.val_losses[-1], "update_norm": norm,
                          "losses": result.losses}
    numbers = {"steps": steps, "r": r, "alphas": list(alphas),
               "final_loss": {str(a): results[a]["final_loss"] for a in alphas},
               "update_norm": {str(a): results[a]["update_norm"] for a in alphas},
               "runs": {f"alpha={a}": results[a]["losses"] for a in alphas}}
    finding = (f"LoRA r={r} on a second text, {steps} steps each: final loss "
               + ", ".join(f"{results[a]['final_loss']:.3f} (α={a:g})" for a in alphas)
               + "; norm of the merged update (α/r)‖A B‖ "
               + ", ".join(f"{results[a]['update_norm']:.3f}" for a in alphas)
               + ". Larger α moves the adapted weights further and lowers the loss faster: α scales the "
                 "adapters' gradients, like a learning rate for them.")
    _plot({f"α = {a:g}": results[a]["losses"] for a in alphas}, "step", "training loss",
          f"LoRA r={r}: α as a learning-rate multiplier", numbers)
    return numbers, finding


def norm_jacobian(steps: int, progress: bool, backend: str = "numpy") -> tuple[dict, str]:
    import importlib

    layernorm = importlib.import_module(f"generated.{backend}.layernorm")
    as_array = (lambda a: a) if backend == "numpy" else __import__("torch").from_numpy
    to_numpy = (lambda a: a) if backend == "numpy" else (lambda t: t.numpy())

    rng = np.random.default_rng(0)
    n, d = 8, 6
    X = rng.standard_normal((n, d))
    w, b = np.ones(d), np.zeros(d)

    def jacobian(forward):
        """J[(t, i), (s, j)] = ∂Y_ti/∂X_sj, one backward per output entry (a unit cotangent)."""
        out, cache_of = forward(X)
        J = np.zeros((n * d, n * d))
        for t in range(n):
            for i in range(d):
                G = np.zeros_like(out)
                G[t, i] = 1.0
                J[t * d + i] = cache_of(G).reshape(-1)
        return J

    def layer(X):
        out, cache = layernorm.forward(as_array(X), as_array(w), as_array(b), eps=1e-5)
        return to_numpy(out), lambda G: to_numpy(layernorm.backward(as_array(G), dict(cache))["X"])

    def over_tokens(X):  # the same normalisation applied to Xᵀ: each feature over the tokens
        out, cache = layernorm.forward(as_array(X.T.copy()), as_array(np.ones(n)), as_array(np.zeros(n)), eps=1e-5)
        return to_numpy(out).T, lambda G: to_numpy(layernorm.backward(as_array(G.T.copy()), dict(cache))["X"]).T

    blocks = {}
    for name, forward in (("LayerNorm", layer), ("over tokens (BatchNorm-style)", over_tokens)):
        J = jacobian(forward)
        token = np.sqrt((J.reshape(n, d, n, d) ** 2).sum(axis=(1, 3)))  # Frobenius norm of each token block
        off = token.sum() - np.trace(token)
        blocks[name] = {"token_blocks": token.tolist(), "off_diagonal_mass": float(off / token.sum())}
    numbers = {"tokens": n, "features": d, **{k: v["off_diagonal_mass"] for k, v in blocks.items()},
               "blocks": {k: v["token_blocks"] for k, v in blocks.items()}}
    finding = (f"Jacobians over {n} tokens × {d} features from the generated backward: LayerNorm's is "
               f"block-diagonal over tokens (off-diagonal mass {blocks['LayerNorm']['off_diagonal_mass']:.1e}: a "
               f"token's gradient never depends on another token), while the same normalisation over tokens couples "
               f"them (off-diagonal mass {blocks['over tokens (BatchNorm-style)']['off_diagonal_mass']:.2f}).")
    _heatmaps({k: np.array(v["token_blocks"]) for k, v in blocks.items()}, numbers)
    return numbers, finding


RUNNERS = {"key-bias": key_bias, "positions": positions, "lora-alpha": lora_alpha, "norm-jacobian": norm_jacobian}
DEFAULT_STEPS = {"key-bias": 500, "positions": 1500, "lora-alpha": 500, "norm-jacobian": 0}
_FIGURE: dict = {}


def _plot(curves: dict, xlabel: str, ylabel: str, title: str, numbers: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    for label, values in curves.items():
        ax.plot(np.arange(1, len(values) + 1), values, lw=1.2, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    _FIGURE["figure"] = fig


def _heatmaps(maps: dict, numbers: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(maps), figsize=(9, 4), dpi=120)
    for ax, (name, values) in zip(axes, maps.items()):
        image = ax.imshow(values, cmap="viridis")
        ax.set_title(f"{name}\n‖∂Y_t/∂X_s‖ over tokens t, s", fontsize=9)
        ax.set_xlabel("s")
        ax.set_ylabel("t")
        fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    _FIGURE["figure"] = fig


def run(name: str, out: Path, steps: int | None = None, progress: bool = True, force: bool = False,
        backend: str | None = None) -> str:
    """Run experiment ``name``; write NAME.png, NAME.json and NAME.md into ``out``; return the finding."""
    if name not in RUNNERS:
        raise ValueError(f"unknown experiment {name!r}; known: {', '.join(EXPERIMENTS)}")
    steps = DEFAULT_STEPS[name] if steps is None else steps
    if steps < 1 and name != "norm-jacobian":
        raise ValueError(f"--steps must be at least 1, got {steps}")
    files = [out / f"{name}.{ext}" for ext in ("png", "json", "md")]
    existing = [str(f) for f in files if f.exists()]
    if existing and not force:
        raise ValueError(f"{', '.join(existing)} exist; choose another --out or pass --force")
    if backend is not None and name in ("key-bias", "positions") and backend != "torch":
        raise ValueError(f"{name} trains models of the generated Torch modules: use --backend torch or leave it out")
    numbers, finding = RUNNERS[name](steps, progress, **({"backend": backend} if backend else {}))
    import matplotlib.pyplot as plt

    with atomic_path(files[0]) as temp:
        _FIGURE["figure"].savefig(temp, format="png")
    plt.close(_FIGURE.pop("figure"))
    write_text(files[1], json.dumps(numbers, indent=1))
    write_text(files[2], f"# Experiment: {name}\n\n{finding}\n\n![{name}]({name}.png)\n\n"
                         f"Numbers: [{name}.json]({name}.json). Regenerate with `backprop experiment {name}"
                         f"{'' if steps == DEFAULT_STEPS[name] else f' --steps {steps}'}`.\n")
    return finding
