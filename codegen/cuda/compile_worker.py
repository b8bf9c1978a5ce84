"""A compile worker's process (compile_ahead.py): kernels into numba-cuda's disk cache.

    python -m tracecomp.codegen.cuda.compile_worker < jobs.json

stdin holds [[path, name, [[dtype, ndim], ...]], ...]: each kernel is the function `name`
in the cached source file `path` (kernel_cache.py wrote it), compiled for C-contiguous
arrays of those dtypes and dimensions, as the launching process types its arguments, with
the same `cuda.jit(cache=True)`, so numba-cuda files it under the key that process looks
up. One line per kernel on stdout: "ok NAME" or "failed NAME: why".
"""
import json
import sys

import numpy as np


def main():
    jobs = json.load(sys.stdin)
    from numba.cuda import types
    from numba.cuda.np import numpy_support

    from .compat import numba_cuda
    cuda = numba_cuda()
    for path, name, args in jobs:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
            namespace = {}
            exec(compile(text, path, "exec"), namespace)
            kernel = cuda.jit(namespace[name], cache=True)
            kernel.compile(tuple(types.Array(numpy_support.from_dtype(np.dtype(dtype)), ndim,
                                             "C") for dtype, ndim in args))
            print("ok", name, flush=True)
        except Exception as exc:    # noqa: BLE001  (the launching process compiles it)
            print(f"failed {name}: {type(exc).__name__}: {exc}", flush=True)


if __name__ == "__main__":
    main()
