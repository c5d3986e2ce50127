"""Two rows beside torch in the same run: Mixtral's sparse MoE block, and Hessian-vector products.

    python benchmarks/moe_and_forward_mode.py [--repeats 20]

* MoE block (forward + backward, float32, 2 threads): the generated Torch and NumPy modules of
  ``mixtral_moe`` against Hugging Face's MixtralSparseMoeBlock with autograd.  The generated block
  computes every expert for every token and weights the unchosen by 0 (n_experts / top_k times the
  expert products of Hugging Face's, which gathers each expert's tokens); "beside the products" is
  the step minus the same library's products alone (the block's matrix products at their shapes).
* jvp(grad) (a Hessian-vector product, float64): ``torch.func.jvp(torch.func.grad(loss))`` through
  the generated LayerNorm and MLP Functions (their derived backward and derived forward mode)
  against the same transform through torch's own layers (F.layer_norm, an MLP of F.linear and
  F.gelu).

Medians over ``--repeats`` timed calls after two warm-up calls each.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

THREADS = 2
MOE = {"batch": 4, "n_T": 128, "d": 256, "d_ff": 512, "n_experts": 8, "top_k": 2}


def median_ms(fn, repeats: int) -> float:
    for _ in range(2):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def moe_rows(repeats: int) -> list[tuple]:
    from transformers import MixtralConfig
    from transformers.models.mixtral.modeling_mixtral import MixtralSparseMoeBlock

    from generated.numpy import mixtral_moe as numpy_moe
    from generated.torch import mixtral_moe as torch_moe

    s = MOE
    config = MixtralConfig(hidden_size=s["d"], intermediate_size=s["d_ff"], num_local_experts=s["n_experts"],
                           num_experts_per_tok=s["top_k"], hidden_act="silu")
    block = MixtralSparseMoeBlock(config)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in block.parameters():
            p.normal_(0.0, 0.02)
    X = torch.randn(s["batch"], s["n_T"], s["d"])
    G = torch.randn_like(X)
    f = s["d_ff"]
    weights = [block.gate.weight.detach(), block.experts.gate_up_proj[:, :f].detach().contiguous(),
               block.experts.gate_up_proj[:, f:].detach().contiguous(), block.experts.down_proj.detach()]
    config_kw = {"n_experts": s["n_experts"], "top_k": s["top_k"]}

    def hugging_face():
        x = X.clone().requires_grad_()
        block(x).backward(G)
        block.zero_grad(set_to_none=True)

    def generated_torch():
        out, cache = torch_moe.forward(X, *weights, **config_kw)
        torch_moe.backward(G, cache)

    arrays = [w.numpy() for w in weights]
    Xn, Gn = X.numpy(), G.numpy()

    def generated_numpy():
        out, cache = numpy_moe.forward(Xn, *arrays, **config_kw)
        numpy_moe.backward(Gn, cache)

    # the generated block's matrix products alone, per library: the router, then each expert's three
    # products forward and six backward, over every token
    n, d, E = s["batch"] * s["n_T"], s["d"], s["n_experts"]
    a_t, b_t = torch.randn(E, n, d), torch.randn(E, d, f)
    c_t, e_t = torch.randn(E, n, f), torch.randn(E, f, d)

    def products_torch():
        for _ in range(3):  # gate, up (forward) and their input-gradient products
            a_t @ b_t
            c_t @ e_t
            a_t.mT @ c_t
        c_t @ e_t
        c_t.mT @ a_t  # down's weight gradient
        a_t @ e_t.mT

    a_n, b_n, c_n, e_n = (t.numpy() for t in (a_t, b_t, c_t, e_t))

    def products_numpy():
        for _ in range(3):
            a_n @ b_n
            c_n @ e_n
            a_n.swapaxes(-1, -2) @ c_n
        c_n @ e_n
        c_n.swapaxes(-1, -2) @ a_n
        a_n @ e_n.swapaxes(-1, -2)

    reference = median_ms(hugging_face, repeats)
    rows = [("MoE block: Hugging Face + autograd (sparse experts)", reference, 1.0, None)]
    for label, fn, products in (("MoE block: generated Torch (every expert)", generated_torch, products_torch),
                                ("MoE block: generated NumPy (every expert)", generated_numpy, products_numpy)):
        t = median_ms(fn, repeats)
        rows.append((label, t, t / reference, t - median_ms(products, repeats)))
    return rows


def hvp_rows(repeats: int) -> list[tuple]:
    import torch.nn.functional as F
    from torch.func import grad, jvp

    from generated.torch.layernorm import LayerNormFunction
    from generated.torch.mlp import MLPFunction

    torch.manual_seed(1)
    dt = torch.float64
    B, n, d, d_ff = 4, 128, 256, 1024
    X, V = torch.randn(B, n, d, dtype=dt), torch.randn(B, n, d, dtype=dt)
    w, b = torch.randn(d, dtype=dt), torch.randn(d, dtype=dt)
    W1, b1 = torch.randn(d, d_ff, dtype=dt) / d ** 0.5, torch.randn(d_ff, dtype=dt)
    W2, b2 = torch.randn(d_ff, d, dtype=dt) / d_ff ** 0.5, torch.randn(d, dtype=dt)

    def hvp(layer):
        def loss(x):
            return torch.sin(layer(x)).sum()
        return lambda: jvp(grad(loss), (X,), (V,))

    cases = {
        "LayerNorm": (lambda x: LayerNormFunction.apply(x, w, b, 1e-5), lambda x: F.layer_norm(x, (d,), w, b, 1e-5)),
        "MLP": (lambda x: MLPFunction.apply(x, W1, b1, W2, b2, "gelu_tanh"),
                lambda x: F.linear(F.gelu(F.linear(x, W1.mT, b1), approximate="tanh"), W2.mT, b2)),
    }
    rows = []
    for name, (ours, theirs) in cases.items():
        reference = median_ms(hvp(theirs), repeats)
        t = median_ms(hvp(ours), repeats)
        rows.append((f"jvp(grad) {name}: torch.func on torch's layers", reference, 1.0, None))
        rows.append((f"jvp(grad) {name}: through the generated Function", t, t / reference, None))
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=20, help="timed calls per measurement (default 20)")
    args = p.parse_args(argv)
    torch.set_num_threads(THREADS)
    rows = moe_rows(args.repeats) + hvp_rows(max(3, args.repeats // 4))
    width = max(len(r[0]) for r in rows)
    print(f"{'measurement':<{width}}  {'median':>10}  {'× torch':>8}  {'beside the products':>20}")
    for label, ms, ratio, beside in rows:
        extra = f"{beside:>17.1f} ms" if beside is not None else f"{'':>20}"
        print(f"{label:<{width}}  {ms:>7.1f} ms  {ratio:>8.2f}  {extra}")
    print(f"MoE sizes: {MOE}; float32, {THREADS} threads. jvp(grad): float64, (4, 128, 256) inputs.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
