"""A compile that takes a while says what it is doing: after AFTER_S seconds, one line on
stderr, redrawn in place (`\\r`) as the stages go by and erased when the compile ends. Only
when stderr is a terminal: in a log file, a pipe or a test's capture nothing is printed.

    with progress.compiling("step (llvm)"):     # driver.py, around one compile
        ...
        progress.stage("cse on the forward graph")    # pipeline.py, as each stage starts

    tracecomp: compiling step (llvm): lowering the backward graph (2.4 s)

Cost: a compile that is not on a terminal pays one isatty() call; on a terminal, a thread
started and joined (~100 us, against the milliseconds a compile takes at least), and each
stage() an attribute lookup. The line is drawn by that thread, so a stage that spends
seconds in native code (LLVM's optimizer) still shows its line and a ticking clock.
"""
import os
import sys
import threading
import time
from contextlib import contextmanager

AFTER_S = 1.0       # a compile that ends sooner prints nothing
REFRESH_S = 0.25    # how often the line's clock ticks
FIRST_STAGE = "tracing"     # until the pipeline names one

_current = threading.local()    # the compile this thread is running, or none


class _Line:
    """The progress line of one compile, drawn by a thread of its own."""

    def __init__(self, stream, what):
        self.stream, self.what, self.stage = stream, what, FIRST_STAGE
        self.start = time.perf_counter()
        self.finished = threading.Event()
        self.drawn = 0          # characters on the line now, to blank what a redraw leaves
        self.thread = threading.Thread(target=self._run, name="tracecomp-progress",
                                       daemon=True)

    def _run(self):
        if self.finished.wait(AFTER_S):
            return
        while not self.finished.is_set():
            self._write(f"tracecomp: compiling {self.what}: {self.stage} "
                        f"({time.perf_counter() - self.start:.1f} s)"[:_columns(self.stream)])
            self.finished.wait(REFRESH_S)
        if self.drawn:
            self._write("")

    def _write(self, text):
        self.stream.write("\r" + text + " " * (self.drawn - len(text)) + ("" if text else "\r"))
        self.stream.flush()
        self.drawn = len(text)


def _columns(stream):
    """The terminal's width less one (a full line would wrap, and `\\r` not reach it)."""
    try:
        return os.get_terminal_size(stream.fileno()).columns - 1
    except (AttributeError, OSError, ValueError):
        return 79


def _is_terminal(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):    # no isatty, or a closed stream
        return False


@contextmanager
def compiling(what):
    """Show the progress of the compile this block runs (see the module docstring). A
    compile inside another (a compiled function compiled while tracing) shares its line."""
    stream = sys.stderr
    if getattr(_current, "line", None) is not None or not _is_terminal(stream):
        yield
        return
    line = _current.line = _Line(stream, what)
    line.thread.start()
    try:
        yield
    finally:
        _current.line = None
        line.finished.set()
        line.thread.join()


def current():
    """What the compile this thread runs compiles (its line's name), or None where no line
    is shown."""
    line = getattr(_current, "line", None)
    return None if line is None else line.what


def stage(text):
    """Name the stage the current compile has started (nothing when none is shown)."""
    line = getattr(_current, "line", None)
    if line is not None:
        line.stage = text
