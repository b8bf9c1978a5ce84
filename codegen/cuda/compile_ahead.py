"""A graph's CUDA kernels compiled in worker processes at once, into numba-cuda's disk cache.

numba-cuda compiles one kernel at a time (a global compiler lock, and the GIL): ~130 ms
each on an H200 machine (2026-12-04), so a training step's ~40 kernels took 5.7 s before
its first call returned. When a graph has at least MIN_KERNELS kernels that neither this
process nor the disk cache (kernel_cache.py) holds, they are shared among up to
`workers()` processes (`python -m tracecomp.codegen.cuda.compile_worker`), each
compiling its share with numba-cuda into the same cache; the kernels' first launches
here then load them from it. A kernel a worker could not compile is compiled here at its
first launch, as without workers: slower, never different. With the cache off
(TRACECOMP_CACHE=0) or on numba's simulator there is nowhere to hand compiled code
over, and nothing here runs.

TRACECOMP_CUDA_COMPILE_WORKERS sets the number of workers (0: none).
"""
import json
import os
import subprocess
import sys

from tracecomp.debug_log import emit

from .compat import simulating

MIN_KERNELS = 6         # fewer: a worker's start (~1 s: numba, the CUDA context) costs more
KERNELS_PER_WORKER = 4  # or so, so that each worker's start pays for itself


def workers(count):
    """How many workers compile `count` kernels."""
    setting = os.environ.get("TRACECOMP_CUDA_COMPILE_WORKERS", "").strip()
    most = int(setting) if setting.isdigit() else min(8, os.cpu_count() or 1)
    return max(0, min(most, -(-count // KERNELS_PER_WORKER)))


def run(kernels):
    """kernels: [(numba-cuda dispatcher, [(dtype, ndim) per argument])]. Compiles those not
    yet compiled anywhere, in workers, when there are enough of them."""
    if simulating():
        return
    jobs = [job for job in map(_job, kernels) if job is not None]
    if len(jobs) < MIN_KERNELS:
        return
    n = workers(len(jobs))
    if n < 2:
        return
    shares = [jobs[k::n] for k in range(n)]
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    procs = [subprocess.Popen([sys.executable, "-m", "tracecomp.codegen.cuda.compile_worker"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env)
             for _ in shares]
    for proc, share in zip(procs, shares):
        proc.stdin.write(json.dumps(share))
        proc.stdin.close()
    for proc in procs:
        out, err = proc.stdout.read(), proc.stderr.read()
        proc.wait()
        failed = [line for line in out.splitlines() if not line.startswith("ok ")]
        if proc.returncode or failed:
            emit(1, f"[tracecomp] a cuda compile worker left kernels to this process "
                    f"(exit {proc.returncode}): {failed or err[-500:]}")
    emit(1, f"[tracecomp] {len(jobs)} cuda kernels compiled by {n} worker processes")


def _job(kernel):
    """[path, name, argument types] for a kernel neither compiled here nor in the disk
    cache, else None (also where numba-cuda's cache is not laid out as expected)."""
    dispatcher, args = kernel
    if dispatcher.overloads:
        return None
    try:
        index = dispatcher._cache._cache_file._index_path
    except AttributeError:      # no disk cache for it (TRACECOMP_CACHE=0), or another numba
        return None
    if os.path.exists(index):
        return None
    code = dispatcher.py_func.__code__
    return [code.co_filename, dispatcher.py_func.__name__,
            [[str(dtype), ndim] for dtype, ndim in args]]
