"""What an index key means, by torch's rules: `entries(key)` reads `x[key]`'s key into one
entry per position.

An entry is one of
  int          select one position (drops the dim): Python and numpy ints, 0-d int tensors
               and 0-d int arrays (torch selects with those: the result is a view)
  slice        as given; its bounds (ints, numpy ints, 0-d int tensors) are read by
               `slice.indices`, through __index__
  None         a new dim of size 1
  Ellipsis
  Tensor       an advanced index: int64 positions, or a bool mask; lists, tuples, ranges and
               numpy arrays inside a key become one (`x[range(3)]`, `x[[0, 2], (1, 1)]`),
               and a uint8 tensor is a mask, as in torch (which warns that it is deprecated)
  BoolIndex    a Python bool, or a 0-d bool/uint8 tensor: a new dim of size 1 indexed by
               [0] (True) or by nothing (False), so x[True] has shape [1, *x.shape]

A key is a tuple of entries, or one entry; a list shorter than 32 holding a tensor, a
sequence, a slice, None or Ellipsis is read as a tuple (numpy's old rule, which torch keeps
with a deprecation warning). Anything else is torch's IndexError.
"""
import operator
import warnings

import numpy as np

from . import dtypes
from .dtypes import np_kind
from .tensor import Tensor
from .user_code import user_stacklevel

_INVALID = ("only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables "
            "are valid indices (got {})")
_BAD_DTYPE = "tensors used as indices must be long, int, byte or bool tensors"
_SEQUENCES = (list, tuple, range, np.ndarray)


class BoolIndex:
    """A Python bool (or 0-d bool tensor) in a key: a new dim, taken whole or not at all."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = bool(value)

    def positions(self):
        """The int64 index of the new size-1 dim: [0] when True, [] when False."""
        return Tensor._make(np.zeros(1 if self.value else 0, np.int64))


def entries(key):
    """The entries of `key`, one per position, as described above."""
    if type(key) is tuple:
        items = key
    elif type(key) is list and _list_as_tuple(key):
        warnings.warn("Using a non-tuple sequence for multidimensional indexing is deprecated "
                      "(torch warns too); use x[tuple(seq)] instead of x[seq]", UserWarning,
                      stacklevel=user_stacklevel())
        items = tuple(key)
    else:
        items = (key,)
    return [_entry(k) for k in items]


def _list_as_tuple(key):
    return len(key) < 32 and any(isinstance(k, (Tensor, slice) + _SEQUENCES) or k is None or
                                 k is Ellipsis for k in key)


def _entry(k):
    kind = type(k)
    if kind is int or kind is slice or k is None or k is Ellipsis:
        return k
    if kind is bool:
        return BoolIndex(k)
    if isinstance(k, Tensor):
        return _tensor_entry(k)
    if isinstance(k, np.integer):
        return int(k)
    if isinstance(k, _SEQUENCES):
        return _tensor_entry(_sequence_tensor(k))
    if hasattr(kind, "__index__"):      # a number standing in for an int while tracing
        return operator.index(k)
    name = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"
    raise IndexError(_INVALID.format(name))


def _sequence_tensor(k):
    """A list, tuple, range or numpy array as an index tensor (torch.tensor(k))."""
    if isinstance(k, np.ndarray):
        arr = k
    else:
        try:
            arr = np.asarray(k)
        except ValueError as exc:     # ragged lists
            raise IndexError(f"{_BAD_DTYPE}; the sequence {k!r} is not one ({exc})") from None
    if arr.size == 0 and np_kind(arr.dtype) == "f":
        arr = arr.astype(np.int64)    # [] holds no floats: an empty position list
    if np_kind(arr.dtype) not in "iub":
        raise IndexError(f"{_BAD_DTYPE}; got a sequence of {arr.dtype}")
    if np_kind(arr.dtype) != "b" and arr.dtype != np.uint8:
        arr = arr.astype(np.int64, copy=False)
    return Tensor._make(arr)


def _tensor_entry(t):
    data = t._data
    kind = np_kind(np.dtype(data.dtype))
    if kind not in "iub":
        raise IndexError(f"{_BAD_DTYPE}; got {t.dtype}")
    byte = data.dtype == dtypes.from_np(np.uint8).np
    if byte:
        warnings.warn("indexing with dtype torch.uint8 is now deprecated, please use a dtype "
                      "torch.bool instead.", UserWarning, stacklevel=user_stacklevel())
    if type(data) is np.ndarray and data.ndim == 0:
        if kind == "b" or byte:
            return BoolIndex(data)
        return int(data)
    if byte:
        return t != 0
    return t
