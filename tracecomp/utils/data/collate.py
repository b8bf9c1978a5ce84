"""default_collate and default_convert, as torch.utils.data: turn a list of samples into
one batch.

Tensors are stacked; numpy arrays become tensors and are stacked; Python floats become a
float64 tensor and ints an int64 tensor (bools a bool tensor), as in torch; strings are
returned as the sequence they came in; dicts collate per key; sequences are transposed and
collated per position (a tuple sample gives a *list* of collated fields, as torch does for
backwards compatibility).
"""
import collections.abc
import copy

import numpy as np

from ... import composite
from ...creation import as_tensor, tensor
from ...dtypes import F64
from ...tensor import Tensor

_ERR = "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; " \
       "found {}"


def _is_numpy(elem):
    return type(elem).__module__ == "numpy" and not isinstance(elem, (np.str_, np.bytes_))


def _like(mapping, values):
    """`values` (a dict) in the mapping type of `mapping` where it can be rebuilt."""
    if isinstance(mapping, collections.abc.MutableMapping):
        clone = copy.copy(mapping)                      # keeps OrderedDict, defaultdict, ...
        clone.update(values)
        return clone
    try:
        return type(mapping)(values)
    except TypeError:
        return values


def default_collate(batch):
    """Stack a list of samples into a batch (see the module docstring for the rules)."""
    elem = batch[0]
    if isinstance(elem, Tensor):
        return composite.stack(batch, 0)
    if _is_numpy(elem):
        if elem.dtype.kind in "OSUV":
            raise TypeError(_ERR.format(elem.dtype))
        if isinstance(elem, np.ndarray):
            return default_collate([as_tensor(b) for b in batch])
        return as_tensor(np.array(batch))               # numpy scalars keep their dtype
    if isinstance(elem, float):
        return tensor(batch, dtype=F64)
    if isinstance(elem, int):                           # bool is an int: a bool tensor
        return tensor(batch)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        return _like(elem, {key: default_collate([d[key] for d in batch]) for key in elem})
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):       # namedtuple
        return type(elem)(*(default_collate(s) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        if any(len(b) != len(elem) for b in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        fields = [default_collate(s) for s in zip(*batch)]
        if isinstance(elem, tuple):
            return fields
        try:
            return type(elem)(fields)
        except TypeError:
            return fields
    raise TypeError(_ERR.format(type(elem)))


def default_convert(data):
    """What DataLoader(batch_size=None) applies to each sample: numpy arrays become
    tensors, containers are converted element by element, everything else is kept."""
    if isinstance(data, np.ndarray) and data.dtype.kind not in "OSUV":
        return as_tensor(data)
    if isinstance(data, np.generic) and _is_numpy(data):
        return as_tensor(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        return _like(data, {k: default_convert(v) for k, v in data.items()})
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, (list, tuple)):
        return type(data)(default_convert(d) for d in data)
    return data
