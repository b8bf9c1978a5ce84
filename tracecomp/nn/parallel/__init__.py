"""tracecomp.nn.parallel: torch.nn.parallel's wrappers that run one model on several
workers.

    data_parallel.py  DataParallel and data_parallel: one process, no device or one GPU
    distributed.py    DistributedDataParallel: one process per rank, gradients averaged
                      over MPI during backward (tracecomp.distributed)
    reducer.py        DistributedDataParallel's buckets: which gradients are averaged
                      together, and when
"""
from .data_parallel import DataParallel, data_parallel
from .distributed import DistributedDataParallel
from ...support import unsupported

# torch.nn.parallel's public names that tracecomp does not provide
_MISSING = frozenset(["DistributedDataParallelCPU", "replicate", "scatter", "gather",
                      "parallel_apply", "comm", "scatter_gather", "deprecated"])


def __getattr__(name):
    if name in _MISSING:
        raise unsupported(f"torch.nn.parallel.{name}")
    raise AttributeError(f"module 'tracecomp.nn.parallel' has no attribute {name!r}")
