"""Peak heap memory of one training step: tracecomp eager, compiled (and under memory_budget)
against torch eager, measured the same way for both.

    .venv/bin/python benchmarks/peak_memory.py [--batch 64] [--only mlp,lenet,gelu-mlp]

`tracecomp bench` shows the same figure for its training workloads; this script adds
memory_budget runs and a transformer MLP block. Each figure comes from a fresh process
into which tracecomp/bench/peak_malloc.c (compiled here with the C compiler, `cc` or $CC)
is preloaded: it counts the heap bytes in use through
glibc's malloc family, which numpy's arrays and torch's CPU tensors both come from (JIT code
and Python's small-object arenas do not). After three warm-up steps (compiles included) the
peak is reset; the figure is the peak during one more step above what was in use when it
started (parameters, optimizer state, data): the activations, gradients and temporaries of
a step. tracecomp's compiled code also keeps memory from one step to the next (each graph's
arena of scratch values, output buffers it reuses), which that count already holds: it is
added ("held between steps"), so "step memory" is the step's whole working memory for every
contestant. Linux with glibc only.

Workloads: the MLP and LeNet of `tracecomp bench` (cross-entropy, SGD momentum 0.9), and a
transformer MLP block (Linear 512-2048, GELU tanh, Linear 2048-512, MSE loss) on 512 tokens,
where saving the GELU's input instead of its chain of values (min-cut) is what counts.
"""
import argparse
import ctypes
import json
import os
import subprocess
import sys
import tempfile

from tracecomp.bench import peak

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOADS = ("mlp", "lenet", "gelu-mlp")
CONTESTANTS = [("torch", "eager", None), ("tracecomp", "eager", None),
               ("tracecomp", "compile(model)", None), ("tracecomp", "compile(model)", 1.0),
               ("tracecomp", "compile(model)", 0.0), ("tracecomp", "whole step", None),
               ("tracecomp", "whole step", 0.0)]


def child(lib_name, mode, budget, workload, batch):
    heap = ctypes.CDLL(None)
    heap.tracecomp_heap_now.restype = heap.tracecomp_heap_peak.restype = ctypes.c_longlong
    import numpy as np
    if lib_name == "torch":
        import torch as lib
    else:
        import tracecomp as lib
    from tracecomp.bench.workloads import lenet_module, mlp_module
    F = lib.nn.functional
    lib.manual_seed(0)
    rng = np.random.default_rng(0)
    if workload == "gelu-mlp":
        nn = lib.nn
        model = nn.Sequential(nn.Linear(512, 2048), nn.GELU(approximate="tanh"),
                              nn.Linear(2048, 512))
        x = lib.tensor(rng.standard_normal((8 * batch, 512)).astype(np.float32))
        y = lib.tensor(rng.standard_normal((8 * batch, 512)).astype(np.float32))
        loss_fn = F.mse_loss
    else:
        shape = (784,) if workload == "mlp" else (1, 28, 28)
        model = (mlp_module if workload == "mlp" else lenet_module)(lib, None)
        x = lib.tensor(rng.standard_normal((batch, *shape)).astype(np.float32))
        y = lib.tensor(rng.integers(0, 10, batch))
        loss_fn = F.cross_entropy
    opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    forward = lib.compile(model, memory_budget=budget) if mode == "compile(model)" else model

    def step(x, y):     # the batch as arguments: a compiled step reads them every call
        opt.zero_grad()
        loss = loss_fn(forward(x), y)
        loss.backward()
        opt.step()
        return loss
    if mode == "whole step":
        step = lib.compile(step, memory_budget=budget)
    for _ in range(3):
        step(x, y)
    heap.tracecomp_heap_reset()
    before = heap.tracecomp_heap_now()
    step(x, y)
    print(json.dumps({"peak": heap.tracecomp_heap_peak() - before, "before": before,
                      "held": peak.held_bytes()}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--only", default=",".join(WORKLOADS),
                        help=f"comma-separated workloads (default all: {','.join(WORKLOADS)})")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.child:
        lib_name, mode, budget, workload = opts.child
        return child(lib_name, mode, None if budget == "None" else float(budget), workload,
                     opts.batch)
    chosen = [w for w in opts.only.split(",") if w]
    if set(chosen) - set(WORKLOADS):
        parser.error(f"workloads are {', '.join(WORKLOADS)}")
    try:
        import torch  # noqa: F401 - only whether it is there
        contestants = CONTESTANTS
    except ImportError:
        print("torch is not installed: no torch eager row")
        contestants = [c for c in CONTESTANTS if c[0] != "torch"]
    with tempfile.TemporaryDirectory(prefix="tracecomp-peak-") as folder:
        shim, why = peak.build_shim(folder)
        if shim is None:
            sys.exit(f"peak_memory.py: {why}")
        env = {**os.environ, "LD_PRELOAD": shim, "OMP_NUM_THREADS": "1"}
        for workload in chosen:
            print(f"\n### {workload}, batch {opts.batch}: heap peak of one training step "
                  f"above what was in use before it\n")
            print("| contestant | step memory | vs torch eager | transient peak | held "
                  "between steps | heap in use before |")
            print("|---|--:|--:|--:|--:|--:|")
            reference = None
            for lib_name, mode, budget in contestants:
                args = [sys.executable, __file__, "--batch", str(opts.batch), "--child",
                        lib_name, mode, str(budget), workload]
                run = subprocess.run(args, env=env, capture_output=True, text=True)
                name = f"{lib_name} {mode}" + ("" if budget is None else
                                               f", memory_budget={budget}")
                if run.returncode:
                    print(f"| {name} | failed: {run.stderr.strip().splitlines()[-1]} | | |")
                    continue
                got = json.loads(run.stdout.strip().splitlines()[-1])
                total = got["peak"] + got["held"]
                reference = reference or (total if lib_name == "torch" else None)
                ratio = f"{total / reference:.2f}x" if reference else "—"
                print(f"| {name} | {total / 2**20:.2f} MB | {ratio} | "
                      f"{got['peak'] / 2**20:.2f} MB | {got['held'] / 2**20:.2f} MB | "
                      f"{got['before'] / 2**20:.1f} MB |")


if __name__ == "__main__":
    main()
