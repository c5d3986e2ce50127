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
* ``lora-alpha``: LoRA fine-tuning of one trained base on a second text, the paper's sweep
  α ∈ {1, 16, 64, 256} at fixed r: validation loss, stability (divergence, loss spikes) and the norm
  of the merged update.
* ``norm-jacobian``: ∂Y/∂X over tokens for LayerNorm and for the same normalisation over tokens
  (BatchNorm-style), assembled from the generated backward: block-diagonal against coupled.
* ``embedding-sparsity``: the non-zero rows of ∂L/∂W_tok against the batch's distinct tokens, and the
  generated scatter-add against the dense one-hot product at GPT-2's vocabulary.
* ``layernorm-vs-batchnorm``: LayerNorm against a BatchNorm the engine derives from its definition
  (statistics over the batch's real tokens), on padded sequences: loss, gradient variance across
  steps, loss spikes, and the Jacobian's coupling across sequences.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from codegen.atomic import atomic_path, write_text

from .training import CharData, Progress, batch, default_corpus

EXPERIMENTS = ("key-bias", "positions", "lora-alpha", "norm-jacobian", "embedding-sparsity", "layernorm-vs-batchnorm")


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
    losses, start = [], time.time()
    for step in range(steps):
        idx = torch.from_numpy(batch(rng, data.train, batch_size, context + last_only))
        optimizer.zero_grad()
        loss = model.loss(idx, last_only)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        if bar is not None:
            bar.update(done + step, losses[-1], None, (step + 1) * idx.numel() / max(time.time() - start, 1e-9))
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
    _figure([Panel("Key bias: with (solid) and without (dashed)", "step", "training loss",
                   {k: _curve(r["losses"]) for k, r in runs.items()},
                   styles={k: {"ls": "--" if "without" in k else "-"} for k in runs},
                   note=f"softmax: the two curves coincide (largest gap {gaps['softmax']:.1e})")])
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
               + ", and explicit position embeddings "
               + _change(val['causal, with positions'] - val['causal, no positions']) + ".")
    _figure([Panel("Positions and the causal mask", "step", "training loss (mean of 25 steps)",
                   {k: _curve(_smooth(r["losses"])) for k, r in runs.items()},
                   note="validation: " + ", ".join(f"{k} {v:.3f}" for k, v in val.items()))])
    return numbers, finding


