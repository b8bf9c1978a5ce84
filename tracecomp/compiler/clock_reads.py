"""The clock read inside compiled code (`time.time()`, `time.perf_counter()`, monotonic,
process_time and their _ns forms, called through the time module): refused, as
torch.compile graph-breaks there. A trace runs the code once, so a tensor built from the
clock would hold the trace's time on every call (`x * 0 + time.perf_counter()`), and a
timing the code prints or stores would be taken once.

While a trace runs, the time module's clocks are wrapped (`ClockWatch`); a read from the
user's code in the tracing thread (not tracecomp's own timings) refuses the trace when it
ends. A clock bound by name before (`from time import perf_counter`) is not seen.
"""
import sys
import threading
import time

from ..errors import TraceError
from ..user_code import is_users

_CLOCKS = ("time", "perf_counter", "monotonic", "process_time",
           "time_ns", "perf_counter_ns", "monotonic_ns", "process_time_ns")


class ClockWatch:
    """Inside, the user's reads of the time module's clocks are noted; on a clean exit
    any is a TraceError naming the first."""

    def __enter__(self):
        self.read, self.clocks = [], {name: getattr(time, name) for name in _CLOCKS}
        thread = threading.get_ident()

        def watched(name, clock):
            def read():
                if threading.get_ident() == thread and is_users(sys._getframe(1).f_code):
                    self.read.append(name)
                return clock()
            return read

        for name, clock in self.clocks.items():
            setattr(time, name, watched(name, clock))
        return self

    def __exit__(self, kind, *_):
        for name, clock in self.clocks.items():
            setattr(time, name, clock)
        if kind is None and self.read:
            raise TraceError(
                f"compiled code read the clock (time.{self.read[0]}()): it is traced once, "
                f"so every call would use the time of the trace. Read it outside the "
                f"compiled function (and pass a value that changes as an argument: it is "
                f"fed as an input).")
