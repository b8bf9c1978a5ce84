"""Run by test_faults.py in 2 ranks: rank 1 raises while rank 0 waits in a collective it
would never leave. The job must stop within seconds, non-zero, with rank 1's error printed.

    fail.py after_init    rank 1 raises between two all_reduces
    fail.py before_init   rank 1 raises before init_process_group (rank 0 waits in MPI's
                          start-up, which mpiexec alone would never interrupt)
"""
import sys
import time

import tracecomp as tc
import tracecomp.distributed as dist

when = sys.argv[1]
rank = int(dist.faults.launched_size_and_rank()[1])
if when == "before_init" and rank == 1:
    raise ValueError("rank 1 fails on purpose before init_process_group")
dist.init_process_group("mpi")
x = tc.ones(3)
dist.all_reduce(x)
if rank == 1:
    raise ValueError("rank 1 fails on purpose after init_process_group")
dist.all_reduce(x)          # rank 0 waits here for a rank that is gone
time.sleep(60)
