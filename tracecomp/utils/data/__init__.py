"""tracecomp.utils.data: datasets, samplers and the DataLoader (torch.utils.data's API), plus
readers for the MNIST IDX format."""
from .collate import default_collate, default_convert
from .dataloader import DataLoader
from .dataset import ConcatDataset, Dataset, Subset, TensorDataset, random_split
from .idx import load_mnist, read_idx
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler

__all__ = ["BatchSampler", "ConcatDataset", "DataLoader", "Dataset", "RandomSampler",
           "Sampler", "SequentialSampler", "Subset", "SubsetRandomSampler", "TensorDataset",
           "default_collate", "default_convert", "load_mnist", "random_split", "read_idx"]

# a torch name we lack raises NotImplementedError naming it (support.py)
from ...support import missing_in as _missing_in  # noqa: E402

__getattr__ = _missing_in("torch.utils.data")
