"""Large matrix products through cuBLAS, by CuPy where it is installed.

Measured on an H200 (2026-12-04, float32, no TF32): our tiled numba kernel ran 1024^3 at
4.6 TFLOP/s and 4096^3 at 7.6; cuBLAS through CuPy 14.2 ran them at 35 and 51, as torch
does. CuPy is the binding: it is maintained, reads numba's device arrays without a copy
(__cuda_array_interface__), and works on numba's stream (the legacy default stream), so
its products fall in line with our kernels. nvmath-python would do the same, with
epilogues (bias, ReLU) we do not need here; it was not on the GPU machine to measure.

A call through CuPy costs ~30 us of Python against ~10 for a kernel of ours, so only a
product of at least MIN_FLOPS goes to cuBLAS (a batch-64 MLP's products do not). Float32
and float64 products of matmul groups (a product, its operands' transposes read as
transposed views); anything else, and everything where CuPy is missing or on numba's
simulator, stays with the tiled kernel (source.matmul_source); TRACECOMP_BLAS=none keeps
every product there, as it does the llvm backend's.
"""
import functools
import math
import os

import numpy as np

from .compat import simulating

MIN_FLOPS = 1 << 28         # 2 m n k: ~50 us of our kernel, where cuBLAS's call pays off
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


@functools.cache
def _cupy():
    try:
        import cupy
    except ImportError:
        return None
    return cupy


def product(group):
    """A function(values, out) computing the matmul group's root into `out` (a flat device
    array) with cuBLAS, or None where the tiled kernel computes it."""
    root = group.root
    if group.kind != "matmul" or root.dtype not in _FLOATS or simulating() \
            or os.environ.get("TRACECOMP_BLAS", "").strip().lower() == "none":
        return None
    (m, n), k = root.shape[-2:], root.inputs[0].shape[-1]
    if 2 * math.prod(root.shape[:-2]) * m * n * k < MIN_FLOPS:
        return None
    cupy = _cupy()
    if cupy is None:
        return None
    members = set(group.nodes)
    operands = [(x.inputs[0], True) if x in members else (x, False) for x in root.inputs]
    shape = root.shape

    def run(values, out):
        a, b = (_matrix(cupy, values[x], x.shape, transposed) for x, transposed in operands)
        cupy.matmul(a, b, out=cupy.asarray(out).reshape(shape))
    return run


def _matrix(cupy, array, shape, transposed):
    matrix = cupy.asarray(array).reshape(shape)
    return matrix.swapaxes(-1, -2) if transposed else matrix
