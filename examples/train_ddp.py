"""Data-parallel training, torch.distributed-style: every process trains the same MLP on its
share of the 8x8 digits, and DistributedDataParallel averages the gradients every step.

    tracecomp run -n 2 examples/train_ddp.py             # two processes (mpiexec underneath)
    tracecomp run -n 2 examples/train_ddp.py --compile   # each process's step compiled whole
    python examples/train_ddp.py                          # one process: the same code

Only the imports name tracecomp: `init_process_group`, `DistributedSampler` and
`DistributedDataParallel` are torch's. With the same global batch, any number of processes
ends with the weights one process reaches (float rounding aside), in less time per epoch
when the machine has the cores. Rank 0 prints the loss per epoch, the test accuracy and the
throughput. Needs `pip install 'tracecomp[distributed,demo]'` (mpi4py, the mpich wheel's
mpiexec, scikit-learn's digits).
"""
import argparse
import time

import tracecomp as torch
import tracecomp.distributed as dist
import tracecomp.nn as nn
import tracecomp.nn.functional as F
from tracecomp.nn.parallel import DistributedDataParallel as DDP
from tracecomp.utils.data import DataLoader, TensorDataset
from tracecomp.utils.data.distributed import DistributedSampler


def digits():
    from sklearn.datasets import load_digits
    data = load_digits()
    images = torch.tensor(data.images, dtype=torch.float32).reshape(-1, 64) / 16.0
    return images, torch.tensor(data.target, dtype=torch.int64)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch", type=int, default=64, help="global batch (all ranks)")
    parser.add_argument("--compile", action="store_true", help="compile each training step")
    args = parser.parse_args()

    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)                    # the same initial weights on every rank (DDP
    images, labels = digits()               # broadcasts rank 0's anyway)
    train = TensorDataset(images[:1500], labels[:1500])
    sampler = DistributedSampler(train, num_replicas=world, rank=rank, shuffle=True, seed=0)
    loader = DataLoader(train, batch_size=args.batch // world, sampler=sampler)

    model = DDP(nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10)))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    if args.compile:
        step = torch.compile(step)

    start = time.perf_counter()
    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)
        total = torch.zeros(())
        for x, y in loader:
            total += step(x, y).detach()
        dist.all_reduce(total, op=dist.ReduceOp.AVG)
        if rank == 0:
            print(f"epoch {epoch + 1}: mean batch loss {total.item() / len(loader):.4f}")
    seconds = time.perf_counter() - start
    with torch.no_grad():
        accuracy = (model(images[1500:]).argmax(1) == labels[1500:]).float().mean().item()
    if rank == 0:
        samples = args.epochs * len(train)
        print(f"{world} process(es){' compiled' if args.compile else ''}: test accuracy "
              f"{accuracy:.1%}, {samples / seconds:,.0f} samples/s")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
