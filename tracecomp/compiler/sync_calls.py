"""threading's Event, Condition, Semaphore and Barrier used inside compiled code.

A trace runs the function's Python once, so `done.set()` in a compiled step set the Event at
the trace and never again, where each eager call sets it: a thread waiting for the second
step waited for ever, silently. While a trace runs, `SyncWatch` watches the tracing
thread's calls of those classes' methods:

  - Event.set() and Event.clear() run as they are (a thread waiting on the Event wakes at
    the trace, as at an eager call), and are kept (`Signals`): each later call of the
    compiled code makes them again after it runs, in order (run_artifact.execute_on);
  - every other one that signals or waits (Event.wait, a Condition's, a Semaphore's, a
    Barrier's) raises TraceError: a graph break, whose eager run makes each call where
    the code makes it (with fullgraph=True, the error that names it). A wait's place
    among the computations matters (what it waits for may be what the code then reads),
    a Semaphore's release is not idempotent (a failed trace's, then the eager run's), and a
    Condition's notify needs its lock held: none can be made after the call instead.

Other threads use them as always, and so do tracecomp's own (the trace gate) and
threading's (an Event's set() notifies its Condition) in the tracing thread; a queue.Queue
the traced code puts into is refused through its Condition. state.SYNC keeps these objects
out of the values a trace guards or replays.
"""
import sys
import threading

from ..errors import TraceError
from .state import SYNC

_KEPT = {threading.Event: ("set", "clear")}
_REFUSED = {threading.Event: ("wait",),
            threading.Condition: ("wait", "wait_for", "notify", "notify_all"),
            threading.Semaphore: ("acquire", "release"),
            threading.Barrier: ("wait", "reset", "abort")}
assert set(_REFUSED) <= set(SYNC), "state.SYNC lists every class watched here"


class Signals:
    """The Event calls a trace made: made again after each call but the traced one."""

    def __init__(self, calls):
        self.calls, self.traced_call = calls, True

    def after_call(self):
        if self.traced_call:        # its trace made them, where the code makes them
            self.traced_call = False
            return
        for method, event in self.calls:
            method(event)


def _ours(frame):
    """Whether a call comes from tracecomp (the trace gate's condition) or from threading
    itself (an Event's set() notifies its Condition): not the traced code's own."""
    module = frame.f_globals.get("__name__", "")
    return module == "threading" or module.split(".")[0] == "tracecomp"


class SyncWatch:
    """While entered, the tracing thread's Event.set/clear calls are kept (`.calls`) and its
    other signalling or waiting calls raise TraceError."""

    def __init__(self):
        self.calls = []

    def __enter__(self):
        self._thread = threading.get_ident()
        self._saved = [(cls, name, cls.__dict__[name], kept)
                       for kept, table in ((True, _KEPT), (False, _REFUSED))
                       for cls, names in table.items() for name in names]
        for cls, name, method, kept in self._saved:
            setattr(cls, name, self._watched(cls, name, method, kept))
        return self

    def __exit__(self, *exc):
        for cls, name, method, _ in self._saved:
            setattr(cls, name, method)
        return False

    def _watched(self, cls, name, method, kept):
        thread, calls = self._thread, self.calls

        def watched(obj, *args, **kwargs):
            if threading.get_ident() != thread or _ours(sys._getframe(1)):
                return method(obj, *args, **kwargs)
            if not kept:
                raise TraceError(
                    f"threading.{cls.__name__}.{name}() inside compiled code: compiled code "
                    f"runs the function's Python only when it traces it, and this call "
                    f"cannot be made after the compiled call instead; this call runs "
                    f"eagerly (call {name}() outside the compiled function to keep the rest "
                    f"compiled)")
            calls.append((method, obj))
            return method(obj, *args, **kwargs)
        return watched


def signals(watch):
    """The Signals of a finished watch, or None where the trace made none."""
    return Signals(watch.calls) if watch.calls else None
