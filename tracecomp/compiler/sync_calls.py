"""threading's Event, Condition, Semaphore and Barrier used inside compiled code: a graph break.

A trace runs the function's Python once, so `done.set()` in a compiled step set the Event at
the trace and never again, where each eager call sets it: a thread waiting for the second
step waited for ever, silently. What such a call does (wake another thread, wait for one)
is not a value the graph can compute, nor a write a call can repeat after it runs, in
order with the rest. So while a trace runs, `SyncWatch` makes those methods, called from
the tracing thread, raise TraceError: a graph break, whose eager run makes each call as the
code says (with fullgraph=True, the error that names it). Other threads use them as always,
and so do tracecomp's own (the trace gate) and threading's (an Event's set() notifies its
Condition) in the tracing thread; a queue.Queue the code puts into is refused through its
Condition.
state.SYNC keeps these objects out of the values a trace guards or replays.
"""
import sys
import threading

from ..errors import TraceError
from .state import SYNC

# the methods that signal or wait (read-only ones, is_set(), stay allowed)
_METHODS = {threading.Event: ("set", "clear", "wait"),
            threading.Condition: ("wait", "wait_for", "notify", "notify_all"),
            threading.Semaphore: ("acquire", "release"),
            threading.Barrier: ("wait", "reset", "abort")}
assert set(_METHODS) <= set(SYNC), "state.SYNC lists every class watched here"


def _ours(frame):
    """Whether a call comes from tracecomp (the trace gate's condition) or from threading
    itself (an Event's set() notifies its Condition): not the traced code's own."""
    module = frame.f_globals.get("__name__", "")
    return module == "threading" or module.split(".")[0] == "tracecomp"


class SyncWatch:
    """While entered, the tracing thread's signalling calls raise TraceError."""

    def __enter__(self):
        self._thread = threading.get_ident()
        self._saved = [(cls, name, cls.__dict__[name])
                       for cls, names in _METHODS.items() for name in names]
        for cls, name, method in self._saved:
            setattr(cls, name, self._guarded(cls, name, method))
        return self

    def __exit__(self, *exc):
        for cls, name, method in self._saved:
            setattr(cls, name, method)
        return False

    def _guarded(self, cls, name, method):
        thread = self._thread

        def guarded(obj, *args, **kwargs):
            if threading.get_ident() == thread and not _ours(sys._getframe(1)):
                raise TraceError(
                    f"threading.{cls.__name__}.{name}() inside compiled code: compiled code "
                    f"runs the function's Python only when it traces it, so the call would "
                    f"happen once instead of on every call; this call runs eagerly (call "
                    f"{name}() after the compiled function returns to keep the rest compiled)")
            return method(obj, *args, **kwargs)
        return guarded
