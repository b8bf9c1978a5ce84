"""numba-cuda, imported so that it works with the numpy that is installed.

numba 0.68 and numba-cuda 0.30.4 register an overload of `np.row_stack` while they import;
numpy 2.5 removed row_stack, so there that import fails with AttributeError. Where
row_stack is missing, a stand-in exists only while numba imports (numba registers its
overload on the stand-in, which nothing calls) and is removed after, so the user's numpy
stays as installed. Where numpy still has row_stack (< 2.5), nothing is touched.
"""
import importlib

import numpy as np


def simulating():
    """Whether numba-cuda runs kernels on its simulator (NUMBA_ENABLE_CUDASIM=1)."""
    return bool(importlib.import_module("numba.cuda.core.config").ENABLE_CUDASIM)


def numba_cuda():
    """The numba.cuda module (ImportError when numba-cuda is not installed)."""
    if hasattr(np, "row_stack"):
        return importlib.import_module("numba.cuda")

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
        return cuda
    finally:
        del np.row_stack
