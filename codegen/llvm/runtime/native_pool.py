"""Worker threads that wait for split kernels in native code, so a split costs microseconds.

parallel.py splits a large kernel (or product) into pieces over threads. Its Python pool
hands each split to its workers through a queue and an Event: every hand-over is a wake of
a sleeping thread on another vCPU plus a turn of the GIL, and measured on our 2-vCPU VMs a
split of a 290 us product into two halves returned after 250 us instead of ~150 (the pieces
started 23 and 52 us into the call, and the call returned 46 us after the last one). Here the
hand-over never touches Python:

    pool = NativePool()                    # None from `create()` where it cannot run
    pool.run(address, slots, n, pieces)    # fn(slots, lo, hi) over [0, n) in `pieces`
    pool.split(address, slots, n, parts)   # the same, cut for `parts` threads (or whole)

`tc_pool_split` is the one rule for how a split kernel is cut (PIECES_PER_THREAD pieces a
thread, or the whole range on the caller below 2 parts): parallel.Pool.run calls it, and so
does a graph's run of native steps from native code (lower/entry.py, split_address()).

Each worker is a Python thread that calls `tc_pool_worker(state)` once, through ctypes (so
without the GIL), and stays in it: it polls the job word for POLL_SECONDS after each piece
(a split that follows within ~200 us finds it awake), then sleeps on a futex until the next
job. ~200 us covers the Python between a training step's splits: the step's return and the
next call, compile(model)'s eager loss and the autograd bridge. With ~100 us the first split
of each step found the worker asleep and waited ~25 us for the futex wake (znver4,
alternating runs, medians: MLP whole step 579/590/570 -> 552/556 us, compile(model) step
760 -> 713/721 us; 300 and 500 us gained nothing more). That bounded poll is the difference
from a BLAS's workers, which spin for ~0.1 s after every product, CPU time a VM is then
short of (parallel.py's docstring).
The poll counts `pause` instructions, whose length differs by CPU: 8000 of them took ~200
us on Zen 4 but 76 us on an Intel Xeon with AVX-512 (9.5 ns each), where the worker then
slept between compile(model)'s calls (MLP 784-256-256-10 B=64, alternating runs: backward
350/380 -> 314/313 us, the step 738/815 -> 715/700 us with a 24000-pause poll). So the pool
times `pause` once per process (`poll_spins`, ~0.1 ms) and keeps the count that lasts
POLL_SECONDS in the state block (SPINS), where the worker and the waiting caller read it.

The job (`tc_pool_run`, called by the thread that runs the graph): the callee, its slots, n
and the number of pieces are written, then one 64-bit *ticket* word, (end << 32) | front,
is stored with end = pieces and front = 0: the pieces not yet claimed are [front, end).
The caller claims from the front (a compare-and-swap of the ticket to front + 1, piece
front) and the workers from the back (to end - 1, piece end - 1), while front < end, and
only then read the job's fields: the job cannot end (and its fields change) while a claimed
piece is unfinished, because the caller returns only when the `done` count reaches pieces.
A stale ticket a worker read long ago can only ever claim a piece of whatever job is
current, which is a valid claim. Two ends keep each part of the data on one core from one
split to the next: with two threads the caller runs the first half of every split and the
worker the second (a worker that comes late still leaves its pieces to the caller), so an
SGD update finds its rows of parameters and momentum where the last step left them,
instead of lines moving between the cores' caches (MLP whole step 554/581 -> 534/554 us,
medians of alternating runs, znver4; the same split walls 425/446 -> 407/418 us).

Sleeping: a worker adds itself to `sleepers`, reads the futex word, checks the ticket once
more and waits on the word; the caller stores the ticket, then wakes the word if anyone
sleeps (both sides sequentially consistent, so either the worker sees the job or the
caller sees the sleeper). Piece k covers [n*k // pieces, n*(k+1) // pieces), as the Python
pool's do.

Linux on x86-64 only (the futex system call, its number and the `pause` instruction);
elsewhere `create()` returns None and parallel.py keeps its Python pool. At exit the
workers are told to stop and joined before the interpreter tears down, so no thread is
inside code that is being unloaded; a forked child starts a pool of its own.
"""
import atexit
import ctypes
import os
import platform
import sys
import threading
import time

