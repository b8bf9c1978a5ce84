"""Sorting and selection with torch's names: sort, argsort, msort, topk, kthvalue,
searchsorted, bucketize, isin, histc (traceable: built on the argsort/searchsorted
primitives, gather and scatter_add), and unique, unique_consecutive, bincount, whose output
shapes depend on the values (eager only: tracing them is a TraceError that says so).
"""
import math

import numpy as np

from . import composite as C
from . import dtypes
from .composite_reduce import ValuesIndices
from .composite_shape import eager_values  # noqa: F401 - also tracecomp.composite_sort.eager_values
from .creation import full, linspace
from .dtypes import np_kind
from .errors import ShapeError
from .grad_fn_names import named, renamed
from .ops import elementwise as ew
from .ops import movement as mv
from .ops import reduce as rd
from .ops import sort as srt
from .ops.indexing import check_range, gather, scatter_add
from .return_types import structseq
from .tensor import Tensor, _wrap_dim
from .torch_args import aliased, with_out


def _dim(x, dim, op):
    return _wrap_dim(dim, x.ndim, op) if x.ndim else 0


# --- sort and selection ----------------------------------------------------------------
def sort(x, dim=-1, descending=False, *, stable=False):
    d = _dim(x, dim, "sort")
    idx = srt.argsort(x, d, descending)
    values = gather(x, d, idx) if x.ndim else ew.clone(x)
    return ValuesIndices["sort"](renamed(values, x, "SortBackward0"), idx)


def argsort(x, dim=-1, descending=False, *, stable=False):
    return srt.argsort(x, _dim(x, dim, "argsort"), descending)


def msort(x):
    return sort(x, 0).values


def topk(x, k, dim=-1, largest=True, sorted=True):  # noqa: A002 - torch's name
    d = _dim(x, dim, "topk")
    n = x.shape[d] if x.ndim else 1
    if not 0 <= k <= n:
        raise RuntimeError(f"selected index k out of range (topk: k={k}, the size of dim {d} "
                           f"is {n})")
    idx = srt.argsort(x, d, largest)
    if x.ndim:
        idx = C.narrow(idx, d, 0, k)
    values = gather(x, d, idx) if x.ndim else ew.clone(x)
    return ValuesIndices["topk"](renamed(values, x, "TopkBackward0"), idx)


def kthvalue(x, k, dim=-1, keepdim=False):
    d = _dim(x, dim, "kthvalue")
    n = x.shape[d] if x.ndim else 1
    if not 1 <= k <= n:
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {d}")
    if not x.ndim:
        return ValuesIndices["kthvalue"](ew.clone(x), full((), 0, dtype=dtypes.I64))
    idx = C.narrow(srt.argsort(x, d), d, k - 1, 1)
    values = gather(x, d, idx)
    if not keepdim:
        values, idx = C.squeeze(values, d), C.squeeze(idx, d)
    return ValuesIndices["kthvalue"](named(values, "KthvalueBackward0", (x,)), idx)


# --- binary search -----------------------------------------------------------------------
def _as_tensor(v, like=None):
    if isinstance(v, Tensor):
        return v
    from .creation import tensor
    return tensor(v, dtype=like.dtype if like is not None else None)


def searchsorted(sorted_sequence, input, *, out_int32=False, right=False,  # noqa: A002
                 side=None, sorter=None):
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(f"torch.searchsorted(): side can only be 'left' or 'right' but "
                               f"got {side}")
        right = side == "right"
    if sorter is not None:
        sorted_sequence = gather(sorted_sequence, sorted_sequence.ndim - 1, sorter)
    return srt.searchsorted(sorted_sequence, _as_tensor(input, sorted_sequence), right,
                            out_int32)


def bucketize(input, boundaries, *, out_int32=False, right=False):  # noqa: A002
    if boundaries.ndim != 1:
        raise ShapeError(f"bucketize: boundaries tensor must be 1 dimension, but got dim("
                         f"{boundaries.ndim})")
    return srt.searchsorted(boundaries, _as_tensor(input, boundaries), right, out_int32)


def isin(elements, test_elements, *, assume_unique=False, invert=False):
    """Each element looked up in the sorted test elements: O((n + m) log m), traceable."""
    elements = _as_tensor(elements)
    test = mv.reshape(_as_tensor(test_elements), (-1,))
    if test.shape[0] == 0:
        found = full(tuple(elements.shape), False, dtype=dtypes.BOOL, device=elements.device)
    else:
        ordered = sort(test, 0).values
        pos = srt.searchsorted(ordered, elements, False, False)
        pos = ew.minimum(pos, test.shape[0] - 1)
        flat = gather(ordered, 0, mv.reshape(pos, (-1,)))
        found = mv.reshape(flat, tuple(elements.shape)) == elements
    return ew.logical_not(found) if invert else found