def lora_alpha(steps: int, progress: bool, backend: str = "numpy") -> tuple[dict, str]:
    """The paper's sweep: α ∈ {1, 16, 64, 256} at fixed r, the same base, data and learning rate."""
    from .gpt2_params import init_adapters, init_params
    from .training import Diverged, TrainConfig, train_loop

    text = default_corpus()[0]
    base_text, second = text[:150_000], text[-60_000:]
    base_data = CharData(base_text)
    vocab = base_data.vocab
    config = TrainConfig(layers=1, width=64, heads=4, context=32, batch=16, steps=steps, eval_every=steps,
                         eval_batches=4, lr=3e-3, backend=backend)
    params = init_params(np.random.default_rng(0), 1, 64, 32, len(vocab))
    alphas, r = (1, 16, 64, 256), 4
    train_loop(params, base_data, config, progress=progress, stage=(1, 1 + len(alphas)))  # the base, then each α
    data = CharData("".join(ch for ch in second if ch in set(vocab)), vocab)
    every = max(1, steps // 10)
    results = {}
    for alpha in alphas:
        adapters = init_adapters(np.random.default_rng(1), params, r)
        norms = []  # the merged update's norm, every tenth of the run

        def record(state, alpha=alpha, norms=norms):
            norms.append((state.step, _update_norm(state.params, alpha, r)))

        lora_config = TrainConfig(**{**vars(config), "lr": 1e-3, "eval_every": every})
        try:
            result = train_loop(adapters, data, lora_config, progress=progress, base=params, alpha=alpha,
                                save_every=every, on_checkpoint=record, stage=(2 + alphas.index(alpha), 1 + len(alphas)))
        except Diverged as e:
            results[alpha] = {"diverged": str(e), "val": float("nan"), "val_steps": [], "val_losses": [],
                              "losses": [], "spikes": 0, "update_norm": float("nan"), "norms": norms}
            continue
        norms.append((steps, _update_norm(adapters, alpha, r)))
        results[alpha] = {"diverged": "", "val": result.val_losses[-1], "val_steps": result.val_steps,
                          "val_losses": result.val_losses, "losses": result.losses,
                          "spikes": _spikes(result.losses), "update_norm": norms[-1][1], "norms": norms}
    numbers = {"steps": steps, "r": r, "alphas": list(alphas), "learning_rate": 1e-3,
               "validation_loss": {str(a): results[a]["val"] for a in alphas},
               "validation_curve": {str(a): list(zip(results[a]["val_steps"], results[a]["val_losses"]))
                                    for a in alphas},
               "diverged": {str(a): results[a]["diverged"] for a in alphas},
               "loss_spikes": {str(a): results[a]["spikes"] for a in alphas},
               "update_norm": {str(a): results[a]["update_norm"] for a in alphas},
               "update_norm_curve": {str(a): results[a]["norms"] for a in alphas},
               "runs": {f"alpha={a}": results[a]["losses"] for a in alphas}}
    stable = [a for a in alphas if not results[a]["diverged"]]
    best = min(stable, key=lambda a: results[a]["val"]) if stable else None
    finding = (f"LoRA r={r} on a second text, {steps} steps each at learning rate 1e-3: validation loss "
               + ", ".join(f"{results[a]['val']:.3f} (α={a})" if not results[a]["diverged"] else f"diverged (α={a})"
                           for a in alphas)
               + (f"; the lowest at α={best}" if best is not None else "")
               + ". Stability: " + "; ".join(
                   f"α={a} {results[a]['diverged'] or _count(results[a]['spikes'], 'loss spike')}" for a in alphas)
               + " (a spike: a step 25% above the median of the 25 before it). The merged update (α/r)‖A B‖ "
               + "grows with α: " + ", ".join(f"{results[a]['update_norm']:.2f}" for a in alphas)
               + ": α multiplies the adapters' effective learning rate, so at a fixed rate the small α "
               + ("learn too slowly" if best is not None and best != alphas[0] else "are the stable choice")
               + (" and the largest overshoot" if best is not None and best != alphas[-1] else "") + ".")
    _figure([Panel("validation loss", "step", "loss",
                   {f"α = {a}": (results[a]["val_steps"], results[a]["val_losses"]) for a in stable},
                   marker="o"),
             Panel("training loss (mean of 25 steps)", "step", "loss",
                   {f"α = {a}": _curve(_smooth(results[a]["losses"])) for a in stable}),
             Panel("merged update (α/r)‖A B‖", "step", "norm",
                   {f"α = {a}": tuple(zip(*results[a]["norms"])) for a in alphas if results[a]["norms"]},
                   log=True)], title=f"LoRA r={r}: the paper's α sweep")
    return numbers, finding


def _update_norm(adapters: dict, alpha: float, r: int) -> float:
    """‖(α/r) A B‖ over every adapted weight: how far LoRA has moved the model."""
    return math.sqrt(sum(float(np.sum(((alpha / r) * (adapters[k].astype(np.float64)
                                                       @ adapters[k.replace(".A", ".B")])) ** 2))
                         for k in adapters if k.endswith(".A")))


def norm_jacobian(steps: int, progress: bool, backend: str = "numpy") -> tuple[dict, str]:
    import importlib

    layernorm = importlib.import_module(f"generated.{backend}.layernorm")
    as_array, to_numpy = _converters(backend)

    rng = np.random.default_rng(0)
    n, d = 8, 6
    X = rng.standard_normal((n, d))
    w, b = np.ones(d), np.zeros(d)

    def layer():
        out, cache = layernorm.forward(as_array(X), as_array(w), as_array(b), eps=1e-5)
        return _jacobian(out.shape, lambda G: to_numpy(layernorm.backward(as_array(G), dict(cache))["X"]))

    def over_tokens():  # the same normalisation applied to Xᵀ: each feature over the tokens
        out, cache = layernorm.forward(as_array(X.T.copy()), as_array(np.ones(n)), as_array(np.zeros(n)), eps=1e-5)
        return _jacobian(out.T.shape, lambda G: to_numpy(layernorm.backward(as_array(G.T.copy()), dict(cache))["X"]).T)

    blocks = {}
    for name, jacobian in (("LayerNorm", layer), ("over tokens (BatchNorm-style)", over_tokens)):
        token = _block_norms(jacobian(), n)  # Frobenius norm of each token block
        blocks[name] = {"token_blocks": token.tolist(), "off_diagonal_mass": _off_diagonal_mass(token)}
    numbers = {"tokens": n, "features": d, **{k: v["off_diagonal_mass"] for k, v in blocks.items()},
               "blocks": {k: v["token_blocks"] for k, v in blocks.items()}}
    finding = (f"Jacobians over {n} tokens × {d} features from the generated backward: LayerNorm's is "
               f"block-diagonal over tokens (off-diagonal mass {blocks['LayerNorm']['off_diagonal_mass']:.1e}: a "
               f"token's gradient never depends on another token), while the same normalisation over tokens couples "
               f"them (off-diagonal mass {blocks['over tokens (BatchNorm-style)']['off_diagonal_mass']:.2f}).")
    _heatmaps({k: np.array(v["token_blocks"]) for k, v in blocks.items()}, numbers)
    return numbers, finding


def embedding_sparsity(steps: int, progress: bool, backend: str = "numpy") -> tuple[dict, str]:
    """∂L/∂W_tok of the derived embedding backward (a scatter-add of Δ_X's rows): its non-zero rows are the
    batch's distinct tokens; and the scatter-add against the dense one-hot product ohe(idx)ᵀ Δ_X."""
    import importlib

    embedding = importlib.import_module(f"generated.{backend}.embedding")
    as_array, to_numpy = _converters(backend)
    data = _data()
    vocab, d, context = len(data.vocab), 64, 32
    rng = np.random.default_rng(0)
    W_tok, W_pos = (0.02 * rng.standard_normal((vocab, d))).astype(np.float32), np.zeros((context, d), np.float32)
    sizes = [1 + (k * 31) // max(1, steps - 1) for k in range(steps)]  # batches of 1 to 32 sequences
    rows, bar = [], Progress(steps, progress)
    for step, size in enumerate(sizes):
        idx = batch(rng, data.train, size, context)
        out, cache = embedding.forward(as_array(idx), as_array(W_tok), as_array(W_pos))
        G = rng.standard_normal(np.shape(out)).astype(np.float32)
        grad = to_numpy(embedding.backward(as_array(G), cache)["W_tok"])
        nonzero = int(np.count_nonzero(np.abs(grad).sum(axis=1)))
        rows.append({"sequences": size, "distinct_tokens": int(len(np.unique(idx))), "nonzero_rows": nonzero})
        bar.update(step, nonzero / vocab, None, (step + 1) * idx.size / max(1e-9, time.time() - bar.start))
    bar.close()
    exact = all(r["nonzero_rows"] == r["distinct_tokens"] for r in rows)
    timing = _scatter_against_one_hot(embedding, as_array, to_numpy)
    numbers = {"vocabulary": vocab, "steps": steps, "context": context, "per_step": rows,
               "every_step_nonzero_rows_equal_distinct_tokens": exact, "gpt2_vocabulary_timing": timing}
    finding = (f"Over {steps} batches of 1 to 32 sequences of {context} characters, the rows of ∂L/∂W_tok that are "
               f"not zero are {'exactly' if exact else 'not always'} the batch's distinct tokens "
               f"({rows[0]['distinct_tokens']} of {vocab} for one sequence, {rows[-1]['distinct_tokens']} for "
               f"{rows[-1]['sequences']}): the derived gradient is a scatter-add of Δ_X's rows, never the one-hot "
               f"product. At GPT-2's vocabulary ({timing['vocabulary']} × {timing['d']}, {timing['tokens']} tokens) the "
               f"generated scatter-add takes {timing['scatter_add_ms']:.1f} ms against {timing['one_hot_ms']:.1f} ms "
               f"for ohe(idx)ᵀ Δ_X ({timing['one_hot_ms'] / timing['scatter_add_ms']:.0f}× slower; the one-hot "
               f"matrix alone is {timing['one_hot_mb']:.0f} MB); the two agree to {timing['max_difference']:.1e}. "
               f"In a tied model the head adds a dense term to ∂L/∂W_tok: the sparsity is the embedding's own.")
    _figure([Panel("non-zero rows of ∂L/∂W_tok", "distinct tokens in the batch", "non-zero rows",
                   {"per step": ([r["distinct_tokens"] for r in rows], [r["nonzero_rows"] for r in rows])},
                   scatter=True, diagonal=True, note=f"every point on the diagonal: {exact}"),
             Panel(f"∂L/∂W_tok at GPT-2's vocabulary ({timing['tokens']} tokens)", "", "ms (median)",
                   {"scatter-add (generated)": ([0], [timing["scatter_add_ms"]]),
                    "one-hot product": ([1], [timing["one_hot_ms"]])}, bars=True)])
    return numbers, finding


def _scatter_against_one_hot(embedding, as_array, to_numpy, vocab: int = 50257, d: int = 768,
                             shape=(4, 128), repeats: int = 5) -> dict:
    """Median times of the generated embedding backward (its scatter-add into a dense gradient) and of
    ohe(idx)ᵀ Δ_X with the one-hot matrix built, at GPT-2's sizes (float32), after one warm-up call each."""
    rng = np.random.default_rng(1)
    idx = rng.integers(0, vocab, shape)
    W_tok, W_pos = np.zeros((vocab, d), np.float32), np.zeros((shape[1], d), np.float32)
    G = rng.standard_normal(shape + (d,)).astype(np.float32)
    _, cache = embedding.forward(as_array(idx), as_array(W_tok), as_array(W_pos))

    def scatter():
        return to_numpy(embedding.backward(as_array(G), dict(cache))["W_tok"])

    def one_hot():
        ohe = np.zeros((idx.size, vocab), np.float32)
        ohe[np.arange(idx.size), idx.reshape(-1)] = 1.0
        return ohe.T @ G.reshape(-1, d)

    difference = float(np.max(np.abs(scatter() - one_hot())))  # (also the warm-up: memory paged in once)
    times = {}
    for name, fn in (("scatter_add_ms", scatter), ("one_hot_ms", one_hot)):
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            result = fn()
            samples.append(1e3 * (time.perf_counter() - start))
            del result  # its memory is reused by the next call, as in a training loop
        times[name] = float(np.median(samples))
    return {"vocabulary": vocab, "d": d, "tokens": int(idx.size), **times, "max_difference": difference,
            "one_hot_mb": idx.size * vocab * 4 / 2**20}


def batchnorm_component():
    """Batch normalisation over every real token of every sequence, derived by the engine like any
    definition: per feature, μ = Σ_batch Mᵀ X / Σ_batch 1ᵀ M over the mask M (1 real, 0 padding)."""
    import sympy as sp

    from derive.api import Component, T, add, batch_sum, cols, hadamard, matmul, pointwise, rows, sub, token_sum, x

    c = Component("batchnorm", "Batch normalisation over the real tokens",
                  "per feature over the batch's unmasked tokens: X̄ = (X − 1 μᵀ) diag(1/σ), Y = X̄ diag(w) + 1 bᵀ",
                  class_name="BatchNorm")
    n_T, d = c.dims("n_T d")
    X = c.input("X", n_T, d)
    M = c.input("M", n_T, 1, doc="1 for a real token, 0 for padding")
    w = c.param("w", d, init="ones", doc="scale")
    b = c.param("b", d, doc="shift")
    eps = c.config("eps", 1e-5, doc="added to the variance")
    inv = c.let("inv", pointwise(1 / x, batch_sum(token_sum(M))), doc="1 / the number of real tokens")
    mu = c.let("mu", hadamard(batch_sum(matmul(T(M), X)), cols(inv, d)), doc="per-feature mean")
    Xc = c.let("Xc", sub(X, rows(mu, n_T)), doc="centred")
    var = c.let("var", hadamard(batch_sum(matmul(T(M), hadamard(Xc, Xc))), cols(inv, d)), doc="per-feature variance")
    sigma = c.let("sigma", pointwise(sp.sqrt(x + eps), var))
    Xbar = c.let("Xbar", hadamard(Xc, rows(pointwise(1 / x, sigma), n_T)))
    c.output("Y", add(hadamard(Xbar, rows(w, n_T)), rows(b, n_T)))
    return c


class NormModel:
    """Embedding, a causal attention layer with a residual, a normalisation, the logits: the normalisation is the
    generated LayerNorm or the engine's BatchNorm; padded positions are masked out of the statistics and loss."""

    def __init__(self, vocab: int, d: int, context: int, norm: str, batchnorm_module, seed: int = 0):
        import torch

        from generated.torch.attention import Attention
        from generated.torch.embedding import Embedding
        from generated.torch.layernorm import LayerNorm
        from generated.torch.linear import Linear

        torch.manual_seed(seed)
        self.norm_kind = norm
        self.embedding, self.attention, self.head = Embedding(vocab, d, context), Attention(d, 4), Linear(d, vocab)
        make = (lambda: LayerNorm(d)) if norm == "layernorm" else (lambda: batchnorm_module.BatchNorm(d))
        self.norm_1, self.norm_2 = make(), make()
        self.modules = [self.embedding, self.attention, self.head, self.norm_1, self.norm_2]

    def parameters(self):
        return [p for m in self.modules for p in m.parameters()]

    def normalise(self, norm, X, mask):
        return norm(X) if self.norm_kind == "layernorm" else norm(X, mask)

    def loss(self, idx, lengths):
        import torch

        positions = torch.arange(idx.shape[1] - 1)[None, :]
        real = (positions < lengths[:, None]).to(torch.float32)[..., None]  # (B, n_T, 1): the statistics' tokens
        X = self.embedding(idx[:, :-1])
        X = X + self.attention(self.normalise(self.norm_1, X, real))
        logits = self.head(self.normalise(self.norm_2, X, real))
        scored = positions < lengths[:, None] - 1  # the next token is real too
        targets = torch.where(scored, idx[:, 1:], torch.full_like(idx[:, 1:], -100))
        return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                                 ignore_index=-100)


def layernorm_vs_batchnorm(steps: int, progress: bool, backend: str = "torch") -> tuple[dict, str]:
    import torch

    from codegen.render import compile_component

    batchnorm_module = compile_component(batchnorm_component(), "torch")
    data, context, size = _data(), 32, 16
    runs, bar = {}, Progress(2 * steps, progress)
    for k, norm in enumerate(("layernorm", "batchnorm")):
        model = NormModel(len(data.vocab), 64, context, norm, batchnorm_module)
        optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
        rng = np.random.default_rng(0)
        losses, grads, start = [], [], time.time()
        for step in range(steps):
            idx = torch.from_numpy(batch(rng, data.train, size, context + 1))
            lengths = torch.from_numpy(rng.integers(context // 4, context + 1, size))  # the rest is padding
            optimizer.zero_grad()
            loss = model.loss(idx, lengths)
            loss.backward()
            grads.append(torch.cat([p.grad.reshape(-1) for p in model.attention.parameters()]).numpy().copy())
            optimizer.step()
            losses.append(float(loss.detach()))
            bar.update(k * steps + step, losses[-1], None, (step + 1) * idx.numel() / max(1e-9, time.time() - start))
        norms = np.linalg.norm(np.array(grads[steps // 2:]), axis=1)  # the later half of the run
        variance = float(np.std(norms) / np.mean(norms))  # the gradient norm's coefficient of variation
        with torch.no_grad():
            val_rng = np.random.default_rng(10_000)
            val = [float(model.loss(torch.from_numpy(batch(val_rng, data.val, size, context + 1)),
                                    torch.from_numpy(val_rng.integers(context // 4, context + 1, size))))
                   for _ in range(16)]
        runs[norm] = {"losses": losses, "val": float(np.mean(val)), "gradient_variance": variance,
                      "spikes": _spikes(losses), "final_loss": losses[-1]}
    bar.close()
    coupling = _coupling_across_sequences(batchnorm_module)
    numbers = {"steps": steps, "batch": size, "context": context,
               "gradient_variance": "standard deviation over mean of the attention gradient's norm, later half",
               **{k: {m: v for m, v in r.items() if m != "losses"} for k, r in runs.items()},
               "coupling_across_sequences": coupling, "runs": {k: r["losses"] for k, r in runs.items()}}
    ln, bn = runs["layernorm"], runs["batchnorm"]
    finding = (f"On sequences of {context // 4} to {context} characters padded to {context} (padding masked out of "
               f"the statistics and the loss), {steps} steps each: validation loss LayerNorm {ln['val']:.3f}, "
               f"BatchNorm (derived by the engine, normalising with each batch's own statistics, at validation too) "
               f"{bn['val']:.3f}; over the later half of training the norm of the attention weights' gradient "
               f"varies from step to step by {ln['gradient_variance']:.2f} (LayerNorm) and "
               f"{bn['gradient_variance']:.2f} (BatchNorm) of its mean (standard deviation over mean), with "
               f"{_count(ln['spikes'], 'loss spike')} and {_count(bn['spikes'], 'loss spike')}. "
               f"BatchNorm's output for one sequence depends on the others: the off-diagonal mass of its "
               f"Jacobian over sequences is {coupling['batchnorm']:.2f}, LayerNorm's {coupling['layernorm']:.1e} "
               f"(it never mixes sequences, as norm-jacobian shows it never mixes tokens).")
    _figure([Panel("training loss (mean of 25 steps)", "step", "loss",
                   {k: _curve(_smooth(r["losses"])) for k, r in runs.items()},
                   note=f"validation: LayerNorm {ln['val']:.3f}, BatchNorm {bn['val']:.3f}")],
            title="LayerNorm against a derived BatchNorm, padded sequences")
    return numbers, finding


def _coupling_across_sequences(batchnorm_module, sequences: int = 4, n: int = 3, d: int = 4) -> dict:
    """The off-diagonal mass of ∂Y/∂X over sequences (Frobenius norms of each sequence block), from the
    generated backwards: one unit cotangent per output entry."""
    import torch

    from generated.torch import layernorm

    rng = np.random.default_rng(0)
    X = torch.from_numpy(rng.standard_normal((sequences, n, d)))
    M = torch.ones(sequences, n, 1, dtype=torch.float64)
    w, b = torch.ones(d, dtype=torch.float64), torch.zeros(d, dtype=torch.float64)
    out = {}
    for name, module, arguments in (("layernorm", layernorm, (X, w, b)), ("batchnorm", batchnorm_module, (X, M, w, b))):
        Y, cache = module.forward(*arguments)
        J = _jacobian(tuple(Y.shape), lambda G: module.backward(torch.from_numpy(G), dict(cache))["X"].numpy())
        out[name] = _off_diagonal_mass(_block_norms(J, sequences))
    return out


def _converters(backend: str):
    """(NumPy → the backend's arrays, and back) for calling a generated module of ``backend``."""
    if backend == "numpy":
        return (lambda a: a), (lambda a: a)
    import torch

    return torch.from_numpy, (lambda t: t.numpy())


def _jacobian(shape: tuple, backward) -> np.ndarray:
    """J[e] = ∂Y_e/∂X for each entry e of an output of ``shape`` (row-major): one backward per entry, its
    unit cotangent; ``backward(G)`` gives ∂L/∂X for the NumPy cotangent G, as a NumPy array."""
    size = math.prod(shape)
    rows = []
    for e in range(size):
        G = np.zeros(size)
        G[e] = 1.0
        rows.append(np.asarray(backward(G.reshape(shape))).reshape(-1))
    return np.array(rows)


def _block_norms(J: np.ndarray, blocks: int) -> np.ndarray:
    """The Frobenius norm of each block of J, its outputs and inputs split alike into ``blocks`` parts
    (tokens, sequences): a (blocks, blocks) array."""
    return np.sqrt((J.reshape(blocks, J.shape[0] // blocks, blocks, J.shape[1] // blocks) ** 2).sum(axis=(1, 3)))


def _off_diagonal_mass(norms: np.ndarray) -> float:
    """The share of the block norms off the diagonal: 0 when no part's output depends on another part."""
    return float((norms.sum() - np.trace(norms)) / norms.sum())


RUNNERS = {"key-bias": key_bias, "positions": positions, "lora-alpha": lora_alpha, "norm-jacobian": norm_jacobian,
           "embedding-sparsity": embedding_sparsity, "layernorm-vs-batchnorm": layernorm_vs_batchnorm}
DEFAULT_STEPS = {"key-bias": 500, "positions": 1500, "lora-alpha": 400, "norm-jacobian": 0, "embedding-sparsity": 64,
                 "layernorm-vs-batchnorm": 600}
#: Experiments that train the generated Torch modules only; the others take --backend numpy or torch.
TORCH_ONLY = ("key-bias", "positions", "layernorm-vs-batchnorm")
_FIGURE: dict = {}


@dataclass
class Panel:
    """One plot of a figure: curves by label, each (steps, values)."""

    title: str
    xlabel: str
    ylabel: str
    curves: dict
    styles: dict = field(default_factory=dict)  # label → matplotlib keyword arguments
    note: str = ""  # said in the panel, e.g. that two curves coincide
    marker: str = ""
    log: bool = False
    scatter: bool = False
    bars: bool = False  # one bar per curve, its single value
    diagonal: bool = False  # the line y = x, for values that should lie on it


def _curve(values) -> tuple:
    """(steps 1…n, values)."""
    return np.arange(1, len(values) + 1), values


def _smooth(values, window: int = 25) -> np.ndarray:
    """The mean of each window of ``window`` steps (fewer at the start)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return values
    sums = np.cumsum(np.concatenate([[0.0], values]))
    lo = np.maximum(0, np.arange(1, len(values) + 1) - window)
    return (sums[1:] - sums[lo]) / (np.arange(1, len(values) + 1) - lo)


def _spikes(losses, window: int = 25, factor: float = 1.25) -> int:
    """Steps whose loss is more than ``factor`` times the median of the ``window`` steps before them."""
    losses = np.asarray(losses, dtype=np.float64)
    return int(sum(losses[t] > factor * np.median(losses[t - window:t]) for t in range(window, len(losses))))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _change(delta: float) -> str:
    """A difference of losses in words: a lower loss is an improvement."""
    return (f"lower the validation loss by {-delta:.3f} nats" if delta < 0 else
            f"raise the validation loss by {delta:.3f} nats" if delta > 0 else "leave the validation loss unchanged")


def _figure(panels: list, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels) if len(panels) > 1 else 7, 4), dpi=120,
                             squeeze=False)
    for ax, panel in zip(axes[0], panels):
        if panel.bars:
            labels = list(panel.curves)
            ax.bar(labels, [panel.curves[k][1][0] for k in labels], color=["C0", "C1", "C2", "C3"][:len(labels)])
            for i, k in enumerate(labels):
                ax.text(i, panel.curves[k][1][0], f"{panel.curves[k][1][0]:.1f}", ha="center", va="bottom", fontsize=8)
        if panel.diagonal:
            top = max(max(ys) for _, ys in panel.curves.values())
            ax.plot([0, top], [0, top], color="#999", lw=0.8, ls=":", label="y = x")
        for label, (xs, ys) in ({} if panel.bars else panel.curves).items():
            style = {"lw": 1.2, **({"marker": panel.marker, "ms": 3} if panel.marker else {}),
                     **panel.styles.get(label, {})}
            if panel.scatter:
                ax.scatter(xs, ys, s=10, label=label, **panel.styles.get(label, {}))
            else:
                ax.plot(xs, ys, label=label, **style)
        if panel.log:
            ax.set_yscale("log")
        ax.set_xlabel(panel.xlabel)
        ax.set_ylabel(panel.ylabel)
        ax.set_title(panel.title, fontsize=10)
        ax.grid(alpha=0.3)
        if not panel.bars:
            ax.legend(fontsize=8)
        if panel.note:
            ax.text(0.02, 0.02, panel.note, transform=ax.transAxes, fontsize=7, color="#444")
    if title:
        fig.suptitle(title, fontsize=11)
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
    if name == "norm-jacobian" and steps is not None:
        raise ValueError("norm-jacobian trains nothing: it takes no --steps")
    given_steps = steps
    steps = DEFAULT_STEPS[name] if steps is None else steps
    if steps < 1 and name != "norm-jacobian":
        raise ValueError(f"--steps must be at least 1, got {steps}")
    files = [out / f"{name}.{ext}" for ext in ("png", "json", "md")]
    existing = [str(f) for f in files if f.exists()]
    if existing and not force:
        raise ValueError(f"{', '.join(existing)} exist; choose another --out or pass --force")
    if backend is not None and name in TORCH_ONLY and backend != "torch":
        raise ValueError(f"{name} trains models of the generated Torch modules: use --backend torch or leave it out")
    numbers, finding = RUNNERS[name](steps, progress, **({"backend": backend} if backend else {}))
    import matplotlib.pyplot as plt

    with atomic_path(files[0]) as temp:
        _FIGURE["figure"].savefig(temp, format="png")
    plt.close(_FIGURE.pop("figure"))
    write_text(files[1], json.dumps(numbers, indent=1))
    write_text(files[2], f"# Experiment: {name}\n\n{finding}\n\n![{name}]({name}.png)\n\n"
                         f"Numbers: [{name}.json]({name}.json). Regenerate with `backprop experiment {name}"
                         f"{'' if given_steps is None else f' --steps {steps}'}"
                         f"{'' if backend is None else f' --backend {backend}'}`.\n")
    return finding
