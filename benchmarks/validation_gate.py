"""What the validation gate costs: per built-in component and target, rendering a module against
running it through the gate (``codegen.validate.check``), and ``backprop generate`` whole.

    python benchmarks/validation_gate.py [--repeats 3]

Medians of ``--repeats`` runs in one process, after one warm-up run (imports, torch's first calls).
The gate runs the module on every case of ``reference.gate.cases`` (each dimension at 1, 2 and 3, no
batch axis, one and two, each configuration), forward and backward, against the reference semantics
and autograd through it, each array probed against the shape its statement states; the Numba
target's kernels run as plain Python there.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from codegen.lower import lower
    from codegen.render import BACKENDS, render_plan
    from codegen.validate import check
    from derive.components import NAMES, build
    from derive.reverse import derive
    from reference.gate import cases

    targets = [t for t in ("numpy", "torch", "numba") if t in BACKENDS]
    print(f"{'component':24} {'cases':>5} " + " ".join(f"{t + ' render':>13} {t + ' gate':>11}" for t in targets))
    total_render = total_gate = 0.0
    for name in NAMES:
        c = build(name)
        plan = lower(derive(c))
        row = f"{name:24} {len(cases(c)):>5} "
        for target in targets:
            render, gate = [], []
            for k in range(args.repeats + 1):
                start = time.perf_counter()
                text = render_plan(plan, BACKENDS[target])
                middle = time.perf_counter()
                check(c, text, target)
                end = time.perf_counter()
                if k:  # the first run warms up
                    render.append(middle - start)
                    gate.append(end - middle)
            r, g = statistics.median(render), statistics.median(gate)
            total_render, total_gate = total_render + r, total_gate + g
            row += f"{1e3 * r:>10.0f} ms {1e3 * g:>8.0f} ms "
        print(row)
    print(f"all components, every target: render {total_render:.2f} s, gate {total_gate:.2f} s")
    root = Path(__file__).resolve().parent.parent
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "backprop.cli", "generate", "--check"], cwd=root, check=True,
                   capture_output=True)
    print(f"backprop generate --check (every file, the gate included, a fresh process): "
          f"{time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
