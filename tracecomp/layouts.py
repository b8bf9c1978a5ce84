"""torch.layout (torch.strided and the sparse layouts' names), Tensor.layout, and the
tensor-memory facts programs read or make: storage_offset() and empty_strided.

Every tracecomp tensor is strided (a numpy array); the sparse layouts are named so that
programs comparing `x.layout == torch.strided` or passing `layout=torch.strided` run, and
asking for a sparse one fails where it is asked for.
"""
import numpy as np

from . import dtypes
from .creation import _finish
from .devices import check_placement
from .named_constants import NamedConstant
from .ops.public import public
from .tensor import Tensor


class layout(NamedConstant):
    """One of torch's layouts (torch.strided, torch.sparse_coo, ...)."""

    __slots__ = ()


LAYOUTS = {name: layout(name) for name in ("strided", "sparse_coo", "sparse_csr", "sparse_csc",
                                           "sparse_bsr", "sparse_bsc", "jagged", "_mkldnn")}
strided = LAYOUTS["strided"]


def tensor_layout(x):
    """Tensor.layout: every tracecomp tensor is strided."""
    return strided


def storage_root(data):
    """The numpy array whose memory data is a view of (data itself when it owns it)."""
    while isinstance(data.base, np.ndarray):
        data = data.base
    return data


@public("Tensor")
def storage_offset(input):  # noqa: A002
    """How many elements into its storage the tensor's first element lies (0 unless it is
    a view into another tensor's memory)."""
    data = input._data
    if type(data) is not np.ndarray:
        return 0
    root = storage_root(data)
    return (data.__array_interface__["data"][0] - root.__array_interface__["data"][0]) \
        // data.itemsize


@public("torch")
def empty_strided(size, stride, *, dtype=None, layout=None, device=None, requires_grad=False,
                  pin_memory=False):
    """An uninitialized tensor of `size` whose elements lie `stride` elements apart (zeros
    here), in storage just large enough for them."""
    check_placement(device)
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    if len(size) != len(stride):
        raise RuntimeError(f"dimensionality of sizes ({len(size)}) must match dimensionality "
                           f"of strides ({len(stride)})")
    np_dtype = dtypes.to_np(dtype) or dtypes.default_float()
    extent = 1 + sum((n - 1) * s for n, s in zip(size, stride)) if all(size) else 0
    storage = np.zeros(max(extent, 0), dtype=np_dtype)
    data = np.lib.stride_tricks.as_strided(storage, size,
                                           tuple(s * storage.itemsize for s in stride))
    return _finish(Tensor._make(data), requires_grad)


@public("Tensor")
def new_empty_strided(input, size, stride, *, dtype=None, layout=None, device=None,  # noqa: A002
                      requires_grad=False, pin_memory=False):
    """empty_strided in input's dtype (unless given)."""
    return empty_strided(size, stride, dtype=dtype or input.dtype, device=device,
                         requires_grad=requires_grad)
