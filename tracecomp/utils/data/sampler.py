"""Samplers, as torch.utils.data: the order in which a DataLoader visits indices.

RandomSampler without a generator draws a fresh seed from the global generator at the
start of every epoch (torch does the same), so `tracecomp.manual_seed` makes shuffling
reproducible and every epoch still gets a new order. With a generator, it draws straight
from that generator, whose state advances from epoch to epoch. The draws are the ones
torch makes (randperm per pass, randint in chunks of 32, multinomial for weights), from
tracecomp's generator: orders are reproducible here, not equal to torch's numbers.
"""
import itertools
from typing import Generic, TypeVar

from ... import dtypes
from ...creation import Generator, as_tensor, empty, randint, randperm
from ...random import multinomial

_T_co = TypeVar("_T_co", covariant=True)


class Sampler(Generic[_T_co]):
    """Base class: subclasses define __iter__ (indices, or lists of indices for a batch
    sampler) and, usually, __len__."""

    def __iter__(self):
        raise NotImplementedError


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


def _positive_int(name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} should be a positive integer value, but got {name}={value}")


def _epoch_generator(generator):
    """`generator`, or (torch's rule) a new one seeded from the global generator."""
    if generator is not None:
        return generator
    seed = int(empty((), dtype=dtypes.int64).random_().item())
    return Generator().manual_seed(seed)


class RandomSampler(Sampler):
    """A random permutation per epoch (num_samples > len wraps into further permutations),
    or num_samples draws with replacement."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got "
                            f"replacement={replacement}")
        if not isinstance(self.num_samples, int) or self.num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got "
                             f"num_samples={self.num_samples}")

    @property
    def num_samples(self):
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        n = len(self.data_source)
        gen = _epoch_generator(self.generator)
        if self.replacement:
            # torch draws in chunks of 32, lazily: num_samples may be 1e10 (an "infinite"
            # loader), so the chunks are counted, never listed
            for _ in range(self.num_samples // 32):
                yield from randint(n, (32,), dtype=dtypes.int64, generator=gen).tolist()
            yield from randint(n, (self.num_samples % 32,), dtype=dtypes.int64,
                               generator=gen).tolist()
            return
        for _ in range(self.num_samples // n):
            yield from randperm(n, generator=gen).tolist()
        yield from randperm(n, generator=gen).tolist()[:self.num_samples % n]

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices, in a new random order every epoch (drawn from `generator`, or
    from the global generator)."""

    def __init__(self, indices, generator=None):
        self.indices = indices
        self.generator = generator

    def __iter__(self):
        for i in randperm(len(self.indices), generator=self.generator).tolist():
            yield self.indices[i]

    def __len__(self):
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """num_samples indices of `weights` (need not sum to 1), index i drawn with
    probability weights[i] / sum(weights); without replacement an index is drawn once."""

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        _positive_int("num_samples", num_samples)
        if not isinstance(replacement, bool):      # torch raises ValueError here, not TypeError
            raise ValueError(f"replacement should be a boolean value, but got "  # noqa: TRY004
                             f"replacement={replacement}")
        weights = as_tensor(weights, dtype=dtypes.float64)
        if weights.dim() != 1:
            raise ValueError(f"weights should be a 1d sequence but given weights have shape "
                             f"{tuple(weights.shape)}")
        self.weights = weights
        self.num_samples = num_samples
        self.replacement = replacement
        self.generator = generator

    def __iter__(self):
        drawn = multinomial(self.weights, self.num_samples, self.replacement,
                            generator=self.generator)
        yield from iter(drawn.tolist())

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    """Groups another sampler's (or any iterable's) indices into lists of batch_size, the
    last one shorter unless drop_last."""

    def __init__(self, sampler, batch_size, drop_last):
        _positive_int("batch_size", batch_size)
        if not isinstance(drop_last, bool):     # torch raises ValueError here, not TypeError
            raise ValueError(f"drop_last should be a boolean value, but got "  # noqa: TRY004
                             f"drop_last={drop_last}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self):
        it = iter(self.sampler)
        while batch := list(itertools.islice(it, self.batch_size)):
            if len(batch) < self.batch_size and self.drop_last:
                return
            yield batch

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
