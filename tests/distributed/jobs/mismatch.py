"""Run by test_ddp.py in 2 ranks: ranks that built different models must be told so by
DistributedDataParallel at wrap time, every rank (none is left waiting), with the
parameter's name and both shapes. Each rank prints the error it got."""
import tracecomp.distributed as dist
from tracecomp import nn
from tracecomp.nn.parallel import DistributedDataParallel as DDP

dist.init_process_group("mpi")
rank = dist.get_rank()
cases = {"shape": nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8 + rank, 2)),
         "count": nn.Sequential(*[nn.Linear(3, 3) for _ in range(1 + rank)])}
for case, model in cases.items():
    try:
        DDP(model)
    except RuntimeError as exc:
        print(f"rank {rank} {case}: {exc}", flush=True)
    else:
        raise AssertionError(f"rank {rank}: DDP accepted a model that differs between ranks")
dist.destroy_process_group()
