"""Large kernels and products split over threads (issue 4 item 5, issue 13).

ctypes releases the GIL around a native call, so Python threads each calling a kernel on
a part of its iteration space run in parallel. A kernel that may be split is built
`ranged` (kernels.KernelBuilder: `void k(ptr..., ptr out, i64 start, i64 stop)` runs rows
[start, stop) of dim 0) and gets an entry of its own (entry.py), which `Pool.run` calls
from this thread and from persistent worker threads on pieces of dim 0 (PIECES_PER_THREAD
per thread), each claimed by whichever thread is free: a worker that wakes late leaves
its share to the others instead of making them wait.

When it pays, measured on the 2-core dev VM with the native pool (znver4, one compiled
kernel, float32, medians of 15 rounds, us, whole -> split over 2 threads):

    elements   p - 0.01*(0.9*b + g), 0.9*b + g     relu(2*x)
                 (3 arrays read, 2 written)         (1 read, 1 written)
    64K           38 ->  33                           18 ->  21
    128K          46 ->  42                           20 ->  19
    256K          86 ->  62                           33 ->  27
    512K         165 ->  99                           73 ->  56
    1M           448 -> 275                          110 ->  71

(With a hand-over through a Python queue, ~15-60 us a wake-up, only kernels of ~300 us
gained: the threshold was 8x higher until the native pool, and an SGD update of a
784 x 256 weight ran on one thread.) So `work(group)` estimates a kernel's cost as its
iteration count times the arrays it streams (full-size inputs and outputs) plus 4 per
vectorized transcendental and 16 per scalar libm call, and a kernel is split from
KERNEL_SPLIT_WORK on.

How many threads: TRACECOMP_THREADS when set, else as many as the BLAS is set to use
(`blas.set_threads`, OPENBLAS_NUM_THREADS, `tracecomp bench --threads`), else the CPUs
this process may run on: one knob bounds all of tracecomp's native parallelism. One
caller at a time uses the workers; a second concurrent caller runs its kernel whole on
its own thread. Workers are daemon threads, made on first use and again after a fork.

Compiled code's splits (`run` with the kernel's native address) go to native_pool.py's
workers, which wait in native code and take a split in microseconds instead of the ~100 us
a hand-over through this module's Python queue costs (a sleeping thread woken on another
vCPU, and the GIL, at each end); the Python workers remain for Python callables and where
there is no native pool. The table above was measured with them.

Products (`gemm_split`): a 2-D product of SPLIT_WORK multiply-adds or more is cut into
blocks of C's rows or columns (`rows_first` says which), or of K where it reads a weight
the graph updates (`k_first`: each block a partial product, added up after), each piece
one BLAS call, and inside a compiled call the BLAS runs on one thread
(`serial_blas_begin/end`). Not the BLAS's own threads: OpenBLAS's workers spin ~0.1 s
after each product, busy on the other core while our kernels run between products. perf
put 42 % of a compiled LeNet inference's samples in OpenBLAS's `blas_thread_server`, and
on our 2-vCPU VMs the same process ran 1.5-1.9 ms per call for seconds, then 4.4-5.0 ms
(with 33 % steal in `top`); with the BLAS on one thread it never slowed so. Products
alone, split / one thread / OpenBLAS's 2 threads (us, znver4): 6x25x50176 379/579/464,
16x150x6400 234/413/289, 64x784x256 185/280/149.
"""
import ctypes
import functools
import itertools
import math
import os
import queue
import threading

from tracecomp.debug_log import emit
from tracecomp.symbolic import Undecided

from .. import target
from ..gemm import blas
from . import host_cpu, native_pool

SPLIT_WORK = 1 << 21            # multiply-adds: a product split over threads from here on
KERNEL_SPLIT_WORK = 1 << 18     # `work`: a kernel split over threads from here on
PIECES_PER_THREAD = native_pool.PIECES_PER_THREAD
GEMM_BLOCK = 64     # rows or columns of C: a narrower piece runs the BLAS's kernel poorly
SMALL_RESULT = 4096     # elements of C: fewer (with the work above) come from a long K, as
                        # a conv's weight gradient (6 x 25 over K = 50176 in LeNet), which
                        # gemm/dots.py computes at any width: pieces as narrow as it takes


