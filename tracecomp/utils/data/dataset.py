"""Datasets, as torch.utils.data: Dataset and IterableDataset (the two kinds a DataLoader
reads), TensorDataset, StackDataset, ConcatDataset, ChainDataset, Subset and random_split.

A map-style dataset is anything with `__getitem__(i)` and `__len__()` (and optionally
`__getitems__(indices)`, which the DataLoader prefers for a whole batch); an iterable one
has `__iter__()`. These classes only compose indices or streams, they never copy the data.
The classes are Generic, as torch's, so `class Pairs(Dataset[tuple[Tensor, int]])` works.
"""
import bisect
import itertools
import math
import warnings
from typing import Generic, Iterable, TypeVar  # noqa: UP035 - torch subclasses typing.Iterable

from ...creation import default_generator, randperm
from ...errors import DataError, ShapeError
from ...user_code import user_stacklevel

_T_co = TypeVar("_T_co", covariant=True)


class SizeMismatchError(ShapeError, AssertionError):
    """TensorDataset's error: an AssertionError as torch raises, and our ShapeError."""


class DatasetAssertionError(DataError, AssertionError):
    """An AssertionError as torch raises for a misused dataset (and our DataError)."""


class Dataset(Generic[_T_co]):
    """Base class of map-style datasets: subclasses define __getitem__ (and usually
    __len__; optionally __getitems__ for a batch at once)."""

    def __getitem__(self, index):
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")

    def __add__(self, other):
        return ConcatDataset([self, other])


class IterableDataset(Dataset[_T_co], Iterable[_T_co]):
    """Base class of datasets that are a stream of samples: subclasses define __iter__.

    With num_workers > 0 every worker process iterates its own copy, so a dataset that
    should not repeat samples splits its stream with get_worker_info() (in __iter__ or in
    the DataLoader's worker_init_fn)."""

    def __add__(self, other):
        return ChainDataset([self, other])


class TensorDataset(Dataset):
    """Sample i is the tuple (t[i] for t in tensors); all tensors share their first dim."""

    def __init__(self, *tensors):
        if not tensors:
            raise IndexError("tuple index out of range (TensorDataset needs at least one "
                             "tensor)")
        n = tensors[0].size(0)
        if any(t.size(0) != n for t in tensors):
            sizes = ", ".join(str(t.size(0)) for t in tensors)
            raise SizeMismatchError(f"Size mismatch between tensors: TensorDataset needs the "
                                    f"same first dimension in every tensor, got sizes [{sizes}]")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return self.tensors[0].size(0)


def _check_items(items, indices):
    if len(items) != len(indices):
        raise ValueError(f"Nested dataset's output size mismatch. Expected {len(indices)}, "
                         f"got {len(items)}")
    return items


def _batch_of(dataset, indices):
    """dataset's samples at indices, through its __getitems__ when it has one."""
    if callable(getattr(dataset, "__getitems__", None)):
        return _check_items(dataset.__getitems__(indices), indices)
    return [dataset[i] for i in indices]


class StackDataset(Dataset):
    """Several datasets of one length side by side: sample i is the tuple (or, given as
    keywords, the dict) of their samples i."""

    def __init__(self, *args, **kwargs):
        if args and kwargs:
            raise ValueError("Supported either ``tuple``- (via ``args``) or``dict``- (via "
                             "``kwargs``) like input/output, but both types are given.")
        if not args and not kwargs:
            raise ValueError("At least one dataset should be passed")
        parts = list(args or kwargs.values())
        self._length = len(parts[0])
        if any(self._length != len(d) for d in parts):
            raise ValueError("Size mismatch between datasets")
        self.datasets = args or kwargs

    def __getitem__(self, index):
        if isinstance(self.datasets, dict):
            return {k: d[index] for k, d in self.datasets.items()}
        return tuple(d[index] for d in self.datasets)

    def __getitems__(self, indices):
        if isinstance(self.datasets, dict):
            columns = {k: _batch_of(d, indices) for k, d in self.datasets.items()}
            return [{k: col[j] for k, col in columns.items()} for j in range(len(indices))]
        columns = [_batch_of(d, indices) for d in self.datasets]
        return [tuple(col[j] for col in columns) for j in range(len(indices))]

    def __len__(self):
        return self._length


