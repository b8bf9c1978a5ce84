"""x.reshape(shape) of a non-contiguous x, as torch records it on the tape, and x.view(shape),
which torch refuses where the strides allow no view.

torch's reshape is a view when x's strides allow one and a copy otherwise, and its graph
says which: ReshapeAliasBackward0 for the view; UnsafeViewBackward0 over CloneBackward0 for
the copy (x.T.reshape(-1), x.T.flatten()). Our reshape primitive copies inside numpy when
it must, which the tape cannot see, so here the copy is made first, as its own `copy`
primitive (torch's CloneBackward0): the same one copy, and torch's two nodes.
composite.reshape sends only a non-contiguous x that requires grad here.

x.view(shape) must share x's memory: where numpy would copy, a write through the result
would not reach x, so it is torch's error instead (eagerly; traced values have no strides).
"""
import numpy as np

from . import dtypes
from .device_array import DeviceArray
from .errors import TraceError
from .grad_fn_names import renamed
from .ops import elementwise as ew
from .ops import movement as mv
from .tensor import Tensor
from .torch_args import int_sizes


def view(x, *shape):
    if len(shape) == 1 and not isinstance(shape[0], (tuple, list, int, np.integer, float,
                                                     Tensor)):
        return _reinterpreted(x, shape[0])        # x.view(dtype)
    shape = int_sizes("view", shape)
    data = x._data
    # (a contiguous array always views: the common call pays nothing more than reshape)
    if type(data) is np.ndarray and not data.flags.c_contiguous:
        wanted = mv.infer_shape("view", x.shape, shape)
        if not _viewable(data, wanted):
            raise RuntimeError(
                f"view size is not compatible with input tensor's size and stride (at least "
                f"one dimension spans across two contiguous subspaces): a tensor of shape "
                f"{list(x.shape)} and strides {list(x.stride())} viewed as {list(wanted)}. "
                f"Use .reshape(...) instead.")
    return mv.reshape(x, shape)


def _viewable(data, shape):
    """Whether numpy reshapes `data` to `shape` without a copy (its strides allow it)."""
    try:
        data.reshape(shape, copy=False)
    except ValueError:
        return False
    return True


def reshape_strided(x, shape):
    shape = mv.infer_shape("reshape", x.shape, shape)
    if tuple(x.shape) == shape:
        return mv.reshape(x, shape)     # x itself, as every same-shape reshape here
    if not _viewable(x._data, shape):   # no view: numpy would copy
        copy = ew.clone(x)
        return renamed(mv.reshape(copy, shape), copy, "UnsafeViewBackward0")
    return renamed(mv.reshape(x, shape), x, "ReshapeAliasBackward0")


def _reinterpreted(x, dtype):
    """x.view(dtype): x's bytes read as another dtype (torch's; a cast would change the
    values: 1.0 viewed as int32 is 1065353216), sharing x's memory and version counter."""
    want = dtypes.to_np(dtype)
    data = x._data
    if want == data.dtype and type(data) is not np.ndarray:
        return x    # a traced value: nothing to reinterpret (torch's is a new tensor, below)
    name = f"view({dtypes.from_np(want).name})"
    if type(data) is not np.ndarray:
        if isinstance(data, DeviceArray):
            raise RuntimeError(f"{name}: tracecomp reinterprets the bytes of CPU tensors only "
                               f"(this one is on {x.device}); view a .cpu() copy")
        raise TraceError(f"{name}: compiled code cannot read a tensor's bytes as another "
                         f"dtype (a {x.dtype.name} tensor of shape {list(x.shape)}); do it "
                         f"outside the compiled function")
    if want.itemsize != data.itemsize and (data.ndim == 0 or data.strides[-1] != data.itemsize):
        raise RuntimeError(f"self.stride(-1) must be 1 to view {x.dtype.name} as "
                           f"{dtypes.from_np(want).name} (different element sizes), but got "
                           f"{data.strides[-1] // data.itemsize if data.ndim else 0}")
    if want.itemsize != data.itemsize and data.shape[-1] * data.itemsize % want.itemsize:
        raise RuntimeError(f"{name}: the last dim of a tensor of shape {list(x.shape)} "
                           f"({data.shape[-1] * data.itemsize} bytes) is not a multiple of "
                           f"{want.itemsize} bytes")
    return Tensor._make(data.view(want), False, None, x._vc)