# --- histograms --------------------------------------------------------------------------
def histc(input, bins=100, min=0, max=0):  # noqa: A002
    """Counts in `bins` equal-width bins over [min, max] (the data's range when both are 0);
    values outside are ignored. Built from scatter_add, so it compiles."""
    x = input
    if np_kind(x._data.dtype) != "f":
        raise NotImplementedError(f"\"histogram_cpu\" not implemented for "
                                  f"'{_scalar_name(x._data.dtype)}'")
    if min > max:
        raise RuntimeError("torch.histc: max must be larger than min")
    if not (math.isfinite(min) and math.isfinite(max)):
        raise RuntimeError(f"torch.histc: range of [{min}, {max}] is not finite")
    flat = mv.reshape(x.detach(), (-1,))
    if min == max == 0 and flat.shape[0]:
        lo, hi = rd.reduce_min(flat), rd.reduce_max(flat)
        # the data's range: a NaN or inf in it is an error when the graph runs, as in torch
        # (a guard stays in the graph though nothing reads it: passes/dce.py)
        check_range(ew.cast(~(ew.isfinite(lo) & ew.isfinite(hi)), dtypes.I64), 0, 1,
                    "torch.histc: range of the data is not finite (it holds NaN or inf); "
                    "pass a finite min and max", error="RuntimeError")
    else:
        lo, hi = full((), min, dtype=x.dtype), full((), max, dtype=x.dtype)
    same = lo == hi                                    # torch widens an empty range by 1
    lo, hi = ew.where(same, lo - 1, lo), ew.where(same, hi + 1, hi)
    inside = (flat >= lo) & (flat <= hi)
    pos = ew.cast((flat - lo) * bins / (hi - lo), dtypes.I64)
    # (flat - lo) * bins can overflow to inf for a range near the dtype's limits: the cast
    # then gives INT_MIN, which goes to bin 0, as torch's does (its arithmetic is the same)
    pos = ew.where(inside, ew.minimum(ew.maximum(pos, 0), bins - 1), 0)
    return scatter_add(full((bins,), 0, dtype=x.dtype, device=x.device), 0, pos,
                       ew.cast(inside, x.dtype))


def histogram(input, bins=100, *, range=None, weight=None, density=False):  # noqa: A002
    """(hist, bin_edges) as torch.histogram: `bins` equal-width bins over `range` (the data's
    min and max; widened by 0.5 each side when they are equal), or the given 1-D tensor of
    increasing edges; each bin holds [edge, next edge), the last one its right edge too;
    `weight` per element, `density` dividing by the total times each bin's width. Eager:
    the edges depend on the data. Found as torch's CPU kernel finds it (a float32 guess of
    the bin from the edges, then a step to the edge that holds the value), so values on an
    edge land where torch puts them."""
    x = eager_values(input, "histogram")
    if np_kind(x.dtype) != "f":
        raise RuntimeError(f"torch.histogram: input tensor and bins tensors should have the "
                           f"same dtype, but got input {_scalar_name(x.dtype)} and bins float")
    flat = x.reshape(-1)
    if isinstance(bins, Tensor):
        if range is not None:
            raise TypeError("histogram(): range is given with a tensor of bin edges; pass "
                            "either bins as an int with range, or the edges alone")
        edges = eager_values(bins, "histogram").astype(x.dtype, copy=False)
        if edges.ndim != 1 or edges.size < 1:
            raise RuntimeError("torch.histogram(): bins tensor should have one dimension")
        uniform = False
    else:
        edges = even_edges("histogram", flat, bins, range, 0, x.dtype)
        uniform = True
    n = edges.size - 1
    w = None if weight is None else eager_values(weight, "histogram").reshape(-1)
    hist = np.zeros(max(n, 0), x.dtype)
    if n > 0:
        keep = (flat >= edges[0]) & (flat <= edges[-1])
        np.add.at(hist, bin_of(flat[keep], edges, uniform), 1 if w is None else w[keep])
        if density:     # nothing in range: NaN, quietly, as torch's
            with np.errstate(invalid="ignore", divide="ignore"):
                hist = hist / (hist.sum() * np.diff(edges))
    result = structseq("histogram", ["hist", "bin_edges"])
    return result(Tensor._make(hist.astype(x.dtype, copy=False)), Tensor._make(edges.copy()))


def even_edges(op, values, count, bounds, k, dtype):
    """The edges of `count` even bins along dim k (torch.histogram's and histogramdd's):
    over `bounds`, or the values' min and max (widened by 0.5 each side when equal)."""
    if count <= 0:
        raise RuntimeError(f"torch.histogram(): bins must be > 0, but got {count} for "
                           f"dimension {k}")
    lo, hi = bounds if bounds is not None else \
        (values.min(), values.max()) if values.size else (0.0, 0.0)
    lo, hi = dtype.type(lo), dtype.type(hi)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise RuntimeError(f"torch.{op}(): range of [{lo}, {hi}] is not finite")
    if lo > hi:
        raise RuntimeError(f"torch.{op}(): min should not exceed max, but got min {lo} max "
                           f"{hi}")
    if lo == hi:
        lo, hi = lo - dtype.type(0.5), hi + dtype.type(0.5)
    return linspace(float(lo), float(hi), count + 1, dtype=dtypes.from_np(dtype)).numpy()


