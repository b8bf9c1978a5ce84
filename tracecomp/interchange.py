"""Tensors over memory that other code owns: torch.frombuffer (any object with the buffer
protocol) and DLPack (torch.from_dlpack / to_dlpack, Tensor.__dlpack__), through numpy's
own support for both, so the memory is shared, not copied: a write through the tensor is
seen by the buffer's owner and the other way round, as in torch.

One difference, said where it happens: a read-only buffer (bytes) becomes a copy, with
torch's warning; torch would let the tensor write into the immutable object. (A read-only
import of a non-contiguous DLPack tensor stays read-only.)
"""
import ctypes
import warnings

import numpy as np

from . import dtypes
from .ops.public import public
from .tensor import Tensor
from .user_code import user_stacklevel

_NOT_WRITABLE = ("The given buffer is not writable, and PyTorch does not support non-writable "
                 "tensors. This means you can write to the underlying (supposedly "
                 "non-writable) buffer using the tensor. You may want to copy the buffer to "
                 "protect its data or make it writable before converting it to a tensor. "
                 "(tracecomp copies a non-writable buffer instead.)")


@public("torch")
def frombuffer(buffer, *, dtype, count=-1, offset=0, requires_grad=False):
    """A 1-D tensor of `count` elements of `dtype` (all that fit when -1) read from
    `buffer` at byte `offset`, sharing its memory."""
    np_dtype = np.dtype(dtypes.to_np(dtype))
    view = memoryview(buffer)
    length = view.nbytes
    size = np_dtype.itemsize
    if length <= 0 or count == 0:
        raise ValueError(f"both buffer length ({length}) and count ({count}) must not be 0")
    if not 0 <= offset < length:
        raise ValueError(f"offset ({offset} bytes) must be non-negative and no greater than "
                         f"buffer length ({length} bytes) minus 1")
    if count < 0:
        if (length - offset) % size:
            raise ValueError(f"buffer length ({length - offset} bytes) after offset "
                             f"({offset} bytes) must be a multiple of element size ({size})")
        count = (length - offset) // size
    elif offset + count * size > length:
        raise ValueError(f"requested buffer length ({count} * {size} bytes) after offset "
                         f"({offset} bytes) must not be greater than actual buffer length "
                         f"({length} bytes)")
    data = np.frombuffer(view.cast("B"), dtype=np_dtype, count=count, offset=offset)
    if not data.flags.writeable:
        warnings.warn(_NOT_WRITABLE, UserWarning, stacklevel=user_stacklevel())
        data = data.copy()
    out = Tensor._make(data)
    return out.requires_grad_() if requires_grad else out


class _Capsule:
    """A DLPack capsule (what to_dlpack returns) presented as numpy's from_dlpack wants it."""

    def __init__(self, capsule):
        self.capsule = capsule

    def __dlpack__(self, **_):
        return self.capsule

    def __dlpack_device__(self):
        return (1, 0)           # kDLCPU, device 0: the only memory a capsule here holds


@public("torch")
def from_dlpack(ext_tensor, *, device=None, copy=None):
    """A tensor over the memory of any object that speaks DLPack (a numpy array, a torch
    tensor, a capsule from to_dlpack), shared unless copy=True."""
    if device is not None and str(device) != "cpu":
        raise RuntimeError(f"from_dlpack: tracecomp reads DLPack tensors on the CPU only, "
                           f"not on {device}")
    source = ext_tensor if hasattr(ext_tensor, "__dlpack__") else _Capsule(ext_tensor)
    try:
        data = np.from_dlpack(source, copy=copy)
    except (TypeError, ValueError, BufferError, RuntimeError) as exc:
        raise RuntimeError(f"from_dlpack received an invalid capsule or object ({exc}). Note "
                           f"that DLTensor capsules can be consumed only once, so you might "
                           f"have already constructed a tensor from it once.") from exc
    return Tensor._make(_writable(data))


def _writable(data):
    """numpy marks arrays read from an unversioned DLPack capsule read-only (that version
    of the protocol cannot say); torch writes through them. So a read-only contiguous import
    is re-viewed writable over the same memory, the import kept alive by the view."""
    if data.flags.writeable or not data.flags.c_contiguous or data.size == 0:
        return data
    memory = (ctypes.c_byte * data.nbytes).from_address(data.ctypes.data)
    memory.owner = data
    return np.frombuffer(memory, dtype=data.dtype).reshape(data.shape)


@public("torch")
def to_dlpack(tensor):
    """A DLPack capsule over the tensor's memory (consumed once by a from_dlpack); torch's
    exports a tensor that requires grad too (its values), where __dlpack__ refuses it."""
    return _capsule(tensor)


@public("Tensor")
def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):  # noqa: N807
    if self.requires_grad:
        raise BufferError("Can't export tensors that require gradient, use tensor.detach()")
    return _capsule(self, max_version)


def _capsule(self, max_version=None):
    if not isinstance(self._data, np.ndarray):
        raise BufferError("__dlpack__: tracecomp exports CPU tensors with values only (not "
                          "traced or device tensors)")
    kwargs = {} if max_version is None else {"max_version": max_version}
    return self._data.__dlpack__(**kwargs)


@public("Tensor")
def __dlpack_device__(self):  # noqa: N807
    return (1, 0)
