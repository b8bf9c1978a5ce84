"""`tracecomp bench`: eager vs compiled tracecomp against numpy by hand, torch eager and
torch.compile, all in one process and one run, every result checked before it is timed.

    tracecomp bench [--quick] [--only mlp,lenet,gelu,gemm,small-ops] [--rounds N] [--threads N]
                    [--backends interp,llvm] [--no-torch-compile] [--no-memory]
                    [--device cpu|cuda] [--json PATH] [--png PATH]

Training steps also get a step-memory column (without --quick, or with --memory): the heap
one step uses, in a process of its own per contestant, next to torch eager's (peak.py).

With --device cuda the models, inputs and compiled code are on the GPU: tracecomp eager
(ops as cached kernels) against tracecomp compiled for CUDA and torch on CUDA (where this
torch has CUDA); every call waits for the GPU. small-ops (CPU per-op overhead) is left out.

The modules, in the order a run goes through them:

    workloads.py  what is measured: MLP and LeNet inference and training steps, the
                  gelu_tanh(x*a+b) chain and GEMM, each with its contestants
    small_ops.py  eager per-op overhead on tiny tensors: bigram batch sampling, a gather,
                  a 16x16 matmul with backward, an elementwise chain
    numpy_ref.py  the hand-written numpy versions
    runner.py     build, check against tracecomp eager, calibrate, time round by round
    peak.py       step memory: one process per contestant, a heap counter preloaded
    report.py     the markdown tables, the JSON and the PNG chart

The exit status is 1 when a contestant's result differs from tracecomp eager's (a benchmark
of wrong numbers is a bug, not a result), else 0; a contestant that fails to run (torch.compile
without a working C++ toolchain, say) is a row of the table, not an error.
"""
import gc
import sys
import time

from . import peak, report
from .runner import run_workload
from .workloads import GROUPS, Options, torch_or_none, workloads

__all__ = ["GROUPS", "Options", "bench"]

# seconds of calls per contestant per round: enough calls to average out timer overhead,
# and long enough that the machine's wake-up after the settle below is a small part of the
# round (on the dev VM a numpy multiply of 4M floats ran 0.81 ms back to back but 1.02 ms
# for ~50 ms after a 0.15 s sleep; with 0.05 s rounds gelu's median was 25-40 % worse than
# its back-to-back speed, for every contestant)
ROUND_S = {False: 0.2, True: 0.005}
ROUNDS = {False: 20, True: 3}
# seconds of sleep before each contestant's turn, so the thread pools of the one before have
# gone to sleep: OpenBLAS workers spin ~0.1 s after a call, and a torch step that starts while
# they spin on its cores measured up to 2x slower here (MLP step, batch 512: 9.8 ms vs 4.4 ms)
SETTLE_S = {False: 0.15, True: 0.0}


def bench(opts, rounds=None, json_path=None, png_path=None, out=None):
    """Run the selected workloads, print the report (to `out`, default stdout), write the
    files; returns the exit status."""
    def say(text=""):
        print(text, file=out or sys.stdout, flush=True)

    rounds = rounds or ROUNDS[opts.quick]
    restore = set_threads(opts.threads) if opts.threads else lambda: None
    try:
        return _bench(opts, rounds, json_path, png_path, say)
    finally:
        restore()


def _bench(opts, rounds, json_path, png_path, say):
    info = report.machine()
    if opts.device != "cpu":
        from .. import cuda
        info["gpu"] = cuda.get_device_name(0)
    for line in report.machine_lines(info):
        say(line)
    if "busy_cores_before" in info:
        before = report.Load(info["busy_cores_before"], info["stolen_cores_before"])
        if before.noise() >= 0.3:
            say(f"warning: just before the run, {before.describe()}: thread pools that wait "
                f"on a busy core inflate multi-threaded timings (--threads 1 avoids that)")
    say()
    all_results, loads = [], []
    start = time.perf_counter()
    memory = peak.Meter() if opts.memory and opts.device == "cpu" else None
    try:
        for workload in workloads(opts):
            say(f"{workload.title}:")
            meter = report.OtherLoad().start()
            results = run_workload(workload, rounds, ROUND_S[opts.quick], log=say,
                                   settle_s=SETTLE_S[opts.quick])
            loads.append(meter.load())
            if memory is not None and workload.memory:
                say("  step memory, one process per contestant ...")
                peak.fill(memory, opts, workload, results, log=say)
            say()
            say(report.table(workload, results, rounds, loads[-1]))
            say()
            all_results.append((workload, results))
            gc.collect()     # drop this workload's models and arrays before the next one
    finally:
        if memory is not None:
            memory.close()
    say(report.legend(memory is not None))
    count = len(all_results)
    say(f"\n{count} workload{'s' * (count != 1)} in {time.perf_counter() - start:.1f} s.")

    if json_path:
        settings = {"quick": opts.quick, "only": list(opts.only), "rounds": rounds,
                    "threads": opts.threads,
                    "backends": list(opts.backends), "torch_compile": opts.torch_compile,
                    "device": opts.device, "memory": opts.memory,
                    "round_s": ROUND_S[opts.quick], "settle_s": SETTLE_S[opts.quick]}
        report.write_json(json_path, report.to_json(info, settings, all_results, loads))
        say(f"wrote {json_path}")
    if png_path:
        if report.write_png(png_path, all_results):
            say(f"wrote {png_path}")
        else:
            say(f"no chart: matplotlib is not installed (pip install matplotlib), so "
                f"{png_path} was not written")
    bad = report.mismatches(all_results)
    for workload, r in bad:
        print(f"tracecomp bench: WRONG RESULT: {r.name} on {workload.title}: {r.check}",
              file=sys.stderr)
    return 1 if bad else 0


def set_threads(n):
    """Use n threads in the BLAS (numpy's OpenBLAS, which tracecomp's GEMM calls too) and in
    torch's intra-op pool; returns a function that puts the previous counts back."""
    import importlib
    undo = []
    try:
        blas = importlib.import_module("tracecomp.codegen.llvm.gemm.blas")
        before = blas.threads()["num_threads"]
        if before and blas.set_threads(n):
            undo.append(lambda: blas.set_threads(before))
    except ImportError:
        pass
    torch = torch_or_none()
    if torch is not None:
        before_torch = torch.get_num_threads()
        torch.set_num_threads(n)
        undo.append(lambda: torch.set_num_threads(before_torch))
    return lambda: [f() for f in undo]
