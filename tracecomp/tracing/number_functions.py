"""Python's math functions and min / max on fed numbers, computed in the graph while a
function is traced, so that a hand-written schedule (`0.5 * (1 + math.cos(math.pi * t /
T))`, `min(1.0, step / warmup)`) or Adam's bias correction (`math.sqrt(1 - beta2 ** t)`)
keeps its fed number (tracing/number.py) instead of compiling it in.

math.sqrt and the other C functions read their argument through `__float__`, which must
return a real float, and min / max compare through `__lt__`, which must answer a bool: a
TracedNumber cannot give either without its value. So while a trace runs (`patched`), the
names below in the `math` module and in builtins are wrappers that compute a
TracedNumber's result in the graph and call the original for anything else. Code that
bound a function itself (`from math import sqrt`) still calls the original: that reads
the value, and the number is compiled in, as before.

The graph computes them in float64 (libm's functions, as Python's math calls; numpy's and
LLVM's may differ from them in the last bit, far below what a float32 tensor holds).
Where Python raises (math.sqrt(-1.0), math.log(0.0), an overflowing math.exp) the graph
gives NaN or inf instead: each result is required (Reads.require), so a call whose
numbers would make Python raise compiles them in and meets the error.
"""
import builtins
import math
import threading

import numpy as np

from ..ops import elementwise as ew
from ..tensor import Tensor
from .number import TracedNumber, derived

_FLOAT64 = np.dtype(np.float64)

# math's one-argument functions and the graph's op for each, computed in float64
_MATH = {
    "sqrt": ew.sqrt, "exp": ew.exp, "log": ew.log, "log1p": ew.log1p, "expm1": ew.expm1,
    "cos": ew.cos, "sin": ew.sin, "tanh": ew.tanh,
}
_ORIGINALS = {name: getattr(math, name) for name in _MATH}
_MIN, _MAX = builtins.min, builtins.max
_LOCK = threading.Lock()
_DEPTH = [0]        # traces inside `patched` (the patches come off after the last)


def _traced_operand(x):
    """Whether x is a fed number the graph can compute a math function of."""
    return type(x) is TracedNumber and x.recipe is not None and \
        type(x.value) in (int, float)


def _math_function(name, graph_op):
    original = _ORIGINALS[name]

    def wrapper(*args, **kwargs):
        if len(args) != 1 or kwargs or not _traced_operand(args[0]):
            return original(*args, **kwargs)
        x = args[0]
        value = original(x.value)       # Python's answer, or its error, for this call
        tensor = x.tensor if x.tensor._data.dtype == _FLOAT64 else ew.cast(x.tensor, _FLOAT64)
        out = TracedNumber(graph_op(tensor), value, x.sources, x.reads,
                           derived(original, x))
        x.reads.require(out)
        return out
    wrapper.__name__ = wrapper.__qualname__ = name
    wrapper.__doc__ = original.__doc__
    return wrapper


def _extremum(original, wins):
    """min or max: of two or more numbers of one type (ints, or floats) with a fed one
    among them, in the graph, as Python picks (the first, unless a later one `wins` over
    it: NaN never does); anything else (one iterable, key=, an int and a float, whose
    result's type would depend on the values) goes to the original."""
    def wrapper(*args, **kwargs):
        if len(args) < 2 or kwargs or not any(map(_traced_operand, args)):
            return original(*args, **kwargs)
        kinds = {type(a.value) if type(a) is TracedNumber else type(a) for a in args}
        if len(kinds) != 1 or kinds.pop() not in (int, float) or any(
                type(a) is TracedNumber and not _traced_operand(a) for a in args):
            return original(*args, **kwargs)
        best = args[0]
        for other in args[1:]:
            best = _pick(best, other, original, wins)
        return best
    wrapper.__name__ = wrapper.__qualname__ = original.__name__
    wrapper.__doc__ = original.__doc__
    return wrapper


def _pick(best, other, original, wins):
    """original(best, other) as a TracedNumber: `other` where it wins over `best`."""
    held = [x.value if type(x) is TracedNumber else x for x in (best, other)]
    traced = best if type(best) is TracedNumber else other
    value = original(*held)
    dtype = traced.tensor._data.dtype
    a, b = (x.tensor if type(x) is TracedNumber else x for x in (best, other))
    tensor = ew.where(wins(b, a), b, a)
    if tensor._data.dtype != dtype:
        tensor = ew.cast(tensor, dtype)
    sources = frozenset().union(*[x.sources for x in (best, other)
                                  if type(x) is TracedNumber])
    return TracedNumber(tensor, value, sources, traced.reads, derived(original, best, other))


_MIN_WRAPPER = _extremum(_MIN, lambda b, a: _less(b, a))
_MAX_WRAPPER = _extremum(_MAX, lambda b, a: _less(a, b))


def _less(x, y):
    """x < y in the graph, for a 0-d tensor and a Python number in either place."""
    if isinstance(x, Tensor):
        return ew.lt(x, y)
    return ew.gt(y, x)


_WRAPPERS = {name: _math_function(name, op) for name, op in _MATH.items()}


class patched:
    """While a trace runs: math's functions and builtins.min / max compute fed numbers in
    the graph (the wrappers call the originals for everything else, in any thread)."""

    def __enter__(self):
        with _LOCK:
            if _DEPTH[0] == 0:
                for name, wrapper in _WRAPPERS.items():
                    setattr(math, name, wrapper)
                builtins.min, builtins.max = _MIN_WRAPPER, _MAX_WRAPPER
            _DEPTH[0] += 1
        return self

    def __exit__(self, *exc):
        with _LOCK:
            _DEPTH[0] -= 1
            if _DEPTH[0] == 0:
                for name, original in _ORIGINALS.items():
                    setattr(math, name, original)
                builtins.min, builtins.max = _MIN, _MAX
