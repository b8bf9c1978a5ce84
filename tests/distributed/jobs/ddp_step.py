"""A target for `tracecomp dump` under mpiexec (test_ddp.py): a data-parallel MLP training
step, whose compiled graph holds the gradient all-reduces (the first bucket overlapped with
the first layer's weight gradient: all_reduce_start ... all_reduce_wait)."""
import tracecomp as torch
import tracecomp.distributed as dist
import tracecomp.nn as nn
import tracecomp.nn.functional as F
from tracecomp.nn.parallel import DistributedDataParallel as DDP

dist.init_process_group("mpi")
torch.manual_seed(0)
model = DDP(nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                          nn.Linear(256, 10)))
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)


def step(x, y):
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss
