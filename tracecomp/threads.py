"""torch.set_num_threads / get_num_threads: what they control here.

tracecomp's native parallelism has one knob (codegen/llvm/runtime/parallel.py): the thread count of
the BLAS that both eager matmuls (numpy's) and compiled gemms call. Compiled elementwise and
reduction kernels split over as many threads as the BLAS uses, unless TRACECOMP_THREADS is
set, which then wins for those kernels. So set_num_threads(n) sets the BLAS's count and,
when no BLAS that can be told is found, TRACECOMP_THREADS for the kernels. Eager
elementwise ops run single-threaded in numpy whatever the setting.
"""
import os


def set_num_threads(n):
    """Threads for matmuls (eager and compiled) and for large compiled kernels."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise RuntimeError(f"set_num_threads expects a positive integer, but got {n!r}")
    from .codegen.llvm.gemm import blas
    if not blas.set_threads(n):
        os.environ["TRACECOMP_THREADS"] = str(n)


def get_num_threads() -> int:
    """How many threads a large compiled kernel (and the BLAS) uses now."""
    from .codegen.llvm.runtime import parallel
    return parallel.threads()

