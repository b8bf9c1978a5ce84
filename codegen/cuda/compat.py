"""numba-cuda, imported so that it works with the numpy that is installed.

numba 0.68 and numba-cuda 0.30.4 register an overload of `np.row_stack` while they import;
numpy 2.5 removed row_stack, so there that import fails with AttributeError. Where
row_stack is missing, a stand-in exists only while numba imports (numba registers its
overload on the stand-in, which nothing calls) and is removed after, so the user's numpy
stays as installed. Where numpy still has row_stack (< 2.5), nothing is touched.

`ieee_math()` is what kernels call `math` on the simulator: there the kernel body is plain
Python, whose math.log(0) or math.sqrt(-1) raise where CUDA returns -inf or NaN.
`quick_thread_switching()` is how long a simulated launch lets each thread hold the GIL.
"""
import contextlib
import functools
import importlib
import math
import sys
import threading
import types

import numpy as np

# math functions whose domain errors and overflows the GPU answers with inf or NaN: numpy's
# ufuncs of the same names give those IEEE answers
_IEEE_UFUNCS = ("log", "log1p", "log2", "log10", "sqrt", "exp", "expm1", "sin", "cos", "tan",
                "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh",
                "fmod", "atan2", "hypot")


def simulating():
    """Whether numba-cuda runs kernels on its simulator (NUMBA_ENABLE_CUDASIM=1)."""
    return bool(importlib.import_module("numba.cuda.core.config").ENABLE_CUDASIM)


def numba_cuda():
    """The numba.cuda module (ImportError when numba-cuda is not installed)."""
    if hasattr(np, "row_stack"):
        return _with_simulator_fixes(importlib.import_module("numba.cuda"))

    def row_stack(tup, *, dtype=None, casting="same_kind"):
        return np.vstack(tup, dtype=dtype, casting=casting)
    np.row_stack = row_stack
    try:
        cuda = importlib.import_module("numba.cuda")
        # the modules that overload it, which numba would otherwise import at the first
        # compile: numba's own and, on the real target, numba-cuda's
        importlib.import_module("numba.np.arrayobj")
        if not simulating():
            importlib.import_module("numba.cuda.np.arrayobj")
        return _with_simulator_fixes(cuda)
    finally:
        del np.row_stack


_SHARED_LOCK = threading.Lock()


def _with_simulator_fixes(cuda):
    """cuda, with the simulator's shared arrays made once per block under a lock: numba's
    FakeCUDAShared.array looks its array up and then creates it, so two threads switching
    between the two steps made two arrays, and a block's threads saw different "shared"
    memory (a tiled matmul then summed stale tiles, now and then). A thread-safe copy of it,
    keyed by the calling line as numba keys it."""
    if not simulating():
        return cuda
    kernelapi = importlib.import_module("numba.cuda.simulator.kernelapi")
    shared = kernelapi.FakeCUDAShared
    if getattr(shared.array, "thread_safe", False):
        return cuda
    original = shared.array

    def array(self, shape, dtype, alignment=None):
        if shape == 0 or alignment is not None:     # dynamic shared memory, or an error
            return original(self, shape, dtype, alignment)
        caller = sys._getframe(1)
        key = (caller.f_code.co_filename, caller.f_lineno)
        with _SHARED_LOCK:
            made = self._allocations.get(key)
            if made is None:
                numpy_dtype = kernelapi.numpy_support.as_dtype(dtype) \
                    if isinstance(dtype, kernelapi.types.Type) else dtype
                made = self._allocations[key] = np.empty(shape, numpy_dtype)
        return made
    array.thread_safe = True
    shared.array = array
    return cuda


@functools.cache
def ieee_math():
    """A stand-in for the math module inside kernels run by numba's simulator: the same
    names, with IEEE answers (inf, NaN) where Python's math raises."""
    ns = types.SimpleNamespace(**{n: getattr(math, n) for n in dir(math)
                                  if not n.startswith("_")})
    for name in _IEEE_UFUNCS:
        setattr(ns, name, _quiet(getattr(np, name)))
    ns.lgamma = _lgamma
    return ns


def _quiet(ufunc):
    def call(*args):
        with np.errstate(all="ignore"):
            return ufunc(*args)
    return call


def _lgamma(x):
    try:
        return math.lgamma(x)
    except (ValueError, OverflowError):     # a pole (0, -1, ...) or beyond float range
        return math.inf


# The simulator runs a block as one Python thread per GPU thread while the launching thread
# polls them in a loop; at Python's default 5 ms switch interval that poll holds the GIL
# most of the time. 50 us made the tests' kernels 5x faster (tests/cuda's op table, 23
# cases: 36.7 s -> 7.1 s on the 2-core dev VM).
SIMULATOR_SWITCH_INTERVAL_S = 5e-5


@contextlib.contextmanager
def quick_thread_switching():
    """Python's thread switch interval made short for one simulated kernel launch."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(SIMULATOR_SWITCH_INTERVAL_S)
    try:
        yield
    finally:
        sys.setswitchinterval(before)
