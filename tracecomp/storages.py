"""Tensor.untyped_storage() and Tensor.storage(): the memory block a tensor views, as torch's
UntypedStorage (bytes) and deprecated TypedStorage (elements of the tensor's dtype), and
torch.is_storage. They read the numpy array the tensor's memory belongs to, so two views
of one tensor report one storage (same data_ptr, same size) and writes through a storage
reach the tensors. What they offer is what programs ask of a storage: its address, size,
device, element access and tolist; resizing and sharing a storage are not supported, and
say so.
"""
import warnings

import numpy as np

from .devices import device as _device
from .dtypes import from_np
from .layouts import storage_root
from .ops.public import public
from .user_code import user_stacklevel

_DEPRECATED = ("TypedStorage is deprecated. It will be removed in the future and "
               "UntypedStorage will be the only storage class. This should only matter to "
               "you if you are using storages directly.  To access UntypedStorage directly, "
               "use tensor.untyped_storage() instead of tensor.storage()")


def _memory(x):
    if not isinstance(x._data, np.ndarray):
        raise RuntimeError(f"storage: tracecomp has storages for CPU tensors with values only "
                           f"(this one is {'traced' if x.device.type == 'cpu' else x.device})")
    root = storage_root(x._data)
    if not (root.flags.c_contiguous or root.flags.f_contiguous):
        raise RuntimeError("storage: this tensor's memory is not one dense block")
    return root.ravel(order="K")


class UntypedStorage:
    """The bytes of a memory block (torch.UntypedStorage)."""

    def __init__(self, size=0, *, device=None):
        self._array = size if isinstance(size, np.ndarray) else np.zeros(int(size), np.uint8)
        self._bytes = self._array.view(np.uint8).reshape(-1)

    def data_ptr(self):
        return self._array.ctypes.data

    def nbytes(self):
        return self._bytes.size

    size = nbytes
    __len__ = nbytes

    def element_size(self):
        return 1

    @property
    def device(self):
        return _device("cpu")

    def __getitem__(self, index):
        return self._bytes[index].tolist()

    def __setitem__(self, index, value):
        self._bytes[index] = value

    def tolist(self):
        return self._bytes.tolist()

    def is_shared(self):
        return False

    def is_pinned(self, device="cuda"):
        return False

    def __repr__(self):
        values = "".join(f" {b}\n" for b in self._bytes.tolist())
        return f"{values}[torch.storage.UntypedStorage(device=cpu) of size {self.nbytes()}]"


class TypedStorage:
    """The elements of a memory block in one dtype (torch.TypedStorage, deprecated)."""

    def __init__(self, array):
        self._array = array

    @property
    def dtype(self):
        return from_np(self._array.dtype)

    def size(self):
        return self._array.size

    __len__ = size

    def element_size(self):
        return self._array.itemsize

    def nbytes(self):
        return self._array.nbytes

    def data_ptr(self):
        return self._array.ctypes.data

    @property
    def device(self):
        return _device("cpu")

    def __getitem__(self, index):
        return self._array[index].tolist()

    def __setitem__(self, index, value):
        self._array[index] = value

    def tolist(self):
        return self._array.tolist()

    def untyped(self):
        return UntypedStorage(self._array)

    def __repr__(self):
        values = "".join(f" {v}\n" for v in self._array.tolist())
        return (f"{values}[torch.storage.TypedStorage(dtype={self.dtype}, device=cpu) of size "
                f"{self.size()}]")


@public("Tensor")
def untyped_storage(self):
    return UntypedStorage(_memory(self))


_WARNED = []


@public("Tensor")
def storage(self):
    if not _WARNED:             # once per process, as torch's
        _WARNED.append(True)
        warnings.warn(_DEPRECATED, UserWarning, stacklevel=user_stacklevel())
    return TypedStorage(_memory(self))


@public("torch")
def is_storage(obj):
    return isinstance(obj, (UntypedStorage, TypedStorage))

