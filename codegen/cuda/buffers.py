"""Where a kernel's result goes: device buffers reused from call to call.

Allocating a numba-cuda device array costs ~30 us of Python and driver time (an H200
machine, 2026-12-04), as much as launching the kernel that fills it, and a training step
makes one per parameter, momentum buffer and gradient. So:

  Kept:    a value that never leaves the call (no output is it or a view of it) gets one
           buffer, made at the first call and written again by every later one: calls run
           in order on the GPU's stream, so no call reads another's value.
  Spares:  an output goes to a tensor, so each call needs a buffer nobody holds. The last
           SPARE buffers of each output are kept, and one is reused when nothing but this
           list references it or its memory: a step's old parameters, momentum and
           gradients are released when the new ones are assigned, and the next step
           writes there. A buffer the program still holds (a tensor, a view, a reshaped
           numba array over its memory) is never written again.

On numba's simulator an output is always a fresh array: there the arrays are numpy
arrays whose views the reference counts below would not see. TRACECOMP_CUDA_REUSE=0 makes
it so on a GPU too.
"""
import os
import sys

from .compat import simulating

SPARE = 2       # buffers kept per output: a training step's state alternates between two
_refcount = sys.getrefcount


class Kept:
    """One buffer for a value that stays inside the call."""

    def __init__(self, cuda, size, dtype):
        self.cuda, self.size, self.dtype, self.buffer = cuda, size, dtype, None

    def __call__(self):
        if self.buffer is None:
            self.buffer = self.cuda.device_array(self.size, self.dtype)
        return self.buffer


class Spares:
    """A buffer for an output: a free one of the last SPARE, else a new one."""

    def __init__(self, cuda, size, dtype, reuse=True):
        self.cuda, self.size, self.dtype, self.spare = cuda, size, dtype, []
        self.reuse = reuse and not simulating() and \
            os.environ.get("TRACECOMP_CUDA_REUSE", "1") != "0"

    def __call__(self):
        for a in self.spare:
            if _refcount(a) == _free[0] and _refcount(a.gpu_data) == _free[1]:
                return a
        a = self.cuda.device_array(self.size, self.dtype)
        if self.reuse:
            if not _free:
                _free[:] = _free_counts(self.cuda)
            if len(self.spare) == SPARE:
                self.spare.pop(0)
            self.spare.append(a)
        return a


_free = []      # what the two counts read for a buffer only its list holds (below)


def _free_counts(cuda):
    """The two counts in Spares.__call__ for a buffer that only the list holds, measured on
    a real device array through the same code: interpreters differ in the references a
    loop variable takes, and numba-cuda in the objects that hold its memory pointer."""
    spare = [cuda.device_array(1, "u1")]
    for a in spare:
        return _refcount(a), _refcount(a.gpu_data)
