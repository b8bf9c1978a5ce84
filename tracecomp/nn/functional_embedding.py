"""Embedding lookups for tracecomp.nn.functional: embedding (rows of a table) and
embedding_bag (the sum, mean or maximum of each bag of rows, without the (N, D) rows of a
bag being a result of their own in torch; here they are an intermediate).

embedding_bag composes primitives, so the tape, the tracer and every backend see only
index / index_put / scatter_reduce / gather / cumsum: a bag's rows are `weight[input]`,
and each position's bag number comes from the offsets as `cumsum(scatter_add(zeros(N + 1),
offsets, 1)) - 1` (how many bags start at or before it, minus one), which works on offsets
that are only known when compiled code runs. Positions that take no part (padding_idx,
indices past the last bag's end with include_last_offset) are sent to one extra bag that
is dropped, so neither their value nor their gradient reaches anything.

Where torch 2.13's CPU kernels disagree with torch's documentation we follow the
documentation (and torch's CUDA kernels): with scale_grad_by_freq a row's gradient is
divided by how often its own index occurs (the CPU backward divides by the count of
another index when counts are mixed, pytorch/pytorch#190063), and with include_last_offset
indices past offsets[-1] belong to no bag in every mode (torch's CPU max mode takes them
into the last bag, its mean mode counts them in the divisor, and its backward reads
uninitialized memory for them).
"""
import warnings

import numpy as np

from .. import composite as C
from ..creation import full
from ..dtypes import np_kind
from ..errors import DTypeError
from ..grad_fn_names import named
from ..grad_mode import no_grad
from ..ops import elementwise as ew
from ..ops import movement as mv
from ..ops import scan
from ..ops.indexing import check_range, gather, index_put, scatter_add, scatter_reduce
from ..tensor import Tensor
from ..user_code import user_stacklevel
from .embedding_sparse import sparse_rows

_MODES = ("sum", "mean", "max")
_LOWEST = -2 ** 63      # check_range's low end when only the high end matters


def _checked_indices(input, num):
    """input behind a range guard: every index in [0, num), checked eagerly now and in
    compiled code on every call (indexing alone would wrap a -1 to the last row)."""
    if np_kind(input._data.dtype) not in "iu":
        raise DTypeError(f"Expected tensor for argument #1 'indices' to have one of the "
                         f"following scalar types: Long, Int; but got {input.dtype.name} "
                         f"instead (while checking arguments for embedding)")
    return check_range(input, 0, num, "index out of range in self (embedding: index {value} "
                       "is not in [0, {high}), the rows of the weight)")


def _renorm_rows(weight, flat, max_norm, norm_type):
    """torch's embedding_renorm_: looked-up rows whose norm exceeds max_norm are scaled
    down to it, in the weight itself and outside the tape."""
    with no_grad():
        rows = weight[flat]
        norms = C.norm(rows, norm_type, 1, keepdim=True)
        weight[flat] = rows * ew.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0)


def _freq_scaled(rows, index, flat, num):
    """rows = weight[index] with their values unchanged and their gradient divided by how
    often each row's index occurs in flat, all the indices looked up (scale_grad_by_freq)."""
    counts = scatter_add(full((num,), 0, dtype=np.int64), 0, flat,
                         full(tuple(flat.shape), 1, dtype=np.int64))
    freq = C.unsqueeze(ew.cast(counts[index], rows.dtype), -1)
    still = rows.detach()
    return still + (rows - still) / freq


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    """weight[input]. The padding_idx row gets no gradient; scale_grad_by_freq divides
    each row's gradient by how often it occurs in input; sparse=True makes the weight's
    gradient a sparse tensor (embedding_sparse.py)."""
    num = weight.shape[0]
    input = _checked_indices(input, num)
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise AssertionError("Padding_idx must be within num_embeddings")
        padding_idx %= num
    flat = mv.reshape(input, (-1,))
    if max_norm is not None:
        _renorm_rows(weight, flat, max_norm, norm_type)
    if sparse:
        keep = None if padding_idx is None else flat != padding_idx
        out = mv.reshape(sparse_rows(weight, flat, keep, "embedding",
                                     scale_grad_by_freq),
                         (*input.shape, *weight.shape[1:]))
    else:
        out = weight[input]
    if scale_grad_by_freq:
        out = _freq_scaled(out, input, flat, num)
    if padding_idx is not None:
        out = ew.where(C.unsqueeze(input == padding_idx, -1), out.detach(), out)
    return named(out, "EmbeddingBackward0", (weight,))