def work(group):
    """Estimated cost of a kernel in simple element operations."""
    return counted(group).size * weight(group)


def counted(group):
    """The value whose elements a kernel's loops visit: a reduction's input, else its root."""
    return group.root.inputs[0] if group.kind == "reduce" else group.root


def weight(group):
    """A kernel's estimated cost per element visited: the arrays it streams (inputs and
    outputs as large as what it visits; broadcast ones stay in cache), and its ops' costs."""
    size = counted(group).size
    arrays = sum(_same_size(x.size, size) for x in group.inputs + group.values())
    return max(1, arrays) + sum(target.host().cost(n.op) + _reads(n) for n in group.nodes)


def _reads(node):
    """Reads per element beyond the op's cost: a fold gathers one column entry per kernel
    tap (25 for a 5 x 5 convolution's input gradient)."""
    return math.prod(node.params["kernel"]) if node.op == "fold" else 0


def _same_size(a, b):
    """a == b, False where it depends on a dynamic dim's size (symbolic.Undecided)."""
    try:
        return a == b
    except Undecided:
        return False


SPLIT_KINDS = ("elementwise", "reduce", "fold", "unfold")   # their kernels may be ranged


def extent(group):
    """The dim-0 extent a split kernel divides, or None when it must run whole: only
    kernels whose dim-0 iterations are independent (elementwise ones, reductions that keep
    dim 0, fold's per-image gather-sums and unfold's copies), at least KERNEL_SPLIT_WORK
    of work."""
    root = group.root
    if root.ndim == 0 or root.shape[0] < 2 or work(group) < KERNEL_SPLIT_WORK:
        return None
    if group.kind == "reduce" and 0 in root.params["dims"]:
        return None
    return root.shape[0] if group.kind in SPLIT_KINDS else None


