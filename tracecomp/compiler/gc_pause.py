"""Python's cyclic garbage collector held off while a graph compiles.

A compile allocates tens of thousands of small objects (nodes, params dicts, pass
tables), which push them through the collector's generations: in a fresh process the
first compiles also set off a full collection, which walks every object the imports made
(numpy's, llvmlite's, ours) to find almost none. Measured on a warm LeNet step (two
compiles from the disk cache): ~9 ms of full collection and ~5 ms of younger ones, in
~100 ms of compiling. Mypy and other compilers written in Python hold the collector off
the same way.

Nothing is leaked: objects freed by reference counting go at once as ever, and cyclic
garbage the compile leaves is collected by the next collection after it. Held per
process, not per thread: compiles in two threads (which take turns, driver.py) keep it
off until the last one ends, and a collector the user turned off stays off.
"""
import gc
import threading
from contextlib import contextmanager

_lock = threading.Lock()
_holders = 0
_was_enabled = False


@contextmanager
def paused():
    global _holders, _was_enabled
    with _lock:
        if _holders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _was_enabled:
                gc.enable()