def bin_of(v, edges, uniform):
    """The bin of each value v (all within [edges[0], edges[-1]]) as torch's CPU histogram
    kernels find it: for even bins a guess from the range, then one step to the edge that
    holds v; else a search of the edges. The right edge belongs to the last bin."""
    n = edges.size - 1
    if uniform:
        left, right = edges[0], edges[-1]
        pos = ((v - left) * n / (right - left)).astype(np.int64)
        pos = np.minimum(np.maximum(pos, 0), n - 1)
        pos = np.where(v < edges[pos], pos - 1, pos)
        pos = np.where((pos < n - 1) & (v >= edges[np.minimum(pos + 1, n)]), pos + 1, pos)
    else:
        pos = np.searchsorted(edges, v, side="right") - 1
    return np.minimum(pos, n - 1)


def _scalar_name(np_dtype):
    from .torch_args import scalar_name
    return scalar_name(np_dtype)


def bincount(input, weights=None, minlength=0):  # noqa: A002
    x = eager_values(input, "bincount")
    if x.ndim != 1 or np_kind(x.dtype) not in "iu" or (x.size and x.min() < 0):
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if minlength < 0:
        raise RuntimeError("minlength should be >= 0")
    n = max(int(x.max()) + 1 if x.size else 0, int(minlength))
    if weights is None:
        return Tensor._make(np.bincount(x, minlength=n).astype(dtypes.I64))
    if tuple(weights.shape) != tuple(x.shape):
        raise RuntimeError("weights should be 1-d and have the same length as input")
    w = weights if np_kind(weights._data.dtype) == "f" else ew.cast(weights, dtypes.F64)
    return scatter_add(full((n,), 0, dtype=w.dtype), 0, input, w)


# --- unique ------------------------------------------------------------------------------
def _unique_outputs(x, values, inverse, counts, return_inverse, return_counts, op):
    out = Tensor._make(values)
    if x._requires_grad:
        out = srt.no_derivative(out, x, op)
    extra = []
    if return_inverse:
        extra.append(Tensor._make(inverse.astype(dtypes.I64)))
    if return_counts:
        extra.append(Tensor._make(counts.astype(dtypes.I64)))
    return (out, *extra) if extra else out


def unique(input, sorted=True, return_inverse=False, return_counts=False,  # noqa: A002
           dim=None):
    """Always sorted, as torch's CPU unique."""
    a = eager_values(input, "unique")
    if dim is None:
        values, inverse, counts = np.unique(a.reshape(-1), return_inverse=True,
                                            return_counts=True)
        inverse = inverse.reshape(a.shape)
    else:
        d = _dim(input, dim, "unique")
        if a.ndim and a.shape[d] == 0:
            raise RuntimeError(f"unique: Number of zero sized dimensions is more than one, so "
                               f"unique cannot be applied along dim {d}")
        values, inverse, counts = np.unique(a, return_inverse=True, return_counts=True, axis=d)
        inverse = inverse.reshape(-1)
    return _unique_outputs(input, values, inverse, counts, return_inverse, return_counts,
                           "_unique2")


def unique_consecutive(input, return_inverse=False, return_counts=False,  # noqa: A002
                       dim=None):
    a = eager_values(input, "unique_consecutive")
    flat = dim is None
    d = 0 if flat else _dim(input, dim, "unique_consecutive")
    b = np.moveaxis(a.reshape(-1) if flat else a, d, 0)
    n = b.shape[0]
    starts = np.ones(n, bool)
    if n > 1:
        starts[1:] = (b[1:] != b[:-1]).reshape(n - 1, -1).any(axis=1)
    values = np.moveaxis(b[starts], 0, d)
    inverse = np.cumsum(starts) - 1
    counts = np.diff(np.append(np.flatnonzero(starts), n))
    if flat:
        inverse = inverse.reshape(a.shape)
    return _unique_outputs(input, values, inverse, counts, return_inverse, return_counts,
                           "unique_consecutive")


sort = with_out(sort, "sort")
argsort = aliased(argsort, "argsort")
msort = with_out(msort, "msort")
topk = with_out(topk, "topk")
kthvalue = with_out(kthvalue, "kthvalue")
searchsorted = with_out(searchsorted, "searchsorted")
bucketize = with_out(bucketize, "bucketize")
histc = with_out(histc, "histc")
isin = aliased(isin, "isin")
