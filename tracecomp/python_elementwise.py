"""Tensor.apply_, map_ and map2_: a Python function called on every element (and, for map_
and map2_, the matching elements of other tensors broadcast to this one's shape), its
results written into the tensor in its dtype, as torch's CPU-only methods of old code do.
Eager only: the function is Python, so compiled code cannot run it (a graph break)."""
import numpy as np

from . import inplace
from .errors import TraceError
from .ops.public import public
from .tensor import Tensor
from .user_code import user_line


def _checked(x, op):
    if type(x._data) is not np.ndarray:
        raise TraceError(f"x.{op}(fn) inside compiled code{user_line()}: it calls a Python "
                         f"function on each element, which a compiled graph cannot hold. "
                         f"Use tensor ops, or call it outside the compiled function.")
    if x.requires_grad:
        raise RuntimeError(f"Can't call {op}() on Variable that requires grad. Use "
                           f"var.detach().{op}() instead.")


def _written(x, values, op):
    return inplace.commit(x, Tensor._make(values.astype(x._data.dtype, copy=False)), op)


@public("Tensor")
def apply_(self, callable):  # noqa: A002 - torch's name
    """Every element replaced by callable(element)."""
    _checked(self, "apply_")
    return _written(self, np.vectorize(callable, otypes=[self._data.dtype])(self._data),
                    "apply_")


@public("Tensor")
def map_(self, tensor, callable):  # noqa: A002 - torch's name
    """Every element replaced by callable(element, tensor's element), tensor broadcast to
    this one's shape."""
    _checked(self, "map_")
    other = tensor.detach().expand(tuple(self.shape))._data
    return _written(self, np.vectorize(callable, otypes=[self._data.dtype])(self._data, other),
                    "map_")


@public("Tensor")
def map2_(self, x, y, callable):  # noqa: A002 - torch's name
    """Every element replaced by callable(element, x's element, y's element), x and y
    broadcast to this one's shape."""
    _checked(self, "map2_")
    shape = tuple(self.shape)
    return _written(self, np.vectorize(callable, otypes=[self._data.dtype])(
        self._data, x.detach().expand(shape)._data, y.detach().expand(shape)._data), "map2_")
