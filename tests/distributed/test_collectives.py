"""tracecomp.distributed's process group and collectives.

The multi-rank checks run in jobs/collectives.py under `mpiexec -n 2` (every collective,
dtype and ReduceOp against numpy, blocking and async, strided views, a collective inside
tracecomp.compile). The rest run here, in one process that never starts MPI: what torch
says before init_process_group, and the refusals that need no peer."""
import subprocess
import sys

import pytest
from mpi_jobs import run_job

import tracecomp as tc
import tracecomp.distributed as dist

NOT_INITIALIZED = "Default process group has not been initialized"


def test_every_collective_matches_numpy_on_two_ranks():
    _, out = run_job("collectives.py")
    assert "collectives: PASSED on 2 ranks" in out, out


def test_zero_redundancy_optimizer_shares_state_and_matches_adamw_on_two_ranks():
    _, out = run_job("zero.py")
    assert "zero: PASSED on 2 ranks" in out, out


@pytest.mark.parametrize("level", ["", "funneled"])
def test_ranks_running_different_graphs_with_the_same_collectives_meet(level):
    # rank 0's all-reduce is split around a product, rank 1's is not: both on one
    # communicator, in order (distributed/comm_thread.py); else a hang, killed at 60 s.
    # funneled: MPI without THREAD_MULTIPLE, so no communication thread at all
    _, out = run_job("uneven.py", *([level] if level else []))
    assert f"uneven graphs{' (funneled)' * bool(level)}: PASSED on 2 ranks" in out, out


def test_before_init_process_group_torch_errors_are_raised():
    assert not dist.is_initialized()
    for call in (dist.get_rank, dist.get_world_size, dist.barrier,
                 lambda: dist.all_reduce(tc.ones(2)), lambda: dist.broadcast(tc.ones(2), 0),
                 lambda: tc.nn.parallel.DistributedDataParallel(tc.nn.Linear(2, 2))):
        with pytest.raises(ValueError, match=NOT_INITIALIZED):
            call()


def test_only_the_mpi_backend_is_offered():
    with pytest.raises(RuntimeError, match="only backend is MPI"):
        dist.init_process_group("nccl")
    assert not dist.is_initialized()
    assert not dist.is_nccl_available() and not dist.is_gloo_available()


def test_reduce_op_has_torch_names_and_values():
    import torch.distributed as tdist
    for name in ("SUM", "AVG", "PRODUCT", "MIN", "MAX", "BAND", "BOR", "BXOR", "PREMUL_SUM"):
        ours, theirs = getattr(dist.ReduceOp, name), getattr(tdist.ReduceOp, name)
        assert ours.name == theirs.name and ours.value == theirs.value, name
    with pytest.raises(NotImplementedError, match="torch.distributed.new_group"):
        dist.new_group([0])


def test_importing_tracecomp_distributed_does_not_start_mpi():
    """MPI starts in init_process_group, not on import (a program that never makes a group
    never starts MPI), while the collective primitives are registered with the others."""
    code = ("import sys, tracecomp.distributed, tracecomp.nn.parallel\n"
            "from tracecomp.ops.registry import PRIMITIVES\n"
            "assert 'mpi4py.MPI' not in sys.modules, 'MPI started on import'\n"
            "assert 'all_reduce' in PRIMITIVES, 'not registered on import'\n"
            "assert tracecomp.distributed.is_available() == bool("
            "__import__('importlib').util.find_spec('mpi4py'))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