import numpy as np
from llvmlite import ir

from . import cache

PIECES_PER_THREAD = 4      # a split's pieces per thread, claimed as they go (parallel.py)
POLL_SECONDS = 200e-6       # a worker's poll after a piece before it sleeps
PAUSES_TIMED = 2000         # `pause`s per timing round of poll_spins, of 5
SPIN_RANGE = (1000, 1 << 20)    # pauses a poll may count, whatever the timing said
SYS_FUTEX, FUTEX_WAIT, FUTEX_WAKE = 202, 128, 129     # x86-64 Linux; *_PRIVATE ops
# byte offsets in the state block: the words threads write often sit on lines of their own
TICKET, DONE, WAKE, SLEEPERS, FN, SLOTS, N, STOP, PIECES, SPINS = \
    0, 64, 128, 132, 192, 200, 208, 216, 224, 232
STATE_BYTES = 256

I32, I64, PTR = ir.IntType(32), ir.IntType(64), ir.PointerType()
_LOW = (1 << 32) - 1


def available():
    """Whether this platform has a native pool (and TRACECOMP_NATIVE_POOL=0 does not turn it
    off, which leaves split kernels to parallel.py's Python pool)."""
    return sys.platform == "linux" and platform.machine() in ("x86_64", "AMD64") and \
        os.environ.get("TRACECOMP_NATIVE_POOL", "1").strip() != "0"


def create():
    """A NativePool, or None where this platform has none (see the module docstring)."""
    return NativePool() if available() else None


