"""Kernel launches with little Python between them.

    launch = Launcher(kernel, blocks, threads, shapes)   # kernel: a numba-cuda dispatcher
    launch = Launcher(None, blocks, threads, shapes); launch.attach(loaded)   # build.py's
    launch(arrays)            # device arrays, one per argument, each of its shape's size

numba-cuda's `kernel[blocks, threads](*arrays)` types every argument, looks its overload
up, wraps each array and lays out its fields, on every call: ~40 us of Python on an H200
machine (2026-12-04), where torch launches an op in ~8. Our kernels' arguments are all
C-contiguous arrays whose shapes the graph fixes, so only the data pointers change from
call to call. Every call hands cuda.core the argument list numba builds for an array
(meminfo, parent, size, itemsize, data pointer, shape, strides), everything but the
pointers made at the first call. A kernel that build.py compiled (numba's compile_ptx for
those C-contiguous arrays) is launched so from its first call; a dispatcher's first call
goes through the dispatcher, which compiles the kernel and picks its overload. The array
passed in may be flat: its shape is the graph's.

On numba's simulator, or where numba-cuda's internals differ from what this expects
(another version), or with TRACECOMP_CUDA_LAUNCH=dispatcher, every call goes through the
dispatcher: the same kernel, slower.
"""
import math
import os
import warnings

import numpy as np

from .compat import simulating


class Launcher:
    def __init__(self, kernel, blocks, threads, shapes):
        self.kernel, self.blocks, self.threads = kernel, blocks, threads
        self.shapes = [tuple(s) or (1,) for s in shapes]    # a 0-d value as 1 element
        self.handle = self.loaded = None    # a cuda.core Kernel, where build.py compiled it
        # (cuda.core launch, stream, config, kernel, templates); False: through numba's
        # dispatcher on every call
        self.fast = None

    def attach(self, loaded):
        """Launch build.py's compiled kernel (a build.Loaded: its module is kept alive here)
        instead of a dispatcher's."""
        self.loaded, self.handle = loaded, loaded.handle

    def __call__(self, arrays):
        if not self.fast:       # None before the first call; False: the dispatcher's only
            self._first(arrays)
            return
        launch, stream, config, handle, templates = self.fast
        args = []
        for array, (head, tail) in zip(arrays, templates):
            args += head
            args.append(array.device_ctypes_pointer.value or 0)    # None: empty
            args += tail
        launch(stream, config, handle, *args)

    def _first(self, arrays):
        shaped = [a if a.shape == s else a.reshape(s) for a, s in zip(arrays, self.shapes)]
        if self.handle is not None:
            self.fast = _direct(self.handle, self.blocks, self.threads, shaped)
            self(arrays)
            return
        numba_errors = _numba_errors()
        with warnings.catch_warnings():     # a small grid is what a small tensor needs
            warnings.simplefilter("ignore", numba_errors.NumbaPerformanceWarning)
            self.kernel[self.blocks, self.threads](*shaped)
        if self.fast is None and not dispatcher_only():
            self.fast = _fast_path(self.kernel, self.blocks, self.threads, shaped)


def dispatcher_only():
    """Whether kernels are compiled and launched through numba's dispatcher only: on the
    simulator, or with TRACECOMP_CUDA_LAUNCH=dispatcher (else build.py compiles them and
    cuda.core launches them)."""
    return simulating() or os.environ.get("TRACECOMP_CUDA_LAUNCH") == "dispatcher"


def _numba_errors():
    from numba.cuda.core import errors
    return errors


def _fast_path(kernel, blocks, threads, arrays):
    """What a direct launch needs, or False where this numba-cuda is not as expected."""
    try:
        from numba.cuda import types
        overload = kernel.overloads[tuple(kernel.typeof_pyval(a) for a in arrays)]
        if not all(isinstance(t, types.Array) and t.layout == "C"
                   for t in overload.argument_types):
            return False
        handle = overload._codelibrary.get_cufunc().kernel
    except (ImportError, AttributeError, KeyError):
        return False
    return _direct(handle, blocks, threads, arrays)


def _direct(handle, blocks, threads, arrays):
    """The launch of cuda.core Kernel `handle` over these arrays' shapes and dtypes, as
    numba lays a C-contiguous array's fields out."""
    from cuda.core import LaunchConfig, Stream, launch
    templates = []
    for a in arrays:
        itemsize = np.dtype(a.dtype).itemsize
        strides, step = [], itemsize
        for d in reversed(a.shape):
            strides.append(step)
            step *= d
        templates.append(([0, 0, math.prod(a.shape), itemsize],
                          [*a.shape, *reversed(strides)]))
    config = LaunchConfig(grid=blocks, block=threads, shmem_size=0)
    return launch, Stream.from_handle(0), config, handle, templates