def gemm_split(group, updated=()):
    """(axis, width) for a 2-D product worth threads: C's rows (axis 0) or columns (1), in
    blocks of `width`, or K (axis 2: `k_first`); None to run it whole. A block of C is at
    least GEMM_BLOCK wide (unless C is small): about two pieces per CPU. K is cut in one
    block per CPU: each block is a partial product of C's size, and they are added up after.

    Rows where there are enough of them and B, which every row piece reads whole, fits in
    half a core's L2 (`rows_first`); else the longer side, so that the pieces share the
    smaller operand (each piece reads it, and may pack it, again). `updated`: the graph
    inputs written by rows after their reads: those the graph writes back (a training
    step's parameters), or an optimizer after the call (a backward's trained parameters)."""
    root = group.root
    if root.ndim != 2 or root.inputs[0].ndim != 2 or root.inputs[1].ndim != 2:
        return None
    (m, n), k = root.shape, root.inputs[0].shape[1]
    if m * n * k < SPLIT_WORK:
        return None
    if not (rows_first(m, n, k, root.dtype.itemsize) or m > n) and k_first(group, k, updated):
        width = -(-max(GEMM_BLOCK, -(-k // _cpus())) // 16) * 16
        return (2, width) if k > width else None
    return block_cut(m, n, k, root.dtype.itemsize)


def block_cut(m, n, k, itemsize):
    """gemm_split's cut of an m x k @ k x n product by C's rows (axis 0) or columns (1):
    (axis, width), or None to run it whole. A dynamic graph's products are cut this way
    at each size (codegen/llvm/sized_runner.py)."""
    if m * n * k < SPLIT_WORK:
        return None
    axis = 0 if rows_first(m, n, k, itemsize) or m > n else 1
    side = (m, n)[axis]
    width = -(-side // (2 * _cpus()))
    if m * n > SMALL_RESULT:    # (a small C takes pieces of any width: SMALL_RESULT)
        width = -(-max(GEMM_BLOCK, width) // 16) * 16
    return (axis, width) if side > width else None


def k_first(group, k, updated):
    """Whether a product that would be split by C's columns is split along K instead: its
    B is read as stored (k x n), and B is `updated`, by an optimizer's update split by B's
    rows (dim 0, that is K): in the graph (a whole training step) or after it (compile
    (model)'s backward, then its fused optimizer step).

    Why: split by columns, each core reads its half of every row of B (dX2 = dY @ W2 in a
    training step's backward), and the update then writes each row half on the core that
    did not read it: a core that writes over lines the other core holds copies of waits
    ~110 ns a line (`rows_first`). Split along K, each core reads the rows of B that it
    updates later, at the price of a second C-sized partial product and its sum (where
    those partials would make the arena larger, memory.run drops them and backend.py
    splits by columns after all). The bench MLP (znver4): W2's update 42-49 -> 11-13 us of
    thread time in the whole step (native time ~425 -> ~410 us), 38 -> 11 us in
    compile(model)'s fused step (its step ~662 -> ~639 us); the sum 1.6 us."""
    b = group.root.inputs[1]
    return b in updated and b not in group.nodes and k >= 2 * GEMM_BLOCK


def rows_first(m, n, k, itemsize):
    """Whether an m x k @ k x n product is split by rows though it has more columns: it
    has rows for two blocks or more, and its B (k x n) fits in half a core's L2.

    Why rows: an elementwise kernel is split by rows (dim 0), and so is an optimizer's
    update of the weight gradient C. Split by columns, each row of C is written half by
    each core, the update's rows then read lines the other core wrote, and both cores keep
    copies; a core that later writes over a line the other core holds a copy of waits
    ~110 ns for it (measured on our Zen 4 VMs, 64 KB written by one core: 1.3 us when the
    other core had not touched those lines, 1.6 us when it had written them, 7.2 us when
    it had read them). Split by rows, each line of C stays with the core that wrote it
    from the product through the update to the next step's product. The bench MLP's whole
    step (weight gradients 256 x 784 and 256 x 256 over a batch of 64), with in_place.py's
    choice of the input written last, against neither: ~431 -> ~423 us of native time
    (znver4, alternating processes, 12 pairs); its products dW2 and dW1 alone ran 100 -> 75
    and 330 -> 310 us of thread time in a noisy phase."""
    return m >= 2 * GEMM_BLOCK and k * n * itemsize <= host_cpu.l2_bytes() // 2


def chunk_slots():
    """How many chunks a chunk loop (passes/chunks.py) has in flight: one per thread that
    split kernels use (threads(), at most the CPUs), each with a scratch buffer of its own;
    its entry is split over that many pieces. Read at compile time, as the disk cache's key
    reads threads()."""
    return max(1, min(threads(), _cpus()))


def gemm_extent(group, split):
    """How many blocks `split` (gemm_split's answer) cuts the product into (the extent a
    split step divides; for blocks of K, the partial products)."""
    axis, width = split
    root = group.root
    side = root.inputs[0].shape[1] if axis == 2 else root.shape[axis]
    return -(-side // width)


def threads():
    """How many threads a split kernel uses now (see the module docstring)."""
    env = os.environ.get("TRACECOMP_THREADS", "").strip()
    if env:
        return max(1, int(env))
    n = _serial.saved if _serial.depth else _blas_count()
    return n if n > 0 else _cpus()


def usable_threads():
    """How many parts a split kernel runs in: threads(), at most the CPUs this process may
    run on. A runner reads it once per call (the environment and the affinity syscall
    cost ~2 us, which a training step paid once per split kernel)."""
    return min(threads(), _cpus())


def _blas_count():
    get = _blas_threads()[0]
    return get() if get else 0


@functools.cache
def _blas_threads():
    """The BLAS's (get_num_threads, set_num_threads), either None where it has none."""
    sym = blas.find_gemm("float32") or blas.find_gemm("float64")
    if not sym:
        return None, None
    return (blas._companion(sym, "get_num_threads", ctypes.c_int),
            blas._companion(sym, "set_num_threads", None))


class _Serial:
    """Compiled calls in progress that want the BLAS on one thread, and the count before."""
    lock, depth, saved = threading.Lock(), 0, 0


_serial = _Serial()


def serial_blas_begin():
    """From here to serial_blas_end() the BLAS runs each product on the calling thread (see
    the module docstring); threads() still answers the count set before. Calls nest and may
    overlap across threads: the first in sets the count to 1, the last out puts it back."""
    get, put = _blas_threads()
    if put is None:
        return
    with _serial.lock:
        if not _serial.depth:
            _serial.saved = get() if get else 0
            if _serial.saved != 1:
                put(1)
        _serial.depth += 1


def serial_blas_end():
    get, put = _blas_threads()
    if put is None:
        return
    with _serial.lock:
        _serial.depth -= 1
        if not _serial.depth and _serial.saved not in (0, 1):
            put(_serial.saved)


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


_UNSET = object()


class Pool:
    def __init__(self):
        self.lock = threading.Lock()
        self.workers = []
        self.native = _UNSET    # the NativePool, None where there is none, made on first use

    def reset(self):
        """In a forked child: the workers' threads do not exist there."""
        self.lock = threading.Lock()
        self.workers = []
        self.native = _UNSET

    def _make_native(self):
        with self.lock:
            if self.native is _UNSET:
                try:
                    self.native = native_pool.create()
                except Exception as exc:    # noqa: BLE001 - the Python pool still works
                    emit(1, f"[tracecomp] no native thread pool ({type(exc).__name__}: "
                            f"{exc}); split kernels use the Python pool")
                    self.native = None
        return self.native

    def run_steps(self, fn, slots, parts):
        """fn(slots, pool, pool_split, parts), a run of native steps (lower/entry.py) that
        hands its split ones to the native pool itself: with this pool's state, its
        tc_pool_split and `parts` threads, or with parts 1 (every step on this thread)
        where there is no native pool, fewer than 2 parts, or another call holds the pool."""
        native = self.native if self.native is not _UNSET else self._make_native()
        if native is None or parts < 2 or not self.lock.acquire(False):
            fn(slots, None, native_pool.split_address(), 1)     # (whole: no state read)
            return
        try:
            native.grow(parts - 1)
            fn(slots, native.state, native_pool.split_address(), parts)
        finally:
            self.lock.release()

    def run(self, fn, slots, n, parts=None, address=None):
        """fn(slots, start, stop) over [0, n), by this thread and up to `parts` - 1 workers
        (default threads()), in PIECES_PER_THREAD pieces per thread claimed as they go.
        address: fn's native address, slots then a ctypes array (compiled code): the
        native pool's workers take the pieces where there is one."""
        native = None
        if address is not None:
            native = self.native if self.native is not _UNSET else self._make_native()
        parts = min(parts or usable_threads(), n)
        if parts < 2 or not self.lock.acquire(False):
            fn(slots, 0, n)
            return
        try:
            if native is not None:
                native.grow(parts - 1)
                native.split(address, ctypes.addressof(slots), n, parts)
                return
            count = min(n, parts * PIECES_PER_THREAD)
            while len(self.workers) < parts - 1:
                self.workers.append(_Worker())
            bounds = [n * k // count for k in range(count + 1)]
            job = _Job(fn, slots, list(itertools.pairwise(bounds)))
            for w in self.workers[:parts - 1]:
                w.jobs.put(job)
            job.drain()
            job.wait()
        finally:
            self.lock.release()


pool = Pool()


def _after_fork():
    """A forked child has one thread: no workers, and no compiled call in progress (one in
    another thread of the parent left the BLAS's count at 1: put it back)."""
    pool.reset()
    depth, _serial.depth, _serial.lock = _serial.depth, 0, threading.Lock()
    if depth and _serial.saved not in (0, 1):
        _blas_threads()[1](_serial.saved)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
