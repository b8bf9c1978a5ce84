"""Run by test_collectives.py in 2 ranks: the ranks run different compiled functions with
the same collectives. Rank 0's has a large product between its all-reduce and the result's
first reader, so passes/buckets.py splits it (all_reduce_start ... all_reduce_wait, on the
communication thread); rank 1's has nothing there, so it stays one all_reduce node. Both
must meet in the same collective (a hang here is the failure), and agree on its value.

    uneven.py            MPI started with THREAD_MULTIPLE (mpi4py's default)
    uneven.py funneled   the program lowered mpi4py.rc.thread_level first: no communication
                         thread (a warning says so), the same collectives and values
"""
import sys
import warnings

import numpy as np

import tracecomp as tc
import tracecomp.distributed as dist

funneled = sys.argv[1:] == ["funneled"]
if funneled:
    import mpi4py
    mpi4py.rc.thread_level = "funneled"
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    dist.init_process_group("mpi")
said = [str(w.message) for w in caught if "MPI_THREAD_MULTIPLE" in str(w.message)]
assert len(said) == (1 if funneled else 0), said
rank = dist.get_rank()
w = tc.full((128, 128), 0.01)


def overlapped(x, w):
    t = x * 2
    dist.all_reduce(t)
    return t + (w @ w).sum()        # 2**21 multiply-adds between start and wait


def alone(x, w):
    t = x * 2
    dist.all_reduce(t)
    return t


f = tc.compile(overlapped if rank == 0 else alone)
for k in range(3):
    x = tc.full((4,), float(rank + k))
    got = f(x, w).numpy() - (float((w @ w).sum()) if rank == 0 else 0.0)
    want = 2 * (k + (k + 1))        # both ranks' x * 2, summed
    np.testing.assert_allclose(got, np.full(4, want), atol=1e-3, err_msg=f"call {k}")
    dist.all_reduce(tc.ones(1))     # an eager collective between compiled calls
if rank == 0:
    assert "all_reduce_start" in str(f.graphs["forward.optimized"])
dist.destroy_process_group()
if rank == 0:
    print(f"uneven graphs{' (funneled)' * funneled}: PASSED on 2 ranks")
