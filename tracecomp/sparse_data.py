"""What a sparse tensor holds in the `_data` slot every Tensor has: its shape and dtype only.

A sparse tensor (tracecomp/sparse/) keeps its real contents as ordinary tensors (indices and
values), so autograd and tracing see only dense ops. Its `_data` is a `SparseData`, which
answers what every tensor is asked before an op runs (shape, dtype, ndim) and refuses the
rest: numpy cannot turn it into an array, so a dense op's impl fails on it, and bind (eager)
or the tracer hands the call to tracecomp/sparse/prims.py, which runs the op on the sparse
tensor or raises torch's error naming the op and the layout. No dense op ever runs on a
sparse tensor silently, and a dense tensor pays nothing: the check sits on bind's failure
path (and in the tracer, only once a sparse tensor exists).

This module imports nothing of tracecomp: dispatch.py, the tracer and the compiler's
argument flattening test `type(x._data) is SparseData` without importing the sparse package.
"""
import numpy as np

# [True] once any sparse tensor was made: until then the tracer skips looking for one
used = [False]
# [tracecomp/sparse/prims.py's on_sparse], put here when the sparse package loads (no sparse
# tensor exists before): dispatch and the tracer call it without importing the package
ON_SPARSE = []


class SparseData:
    """The shape and dtype of a sparse tensor; numpy and array methods are refused."""

    __slots__ = ("shape", "dtype", "layout")

    def __init__(self, shape, dtype, layout):
        self.shape = tuple(int(n) for n in shape)
        self.dtype = np.dtype(dtype)
        self.layout = layout
        used[0] = True

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        n = 1
        for d in self.shape:
            n *= d
        return n

    def __array__(self, dtype=None, copy=None):
        raise TypeError(f"can't convert Sparse layout tensor to numpy. Use Tensor.to_dense() "
                        f"first. (a tensor of layout {self.layout})")

    def __getattr__(self, name):
        # numpy probes dunder names (__array_interface__) with hasattr: those stay missing
        if name.startswith("__"):
            raise AttributeError(name)
        raise unsupported(name, self.layout)


def unsupported(op, layout):
    """torch's error for an op a sparse layout does not have."""
    return NotImplementedError(
        f"Could not run '{op}' with arguments from the 'SparseCPU' backend: the op is not "
        f"supported for a tensor of layout {layout}. Convert it with .to_dense() first (or "
        f"use the torch.sparse op that computes it).")
