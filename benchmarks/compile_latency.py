"""Compile latency of the MLP training step: cold, and from the disk cache in a new process.

    .venv/bin/python benchmarks/compile_latency.py [--runs 5] [--batch 64] [--threads 1]
                                                   [--profile]

The step is `tracecomp.compile(model)` on Sequential(Linear(784,256), ReLU, Linear(256,256),
ReLU, Linear(256,10)), then cross_entropy and loss.backward(). Each measurement is a fresh
Python process timing its *first* step (tracing, passes, fusion, codegen or cache load,
linking and running), because a process that already compiled once has warm LLVM state
and would flatter both numbers. Imports are timed separately, and
`import tracecomp` alone in fresh processes, with and without .pyc files. Runs:

  cold:  TRACECOMP_CACHE=0, so LLVM optimizes and compiles every graph;
  warm:  one process fills an empty cache directory, then each run links from it.

--profile runs one more warm process under cProfile and prints where its first step went.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def child(batch, profile):
    start = time.perf_counter()
    import numpy as np

    import tracecomp as tc
    import tracecomp.nn.functional as F
    from tracecomp import nn
    from tracecomp.codegen.llvm.runtime import cache
    imported = time.perf_counter()

    llvm_s = []  # the LLVM share: optimize + codegen + link, or read + link a cached object
    compile_module = cache.compile_module

    def timed(*args, **kwargs):
        t = time.perf_counter()
        try:
            return compile_module(*args, **kwargs)
        finally:
            llvm_s.append(time.perf_counter() - t)
    cache.compile_module = timed  # backend.py looks it up on the module at each compile

    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                          nn.Linear(256, 10))
    compiled = tc.compile(model)
    rng = np.random.default_rng(0)
    x = tc.tensor(rng.standard_normal((batch, 784)).astype(np.float32))
    y = tc.tensor(rng.integers(0, 10, batch))

    def step():
        model.zero_grad()
        F.cross_entropy(compiled(x), y).backward()

    if profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.runcall(step)
        pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
        return
    t0 = time.perf_counter()
    step()
    t1 = time.perf_counter()
    step()
    t2 = time.perf_counter()
    print(json.dumps({"import_s": imported - start, "first_s": t1 - t0, "second_s": t2 - t1,
                      "llvm_s": sum(llvm_s), "modules": len(llvm_s)}))


def run_child(env, batch, profile=False):
    args = [sys.executable, __file__, "--child", "--batch", str(batch)]
    if profile:
        subprocess.run(args + ["--profile"], env=env, check=True)
        return None
    out = subprocess.run(args, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


IMPORT_TIMER = ("import time; t = time.perf_counter(); import tracecomp; "
                "print(time.perf_counter() - t)")


def import_seconds(env, runs, bytecode, pycache):
    """`import tracecomp` alone in fresh processes, with bytecode in the empty folder pycache.
    With bytecode: as an installed package has it (.pyc files written by a first import,
    then read). Without: as under PYTHONDONTWRITEBYTECODE=1 with no .pyc anywhere, where
    every module is compiled from source on each import."""
    env = {**env, "PYTHONPYCACHEPREFIX": pycache}
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        subprocess.run([sys.executable, "-c", "import tracecomp"], env=env, check=True)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return [float(subprocess.run([sys.executable, "-c", IMPORT_TIMER], env=env, check=True,
                                 capture_output=True, text=True).stdout)
            for _ in range(runs)]


def ms(values):
    return (f"median {statistics.median(values) * 1e3:7.1f} ms   "
            f"min {min(values) * 1e3:7.1f} ms")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="processes per measurement")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, help="BLAS threads (1 on a busy machine)")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.child:
        return child(opts.batch, opts.profile)

    with tempfile.TemporaryDirectory(prefix="tracecomp-latency-") as cache_dir:
        base = {**os.environ, "TRACECOMP_CACHE_DIR": cache_dir}
        base.pop("TRACECOMP_DEBUG", None)
        if opts.threads:
            base.update({v: str(opts.threads) for v in ("OPENBLAS_NUM_THREADS",
                                                         "OMP_NUM_THREADS", "MKL_NUM_THREADS")})
        cold = [run_child({**base, "TRACECOMP_CACHE": "0"}, opts.batch)
                for _ in range(opts.runs)]
        fill = run_child({**base, "TRACECOMP_CACHE": "1"}, opts.batch)
        entries = len(os.listdir(cache_dir))
        warm = [run_child({**base, "TRACECOMP_CACHE": "1"}, opts.batch)
                for _ in range(opts.runs)]
        print(f"MLP 784-256-256-10 training step, batch {opts.batch}, "
              f"{opts.runs} processes each; first call = trace + passes + compile + run")
        for name, runs in [("cold, cache off", cold), ("cold, filling cache", [fill]),
                           ("warm, from the cache", warm)]:
            print(f"  {name + ' first call:':32} {ms([r['first_s'] for r in runs])}")
            print(f"    {'of which LLVM:':30} {ms([r['llvm_s'] for r in runs])}   "
                  f"({runs[0]['modules']} modules)")
        print(f"  cache entries written:           {entries}")
        print(f"  steady-state step:               {ms([r['second_s'] for r in warm])}")
        print(f"  imports of the step's process:   {ms([r['import_s'] for r in warm])}")
        for bytecode, name in [(True, ".pyc cached"), (False, "no .pyc at all")]:
            with tempfile.TemporaryDirectory(prefix="tracecomp-pycache-") as pycache:
                seconds = import_seconds(base, opts.runs, bytecode, pycache)
            print(f"  {'import tracecomp, ' + name + ':':32} {ms(seconds)}")
        if opts.profile:
            print("\ncProfile of a warm first call (stderr):", flush=True)
            run_child({**base, "TRACECOMP_CACHE": "1"}, opts.batch, profile=True)


if __name__ == "__main__":
    main()
