"""Large elementwise and reduction kernels split over threads (issue 4 item 5).

ctypes releases the GIL around a native call, so Python threads each calling a kernel on
a part of its iteration space run in parallel. A kernel that may be split is built
`ranged` (kernels.KernelBuilder: `void k(ptr..., ptr out, i64 start, i64 stop)` runs rows
[start, stop) of dim 0) and gets an entry of its own (entry.py), which `Pool.run` calls
from this thread and from persistent worker threads on pieces of dim 0 (PIECES_PER_THREAD
per thread), each claimed by whichever thread is free: a worker that wakes late leaves
its share to the others instead of making them wait.

When it pays, measured on the 2-core dev VM (one kernel, float32, median of 50+ calls,
single thread vs halves on this thread + one worker woken through a SimpleQueue):

    elements   gelu_tanh(x*a+b)          x*a+b
    64K          27 us ->  80 us          14 us ->  56 us
    256K        103 us -> 123 us          54 us ->  90 us
    512K        208 us -> 174 us  1.19x   78 us -> 129 us
    1M          403 us -> 295 us  1.37x  157 us -> 188 us
    2M          900 us -> 567 us  1.59x  437 us -> 332 us  1.32x
    4M         2083 us ->1425 us  1.46x 1429 us ->1360 us  1.05x

Waking a worker and waiting for it costs ~15-60 us, so only kernels of ~300 us or more
gain: `work(group)` estimates a kernel's cost as its iteration count times (1 + 4 per
vectorized transcendental + 16 per scalar libm call) and a kernel is split from
SPLIT_WORK on. The memory-bound x*a+b gains little even at 4M (both threads wait on
memory).

How many threads: TRACECOMP_THREADS when set, else as many as the BLAS is set to use
(`blas.set_threads`, OPENBLAS_NUM_THREADS, `tracecomp bench --threads`), else the CPUs
this process may run on: one knob bounds all of tracecomp's native parallelism. One
caller at a time uses the workers; a second concurrent caller runs its kernel whole on
its own thread. Workers are daemon threads, made on first use and again after a fork.
"""
import ctypes
import functools
import itertools
import os
import queue
import threading

from .. import target
from ..gemm import blas

SPLIT_WORK = 1 << 21
PIECES_PER_THREAD = 4


def work(group):
    """Estimated cost of a kernel in simple element operations."""
    root = group.root
    count = root.inputs[0].size if group.kind == "reduce" else root.size
    weight = 1 + sum(target.host().cost(n.op)
                     for n in group.nodes)
    return count * weight


def extent(group):
    """The dim-0 extent a split kernel divides, or None when it must run whole: only
    elementwise kernels and reductions that keep dim 0, at least SPLIT_WORK of work."""
    root = group.root
    if root.ndim == 0 or root.shape[0] < 2 or work(group) < SPLIT_WORK:
        return None
    if group.kind == "reduce" and 0 in root.params["dims"]:
        return None
    return root.shape[0] if group.kind in ("elementwise", "reduce") else None


def threads():
    """How many threads a split kernel uses now (see the module docstring)."""
    env = os.environ.get("TRACECOMP_THREADS", "").strip()
    if env:
        return max(1, int(env))
    get = _blas_threads()
    n = get() if get else 0
    return n if n > 0 else _cpus()


@functools.cache
def _blas_threads():
    sym = blas.find_gemm("float32") or blas.find_gemm("float64")
    return sym and blas._companion(sym, "get_num_threads", ctypes.c_int)


@functools.cache
def _cpus():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
        else os.cpu_count() or 1


class _Job:
    """One split call: pieces of [0, n) that the caller and the workers claim one at a time
    until none is left. A worker that wakes late (on a VM an idle vCPU takes long to wake)
    then just finds less or nothing to do, instead of the caller waiting for it to run a
    fixed half."""

    def __init__(self, fn, slots, pieces):
        self.fn, self.slots, self.pieces = fn, slots, pieces
        self.lock, self.finished = threading.Lock(), threading.Event()
        self.next = self.running = 0

    def drain(self):
        while True:
            with self.lock:
                k = self.next
                if k >= len(self.pieces):
                    return
                self.next, self.running = k + 1, self.running + 1
            try:
                self.fn(self.slots, *self.pieces[k])
            finally:
                with self.lock:
                    self.running -= 1
                    if not self.running and self.next >= len(self.pieces):
                        self.finished.set()

    def wait(self):
        """After the caller's own drain(): wait only for pieces a worker is running (none
        can be claimed any more)."""
        with self.lock:
            if not self.running:
                return
        self.finished.wait()


class _Worker:
    def __init__(self):
        self.jobs = queue.SimpleQueue()
        threading.Thread(target=self._loop, daemon=True, name="tracecomp-kernel").start()

    def _loop(self):
        while True:
            self.jobs.get().drain()


class Pool:
    def __init__(self):
        self.lock = threading.Lock()
        self.workers = []

    def reset(self):
        """In a forked child: the workers' threads do not exist there."""
        self.lock = threading.Lock()
        self.workers = []

    def run(self, fn, slots, n, parts=None):
        """fn(slots, start, stop) over [0, n), by this thread and up to `parts` - 1 workers
        (default threads()), in PIECES_PER_THREAD pieces per thread claimed as they go."""
        parts = min(parts, n) if parts else min(threads(), _cpus(), n)
        if parts < 2 or not self.lock.acquire(False):
            fn(slots, 0, n)
            return
        try:
            while len(self.workers) < parts - 1:
                self.workers.append(_Worker())
            count = min(n, parts * PIECES_PER_THREAD)
            bounds = [n * k // count for k in range(count + 1)]
            job = _Job(fn, slots, list(itertools.pairwise(bounds)))
            for w in self.workers[:parts - 1]:
                w.jobs.put(job)
            job.drain()
            job.wait()
        finally:
            self.lock.release()


pool = Pool()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=pool.reset)
