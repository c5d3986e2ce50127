"""Verification against the authority: torch autograd on torch's own operations.

The references below are forward passes written with torch built-ins
(``torch.nn.functional``); autograd differentiates them.  Nothing here is
derived by the engine, so a mistake in a rule or a printer shows up as a
mismatch.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

import numpy as np

from derive.components import build
from reference.gate import arguments, dimension_names, directional_error, gradient_floor, meets_requirements
from reference.gate import configurations as config_choices
from reference.gate import relative_error  # noqa: F401 - re-exported for the tests


def _references():
    import torch.nn.functional as F

    from . import llama_params as llama

    def attention(X, W_q, b_q, W_k, b_k, W_v, b_v, n_heads, causal=True):
        def heads(Y):  # (..., n_T, d) → (..., n_heads, n_T, d_h)
            return Y.unflatten(-1, (n_heads, Y.shape[-1] // n_heads)).transpose(-2, -3)

        out = F.scaled_dot_product_attention(heads(X @ W_q + b_q), heads(X @ W_k + b_k),
                                             heads(X @ W_v + b_v), is_causal=causal)
        return out.transpose(-2, -3).flatten(-2)

    def normalised(f):
        """Attention with the scores normalised entrywise by ``f``, masked entries set to exactly 0."""

        def attention_f(X, W_q, b_q, W_k, b_k, W_v, b_v, n_heads, causal=True):
            def heads(Y):
                return Y.unflatten(-1, (n_heads, Y.shape[-1] // n_heads)).transpose(-2, -3)

            Q, K, V = heads(X @ W_q + b_q), heads(X @ W_k + b_k), heads(X @ W_v + b_v)
            P = f(Q @ K.mT / (Q.shape[-1] ** 0.5))
            if causal:
                n = P.shape[-1]
                P = P.masked_fill(torch.ones(n, n, dtype=torch.bool).triu(1), 0.0)
            return (P @ V).transpose(-2, -3).flatten(-2)

        return attention_f

    import torch

    feature_maps = {"elu_plus_one": lambda t: F.elu(t) + 1, "softplus": F.softplus}

    def quadratic_linear_attention(causal):
        """Linear attention the quadratic way: (φQ φKᵀ ∘ mask) V over (φQ φKᵀ ∘ mask) 1."""

        def linear_attention(X, W_q, b_q, W_k, b_k, W_v, b_v, n_heads, feature_map="elu_plus_one"):
            def heads(Y):
                return Y.unflatten(-1, (n_heads, Y.shape[-1] // n_heads)).transpose(-2, -3)

            phi = feature_maps[feature_map]
            scores = phi(heads(X @ W_q + b_q)) @ phi(heads(X @ W_k + b_k)).mT
            if causal:
                n = scores.shape[-1]
                scores = scores.masked_fill(torch.ones(n, n, dtype=torch.bool).triu(1), 0.0)
            out = (scores @ heads(X @ W_v + b_v)) / scores.sum(-1, keepdim=True)
            return out.transpose(-2, -3).flatten(-2)

        return linear_attention

    activations = {
        "gelu_tanh": lambda h: F.gelu(h, approximate="tanh"),
        "gelu": F.gelu,
        "relu": F.relu,
    }
    def mlp(X, W_1, b_1, W_2, b_2, activation="gelu_tanh"):
        return activations[activation](X @ W_1 + b_1) @ W_2 + b_2

    def layernorm(X, w, b, eps=1e-5):
        return F.layer_norm(X, (X.shape[-1],), w, b, eps)

    def gpt2_block(X, ln_1_w, ln_1_b, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, ln_2_w, ln_2_b,
                   W_1, b_1, W_2, b_2, n_heads, eps=1e-5, activation="gelu_tanh"):
        a3 = attention(layernorm(X, ln_1_w, ln_1_b, eps), W_q, b_q, W_k, b_k, W_v, b_v, n_heads)
        a5 = X + a3 @ W_o + b_o
        return a5 + mlp(layernorm(a5, ln_2_w, ln_2_b, eps), W_1, b_1, W_2, b_2, activation)

    def mixtral_moe(X, W_router, W_gate, W_up, W_down, n_experts=8, top_k=2):
        """Hugging Face's routing: the top k router probabilities, renormalised, weight their experts."""
        probabilities = torch.softmax(X @ W_router.mT, -1)
        top, index = probabilities.topk(top_k, dim=-1)
        top = top / top.sum(-1, keepdim=True)
        out = torch.zeros_like(X)
        for e in range(n_experts):
            expert = (F.silu(X @ W_gate[e].mT) * (X @ W_up[e].mT)) @ W_down[e].mT
            out = out + (top * (index == e)).sum(-1, keepdim=True) * expert
        return out

    return {
        "mixtral_moe": mixtral_moe,
        "linear": lambda X, W, b: X @ W + b,
        "mlp": mlp,
        "layernorm": layernorm,
        "gpt2_block": gpt2_block,
        "attention": attention,
        "sigmoid_attention": normalised(torch.sigmoid),
        "linear_attention": quadratic_linear_attention(False),
        "causal_linear_attention": quadratic_linear_attention(True),
        "relu_attention": normalised(torch.relu),
        "embedding": lambda idx, W_tok, W_pos: F.embedding(idx, W_tok) + W_pos[: idx.shape[-1]],
        "cross_entropy": lambda X, W, b, idx, reduction="mean": F.cross_entropy(
            (X[..., :-1, :] @ W + b).reshape(-1, W.shape[1]), idx[..., 1:].reshape(-1), reduction=reduction),
        "lora_linear": lambda X, W, b, A, B, alpha: F.linear(X, W.mT, b) + (alpha / A.shape[1]) * (X @ A @ B),
        "rmsnorm": lambda X, w, eps=1e-6: llama.rms_norm(X, w, eps),
        "swiglu": lambda X, W_gate, W_up, W_down: llama.swiglu(X, W_gate, W_up, W_down),
        "llama_attention": lambda X, W_q, W_k, W_v, **config: llama.attention(X, W_q, W_k, W_v, **config),
        "llama_block": lambda X, input_norm_w, W_q, W_k, W_v, W_o, post_norm_w, W_gate, W_up, W_down, **config:
            llama.block(X, dict(zip(llama.BLOCK_SHAPES, (input_norm_w, W_q, W_k, W_v, W_o, post_norm_w, W_gate,
                                                         W_up, W_down))), **config),
    }


