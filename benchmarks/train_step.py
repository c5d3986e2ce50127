"""One GPT-2 training step (forward + backward), side by side with torch autograd.

    python benchmarks/train_step.py [--sizes S M G] [--repeats 20] [--rounds 2] [--compiled M] [--no-components]

* generated NumPy  (generated.numpy.gpt2.loss_and_grads)
* generated Numba  (generated.numba.gpt2.loss_and_grads: the NumPy step with each run of entrywise work
  and row reductions one fused kernel; its compile time, or the time to load it from the cache, is
  reported)
* generated Torch  (generated.torch.gpt2.loss_and_grads), eager
* compiled Torch   (the same with compile=True; its compile time is reported), for --compiled sizes
* torch autograd   (the reference model in backprop/gpt2_params.py, .backward()): the strongest eager
  reference: one c_attn product, F.layer_norm, F.gelu(approximate="tanh"), SDPA, F.cross_entropy

A per-component table follows (layernorm, attention, mlp, cross_entropy at the M size: generated
forward + backward against autograd on the torch reference of backprop/verify.py), so a
regression shows where it is, and the matmul floor: the step's matrix products alone, timed in
the NumPy child for NumPy and in the autograd child for torch.

Same parameters, same tokens, float32, two threads.  Each measurement runs in its own
process, and the implementations take turns for ``--rounds`` rounds, so a slow spell of a
shared machine falls on all of them (the medians are over every timed step of every round; the
compile time shown is the first round's).  A measurement's peak memory is the growth of the
resident set during its first step over the state before it (later steps reuse memory that
allocators keep): read from the kernel's high-water mark, reset just before the step, on Linux,
else sampled every half millisecond; the median over rounds.  The table gives the median time,
the ratio to autograd, the achieved GFLOP/s (6 × non-embedding parameters × tokens + attention
12 × layers × n_T × d per token) and the peak memory; the matmul ceiling of this machine is
measured in the same run.  On machines where OPENBLAS_CORETYPE is set for older
OpenBLAS builds, run with ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE``.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time

SIZES = {
    "S": {"n_layer": 2, "d": 128, "n_heads": 4, "n_vocab": 512, "n_T": 64, "batch": 4},
    "M": {"n_layer": 4, "d": 256, "n_heads": 4, "n_vocab": 2048, "n_T": 128, "batch": 4},
    "G": {"n_layer": 2, "d": 256, "n_heads": 4, "n_vocab": 50257, "n_T": 128, "batch": 4},  # GPT-2's vocabulary
}
IMPLEMENTATIONS = ("generated NumPy", "generated Numba", "generated Torch", "compiled Torch", "torch autograd")
THREADS = 2


def flops(s: dict) -> float:
    """Forward + backward FLOPs of one step (the usual 6 N T estimate plus attention)."""
    d, L, T, B = s["d"], s["n_layer"], s["n_T"], s["batch"]
    non_embedding = L * 12 * d * d + d * s["n_vocab"]  # blocks and the logits matmul
    tokens = B * T
    return 6 * non_embedding * tokens + 12 * L * T * d * tokens


def _rss_bytes() -> int:
    """The resident set size now (Linux /proc; the high-water mark elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _high_water_bytes(reset: bool = False) -> int | None:
    """The resident set's high-water mark (Linux VmHWM), reset to the current resident set first
    with ``reset``; None where unavailable."""
    try:
        if reset:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
        with open("/proc/self/status") as f:
            return 1024 * int(next(line.split()[1] for line in f if line.startswith("VmHWM:")))
    except (OSError, StopIteration, ValueError):
        return None


def peak_growth(step) -> float:
    """MB by which one call of ``step`` grows the resident set at its peak: exact from the kernel's
    high-water mark where it can be reset (Linux), else sampled every 0.5 ms (short peaks may be missed)."""
    import gc
    import threading

    gc.collect()
    baseline = _rss_bytes()
    if _high_water_bytes(reset=True) is not None:
        step()
        return max(0, _high_water_bytes() - baseline) / 2**20
    peak, done = [0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            time.sleep(0.0005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    step()
    done.set()
    sampler.join()
    return max(0, max(peak[0], _rss_bytes()) - baseline) / 2**20


def measure(impl: str, size: str, repeats: int) -> dict:
    """Runs in a child process: time ``repeats`` steps after one warm-up; peak memory growth."""
    import numpy as np
    import torch

    torch.set_num_threads(THREADS)
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from backprop.gpt2_params import init_params, reference_loss

    s = SIZES[size]
    rng = np.random.default_rng(0)
    params = init_params(rng, s["n_layer"], s["d"], s["n_T"], s["n_vocab"], tied=True, dtype=np.float32)
    idx = rng.integers(0, s["n_vocab"], (s["batch"], s["n_T"]))
    if impl in ("generated NumPy", "generated Numba"):
        gpt2 = importlib.import_module(f"generated.{'numpy' if impl == 'generated NumPy' else 'numba'}.gpt2")

        def step():
            return float(gpt2.loss_and_grads(params, idx, n_heads=s["n_heads"])[0])
    elif impl in ("generated Torch", "compiled Torch"):
        from generated.torch import gpt2

        tensors = {k: torch.from_numpy(v) for k, v in params.items()}
        tokens = torch.from_numpy(idx)
        compiled = impl == "compiled Torch"

        def step():
            return float(gpt2.loss_and_grads(tensors, tokens, n_heads=s["n_heads"], compile=compiled)[0])
    else:
        leaves = {k: torch.from_numpy(v).requires_grad_() for k, v in params.items()}
        tokens = torch.from_numpy(idx)

        def step():
            for t in leaves.values():
                t.grad = None
            loss = reference_loss(leaves, tokens, s["n_heads"])
            loss.backward()
            return float(loss)

    compile_seconds = 0.0
    if impl == "compiled Torch":  # compile first; its peak is that of a compiled step
        start = time.perf_counter()
        step()
        compile_seconds = time.perf_counter() - start
    if impl == "generated Numba":  # the kernels compile (or load from the cache) on the first step
        step()
        compile_seconds = gpt2.compile_seconds()
    peak = peak_growth(step)  # the first step: no allocator has cached memory yet
    loss = step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return {"times_ms": [1e3 * t for t in times], "peak_mb": peak, "loss": loss,
            "compile_s": compile_seconds, "floor_ms": matmul_floor(size, FLOOR_LIBRARY.get(impl))}


#: Whose products each measurement times for the floor: each library in a process of its own (NumPy's
#: BLAS threads keep spinning for a while after a product, which would slow torch's down).
FLOOR_LIBRARY = {"generated NumPy": "NumPy", "torch autograd": "torch"}
#: Whose products each implementation's step runs (its time beside them is the step minus that floor).
PRODUCTS_OF = {"generated NumPy": "NumPy", "generated Numba": "NumPy", "generated Torch": "torch",
               "compiled Torch": "torch", "torch autograd": "torch"}


def gemm_shapes(s: dict) -> list[tuple[int, int, int, int]]:
    """(count, m, k, n) of every matrix product of one forward + backward step (each linear: forward,
    input gradient, weight gradient; attention: scores, values and their four gradients per head)."""
    d, L, T, B, V, h = s["d"], s["n_layer"], s["n_T"], s["batch"], s["n_vocab"], s["n_heads"]
    rows, dh = B * T, d // h
    linears = [(d, 3 * d), (d, d), (d, 4 * d), (4 * d, d)]
    shapes = []
    for k, n in linears:
        shapes += [(L, rows, k, n), (L, rows, n, k), (L, k, rows, n)]
    shapes += [(L * B * h * 3, T, dh, T), (L * B * h * 3, T, T, dh)]  # S, PV and their gradients
    shapes += [(1, B * (T - 1), d, V), (1, B * (T - 1), V, d), (1, V, B * (T - 1), d)]  # tied logits
    return shapes


def matmul_floor(size: str, library: str | None) -> float | None:
    """Milliseconds the step's matrix products take alone in ``library`` (NumPy or torch), float32."""
    import numpy as np
    import torch

    if library is None:
        return None
    out = {}
    rng = np.random.default_rng(0)
    for name, convert in (("NumPy", lambda a: a), ("torch", torch.from_numpy)):
        if name != library:
            continue
        total = 0.0
        for count, m, k, n in gemm_shapes(SIZES[size]):
            a = convert(rng.standard_normal((m, k)).astype(np.float32))
            b = convert(rng.standard_normal((k, n)).astype(np.float32))
            a @ b
            times = []
            for _ in range(5):
                start = time.perf_counter()
                a @ b
                times.append(time.perf_counter() - start)
            total += count * statistics.median(times)
        out[name] = 1e3 * total
    return out[library]


def matmul_ceiling() -> dict:
    """GFLOP/s of a large float32 matmul, NumPy and torch, on this machine."""
    import numpy as np
    import torch

    torch.set_num_threads(THREADS)
    n = 1024
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    out = {}
    for name, mm, x in (("NumPy", np.matmul, a), ("torch", torch.matmul, torch.from_numpy(a))):
        mm(x, x)
        times = []
        for _ in range(10):
            start = time.perf_counter()
            mm(x, x)
            times.append(time.perf_counter() - start)
        out[name] = 2 * n**3 / statistics.median(times) / 1e9
    return out


COMPONENT_SIZES = {"n_T": 128, "d": 256, "d_ff": 1024, "n_vocab": 2048}
COMPONENTS = ("layernorm", "attention", "mlp", "cross_entropy", "rmsnorm", "swiglu")


def component_times(repeats: int) -> list[tuple]:
    """(component, generated NumPy ms, generated Numba ms, generated Torch ms, autograd ms): forward +
    backward, batch 4."""
    import numpy as np
    import torch

    torch.set_num_threads(THREADS)
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from backprop.verify import configurations, generated, random_arguments, reference
    from derive.components import build

    def median_ms(fn):
        fn()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return 1e3 * statistics.median(times)

    rows = []
    for name in COMPONENTS:
        sizes = {str(d): COMPONENT_SIZES.get(str(d), 256) for a in build(name).tensor_arguments for d in a.dims}
        arrays = random_arguments(name, np.random.default_rng(0), sizes, (4,), dtype=np.float32)
        # Weights of a trained scale (1/√fan-in), so no softmax underflows into slow subnormal numbers.
        arrays = {k: v / np.float32(np.sqrt(v.shape[0])) if v.dtype == np.float32 and v.ndim == 2 else v
                  for k, v in arrays.items()}
        config = configurations(name, {**sizes, "d": 256})[0]
        if "n_heads" in config:
            config["n_heads"] = 4
        np_mod, nb_mod, th_mod = generated(name, "numpy"), generated(name, "numba"), generated(name, "torch")
        tensors = [torch.from_numpy(v) for v in arrays.values()]
        out, _ = np_mod.forward(*arrays.values(), **config)
        G = np.ones_like(out)

        def run_numpy():
            o, cache = np_mod.forward(*arrays.values(), **config)
            np_mod.backward(G, cache)

        def run_numba():
            o, cache = nb_mod.forward(*arrays.values(), **config)
            nb_mod.backward(G, cache)

        def run_torch():
            o, cache = th_mod.forward(*tensors, **config)
            th_mod.backward(torch.from_numpy(G), cache)

        c = build(name)
        leaves = [t.clone().requires_grad_(c.argument(k).receives_gradient) if t.is_floating_point() else t
                  for k, t in zip(arrays, tensors)]
        ref = reference(name)

        def run_autograd():
            for t in leaves:
                t.grad = None
            ref(*leaves, **config).backward(torch.from_numpy(G))

        rows.append((name, median_ms(run_numpy), median_ms(run_numba), median_ms(run_torch), median_ms(run_autograd)))
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    p.add_argument("--repeats", type=int, default=20, help="timed steps per measurement (default 20)")
    p.add_argument("--rounds", type=int, default=2,
                   help="measurements of each implementation, taking turns (default 2); the medians are over all")
    p.add_argument("--compiled", nargs="*", default=["M"], choices=list(SIZES),
                   help="sizes to run the compiled Torch step at (default M; compiling takes about a minute)")
    p.add_argument("--no-components", action="store_true", help="skip the per-component table")
    p.add_argument("--child", nargs=2, metavar=("IMPL", "SIZE"), help=argparse.SUPPRESS)
    p.add_argument("--components", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.components:
        print(json.dumps(component_times(args.repeats)))
        return 0
    if args.child:
        print(json.dumps(measure(args.child[0], args.child[1], args.repeats)))
        return 0
    env = dict(os.environ, OMP_NUM_THREADS=str(THREADS), OPENBLAS_NUM_THREADS=str(THREADS),
               MKL_NUM_THREADS=str(THREADS))
    ceiling = matmul_ceiling()
    print(f"matmul ceiling (1024³ float32, {THREADS} threads): NumPy {ceiling['NumPy']:.1f} GFLOP/s, "
          f"torch {ceiling['torch']:.1f} GFLOP/s")
    if os.environ.get("OPENBLAS_CORETYPE"):
        print(f"note: OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']} is set; NumPy may run a slower kernel")
    header = f"{'size':<5}{'implementation':<18}{'median ms':>10}{'× autograd':>12}{'beside ms':>10}" \
             f"{'× autograd':>12}{'GFLOP/s':>9}{'peak MB':>9}{'× autograd':>12}"
    print(header)
    print("-" * len(header))
    for size in args.sizes:
        rows = {}
        for round_ in range(args.rounds):  # the implementations take turns, so a slow spell of the machine
            for impl in IMPLEMENTATIONS:  # falls on all of them, not on one
                if impl == "compiled Torch" and size not in args.compiled:
                    continue
                result = subprocess.run([sys.executable, __file__, "--child", impl, size, "--repeats",
                                         str(args.repeats)], capture_output=True, text=True, env=env, check=True)
                r = json.loads(result.stdout.strip().splitlines()[-1])
                if impl in rows:
                    rows[impl]["times_ms"] += r["times_ms"]
                    rows[impl]["peak_mb"].append(r["peak_mb"])
                else:
                    rows[impl] = dict(r, peak_mb=[r["peak_mb"]])
        for r in rows.values():
            r["median_ms"] = statistics.median(r["times_ms"])
            r["peak_mb"] = statistics.median(r["peak_mb"])
        ref = rows["torch autograd"]
        floor = {"NumPy": rows["generated NumPy"]["floor_ms"], "torch": ref["floor_ms"]}
        ref_beside = ref["median_ms"] - floor["torch"]
        for impl, r in rows.items():
            memory_ratio = f"{r['peak_mb'] / ref['peak_mb']:.2f}" if ref["peak_mb"] > 0 else "—"
            extra = f"   (compiled in {r['compile_s']:.1f} s)" if r["compile_s"] else ""
            # beside the products: the step minus the same library's products alone
            beside = r["median_ms"] - floor[PRODUCTS_OF[impl]]
            print(f"{size:<5}{impl:<18}{r['median_ms']:>10.1f}{r['median_ms'] / ref['median_ms']:>12.2f}"
                  f"{beside:>10.1f}{beside / ref_beside:>12.2f}"
                  f"{flops(SIZES[size]) / r['median_ms'] / 1e6:>9.1f}{r['peak_mb']:>9.1f}{memory_ratio:>12}{extra}")
        losses = {round(r["loss"], 4) for r in rows.values()}
        print(f"{'':<5}matmul floor (the step's products alone): NumPy {floor['NumPy']:.1f} ms, "
              f"torch {floor['torch']:.1f} ms; same loss from all: {'yes' if len(losses) == 1 else losses}")
    if not args.no_components:
        print()
        header = f"{'component (M sizes, batch 4)':<30}{'NumPy ms':>10}{'×':>7}{'Numba ms':>10}{'×':>7}" \
                 f"{'Torch ms':>10}{'×':>7}{'autograd ms':>13}"
        print(header)
        print("-" * len(header))
        result = subprocess.run([sys.executable, __file__, "--components", "--repeats", str(args.repeats)],
                                capture_output=True, text=True, env=env, check=True)
        for name, n, nb, t, a in json.loads(result.stdout.strip().splitlines()[-1]):
            print(f"{name:<30}{n:>10.2f}{n / a:>7.2f}{nb:>10.2f}{nb / a:>7.2f}{t:>10.2f}{t / a:>7.2f}{a:>13.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
