"""Step memory: the heap one call of a workload uses, for each contestant, measured in a
process of its own (`tracecomp bench`'s memory column; benchmarks/peak_memory.py uses the
same counter for more variants).

peak_malloc.c, compiled here with the C compiler (`cc`, `gcc` or $CC) and preloaded into
the child, counts the heap bytes in use through glibc's malloc family, which numpy's arrays
and torch's CPU tensors both come from (JIT code and Python's small-object arenas do not).
After WARM_CALLS calls (compiles included) the peak is reset; the figure is the peak
during one more call above what was in use when it started (parameters, optimizer state,
inputs): the activations, gradients and temporaries of a step. tracecomp's compiled code
also keeps memory from one call to the next (each graph's arena of scratch values, output
buffers it reuses), which that count already holds: it is added ("held between calls"), so
step memory is the call's whole working memory for every contestant. A contestant whose
gradients are freed by `zero_grad()` before its backward makes new ones (torch, tracecomp
eager) counts them net of the old ones. Linux with glibc only; each child imports and
compiles anew, a few seconds each, so they run side by side, one per CPU.

    python -m tracecomp.bench.peak OPTIONS_JSON WORKLOAD_KEY CONTESTANT   (one child)
"""
import ctypes
import dataclasses
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "peak_malloc.c")
WARM_CALLS = 3
# contestants left out of the column: torch.compile's compile alone takes ~20 s per child
NOT_MEASURED = {"torch.compile": "its compile takes ~20 s per process"}


def build_shim(folder):
    """(path of the counter built into `folder`, "") or (None, why it cannot be)."""
    if not sys.platform.startswith("linux"):
        return None, "the heap counter needs Linux with glibc"
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None, "no C compiler (cc, gcc or $CC) to build the heap counter"
    out = os.path.join(folder, "peak_malloc.so")
    run = subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", out, SOURCE],
                         capture_output=True, text=True)
    if run.returncode:
        lines = (run.stderr or run.stdout).strip().splitlines() or ["no message"]
        return None, f"building the heap counter failed: {lines[-1]}"
    return out, ""


def held_bytes():
    """What the compiled code alive in this process keeps between calls (the llvm runners'
    pool of arenas and the spare output buffers nobody references)."""
    runner = sys.modules.get("tracecomp.codegen.llvm.runtime.runner")
    if runner is None:
        return 0
    from tracecomp.codegen.llvm.runtime import arenas
    return arenas.held_bytes() + sum(r.held_bytes() for r in gc.get_objects()
                                     if isinstance(r, runner.Runner))


class Meter:
    """Measures contestants in child processes, the counter preloaded; `why` says why it
    cannot (then measure() returns that reason)."""

    def __init__(self):
        self.folder = tempfile.mkdtemp(prefix="tracecomp-peak-")
        self.shim, self.why = build_shim(self.folder)

    def close(self):
        shutil.rmtree(self.folder, ignore_errors=True)

    def measure(self, opts, key, name):
        """{"peak", "held", "before"} in bytes for contestant `name` of workload `key`, or
        the reason (a string) it could not be measured."""
        if self.shim is None:
            return self.why
        if name in NOT_MEASURED:
            return NOT_MEASURED[name]
        env = {**os.environ, "LD_PRELOAD": self.shim}
        settings = json.dumps(dataclasses.asdict(opts))
        run = subprocess.run([sys.executable, "-m", "tracecomp.bench.peak", settings, key,
                              name], env=env, capture_output=True, text=True)
        lines = run.stdout.strip().splitlines()
        if run.returncode or not lines:
            err = (run.stderr or run.stdout).strip().splitlines() or [f"exit {run.returncode}"]
            return f"failed: {err[-1]}"
        return json.loads(lines[-1])


def fill(meter, opts, workload, results, log=print):
    """Measure each contestant that ran, into its Result (step_bytes, held_bytes and the
    ratio to torch eager's). The children run side by side, one per CPU: each counts its
    own heap, and each spends seconds importing and compiling (run one after the other,
    five contestants took ~13 s on two cores, one of them idle)."""
    ran = [r for r in results if r.ok]
    with ThreadPoolExecutor(max_workers=max(1, min(len(ran), os.cpu_count() or 1))) as pool:
        measured = list(pool.map(lambda r: meter.measure(opts, workload.key, r.name), ran))
    for r, got in zip(ran, measured):
        if isinstance(got, str):
            r.memory_note = got
            continue
        r.step_bytes, r.held_bytes = got["peak"] + got["held"], got["held"]
        log(f"  {r.name}: step memory {r.step_bytes / 2**20:.2f} MB")
    torch = next((r.step_bytes for r in results if r.name == "torch eager"), None)
    for r in results:
        if torch and r.step_bytes is not None:
            r.memory_vs_torch = r.step_bytes / torch


def child(settings, key, name):
    """Run contestant `name` of workload `key` WARM_CALLS times, then measure one call;
    prints the counts as JSON."""
    heap = ctypes.CDLL(None)
    heap.tracecomp_heap_now.restype = heap.tracecomp_heap_peak.restype = ctypes.c_longlong
    from .workloads import Options, workloads
    fields = json.loads(settings)
    opts = Options(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})
    if opts.threads:
        from . import set_threads
        set_threads(opts.threads)
    workload = next(w for w in workloads(opts) if w.key == key)
    contestant = next(c for c in workload.contestants() if c.name == name)
    run = contestant.make()
    for _ in range(WARM_CALLS):
        out = run.call()
    del out
    gc.collect()
    heap.tracecomp_heap_reset()
    before = heap.tracecomp_heap_now()
    run.call()
    peak = heap.tracecomp_heap_peak() - before
    print(json.dumps({"peak": peak, "held": held_bytes(), "before": before}))


if __name__ == "__main__":
    child(*sys.argv[1:4])