# --- embedding_bag: torch's checks, in torch's order and words ----------------------------
def _check_shapes(input, weight, offsets, per_sample_weights):
    if per_sample_weights is not None and input.size() != per_sample_weights.size():
        raise ValueError(f"embedding_bag: If per_sample_weights ({per_sample_weights.shape}) "
                         f"is not None, then it must have the same shape as the input "
                         f"({input.shape})")
    if weight.dim() != 2:
        raise ValueError(f"weight has to be a 2D Tensor, but got Tensor of dimension "
                         f"{weight.dim()}")
    if input.dim() == 2:
        if offsets is not None:
            raise ValueError(f"if input is 2D, then offsets has to be None, as input is "
                             f"treated is a mini-batch of fixed length sequences. However, "
                             f"found offsets of type {type(offsets)}")
    elif input.dim() == 1:
        if offsets is None:
            raise ValueError("offsets has to be a 1D Tensor but got None")
        if offsets.dim() != 1:
            raise ValueError("offsets has to be a 1D Tensor")
    else:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension "
                         f"{input.dim()}")


def _check_mode(mode, scale_grad_by_freq, sparse):
    if mode not in _MODES:
        raise ValueError("mode has to be one of sum, mean or max")
    if mode == "max" and scale_grad_by_freq:
        raise ValueError("max mode does not support scaling the gradient by the frequency")
    if mode == "max" and sparse:
        raise ValueError("max mode does not support sparse weights")


def _check_dtypes(input, weight, offsets, per_sample_weights):
    """The checks torch's kernel makes (RuntimeError, torch's type names)."""
    for what, t in (("#1 'indices'", input), ("#2 'offsets'", offsets)):
        if t is not None and np_kind(t._data.dtype) not in "iu":
            raise RuntimeError(f"Expected tensor for argument {what} to have one of the "
                               f"following scalar types: Long, Int; but got {t.type()} "
                               f"instead (while checking arguments for embedding_bag)")
    if np_kind(weight._data.dtype) != "f":
        raise RuntimeError(f"Expected tensor for argument #1 'weight' to have one of the "
                           f"following scalar types: Half, BFloat16, Float, Double; but got "
                           f"{weight.type()} instead (while checking arguments for "
                           f"embedding_bag)")
    if per_sample_weights is not None and per_sample_weights.dtype != weight.dtype:
        raise RuntimeError(f"Expected tensor for argument #1 'weight' to have the same type "
                           f"as tensor for argument #1 'per_sample_weights'; but type "
                           f"{weight.type()} does not equal {per_sample_weights.type()} "
                           f"(while checking arguments for embedding_bag)")


def _padding(padding_idx, num):
    if padding_idx is None:
        return None
    if not -num <= padding_idx < num:
        raise RuntimeError(f"padding_idx must be within the number of embeddings, -{num} "
                           f"through {num - 1}, but got {padding_idx}")
    return padding_idx % num


# --- embedding_bag: which bag each position of the flat input belongs to ------------------
def _fixed_bags(input):
    """A 2-D (B, n) input: n positions per bag, known while tracing."""
    b, n = input.shape
    if n == 0 and b:
        raise RuntimeError(f"step must be nonzero (embedding_bag: torch makes the offsets of "
                           f"a 2-D input of shape {list(input.shape)} as arange(0, numel, "
                           f"{n}); a bag needs at least one index)")
    return b, Tensor._make(np.repeat(np.arange(b, dtype=np.int64), n)), None


def _offset_bags(offsets, n, include_last_offset):
    """Bags from the offsets of a 1-D input of n indices: (number of bags, each position's
    bag, the end of the last bag or None for n). The offsets are checked as torch does
    (the first is 0, the last at most n) and found non-decreasing, eagerly now and in
    compiled code every call."""
    count = offsets.shape[0]
    if include_last_offset and count < 1:
        raise RuntimeError("include_last_offset: number of offset should be at least 1")
    bags = count - 1 if include_last_offset else count
    if count == 0:
        return 0, full((n,), 0, dtype=np.int64), None
    offsets = ew.cast(offsets, np.int64)
    check_range(offsets[:1], 0, 1, "offsets[0] has to be 0, i.e., the first sequence in the "
                "mini-batch has to start from position 0. However, got {value}",
                error="RuntimeError")
    check_range(offsets[-1:], _LOWEST, n + 1, "offsets[-1] can not be greater than input's "
                "length {last} but got offsets[-1] of {value}", error="RuntimeError")
    check_range(offsets[:-1] - offsets[1:], _LOWEST, 1, "embedding_bag: offsets have to be "
                "non-decreasing (each bag starts at or after the one before it), but an "
                "offset is {value} less than the one before it", error="RuntimeError")
    # The guards need no reader (dead-code elimination keeps every guard), so compiled
    # code may run them after the ops below: clamped, the scatter's indices and the bag
    # numbers are in range whatever the offsets, and a guard still refuses bad offsets
    # before any result is returned.
    begun = scatter_add(full((n + 1,), 0, dtype=np.int64), 0, C.clamp(offsets[:bags], 0, n),
                        full((bags,), 1, dtype=np.int64))
    bag = C.clamp(scan.cumsum(begun, 0)[:n] - 1, 0)
    return bags, bag, offsets[-1:] if include_last_offset else None


