"""tracecomp.utils.data: datasets, samplers and the DataLoader (torch.utils.data's API), plus
readers for the MNIST IDX format.

    dataset.py       Dataset, IterableDataset, TensorDataset, StackDataset, ConcatDataset,
                     ChainDataset, Subset, random_split
    sampler.py       Sampler, SequentialSampler, RandomSampler, SubsetRandomSampler,
                     WeightedRandomSampler, BatchSampler
    collate.py       default_collate, default_convert, collate (torch's extensible form)
    dataloader.py    DataLoader and its arguments
    iterators.py     the loader's iterator, single-process
    multiprocess.py  the loader's iterator with worker processes (how tasks are scheduled)
    worker.py        what runs in a worker; get_worker_info; tensors through mp queues
    fetch.py         index(es) -> samples -> batch (and the TensorDataset fast path)
    _utils/          torch.utils.data._utils's import paths (collate, worker, fetch)
    idx.py           the IDX (MNIST) file reader

    distributed.py   DistributedSampler: each rank's share of the indices (tracecomp.distributed)

Datapipes are deprecated in torch and not provided.
"""
from . import _utils  # noqa: F401 - torch.utils.data._utils.collate's import path
from .collate import default_collate, default_convert
from .dataloader import DataLoader
from .distributed import DistributedSampler
from .dataset import (
    ChainDataset,
    ConcatDataset,
    Dataset,
    IterableDataset,
    StackDataset,
    Subset,
    TensorDataset,
    random_split,
)
from .idx import load_mnist, read_idx
from .sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)
from .worker import get_worker_info

__all__ = ["BatchSampler", "ChainDataset", "ConcatDataset", "DataLoader", "Dataset",
           "IterableDataset", "RandomSampler", "Sampler", "SequentialSampler", "StackDataset",
           "Subset", "SubsetRandomSampler", "TensorDataset", "WeightedRandomSampler",
           "default_collate", "default_convert", "get_worker_info", "load_mnist",
           "random_split", "read_idx"]

# a torch name we lack raises NotImplementedError naming it (support.py)
from ...support import missing_in as _missing_in  # noqa: E402

__getattr__ = _missing_in("torch.utils.data")