def reference(name: str):
    return _references()[name]


def random_arguments(component, rng: np.random.Generator, sizes: dict[str, int],
                     batch: tuple[int, ...], dtype=np.float64, config: dict | None = None) -> dict[str, np.ndarray]:
    """Random inputs and parameters of ``component`` (a Component, or a built-in's name): ``reference.gate.arguments``."""
    c = build(component) if isinstance(component, str) else component
    return arguments(c, rng, sizes, batch, config, dtype)


#: Smallest sizes that keep a component non-degenerate or valid: LayerNorm over
#: d ≤ 2 features outputs ±1 (or 0), whose gradient vanishes up to rounding;
#: the embedding needs n_T ≤ n_context; next-token cross-entropy two tokens.
MIN_SIZES = {"layernorm": {"d": 3}, "gpt2_block": {"d": 3}, "embedding": {"n_context": 7}, "cross_entropy": {"n_T": 2}}


def smallest(name: str, dim: str) -> int:
    return MIN_SIZES.get(name, {}).get(dim, 1)


#: Sizes a component needs even: rotary embeddings rotate the two halves of each head.
EVEN_SIZES = {"llama_attention": ("d_h",), "llama_block": ("d_h",)}


def fitted(name: str, sizes: dict[str, int]) -> dict[str, int]:
    """``sizes`` with the dimensions a built-in needs even (``EVEN_SIZES``) rounded down to even."""
    return {d: 2 * max(1, n // 2) if d in EVEN_SIZES.get(name, ()) else n for d, n in sizes.items()}


def uniform_sizes(name: str, n: int) -> dict[str, int]:
    """Every dimension of the built-in ``name`` at size ``n`` (fitted)."""
    return fitted(name, {d: n for d in dimension_names(build(name))})


def random_sizes(name: str, rng: np.random.Generator, n_T: int | None = None) -> dict[str, int]:
    c = build(name)
    low = MIN_SIZES.get(name, {})
    sizes = fitted(name, {d: int(rng.integers(low.get(d, 1), max(7, low.get(d, 1) + 1))) for d in dimension_names(c)})
    if n_T is not None:
        sizes["n_T"] = max(n_T, smallest(name, "n_T"))
    return sizes


def autograd(name: str, arrays: dict[str, np.ndarray], grad_out: np.ndarray, config: dict):
    """Output and gradients of the torch reference, by autograd."""
    import torch

    c = build(name)
    tensors = {}
    for a in c.tensor_arguments:
        t = torch.tensor(arrays[a.name])
        tensors[a.name] = t.requires_grad_(a.receives_gradient) if t.is_floating_point() else t
    out = reference(name)(**tensors, **config)
    out.backward(torch.tensor(grad_out))
    grads = {k: t.grad.numpy() for k, t in tensors.items() if t.requires_grad}
    return out.detach().numpy(), grads


def generated(name: str, target: str = "numpy"):
    return importlib.import_module(f"generated.{target}.{name}")


@dataclass
class CheckResult:
    case: str
    gradient: str
    error: float


def _divisors(n: int) -> list[int]:
    return [k for k in range(1, n + 1) if n % k == 0]


def configurations(name: str, sizes: dict[str, int]) -> list[dict]:
    """The configurations worth checking for these sizes: every choice and flag, edge values.

    Required values get a first sample (a head count that divides d: one head,
    one head per feature, and one in between; 1.5 for a real number) and the
    other configurations vary one at a time from their defaults.
    """
    c = build(name)
    required: dict[str, list] = {}
    names = {a.name for a in c.configs}
    if {"n_heads", "n_kv_heads"} <= names:  # grouped heads: multi-head, multi-query, grouped-query
        pairs = [(1, 1), (2, 1), (4, 2), (3, 3)]
        configs = [{"n_heads": h, "n_kv_heads": g} for h, g in pairs]
        return configs + [{**configs[2], "eps": 0.0}] * ("eps" in names) + [
            {**configs[2], "rope_theta": 10.0}] * ("rope_theta" in names)
    for a in c.configs:
        if a.required and a.symbol.is_integer:
            divisors = _divisors(sizes["d"])
            required[a.name] = sorted({1, divisors[len(divisors) // 2], sizes["d"]})
        elif a.required:
            required[a.name] = [1.5, 16.0]
    base = {k: v[0] for k, v in required.items()}
    configs = [dict(base)] + [{**base, k: x} for k, v in required.items() for x in v[1:]]
    for a in c.configs:
        if a.choices:
            configs += [{**base, a.name: v} for v in a.choices if v != a.default]
        elif isinstance(a.default, bool):
            configs.append({**base, a.name: not a.default})
        elif a.name == "eps":
            configs.append({**base, a.name: 0.0})
    return configs


def run_generated(name: str, target: str, arrays: dict, config: dict, rng: np.random.Generator):
    """Forward and backward of a generated module on NumPy arrays, whatever its backend."""
    module = generated(name, target)
    if target == "torch":
        import torch

        args = [torch.from_numpy(v) for v in arrays.values()]
        out, cache = module.forward(*args, **config)
        grad_out = rng.standard_normal(tuple(out.shape))
        grads = module.backward(torch.from_numpy(grad_out), cache)
        return out.numpy(), grad_out, {k: v.numpy() for k, v in grads.items()}
    out, cache = module.forward(*arrays.values(), **config)
    grad_out = rng.standard_normal(out.shape)
    return out, grad_out, module.backward(grad_out, cache)


def check_component(name: str, seed: int = 0, trials: int = 3, target: str = "numpy") -> list[CheckResult]:
    """Compare a generated module with autograd on random cases."""
    rng = np.random.default_rng(seed)
    results = []
    batches = [(), (3,), (2, 2)]
    for trial in range(trials):
        sizes = random_sizes(name, rng, n_T=1 if trial == 0 else None)
        for config in configurations(name, sizes):
            batch = batches[trial % len(batches)]
            arrays = random_arguments(name, rng, sizes, batch, config=config)
            out, grad_out, grads = run_generated(name, target, arrays, config, rng)
            ref_out, ref_grads = autograd(name, arrays, grad_out, config)
            label = f"batch={batch} " + " ".join(f"{k}={v}" for k, v in sizes.items())
            label += "".join(f" {k}={v!r}" for k, v in config.items())
            results.append(CheckResult(label, "out", relative_error(out, ref_out)))
            floor = gradient_floor(ref_grads)
            for g, ref in ref_grads.items():
                results.append(CheckResult(label, g, relative_error(grads[g], ref, floor)))
    return results




def check_model(seed: int = 0, trials: int = 3, target: str = "numpy") -> list[CheckResult]:
    """The generated GPT-2 (``loss_and_grads``, tied and untied) against autograd on the reference
    model built from the same parameters, in float64, on random small sizes."""
    import torch

    from .gpt2_params import init_params, reference_loss

    gpt2 = importlib.import_module(f"generated.{target}.gpt2")
    rng = np.random.default_rng(seed)
    results = []
    for trial in range(trials):
        n_layer, n_heads = int(rng.integers(1, 3)), int(rng.choice([1, 2]))
        d, n_vocab = n_heads * int(rng.integers(2, 5)), int(rng.integers(3, 12))
        n_T, batch = int(rng.integers(2, 8)), int(rng.integers(1, 4))
        for tied in (True, False):
            params = init_params(rng, n_layer, d, 8, n_vocab, tied=tied, dtype=np.float64, std=0.3)
            params = {k: v + 0.1 * rng.standard_normal(v.shape) if v.ndim == 1 else v for k, v in params.items()}
            idx = rng.integers(0, n_vocab, (batch, n_T))
            leaves = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
            ref = reference_loss(leaves, torch.tensor(idx), n_heads)
            ref.backward()
            if target == "torch":
                loss, grads = gpt2.loss_and_grads({k: torch.tensor(v) for k, v in params.items()},
                                                  torch.tensor(idx), n_heads=n_heads)
                loss, grads = loss.numpy(), {k: v.numpy() for k, v in grads.items()}
            else:
                loss, grads = gpt2.loss_and_grads(params, idx, n_heads=n_heads)
            label = (f"{'tied' if tied else 'untied'} layers={n_layer} d={d} heads={n_heads} n_vocab={n_vocab} "
                     f"batch=({batch},) n_T={n_T}")
            results.append(CheckResult(label, "loss", relative_error(loss, ref.detach().numpy())))
            ref_grads = {k: t.grad.numpy() for k, t in leaves.items()}
            floor = gradient_floor(ref_grads)
            for key, g in ref_grads.items():
                results.append(CheckResult(label, key, relative_error(grads[key], g, floor)))
    return results


def check_llama(seed: int = 0, trials: int = 3, target: str = "numpy") -> list[CheckResult]:
    """The generated LLaMA (``loss_and_grads`` and ``logits``, tied and untied) against autograd on the
    reference model of ``backprop.llama_params`` built from the same parameters, in float64, on random
    small sizes: multi-head, grouped-query and multi-query heads, head widths other than d / n_heads."""
    import torch

    from .llama_params import init_params, reference_logits, reference_loss

    llama = importlib.import_module(f"generated.{target}.llama")
    rng = np.random.default_rng(seed)
    heads = [(1, 1), (2, 1), (4, 2), (3, 3), (4, 1)]
    results = []
    for trial in range(trials):
        n_heads, n_kv_heads = heads[(seed + trial) % len(heads)]
        n_layer, head_dim, d = int(rng.integers(1, 3)), 2 * int(rng.integers(1, 4)), int(rng.integers(3, 10))
        n_vocab, n_T, batch = int(rng.integers(3, 12)), int(rng.integers(2, 8)), int(rng.integers(1, 4))
        config = {"n_heads": n_heads, "n_kv_heads": n_kv_heads, "rope_theta": float(rng.choice([10.0, 10000.0])),
                  "eps": 1e-5}
        for tied in (True, False):
            params = init_params(rng, n_layer, d, n_vocab, n_heads, n_kv_heads, head_dim=head_dim,
                                 d_ff=int(rng.integers(2, 9)), tied=tied, dtype=np.float64, std=0.3)
            params = {k: v + 0.1 * rng.standard_normal(v.shape) if v.ndim == 1 else v for k, v in params.items()}
            idx = rng.integers(0, n_vocab, (batch, n_T))
            leaves = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
            ref = reference_loss(leaves, torch.tensor(idx), **config)
            ref.backward()
            ref_logits = reference_logits(leaves, torch.tensor(idx), **config).detach().numpy()
            if target == "torch":
                tensors, tokens = {k: torch.tensor(v) for k, v in params.items()}, torch.tensor(idx)
                loss, grads = llama.loss_and_grads(tensors, tokens, **config)
                logits = llama.logits(tensors, tokens, **config).numpy()
                loss, grads = loss.numpy(), {k: v.numpy() for k, v in grads.items()}
            else:
                loss, grads = llama.loss_and_grads(params, idx, **config)
                logits = llama.logits(params, idx, **config)
            label = (f"{'tied' if tied else 'untied'} layers={n_layer} d={d} heads={n_heads}/{n_kv_heads} "
                     f"head_dim={head_dim} n_vocab={n_vocab} batch=({batch},) n_T={n_T}")
            results.append(CheckResult(label, "loss", relative_error(loss, ref.detach().numpy())))
            results.append(CheckResult(label, "logits", relative_error(logits, ref_logits)))
            ref_grads = {k: t.grad.numpy() for k, t in leaves.items()}
            floor = gradient_floor(ref_grads)
            for key, g in ref_grads.items():
                results.append(CheckResult(label, key, relative_error(grads[key], g, floor) if key in grads
                                           else float("inf")))
    return results


#: The whole models, checked by these rather than per component.
MODEL_CHECKS = {"gpt2": check_model, "llama": check_llama}


# ------------------------------------------------------------ any component (a user's)


@dataclass
class ComponentCheck:
    """The worst relative errors of one component over every case checked."""

    name: str
    cases: int
    autograd: float  # generated backward (both backends) against torch autograd of the generated Torch forward
    finite_differences: float  # against central differences of the generated NumPy forward


def _sizes_meeting_requirements(c, config: dict, rng, tokens: int | None,
                                fixed: dict[str, int] | None = None) -> dict[str, int] | None:
    """Random sizes (1 … 5) of every dimension the arguments are declared with (d_ff of 4*d_ff
    too), ``fixed`` ones as given, that satisfy the component's requirements; None after many tries."""
    fixed = fixed or {}
    for _ in range(200):
        sizes = {d: (fixed[d] if d in fixed else tokens if tokens is not None and d == "n_T"
                     else int(rng.integers(1, 6))) for d in dimension_names(c)}
        if meets_requirements(c, sizes, config):
            return sizes
    return None


def check_any_component(component, seed: int = 0, trials: int = 3,
                        sizes: dict[str, int] | None = None) -> ComponentCheck:
    """Check ``component``'s generated backward in float64, NumPy and Torch, on random sizes with batch
    dimensions and every configuration: against torch autograd through the generated Torch forward
    (≤ 1e-10 expected) and against central finite differences of the NumPy forward.  ``sizes`` fixes
    some dimensions; the others are drawn."""
    import torch

    from codegen.render import compile_component

    modules = {t: compile_component(component, t, validate=False) for t in ("numpy", "torch")}
    rng = np.random.default_rng(seed)
    worst_ag, worst_fd, cases = 0.0, 0.0, 0
    batches = [(), (3,), (2, 2)]
    for trial in range(trials):
        for config in config_choices(component):
            drawn = _sizes_meeting_requirements(component, config, rng, tokens=1 if trial == 0 else None, fixed=sizes)
            if drawn is None and trial == 0:
                drawn = _sizes_meeting_requirements(component, config, rng, tokens=None, fixed=sizes)
            if drawn is None:
                continue
            arrays = random_arguments(component, rng, drawn, batches[trial % len(batches)], config=config)
            several = len(component.output_symbols) > 1
            out, cache = modules["numpy"].forward(*arrays.values(), **config)
            G = tuple(rng.standard_normal(np.shape(o)) for o in (out if several else (out,)))
            grads = {"numpy": modules["numpy"].backward(G if several else G[0], cache)}
            t_out, t_cache = modules["torch"].forward(*(torch.from_numpy(v) for v in arrays.values()), **config)
            given = tuple(torch.from_numpy(g) for g in G)
            grads["torch"] = {k: v.numpy() for k, v in modules["torch"].backward(given if several else given[0],
                                                                                  t_cache).items()}
            # Autograd through the generated Torch forward (recorded, not under no_grad).
            leaves = {k: torch.tensor(v, requires_grad=component.argument(k).receives_gradient)
                      if component.argument(k).dtype == "float" else torch.from_numpy(v) for k, v in arrays.items()}
            with torch.enable_grad():
                ref_out, _ = modules["torch"].forward.__wrapped__(*leaves.values(), **config)
                ref_outs = ref_out if several else (ref_out,)
                torch.autograd.backward([o for o in ref_outs if o.requires_grad],
                                        [g for o, g in zip(ref_outs, given) if o.requires_grad])
            ref = {k: (t.grad.numpy() if t.grad is not None else np.zeros(t.shape)) for k, t in leaves.items()
                   if t.requires_grad}  # an argument the output does not read: a zero gradient
            floor = gradient_floor(ref) if ref else 0.0
            for backend in grads.values():
                for k, g in ref.items():
                    worst_ag = max(worst_ag, relative_error(backend[k], g, floor))
            for mine, theirs in zip(t_out if several else (t_out,), out if several else (out,)):
                worst_ag = max(worst_ag, relative_error(mine.numpy(), theirs))
            worst_fd = max(worst_fd, _finite_difference_error(modules["numpy"], arrays, config, G, grads["numpy"],
                                                              component, rng))
            cases += 1
    return ComponentCheck(component.name, cases, worst_ag, worst_fd)


def _finite_difference_error(module, arrays: dict, config: dict, G, grads: dict, component, rng) -> float:
    """Worst relative error of ⟨∂L/∂a, v⟩ against central differences of L = ⟨G, out⟩ of the module's
    forward along a random direction v of each float argument that takes a gradient
    (``reference.gate.directional_error``)."""
    def loss(moved):
        out = module.forward(*moved.values(), **config)[0]
        return sum(float(np.sum(g * o)) for g, o in zip(G, out if isinstance(out, tuple) else (out,)))

    wanted = [k for k in arrays if component.argument(k).receives_gradient]
    floor = gradient_floor({k: grads[k] for k in wanted}) if wanted else 0.0
    return max((directional_error(loss, arrays, k, grads[k], rng, floor) for k in wanted), default=0.0)


def closed_form_module(component, target: str = "numpy"):
    """A module whose ``backward`` computes every gradient from its closed form, for checking them."""
    import types

    from codegen.lower import lower_closed_forms
    from codegen.render import BACKENDS, render_plan
    from derive.closed_form import closed_forms
    from derive.reverse import derive

    derivation = derive(component)
    source = render_plan(lower_closed_forms(derivation, closed_forms(derivation)), BACKENDS[target])
    module = types.ModuleType(f"closed_{component.name}")
    exec(compile(source, f"<closed forms of {component.name}>", "exec"), module.__dict__)
    return module


# ------------------------------------------------------------ against the reference semantics


@dataclass
class Differential:
    """How one definition fared against the reference semantics (``reference.semantics``)."""

    outcome: str  # "right" | "refused" | "wrong shape" | "wrong value" | "crash" | "undefined"
    detail: str = ""
    cases: int = 0  # cases compared
    worst: float = 0.0  # the worst relative error over them

    @property
    def ok(self) -> bool:
        """Right, or refused in one line; a definition the engine accepts but the reference semantics
        gives no meaning ("undefined") should have been refused where it was written."""
        return self.outcome in ("right", "refused")


def differential_targets() -> tuple[str, ...]:
    """The backends a definition is compiled for and checked in: NumPy and Torch, and each other backend
    of the registry where it is installed (Numba is an optional extra)."""
    from codegen.backends import BACKENDS

    return ("numpy", "torch") + tuple(name for name, b in BACKENDS.items()
                                      if name not in ("numpy", "torch") and b.installed())


#: What the engine raises when it refuses a definition: each says why in one line.
def refusals() -> tuple[type, ...]:
    from codegen.render import GenerationError
    from derive import DefinitionError, MissingRule, ShapeMismatch, UnsupportedFunction

    return (DefinitionError, ShapeMismatch, MissingRule, UnsupportedFunction, GenerationError)


def differential_check(component, seed: int = 0, trials: int = 3, tol: float = 1e-10,
                       modules: dict | None = None, sizes: dict[str, int] | None = None) -> Differential:
    """Compile ``component`` for every backend and compare, in float64 on random sizes and batches, the
    generated forward with the reference semantics and every generated gradient with autograd through
    it (``reference.gate.run_case``).  Any difference in shape, any NaN and any error above ``tol`` is
    a failure; a refusal at compile time is an outcome of its own, and a module the validation gate
    refused ("defect") is a failure: the gate is skipped here, and this check is its long form.  The
    modules of backends without compiled kernels (NumPy, Torch) run with their shapes probed
    (``codegen.validate.shape_probed``): an array whose shape is not the one its statement states is a
    failure too.  (Numba's kernels would compile a second time; its statements are NumPy's, probed.)"""
    from codegen.backends import BACKENDS
    from codegen.render import compile_component
    from codegen.validate import EngineDefect, probed
    from reference.gate import Case, run_case
    from reference.gate import cases as gate_cases

    if modules is None:
        try:
            modules = {t: compile_component(component, t, validate=False) for t in differential_targets()}
        except EngineDefect as e:
            return Differential("defect", str(e))
        except refusals() as e:
            return Differential("refused", str(e).splitlines()[0] if str(e) else type(e).__name__)
        except Exception as e:  # noqa: BLE001 - an engine crash is what this reports
            return Differential("crash", f"compiling: {type(e).__name__}: {e}")
        modules = {t: m if BACKENDS[t].fuses else probed(component, m.__source__, t) for t, m in modules.items()}
    rng = np.random.default_rng(seed)
    batches = [(), (1,), (3,), (2, 2)]
    worst, cases = 0.0, 0
    drawn = []
    for trial in range(trials):
        for config in config_choices(component)[:2]:
            chosen = _sizes_meeting_requirements(component, config, rng, tokens=None, fixed=sizes)
            if chosen is not None:
                drawn.append(Case(chosen, batches[(trial + len(drawn)) % len(batches)], config))
    # the validation gate's edge cases first (every dimension at 1, 2 and 3), unless sizes are fixed; the
    # forward mode (jvp) at those and the first drawn case, for the backends that print it themselves (the
    # fusing one's jvp is the NumPy statements: it fuses no forward-only part)
    edges = [] if sizes else gate_cases(component, seed)
    for index, case in enumerate(edges + drawn):
        compared = False
        for target, module in modules.items():
            if hasattr(module, "_probe"):
                module._probe.expect(case)
            outcome = run_case(component, module, target, case, np.random.default_rng(rng.integers(2**32)), tol,
                               forward_mode=index <= len(edges) and not BACKENDS[target].fuses)
            if outcome.kind == "undefined":
                return Differential("undefined", outcome.detail, cases, worst)
            if outcome.problem:
                return Differential(outcome.kind, outcome.detail, cases, outcome.worst)
            compared = compared or outcome.kind == "right"
            worst = max(worst, outcome.worst)
        cases += compared
    return Differential("right", "", cases, worst)