class NativePool:
    """Worker threads waiting in native code; run() is for one caller at a time (the caller
    holds parallel.Pool's lock)."""

    def __init__(self):
        self.library = library()
        self._block = np.zeros(STATE_BYTES // 8 + 8, np.int64)     # +8: room to align
        base = self._block.ctypes.data
        self.state = base + (-base) % 64
        ctypes.c_int64.from_address(self.state + SPINS).value = poll_spins()
        self._worker = self.library.cfunc("tc_pool_worker", None, ctypes.c_void_p)
        self._run = self.library.cfunc("tc_pool_run", None, ctypes.c_void_p, ctypes.c_void_p,
                                       ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64)
        self._split = self.library.cfunc("tc_pool_split", None, ctypes.c_void_p,
                                         ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                         ctypes.c_int64)
        self.threads = []
        atexit.register(self.close)

    def grow(self, workers):
        """Have at least `workers` worker threads."""
        while len(self.threads) < workers:
            t = threading.Thread(target=self._worker, args=(self.state,), daemon=True,
                                 name="tracecomp-native-kernel")
            t.start()
            self.threads.append(t)

    def run(self, address, slots, n, pieces):
        """fn(slots, lo, hi) for the `pieces` parts of [0, n), fn being the native function
        at `address`, on this thread and the workers; returns when every piece is done."""
        self._run(self.state, address, slots, n, pieces)

    def split(self, address, slots, n, parts):
        """fn(slots, lo, hi) over [0, n) on `parts` threads (tc_pool_split: the pieces run,
        or the whole range on this thread where fewer than 2 parts are usable)."""
        self._split(self.state, address, slots, n, parts)

    def close(self):
        """Stop and join the workers (at exit; the pool is unusable afterwards)."""
        if not self.threads:
            return
        ctypes.c_int64.from_address(self.state + STOP).value = 1
        self._wake()
        for t in self.threads:
            t.join(timeout=1.0)
        self.threads = []

    def _wake(self):
        word = ctypes.c_int32.from_address(self.state + WAKE)
        word.value += 1
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall(ctypes.c_long(SYS_FUTEX), ctypes.c_void_p(self.state + WAKE),
                     ctypes.c_long(FUTEX_WAKE), ctypes.c_long(2**31 - 1), None, None, 0)


_LIBRARY = []
_SPINS = []     # poll_spins's answer, once per process


def poll_spins():
    """The `pause`s that last POLL_SECONDS on this CPU: timed once per process, the fastest
    of 5 rounds of PAUSES_TIMED (another thread only ever lengthens a round), within
    SPIN_RANGE."""
    if not _SPINS:
        pause = library().cfunc("tc_pool_pause", None, ctypes.c_int64)
        pause(PAUSES_TIMED // 4)        # warm: the code and the timer
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            pause(PAUSES_TIMED)
            best = min(best, time.perf_counter() - start)
        _SPINS.append(spins_for(best / PAUSES_TIMED))
    return _SPINS[0]


def spins_for(pause_seconds):
    """How many pauses of `pause_seconds` each make a poll of POLL_SECONDS."""
    low, high = SPIN_RANGE
    return min(high, max(low, round(POLL_SECONDS / max(pause_seconds, 1e-12))))


def split_address():
    """tc_pool_split's address, for native callers (a graph's runs, lower/entry.py), which
    take it as an argument; there whether a pool runs or not (with parts 1 it reads no
    pool state)."""
    return library().address("tc_pool_split")


def library():
    """The compiled worker and dispatcher, once per process. Keyed in the disk cache by this
    file (its IR is made here alone), so a warm start links it without emitting the IR
    (~2 ms)."""
    if not _LIBRARY:
        def emit():
            module = ir.Module("tracecomp_native_pool")
            _emit_worker(module)
            _emit_split(module, _emit_run(module))
            _emit_pause(module)
            return module
        _LIBRARY.append(cache.compile_recipe(
            f"native pool: {cache.files_fingerprint([__file__])}", emit,
            ["tc_pool_worker", "tc_pool_run", "tc_pool_split", "tc_pool_pause"]))
    return _LIBRARY[0]


def _at(b, state, offset):
    return b.gep(state, [ir.Constant(I64, offset)], inbounds=True, source_etype=ir.IntType(8))


def _declarations(module):
    """The `pause` instruction, and libc's syscall and sched_yield (linked from the process)."""
    def declare(name, ret, args, var_arg=False):
        fn = module.globals.get(name)
        return fn if fn is not None else \
            ir.Function(module, ir.FunctionType(ret, args, var_arg=var_arg), name)
    return (declare("llvm.x86.sse2.pause", ir.VoidType(), []),
            declare("syscall", I64, [I64], var_arg=True),
            declare("sched_yield", I32, []))


def _claim_and_run(b, state, fn_type, on_empty, after_piece=None, from_back=False):
    """The ticket loop: claim a piece (the front's first, or the back's last when
    from_back), run it, count it done (then after_piece(b), if given), repeat; branch to
    on_empty when no piece is left."""
    head = b.append_basic_block("claim")
    try_ = b.append_basic_block("try")
    run = b.append_basic_block("run")
    b.branch(head)
    b.position_at_end(head)
    ticket = b.load_atomic(_at(b, state, TICKET), "acquire", 8, typ=I64)
    front = b.and_(ticket, ir.Constant(I64, _LOW))
    end = b.lshr(ticket, ir.Constant(I64, 32))
    b.cbranch(b.icmp_unsigned("<", front, end), try_, on_empty)
    b.position_at_end(try_)
    step = ir.Constant(I64, -(1 << 32) if from_back else 1)
    swapped = b.cmpxchg(_at(b, state, TICKET), ticket, b.add(ticket, step),
                        "acq_rel", "acquire")
    b.cbranch(b.extract_value(swapped, 1), run, head)
    b.position_at_end(run)
    k = b.sub(end, ir.Constant(I64, 1)) if from_back else front
    # typed as a pointer to fn_type (it prints as `ptr`): llvmlite reads an indirect
    # callee's signature from its pointee
    fn = b.load(_at(b, state, FN), typ=fn_type.as_pointer())
    slots = b.load(_at(b, state, SLOTS), typ=PTR)
    n = b.load(_at(b, state, N), typ=I64)
    pieces = b.load(_at(b, state, PIECES), typ=I64)
    lo = b.udiv(b.mul(n, k), pieces)
    hi = b.udiv(b.mul(n, b.add(k, ir.Constant(I64, 1))), pieces)
    b.call(fn, [slots, lo, hi])
    b.atomic_rmw("add", _at(b, state, DONE), ir.Constant(I64, 1), "release")
    if after_piece is not None:
        after_piece(b)
    b.branch(head)


def _emit_worker(module):
    """void tc_pool_worker(ptr state): claim and run pieces until STOP, polling, then
    sleeping on the futex word between jobs."""
    pause, syscall, _ = _declarations(module)
    fn_type = ir.FunctionType(ir.VoidType(), [PTR, I64, I64])
    worker = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR]), "tc_pool_worker")
    state = worker.args[0]
    b = ir.IRBuilder(worker.append_basic_block("entry"))
    poll = b.append_basic_block("poll")
    idle = b.append_basic_block("idle")
    spin = b.append_basic_block("spin")
    sleep = b.append_basic_block("sleep")
    wait = b.append_basic_block("wait")
    awake = b.append_basic_block("awake")
    done = b.append_basic_block("stop")
    counter = b.alloca(I64)
    b.store(ir.Constant(I64, 0), counter)
    b.branch(poll)
    b.position_at_end(poll)
    # after each piece, a whole poll again before sleeping
    _claim_and_run(b, state, fn_type, idle,
                   lambda b: b.store(ir.Constant(I64, 0), counter), from_back=True)
    # no piece: stop, poll again after a pause, or sleep
    b.position_at_end(idle)
    stop = b.load_atomic(_at(b, state, STOP), "monotonic", 8, typ=I64)
    spins = b.load(counter, typ=I64)
    b.cbranch(b.icmp_unsigned("!=", stop, ir.Constant(I64, 0)), done, spin)
    b.position_at_end(spin)
    b.store(b.add(spins, ir.Constant(I64, 1)), counter)
    limit = b.load(_at(b, state, SPINS), typ=I64)
    with b.if_then(b.icmp_unsigned("<", spins, limit)):
        b.call(pause, [])
        b.branch(poll)
    b.branch(sleep)
    b.position_at_end(sleep)
    b.atomic_rmw("add", _at(b, state, SLEEPERS), ir.Constant(I32, 1), "seq_cst")
    word = b.load_atomic(_at(b, state, WAKE), "seq_cst", 4, typ=I32)
    ticket = b.load_atomic(_at(b, state, TICKET), "seq_cst", 8, typ=I64)
    stop = b.load_atomic(_at(b, state, STOP), "seq_cst", 8, typ=I64)
    work = b.icmp_unsigned("<", b.and_(ticket, ir.Constant(I64, _LOW)),
                           b.lshr(ticket, ir.Constant(I64, 32)))
    b.cbranch(b.or_(work, b.icmp_unsigned("!=", stop, ir.Constant(I64, 0))), awake, wait)
    b.position_at_end(wait)
    b.call(syscall, [ir.Constant(I64, SYS_FUTEX), _at(b, state, WAKE),
                     ir.Constant(I64, FUTEX_WAIT), b.zext(word, I64),
                     ir.Constant(PTR, None)])
    b.branch(awake)
    b.position_at_end(awake)
    b.atomic_rmw("sub", _at(b, state, SLEEPERS), ir.Constant(I32, 1), "seq_cst")
    b.store(ir.Constant(I64, 0), counter)
    b.branch(poll)
    b.position_at_end(done)
    b.ret_void()


