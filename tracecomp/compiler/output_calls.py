"""print() and logging inside compiled code: written on every call, as eagerly, not once at
the trace.

A trace runs the function's Python once; the calls after it run native code, so a
`print("step", x.shape)` or `log.info(...)` in a forward wrote at the trace and never again,
where torch (and torch.compile) write on every call. A failed trace (a graph break) wrote
too, and then its eager run wrote once more.

While a trace runs, `OutputWatch` takes the tracing thread's print() calls (each one's text,
its arguments as print writes them with sep and end, and where it goes) and the records its
loggers handle (made as logging makes them: the user's file and line), and writes nothing.
The compiled call writes them after it runs (run_artifact.execute_on), in order, on every
call, the first one included; a log record is handled anew each time (its time is the
call's). tracecomp's own loggers and warnings routed to logging (py.warnings, which the
warnings filters already show once) are handled at once, as before. A trace that fails
writes nothing, and the eager run that follows writes as the code says. The text is fixed
at the trace: the graph was traced for the shapes, dtypes and Python values it shows (the
guards compile again when one changes).

What has a value only when the compiled code runs is refused (a TraceError: a graph break,
whose eager run writes it, as torch.compile breaks the graph there): a tensor among print's
arguments or a log record's (in a list, tuple or dict too); the text of one made anyhow
else (an f-string, str()) is refused where it is made (tensor_str.traced_text).
"""
import builtins
import copy
import logging
import sys
import threading
import time

from ..errors import TraceError
from ..tensor import Tensor


class _Printed:
    __slots__ = ("text", "file", "flush")

    def __init__(self, text, file, flush):
        self.text, self.file, self.flush = text, file, flush

    def write(self):
        stream = sys.stdout if self.file is None else self.file
        if stream is None:      # (pythonw: no stdout, and print writes nothing)
            return
        stream.write(self.text)
        if self.flush:
            stream.flush()


class _Logged:
    __slots__ = ("logger", "record")

    def __init__(self, logger, record):
        self.logger, self.record = logger, record

    def write(self):
        record = copy.copy(self.record)
        record.created = time.time()
        record.msecs = (record.created - int(record.created)) * 1000
        record.relativeCreated = (record.created - logging._startTime) * 1000
        record.thread, record.threadName = threading.get_ident(), threading.current_thread().name
        self.logger.handle(record)


class OutputWatch:
    """Keep what the entering thread prints and logs (`.calls`), instead of writing it."""

    def __init__(self):
        self.calls = []
        self._thread = self._print = self._handle = None

    def __enter__(self):
        self._thread = threading.get_ident()
        self._print, self._handle = builtins.print, logging.Logger.handle
        builtins.print, logging.Logger.handle = self._take_print, self._take_record_of()
        return self

    def __exit__(self, *exc):
        builtins.print, logging.Logger.handle = self._print, self._handle
        return False

    def _take_print(self, *args, sep=" ", end="\n", file=None, flush=False):
        if threading.get_ident() != self._thread:   # another thread's: printed as always
            return self._print(*args, sep=sep, end=end, file=file, flush=flush)
        _refuse_tensors(args, "print()")
        sep = " " if sep is None else sep
        end = "\n" if end is None else end
        self.calls.append(_Printed(sep.join(map(str, args)) + end, file, flush))

    def _take_record_of(self):
        watch, handle = self, self._handle

        def take_record(logger, record):
            if threading.get_ident() != watch._thread or logger.name == "py.warnings" or \
                    logger.name.split(".")[0] == "tracecomp":
                return handle(logger, record)
            _refuse_tensors((record.msg, record.args), f"{logger.name} logger's message")
            watch.calls.append(_Logged(logger, record))
        return take_record


def _refuse_tensors(x, what, depth=0):
    if isinstance(x, Tensor):
        raise TraceError(
            f"{what} of a tensor of shape {list(x.shape)} inside compiled code: its values "
            f"exist only when the compiled code runs, so this call runs eagerly (a graph "
            f"break, as torch.compile makes there). Write it after the compiled call, or "
            f"its shape or dtype, which compiled code writes on every call")
    if isinstance(x, (list, tuple)) and depth < 3:
        for item in x:
            _refuse_tensors(item, what, depth + 1)
    elif isinstance(x, dict) and depth < 3:
        for item in x.values():
            _refuse_tensors(item, what, depth + 1)


def replay(calls):
    """Write what a trace's print() and logging calls wrote, in order."""
    for call in calls:
        call.write()
