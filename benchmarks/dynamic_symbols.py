"""Dynamic shapes: what 1, 2, 3 (and 4) symbols cost to compile, and how many compiles they take.

    .venv/bin/python benchmarks/dynamic_symbols.py [--symbols 1,2,3,4] [--repeat 3]

With the disk cache off (TRACECOMP_CACHE=0, every compile cold), for n symbols:

  - compile: `tracecomp.compile(f)` of f(x, w) = relu(x @ w) over rows, x of shape
    [d0, ..., d(n-1), 16], called at sizes where one dim changes a call (n + 1 calls: its
    sizes, then one more symbol each), then at 6 sizes where all change: the compiles,
    the time of the call that makes the n-th symbol, and the median of the later calls;
  - export: `tracecomp.export.export` of a small CNN (conv 3x3, relu, max over the image,
    linear) with Dims on its batch, then height, then width (n <= 3): the export's time and
    its module's first call (which compiles).

Each figure is the median of --repeat fresh runs. Outputs are checked against eager.
"""
import argparse
import os
import statistics
import time

os.environ["TRACECOMP_CACHE"] = "0"     # cold compiles; set before tracecomp reads it

import numpy as np  # noqa: E402

import tracecomp as tc  # noqa: E402


def rows(x, w):
    return (x @ w).relu().reshape(-1, w.shape[1]).sum(0)


def compile_run(n, seed):
    """(compiles, seconds of the call that makes the n-th symbol, median seconds after)."""
    rng = np.random.default_rng(seed)
    w = tc.randn(16, 16)
    f = tc.compile(rows)
    sizes = [[4 + k for k in range(n)]]
    for k in range(n):                  # one more dim changes each call
        sizes.append([m + 3 * (j == k) for j, m in enumerate(sizes[-1])])
    sizes += [list(rng.integers(2, 20, n)) for _ in range(6)]
    times = []
    for shape in sizes:
        x = tc.randn(*shape, 16)
        start = time.perf_counter()
        got = f(x, w)
        times.append(time.perf_counter() - start)
        if not np.allclose(got.numpy(), rows(x, w).numpy(), rtol=1e-4, atol=1e-4):
            raise SystemExit(f"{n} symbols: compiled differs from eager at {shape}")
    return f.compiles, times[n], statistics.median(times[n + 1:])


class CNN(tc.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = tc.nn.Conv2d(3, 8, 3, padding=1)
        self.head = tc.nn.Linear(8, 10)

    def forward(self, x):
        return self.head(tc.relu(self.conv(x)).amax((2, 3)))


def export_run(n):
    """(seconds to export with n Dims, seconds of the module's first call), or None where
    export refuses n Dims."""
    tc.manual_seed(0)
    model, x = CNN(), tc.randn(2, 3, 24, 24)
    Dim = tc.export.Dim
    dims = dict(list({0: Dim("batch"), 2: Dim("height"), 3: Dim("width")}.items())[:n])
    start = time.perf_counter()
    try:
        ep = tc.export.export(model, (x,), dynamic_shapes={"x": dims})
    except NotImplementedError:
        return None
    exported = time.perf_counter() - start
    start = time.perf_counter()
    got = ep.module()(x)
    first = time.perf_counter() - start
    if not np.allclose(got.detach().numpy(), model(x).detach().numpy(), rtol=1e-4, atol=1e-5):
        raise SystemExit(f"export with {n} Dims differs from eager")
    return exported, first


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--symbols", default="1,2,3,4")
    parser.add_argument("--repeat", type=int, default=3)
    opts = parser.parse_args()
    counts = [int(n) for n in opts.symbols.split(",")]
    print(f"## compile (median of {opts.repeat} cold runs)\n")
    print("| symbols | calls | compiles | call making the last symbol | later call |")
    print("|--:|--:|--:|--:|--:|")
    for n in counts:
        runs = [compile_run(n, seed) for seed in range(opts.repeat)]
        compiles = max(r[0] for r in runs)
        made = statistics.median(r[1] for r in runs)
        later = statistics.median(r[2] for r in runs)
        print(f"| {n} | {n + 7} | {compiles} | {1e3 * made:.0f} ms | {1e3 * later:.1f} ms |")
    print(f"\n## export of a CNN (median of {opts.repeat})\n")
    print("| Dims | export | first call |\n|--:|--:|--:|")
    for n in [n for n in counts if n <= 3]:
        runs = [export_run(n) for _ in range(opts.repeat)]
        if runs[0] is None:
            print(f"| {n} | NotImplementedError | - |")
            continue
        print(f"| {n} | {1e3 * statistics.median(r[0] for r in runs):.0f} ms | "
              f"{1e3 * statistics.median(r[1] for r in runs):.0f} ms |")


if __name__ == "__main__":
    main()
