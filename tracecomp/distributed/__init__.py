"""tracecomp.distributed: data-parallel training over MPI (torch.distributed's names and
semantics, with mpi4py as the one transport).

    process_group.py  init_process_group(backend="mpi"), rank, world size, destroy
    reduce_op.py      ReduceOp, and how each op becomes an MPI reduction on a dtype
    collectives.py    all_reduce, broadcast, all_gather, reduce_scatter, reduce, barrier, Work
    traced.py         inside tracecomp.compile: all_reduce, all_gather, DDP's gradient
                      averaging and buffer broadcast as graph nodes (ops/collective.py)
    optim/            ZeroRedundancyOptimizer (each rank keeps its share's optimizer state)
    faults.py         a rank that raises aborts every rank, with its error printed
    mpi_launch.py     `tracecomp run -n N script.py`: the mpiexec command line

Start N processes with `tracecomp run -n N train.py` (mpiexec underneath); each calls
`init_process_group("mpi")`, wraps its model in tracecomp.nn.parallel.DistributedDataParallel
and reads its share of the data through tracecomp.utils.data.distributed.DistributedSampler.
"""
from ..ops import collective as _collective  # noqa: F401  (registers the primitives)
from .collectives import (
    Work,
    all_gather,
    all_gather_into_tensor,
    all_reduce,
    barrier,
    broadcast,
    reduce,
    reduce_scatter,
    reduce_scatter_tensor,
)
from .process_group import (
    GroupMember,
    ProcessGroup,
    destroy_process_group,
    get_backend,
    get_default_timeout,
    get_rank,
    get_world_size,
    init_process_group,
    is_available,
    is_gloo_available,
    is_initialized,
    is_mpi_available,
    is_nccl_available,
)
from .reduce_op import ReduceOp
from . import faults

faults.arm_if_launched()    # a rank failing before init_process_group stops the job too

group = GroupMember     # torch.distributed.group.WORLD: the default group

__all__ = ["GroupMember", "ProcessGroup", "ReduceOp", "Work", "all_gather",
           "all_gather_into_tensor", "all_reduce", "barrier", "broadcast",
           "destroy_process_group", "get_backend", "get_default_timeout", "get_rank",
           "get_world_size", "group", "init_process_group", "is_available",
           "is_gloo_available", "is_initialized", "is_mpi_available", "is_nccl_available",
           "reduce", "reduce_scatter", "reduce_scatter_tensor"]

# torch.distributed's other public functions: a program that calls one learns it is
# missing here, not that it mistyped a name (support.py)
_MISSING = frozenset(["new_group", "new_subgroups", "gather", "scatter", "all_to_all",
                      "all_to_all_single", "send", "recv", "isend", "irecv", "batch_isend_irecv",
                      "P2POp", "all_gather_object", "broadcast_object_list", "gather_object",
                      "scatter_object_list", "monitored_barrier", "TCPStore", "FileStore",
                      "HashStore", "PrefixStore", "Store", "rpc", "fsdp", "checkpoint",
                      "tensor", "pipelining", "elastic", "algorithms", "device_mesh",
                      "init_device_mesh", "DeviceMesh", "launcher", "run"])


def __getattr__(name):
    if name == "optim":     # torch.distributed.optim without importing it by name
        import importlib
        return importlib.import_module(__name__ + ".optim")
    if name in _MISSING:
        from ..support import unsupported
        raise unsupported(f"torch.distributed.{name}")
    raise AttributeError(f"module 'tracecomp.distributed' has no attribute {name!r}")
