"""DistributedSampler (torch.utils.data.distributed): each rank's share of a dataset.

The partition is torch's, index for index, so a program moved between torch and tracecomp
(or ranks of a job that mix them) visits the same samples in the same order:
  1. the order: 0..n-1, or, with shuffle, torch.randperm(n) from a generator seeded with
     seed + epoch (set_epoch changes it every epoch, identically on every rank);
  2. the length: every rank gets ceil(n / replicas) indices, made up by repeating indices
     from the start of the order; with drop_last, floor(n / replicas), the tail dropped;
  3. the split: rank r takes every replicas-th index of the order, starting at r.

Step 1 needs torch's randperm numbers, not tracecomp's (whose generator is PCG64: other
samplers' orders are reproducible but not torch's). torch's CPU generator is MT19937 seeded
with the low 32 bits of the seed, and its randperm is a Fisher-Yates pass that swaps i with
i + (32-bit draw mod (n - i)). numpy's legacy RandomState is the same MT19937 with the same
seeding, and its full-range uint32 draws are the raw outputs, so `_torch_randperm` gives
torch's permutation exactly (tests compare it with torch for many n and seeds).
"""
import math

import numpy as np

from .sampler import Sampler


class DistributedSampler(Sampler):
    """The indices of `dataset` that rank `rank` of `num_replicas` visits this epoch."""

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0,
                 drop_last=False):
        if num_replicas is None or rank is None:
            from ... import distributed as dist
            if not dist.is_available():
                raise RuntimeError("Requires distributed package to be available")
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        n = len(dataset)
        if drop_last and n % num_replicas != 0:
            # drop the tail so that every rank gets the same number of samples
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas
        self.shuffle = shuffle
        self.seed = seed

    def __iter__(self):
        n = len(self.dataset)
        order = _torch_randperm(n, self.seed + self.epoch) if self.shuffle else list(range(n))
        if not self.drop_last:
            pad = self.total_size - len(order)
            if pad <= len(order):
                order += order[:pad]
            else:       # fewer samples than ranks: repeat the whole order
                order += (order * math.ceil(pad / len(order)))[:pad]
        else:
            order = order[:self.total_size]
        assert len(order) == self.total_size
        mine = order[self.rank:self.total_size:self.num_replicas]
        assert len(mine) == self.num_samples
        return iter(mine)

    def __len__(self):
        return self.num_samples

    def set_epoch(self, epoch):
        """Shuffle differently this epoch (call it on every rank before iterating)."""
        self.epoch = epoch


def _torch_randperm(n, seed):
    """torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()."""
    if n <= 1:
        return list(range(n))
    if n >= 2 ** 32 // 20:      # torch switches to 64-bit draws there
        raise NotImplementedError(f"DistributedSampler(shuffle=True) over {n} samples: torch's "
                                  f"permutation of more than {2 ** 32 // 20 - 1} is not "
                                  f"reproduced by tracecomp")
    draws = np.random.RandomState(seed % 2 ** 32).randint(0, 2 ** 32, size=n - 1,
                                                          dtype=np.uint32)
    offsets = (draws.astype(np.int64) % np.arange(n, 1, -1)).tolist()
    order = list(range(n))
    for i, z in enumerate(offsets):     # the swaps depend on each other: one at a time
        j = i + z
        order[i], order[j] = order[j], order[i]
    return order