def _reduce_bags(rows, bag, bags, mode):
    """The sum, mean or max of rows (N, D) per bag, for bag numbers in [0, bags]; bag
    `bags` is the dropped one."""
    width = rows.shape[1]
    if mode != "max":
        total = index_put(full((bags + 1, width), 0, dtype=rows.dtype), rows, [bag], (0,),
                          accumulate=True)[:bags]
        if mode == "sum":
            return total
        sizes = index_put(full((bags + 1,), 0, dtype=rows.dtype),
                          full((rows.shape[0],), 1, dtype=rows.dtype), [bag], (0,),
                          accumulate=True)[:bags]
        return total / C.unsqueeze(ew.maximum(sizes, 1.0), 1)     # an empty bag gives 0
    # max: each (bag, column) takes the first row that holds the maximum (torch's kernel
    # keeps the first), read with a gather so the gradient goes to that row alone; an
    # empty bag reads an extra row of zeros
    n = rows.shape[0]
    at_bag = mv.expand(C.unsqueeze(bag, 1), (n, width))
    with no_grad():
        still = rows.detach()
        best = scatter_reduce(full((bags + 1, width), 0, dtype=rows.dtype), 0, at_bag, still,
                              "amax", include_self=False)
        at = C.unsqueeze(Tensor._make(np.arange(n, dtype=np.int64)), 1)
        pos = ew.where(still == gather(best, 0, at_bag), at, n)
        first = scatter_reduce(full((bags + 1, width), n, dtype=np.int64), 0, at_bag, pos,
                               "amin")[:bags]
    padded = C.cat([rows, full((1, width), 0, dtype=rows.dtype)], 0)
    return gather(padded, 0, first)


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2,
                  scale_grad_by_freq=False, mode="mean", sparse=False, per_sample_weights=None,
                  include_last_offset=False, padding_idx=None):
    """Sums, means or maxima of bags of rows of weight: a 2-D input (B, n) holds B bags of
    n indices; a 1-D input holds bags that start at `offsets` (with include_last_offset,
    offsets[-1] is where the last bag ends). An empty bag gives zeros; padding_idx takes
    no part in a bag (nor in a mean's count); per_sample_weights (mode='sum') scale each
    row; sparse=True makes the weight's gradient a sparse tensor (embedding_sparse.py)."""
    if weight._data.dtype == np.int64 and np_kind(input._data.dtype) == "f":
        warnings.warn("Argument order of nn.functional.embedding_bag was changed. Usage "
                      "`embedding_bag(weight, input, ...)` is deprecated, and should now be "
                      "`embedding_bag(input, weight, ...)`.", stacklevel=user_stacklevel())
        weight, input = input, weight
    _check_shapes(input, weight, offsets, per_sample_weights)
    _check_mode(mode, scale_grad_by_freq, sparse)
    num = weight.shape[0]
    _check_dtypes(input, weight, offsets, per_sample_weights)
    flat = check_range(mv.reshape(input, (-1,)), 0, num, "embedding_bag: Expected idx >= 0 "
                       "&& idx < num_embeddings but found idx to be {value}",
                       error="RuntimeError")
    if max_norm is not None:
        _renorm_rows(weight, flat, max_norm, norm_type)
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError(f"embedding_bag: per_sample_weights was not None. "
                                  f"per_sample_weights is only supported for mode='sum' (got "
                                  f"mode='{mode}'). Please open a feature request on GitHub.")
    padding_idx = _padding(padding_idx, num)
    n = flat.shape[0]
    bags, bag, end = _fixed_bags(input) if input.dim() == 2 else \
        _offset_bags(offsets, n, include_last_offset)
    take = None if end is None else Tensor._make(np.arange(n, dtype=np.int64)) < end
    if padding_idx is not None:
        kept = flat != padding_idx
        take = kept if take is None else take & kept
    if take is not None:
        bag = ew.where(take, bag, bags)
    half = weight._data.dtype.itemsize < 4     # adds up in float32, as torch's kernels do
    rows = sparse_rows(weight, flat, take, "embedding_bag", scale_grad_by_freq) if sparse \
        else weight[flat]
    rows = ew.cast(rows, np.float32) if half else rows
    if scale_grad_by_freq:
        rows = _freq_scaled(rows, flat, flat, num)
    if per_sample_weights is not None:
        scale = mv.reshape(per_sample_weights, (-1,))
        rows = rows * C.unsqueeze(ew.cast(scale, np.float32) if half else scale, 1)
    out = _reduce_bags(rows, bag, bags, mode)
    out = ew.cast(out, weight._data.dtype) if half else out
    return named(out, "EmbeddingBagBackward0", (weight, per_sample_weights))
