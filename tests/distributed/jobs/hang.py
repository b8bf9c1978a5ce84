"""Run by test_faults.py in 2 ranks: rank 1 never joins a collective and hangs without
raising; rank 0 waits in it. With init_process_group(timeout=2 s), rank 0's watchdog must
stop the job within seconds, naming the collective.

    hang.py eager       rank 0 waits in dist.all_reduce
    hang.py compiled    rank 0 waits for a compiled step's overlapped all-reduce
"""
import sys
import time
from datetime import timedelta

import tracecomp as tc
import tracecomp.distributed as dist

dist.init_process_group("mpi", timeout=timedelta(seconds=2))
rank = dist.get_rank()
x, w = tc.ones(3), tc.full((128, 128), 0.01)


def step(x, w):
    t = x * 2
    dist.all_reduce(t)
    return t + (w @ w).sum()    # 2**21 multiply-adds between start and wait


if sys.argv[1] == "compiled":
    step = tc.compile(step)
step(x, w)                      # both ranks: the first call goes through
if rank == 1:
    time.sleep(60)              # hangs: never joins the next one
step(x, w)
time.sleep(60)
