"""Run by test_sync_batchnorm.py in 2 ranks: a conv -> SyncBatchNorm -> conv model, each rank
on half of every batch, against one process running the same model with BatchNorm on the
whole batch (every rank computes that reference itself). Outputs, input gradients and
the running statistics must agree to float32 rounding, and the parameter gradients once
summed over the ranks (the loss is a sum over the batch), for 3 SGD steps, eagerly or
through tracecomp.compile(model). Rank 0 prints PASSED at the end."""
import sys

import numpy as np

import tracecomp as tc
import tracecomp.distributed as dist

mode = sys.argv[1]
dist.init_process_group("mpi")
rank, size = dist.get_rank(), dist.get_world_size()


def build():
    tc.manual_seed(0)
    return tc.nn.Sequential(tc.nn.Conv2d(3, 4, 3, padding=1), tc.nn.BatchNorm2d(4),
                            tc.nn.ReLU(), tc.nn.Conv2d(4, 2, 1))


def close(a, b, what, tol=2e-5, scale=1.0):
    """a matches b to tol relative to b's largest value (or `scale`, where b is rounding
    noise around zero: the bias before a batch norm has no gradient)."""
    a, b = np.asarray(a), np.asarray(b)
    err = np.abs(a - b).max() / max(scale, np.abs(b).max())
    assert err < tol, f"rank {rank} {what}: relative error {err:.2e}"


reference = build()
synced = tc.nn.SyncBatchNorm.convert_sync_batchnorm(build())
assert isinstance(synced[1], tc.nn.SyncBatchNorm)
run = tc.compile(synced) if mode == "compiled" else synced
opt_ref = tc.optim.SGD(reference.parameters(), lr=0.1)
opt = tc.optim.SGD(synced.parameters(), lr=0.1)
rng = np.random.default_rng(7)
for step in range(3):
    whole = rng.standard_normal((4 * size, 3, 6, 5)).astype(np.float32)
    share = whole[4 * rank:4 * (rank + 1)]
    x_ref = tc.tensor(whole, requires_grad=True)
    x = tc.tensor(share, requires_grad=True)
    out_ref, out = reference(x_ref), run(x)
    close(out.detach().numpy(), out_ref.detach().numpy()[4 * rank:4 * (rank + 1)],
          f"step {step} output")
    loss_ref, loss = (out_ref ** 2).sum(), (out ** 2).sum()
    for o in (opt_ref, opt):
        o.zero_grad()
    loss_ref.backward()
    loss.backward()
    close(x.grad.numpy(), x_ref.grad.numpy()[4 * rank:4 * (rank + 1)], f"step {step} input grad")
    scale = max(np.abs(p.grad.numpy()).max() for p in reference.parameters())
    for (name, p), p_ref in zip(synced.named_parameters(), reference.parameters()):
        dist.all_reduce(p.grad)
        close(p.grad.numpy(), p_ref.grad.numpy(), f"step {step} grad of {name}", scale=scale)
    opt_ref.step()
    opt.step()
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        close(getattr(synced[1], name).numpy(), getattr(reference[1], name).numpy(),
              f"step {step} {name}")
synced.eval()
reference.eval()
close(synced(x).detach().numpy(), reference(x).detach().numpy(), "eval output")
dist.barrier()
if rank == 0:
    print(f"sync batchnorm {mode}: PASSED on {size} ranks")
