"""torch.tril_indices and triu_indices: the coordinates of a matrix's lower or upper
triangle, as a (2, N) integer tensor, row by row."""
import numpy as np

from . import dtypes
from .creation import placing
from .devices import check_placement
from .dtypes import np_kind
from .tensor import Tensor


def _triangle_indices(op, np_fn, row, col, offset, dtype, device):
    check_placement(device)
    d = dtypes.to_np(dtype) or dtypes.I64
    if np_kind(d) not in "iu":
        raise NotImplementedError(f'"{op}" not implemented for \'{dtypes.TORCH_NAMES[d]}\'')
    if row < 0 or col < 0:
        which = "row" if row < 0 else "col"
        raise RuntimeError(f"{which} must be non-negative, got{row if row < 0 else col}")
    rows, cols = np_fn(int(row), int(offset), int(col))
    return Tensor._make(np.stack([rows, cols]).astype(d).reshape(2, -1))


@placing
def tril_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    """The (2, N) coordinates of the lower triangle of a row x col matrix, row by row."""
    return _triangle_indices("tril_indices", np.tril_indices, row, col, offset, dtype, device)


@placing
def triu_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    return _triangle_indices("triu_indices", np.triu_indices, row, col, offset, dtype, device)