def _emit_run(module):
    """void tc_pool_run(ptr state, ptr fn, ptr slots, i64 n, i64 pieces): publish the job,
    wake sleeping workers, claim pieces here too, then wait until all are done."""
    pause, syscall, yield_ = _declarations(module)
    fn_type = ir.FunctionType(ir.VoidType(), [PTR, I64, I64])
    run = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR, PTR, PTR, I64, I64]),
                      "tc_pool_run")
    state, fn, slots, n, pieces = run.args
    b = ir.IRBuilder(run.append_basic_block("entry"))
    b.store(fn, _at(b, state, FN))
    b.store(slots, _at(b, state, SLOTS))
    b.store(n, _at(b, state, N))
    b.store(pieces, _at(b, state, PIECES))
    # atomic stores as exchanges (llvmlite's store_atomic wants a typed pointer)
    b.atomic_rmw("xchg", _at(b, state, DONE), ir.Constant(I64, 0), "monotonic")
    b.atomic_rmw("xchg", _at(b, state, TICKET), b.shl(pieces, ir.Constant(I64, 32)), "seq_cst")
    sleepers = b.load_atomic(_at(b, state, SLEEPERS), "seq_cst", 4, typ=I32)
    with b.if_then(b.icmp_signed(">", sleepers, ir.Constant(I32, 0))):
        b.atomic_rmw("add", _at(b, state, WAKE), ir.Constant(I32, 1), "seq_cst")
        b.call(syscall, [ir.Constant(I64, SYS_FUTEX), _at(b, state, WAKE),
                         ir.Constant(I64, FUTEX_WAKE), ir.Constant(I64, 2**31 - 1)])
    counter = b.alloca(I64)
    b.store(ir.Constant(I64, 0), counter)
    waiting = b.append_basic_block("waiting")
    _claim_and_run(b, state, fn_type, waiting)
    # every piece is claimed: wait for the ones workers run, pausing, then yielding the vCPU
    b.position_at_end(waiting)
    finished = b.append_basic_block("finished")
    again = b.append_basic_block("again")
    done = b.load_atomic(_at(b, state, DONE), "acquire", 8, typ=I64)
    b.cbranch(b.icmp_unsigned(">=", done, pieces), finished, again)
    b.position_at_end(again)
    spins = b.load(counter, typ=I64)
    b.store(b.add(spins, ir.Constant(I64, 1)), counter)
    limit = b.load(_at(b, state, SPINS), typ=I64)
    with b.if_else(b.icmp_unsigned("<", spins, limit)) as (near, far):
        with near:
            b.call(pause, [])
        with far:           # a worker that runs late (a busy or descheduled vCPU)
            b.call(yield_, [])
    b.branch(waiting)
    b.position_at_end(finished)
    b.ret_void()
    return run


def _emit_split(module, run):
    """void tc_pool_split(ptr state, ptr fn, ptr slots, i64 n, i64 parts): [0, n) in
    min(n, parts' * PIECES_PER_THREAD) pieces through tc_pool_run, parts' = min(parts, n),
    or fn(slots, 0, n) on this thread where parts' < 2 (then state may be null: a caller
    without a pool). The one rule for how a split kernel is cut, for parallel.Pool.run
    and for a graph's runs (lower/entry.py), which call this from native code."""
    # fn typed as a pointer to the kernel's type (it prints as `ptr`): llvmlite reads an
    # indirect callee's signature from its pointee
    kernel = ir.FunctionType(ir.VoidType(), [PTR, I64, I64]).as_pointer()
    split = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR, kernel, PTR, I64, I64]),
                        "tc_pool_split")
    state, fn, slots, n, parts = split.args
    b = ir.IRBuilder(split.append_basic_block("entry"))
    used = b.select(b.icmp_signed("<", parts, n), parts, n)
    with b.if_else(b.icmp_signed(">=", used, ir.Constant(I64, 2))) as (many, whole):
        with many:
            count = b.mul(used, ir.Constant(I64, PIECES_PER_THREAD))
            b.call(run, [state, fn, slots, n,
                         b.select(b.icmp_signed("<", count, n), count, n)])
        with whole:
            b.call(fn, [slots, ir.Constant(I64, 0), n])
    b.ret_void()


def _emit_pause(module):
    """void tc_pool_pause(i64 n): n `pause` instructions, which poll_spins times."""
    pause, _, _ = _declarations(module)
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [I64]), "tc_pool_pause")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    head, body, end = (fn.append_basic_block(name) for name in ("head", "body", "end"))
    b.branch(head)
    b.position_at_end(head)
    i = b.phi(I64)
    i.add_incoming(ir.Constant(I64, 0), fn.entry_basic_block)
    b.cbranch(b.icmp_unsigned("<", i, fn.args[0]), body, end)
    b.position_at_end(body)
    b.call(pause, [])
    i.add_incoming(b.add(i, ir.Constant(I64, 1)), body)
    b.branch(head)
    b.position_at_end(end)
    b.ret_void()
