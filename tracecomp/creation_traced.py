"""tensor() of a nested list holding tensors with graph values: the traced code's own numbers
(CyclicGroup.matrix_representation's `torch.tensor([[cos_t, -sin_t], [sin_t, cos_t]])` of
0-d tensors, uvadlc's group convolutions), which exist only when the graph runs. Built as
graph ops instead of read as numbers (a graph break): each one-element tensor detached (a
copy of its value, as torch.tensor takes it) and stacked level by level with the list's
numbers, in the dtype creation.tensor infers eagerly."""
import numpy as np

from . import context, dtypes
from .dispatch import bind
from .ops.registry import PRIMITIVES
from .tensor import Tensor


def holds_traced(data) -> bool:
    """Whether a (nested) list or tuple holds a tensor with a graph value."""
    return any(isinstance(d, Tensor) and not isinstance(d._data, np.ndarray) or
               isinstance(d, (list, tuple)) and holds_traced(d) for d in data)


def stacked(data, np_dtype) -> Tensor:
    """The tensor of nested list `data` in numpy dtype np_dtype, as graph ops."""
    items = []
    for d in data:
        if isinstance(d, (list, tuple)):
            items.append(stacked(d, np_dtype))
        elif isinstance(d, Tensor):
            if d.numel() != 1:      # torch's error: a tensor in a list is one number
                raise ValueError("only one element tensors can be converted to Python scalars")
            items.append(d.detach().reshape(()).to(dtypes.from_np(np_dtype)))
        else:       # a number: a constant the traced code made, as tensor() marks one
            number = Tensor._make(np.array(d, dtype=np_dtype))
            context.current().made(number, d)
            items.append(number)
    # stacked as one concat of (1, ...) views, by the primitive's name: composite's stack
    # would import composite (and with it creation) from creation
    return bind(PRIMITIVES["concat"], *(x.reshape((1, *x.shape)) for x in items), dim=0)
