"""torch.histogramdd: the D-dimensional histogram of the points in the last dim of input,
(hist, bin_edges) as torch's. Each dim's bins are even over its range (given, or the data's
min and max, widened by 0.5 each side when equal) or the given edges; a point falls in the
bin torch's kernel finds for it dim by dim (composite_sort.bin_of, shared with
torch.histogram), and points outside any dim's range or NaN are left out. Eager only: the
edges come from the data (a traced input is a TraceError).
"""
import numpy as np

from . import dtypes
from .composite_shape import eager_values
from .composite_sort import bin_of, even_edges
from .dtypes import np_kind
from .errors import DTypeNotImplemented
from .ops.public import public
from .return_types import structseq
from .tensor import Tensor


@public("torch")
def histogramdd(input, bins, *, range=None, weight=None, density=False):  # noqa: A002
    x = eager_values(input, "histogramdd")
    if np_kind(x.dtype) != "f":
        raise DTypeNotImplemented(f'"histogramdd" not implemented for '
                                  f"'{dtypes.TORCH_NAMES[x.dtype]}'")
    if x.ndim < 2:
        raise RuntimeError("torch.histogramdd: input tensor should have at least 2 dimensions")
    d = x.shape[-1]
    points = x.reshape(-1, d)
    per_dim = [bins] * d if isinstance(bins, int) else list(bins)
    if len(per_dim) != d:
        raise RuntimeError("histogramdd: The size of bins must be equal to the innermost "
                           "dimension of the input.")
    if range is not None and len(range) != 2 * d:
        raise RuntimeError(f"torch.histogramdd: for a {d}-dimensional histogram range should "
                           f"have {2 * d} elements, but got {len(range)}")
    edges, uniform = [], []
    for k, b in enumerate(per_dim):
        if isinstance(b, Tensor):
            edges.append(eager_values(b, "histogramdd").astype(x.dtype))
            uniform.append(False)
        else:
            bounds = None if range is None else (range[2 * k], range[2 * k + 1])
            edges.append(even_edges("histogramdd", points[:, k], int(b), bounds, k, x.dtype))
            uniform.append(True)
    inside = np.ones(len(points), bool)
    for k, e in enumerate(edges):
        inside &= (points[:, k] >= e[0]) & (points[:, k] <= e[-1])
    kept = points[inside]
    where = tuple(bin_of(kept[:, k], e, u) for k, (e, u) in enumerate(zip(edges, uniform)))
    hist = np.zeros(tuple(e.size - 1 for e in edges), x.dtype)
    w = None if weight is None else \
        eager_values(weight, "histogramdd").reshape(-1)[inside].astype(x.dtype)
    np.add.at(hist, where, 1 if w is None else w)
    if density:
        volume = np.ones((), x.dtype)
        for e in edges:
            volume = np.multiply.outer(volume, np.diff(e))
        with np.errstate(invalid="ignore", divide="ignore"):
            hist = hist / hist.sum() / volume
    result = structseq("histogramdd", ["hist", "bin_edges"])
    return result(Tensor._make(hist.astype(x.dtype, copy=False)),
                  tuple(Tensor._make(e.copy()) for e in edges))
