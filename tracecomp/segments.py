"""torch.segment_reduce: reduce consecutive segments of data along axis 0, their lengths
given by `lengths` (or their bounds by `offsets`), with sum, prod, mean, max or min.

Each position's segment number is spread from the lengths (numpy: the output's size
depends on them, so they must be values, not traced), and the reduction is one
scatter_reduce into a (segments, ...) result that starts at `initial` (or the reduction's
identity), whose gradients are torch's SegmentReduceBackward0's: ties of a max or min share
the gradient, a product's zeros are handled. mean divides the sum (plus `initial`) by the
segment's length; an empty segment gives `initial`, or NaN for mean, -inf / inf for max /
min, 1 for prod and 0 for sum, as torch's.
"""
import numpy as np

from .composite_shape import eager_values
from .creation import full
from .dtypes import TORCH_NAMES, np_kind
from .errors import DTypeNotImplemented
from .grad_fn_names import named
from .ops.public import public
from .tensor import Tensor

# reduce name -> (scatter_reduce's name, the value an empty segment starts from)
_REDUCTIONS = {"sum": ("sum", 0.0), "prod": ("prod", 1.0), "mean": ("sum", 0.0),
               "max": ("amax", -np.inf), "amax": ("amax", -np.inf),
               "min": ("amin", np.inf), "amin": ("amin", np.inf)}


def _lengths(lengths, offsets):
    if lengths is not None:
        counts = eager_values(lengths, "segment_reduce")
    elif offsets is not None:
        counts = np.diff(eager_values(offsets, "segment_reduce"))
    else:
        raise RuntimeError("segment_reduce(): Either lengths or offsets must be defined.")
    if counts.ndim != 1:
        raise NotImplementedError("segment_reduce: lengths or offsets of more than one dim "
                                  "(batched segments) are not supported; reduce each row")
    if (counts < 0).any():
        raise RuntimeError("lengths contains negative value!")
    return counts.astype(np.int64)


@public("torch")
def segment_reduce(data, reduce, *, lengths=None, indices=None, offsets=None, axis=0,
                   unsafe=False, initial=None):
    if reduce not in _REDUCTIONS:
        raise RuntimeError(f"reduce argument must be either sum, prod, mean, amax or amin, "
                           f"got {reduce}")
    if indices is not None:
        raise RuntimeError("segment_reduce(): indices based reduction is not supported yet.")
    if np_kind(data._data.dtype) != "f":     # torch's kernel is for floating point only
        raise DTypeNotImplemented(
            f'"_segment_reduce_cpu" not implemented for \'{TORCH_NAMES[data._data.dtype]}\': '
            f"segment_reduce takes floating point data, as in torch; cast the data to a float "
            f"dtype (for complex data, reduce the parts of torch.view_as_real) or use "
            f"scatter_reduce")
    counts = _lengths(lengths, offsets)
    if axis != 0:
        raise RuntimeError(f"segment_reduce(): Expected axis to be the last dimension of "
                           f"lengths but got {axis}.")
    if not unsafe and counts.sum() != data.shape[0]:
        raise RuntimeError("segment_reduce(): Expected all rows of lengths along axis to sum "
                           "to data.size(lengths.dim()-1) when !unsafe.")
    how, empty = _REDUCTIONS[reduce]
    start = empty if initial is None else initial
    rest = tuple(data.shape[1:])
    segment = np.repeat(np.arange(counts.size), counts).reshape((-1,) + (1,) * len(rest))
    index = Tensor._make(np.broadcast_to(segment, (segment.shape[0],) + rest).copy())
    out = full((counts.size,) + rest, start, dtype=data.dtype, device=data.device)
    out = out.scatter_reduce(0, index, data, how, include_self=True)
    if reduce == "mean":
        size = counts.reshape((-1,) + (1,) * len(rest)).astype(data._data.dtype)
        if initial is not None:
            size = np.maximum(size, 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = out / Tensor._make(size)
    return named(out, "SegmentReduceBackward0", (data,))
