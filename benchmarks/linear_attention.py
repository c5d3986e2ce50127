"""Linear against softmax attention as the sequence grows: time and peak memory of forward + backward.

    python benchmarks/linear_attention.py [--tokens 512 2048 8192] [--backend numpy|torch]

One sequence, d = 64, one head, float32, two threads.  Linear attention (non-causal: its matrix
chains ordered by cost; causal: prefix sums of the rows' outer products) never builds an
n_T × n_T array, so its time and memory grow linearly with n_T; softmax attention builds the
n_T × n_T scores and grows quadratically.  Each measurement runs in its own process; peak memory
is the growth of the resident set during one step (see train_step.py).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_step import THREADS, peak_growth  # noqa: E402

COMPONENTS = ("attention", "linear_attention", "causal_linear_attention")
D = 64


def measure(name: str, tokens: int, backend: str, repeats: int) -> dict:
    import numpy as np

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from backprop.verify import generated, random_arguments

    rng = np.random.default_rng(0)
    arrays = random_arguments(name, rng, {"n_T": tokens, "d": D}, (), dtype=np.float32)
    arrays = {k: v / np.float32(8.0) if v.ndim == 2 and k != "X" else v for k, v in arrays.items()}
    module = generated(name, backend)
    if backend == "torch":
        import torch

        torch.set_num_threads(THREADS)
        arrays = {k: torch.from_numpy(v) for k, v in arrays.items()}
    out, _ = module.forward(*arrays.values(), n_heads=1)
    G = out * 0 + 1

    def step():
        o, cache = module.forward(*arrays.values(), n_heads=1)
        module.backward(G, cache)

    peak = peak_growth(step)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return {"ms": 1e3 * statistics.median(times), "peak_mb": peak}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tokens", nargs="+", type=int, default=[512, 2048, 8192])
    p.add_argument("--backend", choices=("numpy", "torch"), default="numpy")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.child[0], int(args.child[1]), args.backend, args.repeats)))
        return 0
    env = dict(os.environ, OMP_NUM_THREADS=str(THREADS), OPENBLAS_NUM_THREADS=str(THREADS))
    print(f"forward + backward, one sequence, d = {D}, one head, float32, {args.backend}")
    header = f"{'n_T':>6}  {'component':<26}{'ms':>10}{'peak MB':>10}"
    print(header)
    print("-" * len(header))
    for tokens in args.tokens:
        for name in COMPONENTS:
            result = subprocess.run([sys.executable, __file__, "--child", name, str(tokens), "--backend",
                                     args.backend, "--repeats", str(args.repeats)],
                                    capture_output=True, text=True, env=env, check=True)
            r = json.loads(result.stdout.strip().splitlines()[-1])
            print(f"{tokens:>6}  {name:<26}{r['ms']:>10.1f}{r['peak_mb']:>10.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
