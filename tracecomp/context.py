"""The one switch between eager and traced execution: the trace that records this
thread's calls, if any (JAX's trace context, on a small scale).

Code that behaves differently while tracing (a module entering its scope, a view noting
its base, an in-place update, an optimizer step) asks `current()` and calls a method of
the trace it gets; nothing imports the tracer for that, so this module sits at the bottom
of the import order (it imports nothing of tracecomp) and the tracer sits above nn/.

One trace is active in the process at a time (the tracer holds trace_gate.GATE), and it
records only its own thread: `current()` is None on every other thread, which runs eagerly.
"""
import threading

_active = None                  # the active trace, whichever thread runs it
_get_ident = threading.get_ident


def current():
    """The trace recording this thread's calls, or None (none is active, or another
    thread is tracing: its trace must not see this thread's ops)."""
    trace = _active
    return trace if trace is not None and trace.thread == _get_ident() else None


def activate(trace):
    """Make `trace` the active one; returns what was active, for `restore`."""
    global _active
    previous, _active = _active, trace
    return previous


def restore(previous):
    global _active
    _active = previous


# Whether the trace being recorded is of a call whose tensors changed only in size since an
# earlier compile (or that asked for dynamic sizes): code whose trace would unroll per size
# (an RNN layer's time steps) then records one loop primitive instead, so that one dynamic
# graph serves every size (compiler/dynamic.py). Set by the compiler driver around a trace.
sizes_vary = False


class varying_sizes:
    """`with varying_sizes(flag):` sets sizes_vary for one trace."""

    def __init__(self, flag):
        self.flag = flag

    def __enter__(self):
        global sizes_vary
        self.previous, sizes_vary = sizes_vary, self.flag

    def __exit__(self, *exc):
        global sizes_vary
        sizes_vary = self.previous


# A compiled call whose code met a graph break runs that code eagerly and routes the module
# calls it makes to compiled versions of those modules (compiler/graph_break.py): the router
# of this thread's eager module calls, or None. Thread-local: another thread's eager calls
# are its own.
_routes = threading.local()


def router():
    return getattr(_routes, "router", None)


class routing:
    """`with routing(router):` routes this thread's eager module calls through `router`
    (None: none) until the block ends."""

    def __init__(self, router):
        self.router = router

    def __enter__(self):
        self.previous = getattr(_routes, "router", None)
        _routes.router = self.router

    def __exit__(self, *exc):
        _routes.router = self.previous