class ConcatDataset(Dataset):
    """Several map-style datasets one after the other; index i finds its dataset by
    bisection over cumulative_sizes."""

    @staticmethod
    def cumsum(sequence):
        return list(itertools.accumulate(len(e) for e in sequence))

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise DatasetAssertionError("datasets should not be an empty iterable")
        if any(isinstance(d, IterableDataset) for d in self.datasets):
            raise DatasetAssertionError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = self.cumsum(self.datasets)

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx):
        if idx < 0:
            if -idx > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            idx = len(self) + idx
        which = bisect.bisect_right(self.cumulative_sizes, idx)
        start = self.cumulative_sizes[which - 1] if which > 0 else 0
        return self.datasets[which][idx - start]

    @property
    def cummulative_sizes(self):
        warnings.warn("`cummulative_sizes` attribute is renamed to `cumulative_sizes`",
                      FutureWarning, stacklevel=user_stacklevel())
        return self.cumulative_sizes


class ChainDataset(IterableDataset):
    """Several iterable datasets one after the other, chained lazily."""

    def __init__(self, datasets):
        self.datasets = datasets

    def _parts(self):
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise DatasetAssertionError("ChainDataset only supports IterableDataset")
            yield d

    def __iter__(self):
        for d in self._parts():
            yield from d

    def __len__(self):
        return sum(len(d) for d in self._parts())


class Subset(Dataset):
    """The samples of `dataset` at `indices`, in that order."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = indices
        # torch's rule: the DataLoader fetches a Subset's batches through __getitems__, so
        # a subclass that changes __getitem__ alone would be silently bypassed
        if type(self).__getitem__ is not Subset.__getitem__ and \
                type(self).__getitems__ is Subset.__getitems__:
            raise NotImplementedError(
                f"{type(self).__name__} overrides __getitem__ but not __getitems__. When "
                f"subclassing Subset and overriding __getitem__, you must also override "
                f"__getitems__ to ensure DataLoader works correctly with your custom logic. "
                f"A simple implementation:\n\ndef __getitems__(self, indices):\n"
                f"    return [self.__getitem__(idx) for idx in indices]")

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __getitems__(self, indices):
        return _batch_of(self.dataset, [self.indices[i] for i in indices])

    def __len__(self):
        return len(self.indices)


def _fraction_lengths(n, fractions):
    """torch's rule: floor(n * f) each, then hand the remainder out one by one from the
    first split on (round-robin)."""
    lengths = []
    for i, frac in enumerate(fractions):
        if frac < 0 or frac > 1:
            raise ValueError(f"Fraction at index {i} is not between 0 and 1")
        lengths.append(math.floor(n * frac))
    for i in range(n - sum(lengths)):
        lengths[i % len(lengths)] += 1
    for i, length in enumerate(lengths):
        if length == 0:
            warnings.warn(f"Length of split at index {i} is 0. "
                          f"This might result in an empty dataset.", stacklevel=user_stacklevel())
    return lengths


def random_split(dataset, lengths, generator=default_generator):
    """Split into non-overlapping Subsets of the given lengths (ints, or fractions that sum
    to 1), from one random permutation drawn from `generator`."""
    lengths = list(lengths)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        lengths = _fraction_lengths(len(dataset), lengths)
    if sum(lengths) != len(dataset):
        raise ValueError(f"Sum of input lengths does not equal the length of the input dataset! "
                         f"(lengths {lengths} sum to {sum(lengths)}, dataset has {len(dataset)})")
    indices = randperm(sum(lengths), generator=generator).tolist()
    return [Subset(dataset, indices[end - n:end])
            for end, n in zip(itertools.accumulate(lengths), lengths)]
