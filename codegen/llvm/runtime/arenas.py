"""Scratch memory for compiled calls: the arena a call's intermediates live in, and the
pool of arenas every runner in the process takes one from.

An arena is only in use while a call runs, and calls in one thread run one at a time, so
the runners share: a call takes an arena from the pool (growing it to the graph's plan
when it is smaller) and gives it back when it returns. Kept between calls is then the
largest graph's scratch memory, not the sum over every compiled graph: a compile(model)
training step has a forward and a backward graph, a whole compiled step one artifact for
its first call (which creates the optimizer state) and one for the rest, and each kept an
arena of its own before (LeNet's step: 4.1 + 1.4 MB). Threads that call at the same time
each take one, so the pool holds as many arenas as calls ever ran at once. Taking and
giving back are a list's pop and append, atomic under the GIL: no lock on the call path.
An arena larger than any live runner needs is not kept (register).
"""
import weakref

import numpy as np

from tracecomp.passes.memory import ALIGN


class Arena:
    """`nbytes` of 64-byte-aligned scratch memory, with numpy views for Python steps."""

    def __init__(self, nbytes):
        self.nbytes = nbytes
        self.buffer = np.empty(nbytes + ALIGN, np.uint8)
        raw = self.buffer.ctypes.data
        self.skew = -raw % ALIGN
        self.address = raw + self.skew
        self.views = {}

    def view(self, offset, node):
        key = (offset, node.shape, node.dtype)
        hit = self.views.get(key)
        if hit is None:
            hit = self.views[key] = np.ndarray(node.shape, node.dtype, self.buffer,
                                               self.skew + offset)
        return hit

    def owns(self, a):
        # a view's chain of bases ends at the array holding the memory, or at what an
        # array was made over (bytes: a DataLoader worker's batch, np.frombuffer)
        while isinstance(a, np.ndarray) and a.base is not None:
            a = a.base
        return a is self.buffer


EMPTY = Arena(0)    # for graphs that keep no intermediates: nothing to take or give back
_free = []      # the arenas no call is using
_peaks = weakref.WeakKeyDictionary()    # each live runner -> the arena bytes it needs
_largest = [0]  # the most any live runner needs; None: to be found again (one was freed)


def register(runner, nbytes):
    """A runner that will take arenas of nbytes: while it lives, the pool keeps one that
    large; once no live runner needs so much, a larger one is let go (a compiled model
    deleted takes its scratch memory with it, as its own arena did)."""
    _peaks[runner] = nbytes
    if _largest[0] is not None:
        _largest[0] = max(_largest[0], nbytes)
    weakref.finalize(runner, _forget)


def _forget():
    _largest[0] = None


def _limit():
    if _largest[0] is None:
        _largest[0] = max(_peaks.values(), default=0)
    return _largest[0]


def take(nbytes):
    """An arena of at least nbytes for one call; give it back with give_back."""
    try:
        arena = _free.pop()
    except IndexError:
        return Arena(nbytes)
    return arena if arena.nbytes >= nbytes else Arena(nbytes)   # the smaller one is freed


def give_back(arena):
    if arena.nbytes <= _limit():
        _free.append(arena)


def release():
    """Let go of the arenas no call is using (the next calls make new ones)."""
    _free.clear()


def held_bytes():
    """The bytes the pool keeps between calls."""
    return sum(a.buffer.nbytes for a in list(_free))
