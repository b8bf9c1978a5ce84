"""Run by test_ddp.py in 2 ranks, as `train.py eager` or `train.py compiled`: data-parallel
training must end where one process training on the whole batch ends.

Every rank also trains that one-process reference itself (a plain model on the whole
batch), so the comparison needs no second job. The DDP models start from different seeds
on each rank: the broadcast at wrap time has to make them rank 0's. Each rank reads its
half of every batch through DistributedSampler (shuffled per epoch), so the averaged
gradient is the whole batch's mean. Checked: SGD with momentum and Adam, gradient
accumulation under no_sync(), buffers broadcast from rank 0, `module.` state_dict keys,
and (compiled) a compiled forward whose backward the eager engine runs.
Rank 0 prints PASSED at the end; any mismatch raises and aborts the job."""
import sys

import numpy as np

import tracecomp as tc
import tracecomp.distributed as dist
import tracecomp.nn.functional as F
from tracecomp import nn
from tracecomp.nn.parallel import DistributedDataParallel as DDP
from tracecomp.utils.data.distributed import DistributedSampler

OPTIMIZERS = {"sgd_momentum": (tc.optim.SGD, {"lr": 0.1, "momentum": 0.9}),
              "adam": (tc.optim.Adam, {"lr": 0.01})}
STEPS, BATCH = 4, 16
TOL = 1e-5


def mlp(seed):
    tc.manual_seed(seed)
    return nn.Sequential(nn.Linear(10, 16), nn.Tanh(), nn.Linear(16, 3))


def batches():
    tc.manual_seed(1)
    return tc.randn(STEPS, BATCH, 10), tc.randint(0, 3, (STEPS, BATCH))


def close(got_model, want_model, what):
    for (name, p), q in zip(got_model.named_parameters(), want_model.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=TOL,
                                   atol=TOL, err_msg=f"{what}: {name}")


def train_step(model, opt):
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


def check_training(rank, world, compiled):
    X, Y = batches()
    sampler = DistributedSampler(range(BATCH), num_replicas=world, rank=rank, seed=3)
    for name, (cls, kw) in OPTIMIZERS.items():
        ref = mlp(0)
        ref_opt = cls(ref.parameters(), **kw)
        model = mlp(0 if rank == 0 else 100 + rank)     # rank 0's until wrapped: the others'
        ddp = DDP(model)
        assert ddp.module is model
        close(model, ref, f"{name}: parameters right after wrapping")
        opt = cls(ddp.parameters(), **kw)
        step = train_step(ddp, opt)
        step = tc.compile(step) if compiled else step
        for i in range(STEPS):
            train_step(ref, ref_opt)(X[i], Y[i])
            sampler.set_epoch(i)
            mine = tc.tensor(list(sampler))
            step(X[i][mine], Y[i][mine])
        close(model, ref, f"{name}, {'compiled' if compiled else 'eager'}, {STEPS} steps")
        if compiled:
            text = "\n".join(str(g) for g in step.graphs.values())
            assert text.count("all_reduce(") >= 4, "the gradient all-reduce is not in the graph"
    assert list(ddp.state_dict())[:2] == ["module.0.weight", "module.0.bias"]


def check_no_sync(rank, world, compiled):
    """Two micro-batches per rank, the first under no_sync(): the gradients are the whole
    batch's (the accumulated local sums are averaged, as torch's DDP does)."""
    X, Y = batches()
    ref = mlp(0)
    F.cross_entropy(ref(X[0]), Y[0]).backward()
    model = mlp(0)
    ddp = DDP(model)
    half = BATCH // world
    mine = slice(rank * half, (rank + 1) * half)
    x, y = X[0][mine], Y[0][mine]

    def micro(xs, ys):
        loss = F.cross_entropy(ddp(xs), ys) / 2
        loss.backward()
        return loss
    micro = tc.compile(micro) if compiled else micro
    with ddp.no_sync():
        micro(x[: half // 2], y[: half // 2])
    micro(x[half // 2:], y[half // 2:])
    for (n, p), q in zip(model.named_parameters(), ref.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=TOL, atol=1e-6,
                                   err_msg=f"no_sync accumulation ({n})")


def check_compiled_forward(rank, world):
    """Only DDP's forward compiled, backward by the eager engine through the compiled
    backward graph (which holds the all-reduce): the whole batch's gradients too."""
    X, Y = batches()
    ref = mlp(0)
    F.cross_entropy(ref(X[0]), Y[0]).backward()
    model = mlp(0)
    forward = tc.compile(DDP(model))
    mine = slice(rank * (BATCH // world), (rank + 1) * (BATCH // world))
    for _ in range(2):                          # the second call runs the cached artifact
        model.zero_grad()
        F.cross_entropy(forward(X[0][mine]), Y[0][mine]).backward()
    for (n, p), q in zip(model.named_parameters(), ref.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=TOL, atol=1e-6,
                                   err_msg=f"compiled forward, eager backward ({n})")


def check_buffers(rank, world, compiled):
    """Buffers are rank 0's after wrapping and after every forward (broadcast_buffers)."""
    tc.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5))
    bn = model[1]
    bn.running_mean.fill_(float(rank))          # rank-specific until wrapped
    ddp = DDP(model)
    assert np.all(bn.running_mean.numpy() == 0.0), "buffers are not rank 0's after wrap"
    ddp.eval()
    forward = tc.compile(ddp) if compiled else ddp
    x = tc.randn(3, 4)
    with tc.no_grad():
        bn.running_var.fill_(1.0 + rank)        # drift on rank 1: the forward undoes it
        forward(x)
    assert np.all(bn.running_var.numpy() == 1.0), "buffers are not rank 0's after forward"


def main():
    compiled = sys.argv[1:] == ["compiled"]
    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    check_training(rank, world, compiled)
    check_no_sync(rank, world, compiled)
    check_buffers(rank, world, compiled)
    if compiled:
        check_compiled_forward(rank, world)
    dist.destroy_process_group()
    if rank == 0:
        print(f"train {'compiled' if compiled else 'eager'}: PASSED on {world} ranks")


if __name__ == "__main__":
    main()
