"""The gate between tracing and compiled calls in other threads.

Tracing a model swaps its parameters', buffers' and optimizer state's data for graph
values until the trace ends (compiler.build), so a compiled call in another thread that
read the same tensors then would run on graph values, and its writes (BatchNorm's running
statistics, optimizer state) would be lost when the trace restores them. So:

- a trace holds the gate *exclusively* (`GATE.acquire()` / `release()`, or `with GATE:`):
  one at a time in the process, reentrant in its own thread (compiler.build holds it from
  the swap to the restore, around its Tracer, which takes it too); passes and code
  generation run outside it (but for the autodiff pass's own short Tracer);
- a compiled call holds it *shared* while it reads and writes tensors
  (`with GATE.shared:`): any number at once, none while another thread traces. A call
  that has to compile steps out of its shared hold meanwhile (`with GATE.shared_paused:`).

A thread waiting to trace stops new shared holders from entering (else calls from other
threads, overlapping without a gap, would keep it out for ever); the thread that traces
may take the gate shared inside its own exclusive hold.

Eager code takes no gate (it would cost every op): running a module eagerly in one thread
*while another thread compiles that same module* still reads graph values, which raises a
TraceError. Compile (call once) before sharing a module with eager threads.

Deadlock to avoid: code being traced must not wait for another thread's compiled call,
which waits for that trace to end.
"""
import contextlib
import threading

_get_ident = threading.get_ident


class TraceGate:
    """A readers-writer lock whose writer is reentrant; see the module docstring."""

    def __init__(self):
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)    # waits; `with self._lock` is quicker
        self._owner = None          # ident of the thread holding it exclusively
        self._depth = 0             # its nested acquisitions
        self._readers = 0           # shared holders
        self._waiting = 0           # threads waiting to hold it exclusively
        self.shared = _Shared(self)
        self.shared_paused = _Paused(self.shared)
        # held by a compile from its second cache lookup to its cache insert: compiles take
        # turns, and two threads that miss one signature compile it once. Only the trace
        # inside takes the gate: passes and code generation run beside other threads' calls.
        self._compiling = threading.RLock()

    def compile_turn(self):
        """The compile lock to hold around a compile; nothing inside this thread's own
        trace (a nested compiled call: an error, or fallback='eager'), which must not wait
        for another thread's compile that waits for this trace to end."""
        return contextlib.nullcontext() if self._owner == _get_ident() else self._compiling

    def acquire(self):
        me = _get_ident()
        with self._lock:
            if self._owner == me:
                self._depth += 1
                return
            self._waiting += 1
            try:
                while self._owner is not None or self._readers:
                    self._cond.wait()
            finally:
                self._waiting -= 1
            self._owner, self._depth = me, 1

    def release(self):
        with self._lock:
            assert self._owner == _get_ident(), "released by a thread that does not hold it"
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._cond.notify_all()

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()
        return False


class _Shared:
    """`with GATE.shared:` one compiled call's reads and writes of tensors."""

    __slots__ = ("_gate",)

    def __init__(self, gate):
        self._gate = gate

    # Every compiled call runs these two: one lock each way, no Condition method calls
    # unless a trace is on or waiting.
    def __enter__(self):
        gate = self._gate
        with gate._lock:
            if gate._owner is not None or gate._waiting:
                if gate._owner == _get_ident():
                    return None        # inside this thread's own exclusive hold
                while gate._owner is not None or gate._waiting:
                    gate._cond.wait()
            gate._readers += 1
        return None

    def __exit__(self, *exc):
        gate = self._gate
        with gate._lock:
            if gate._owner is not None and gate._owner == _get_ident():
                return False
            gate._readers -= 1
            if gate._waiting and not gate._readers:
                gate._cond.notify_all()
        return False


class _Paused:
    """`with GATE.shared_paused:` inside `with GATE.shared:`, steps out of the shared hold
    for a while (to compile: a trace needs the gate to itself) and back in after."""

    __slots__ = ("_shared",)

    def __init__(self, shared):
        self._shared = shared

    def __enter__(self):
        self._shared.__exit__()

    def __exit__(self, *exc):
        self._shared.__enter__()
        return False


GATE = TraceGate()
