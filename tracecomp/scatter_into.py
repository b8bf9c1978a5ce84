"""select_scatter, slice_scatter and diagonal_scatter: a copy of a tensor with one view of
it (a selected index, a slice, a diagonal) replaced by `src`, as torch's functional forms of
`x[i] = src` are (functionalized programs, torch.func code).

Each is one rule: numpy works out, from the shapes alone, which element of src lands where
(a map the shape of input: src's flat index, or -1 outside the view), and the result is
`where(inside, src.flatten()[map], input)`. Those are ops with gradients, and the map is a
constant, so eager, tape and compiled code compute it alike."""
import numpy as np

from .creation import tensor
from .grad_fn_names import renamed
from .ops import elementwise as ew
from .ops.public import public
from .tensor import Tensor, _wrap_dim


def _replaced(op, input, src, place, name):
    """input with the view `place(array)` (a numpy view of an array shaped like input)
    holding src's values."""
    if not isinstance(src, Tensor):
        raise TypeError(f"{op}(): argument 'src' (position 2) must be Tensor, not "
                        f"{type(src).__name__}")
    where_from = np.full(tuple(input.shape), -1, dtype=np.int64)
    view = place(where_from)
    if tuple(view.shape) != tuple(src.shape):
        raise RuntimeError(f"expected src to have a size equal to the slice of self. src size "
                           f"= {list(src.shape)}, slice size = {list(view.shape)}")
    view[...] = np.arange(src.numel()).reshape(view.shape)
    inside = tensor(where_from >= 0, device=input.device)
    picked = src.reshape(-1)[tensor(np.maximum(where_from, 0), device=input.device)]
    return renamed(ew.where(inside, picked, input), input, name)


@public("torch", "Tensor")
def select_scatter(input, src, dim, index):  # noqa: A002
    """input with input.select(dim, index) replaced by src."""
    d = _wrap_dim(dim, input.dim(), "select_scatter")
    return _replaced("select_scatter", input, src,
                     lambda a: np.moveaxis(a, d, 0)[index], "SelectScatterBackward0")


@public("torch", "Tensor")
def slice_scatter(input, src, dim=0, start=None, end=None, step=1):  # noqa: A002
    """input with its slice start:end:step along dim replaced by src."""
    d = _wrap_dim(dim, input.dim(), "slice_scatter")
    return _replaced("slice_scatter", input, src,
                     lambda a: a[(slice(None),) * d + (slice(start, end, step),)],
                     "SliceScatterBackward0")


@public("torch", "Tensor")
def diagonal_scatter(input, src, offset=0, dim1=0, dim2=1):  # noqa: A002
    """input with input.diagonal(offset, dim1, dim2) replaced by src (the diagonal last,
    as diagonal() puts it)."""
    d1 = _wrap_dim(dim1, input.dim(), "diagonal_scatter")
    d2 = _wrap_dim(dim2, input.dim(), "diagonal_scatter")

    def place(a):
        moved = np.moveaxis(a, (d1, d2), (-2, -1))
        rows, cols = moved.shape[-2:]
        length = max(0, min(rows + min(offset, 0), cols - max(offset, 0)))
        i = np.arange(length)
        return _Writable(moved, (..., i + max(-offset, 0), i + max(offset, 0)))
    return _replaced("diagonal_scatter", input, src, place, "DiagonalScatterBackward0")


class _Writable:
    """A fancy-indexed place in an array (a diagonal), written through: numpy's fancy
    indexing copies on read, so the write goes to array[key]."""

    def __init__(self, array, key):
        self.array, self.key = array, key
        self.shape = array[key].shape

    def __setitem__(self, _, values):
        self.array[self.key] = values
