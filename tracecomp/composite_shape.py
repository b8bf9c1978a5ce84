"""Shape ops with torch's names: flip, fliplr, flipud, roll, rot90, tile, repeat_interleave,
ravel, moveaxis, select, the *stack family, atleast_Nd, diag, diag_embed, diagonal,
diagflat, trace, cartesian_prod, combinations, block_diag, narrow_copy.

All are movement primitives (reshape, permute, expand, slice, pad, concat, flip), so they
are differentiable and compile: diagonals are a strided slice of the flattened matrices
and diag_embed the padding that undoes it, so both lower to index arithmetic.
"""
import itertools

import numpy as np

from . import composite as C
from . import dtypes
from .amp.cpu_policy import FP32, autocast_op
from .device_array import DeviceArray
from .devices import to_host
from .errors import ShapeError, TraceError
from .grad_fn_names import named
from .ops import elementwise as ew
from .ops import movement as mv
from .ops.indexing import index
from .ops.movement import diag_embed  # noqa: F401 - defined beside the VJPs that use it
from .tensor import Tensor, _wrap_dim
from .torch_args import aliased, with_out


def eager_values(x, op):
    """x's values as a numpy array (a device tensor's copied back); a traced x is a
    TraceError (the result's shape would depend on the values, which a compiled graph
    cannot have)."""
    if not isinstance(x._data, (np.ndarray, DeviceArray)):
        raise TraceError(f"{op}: the shape of its result depends on the data, which a compiled "
                         f"graph cannot have; call it outside the compiled function")
    return to_host(x._data)


def _dims_list(dims):
    return [int(dims)] if isinstance(dims, (int, np.integer)) else [int(d) for d in dims]


# --- flips and rotations ---------------------------------------------------------------
def flip(x, dims):
    wrapped = [_wrap_dim(d, x.ndim, "flip") for d in _dims_list(dims)]
    if len(set(wrapped)) != len(wrapped):
        raise RuntimeError(f"flip: dims has duplicates, original flip dims size="
                           f"{len(wrapped)}, but unique flip dims size={len(set(wrapped))}")
    out = mv.flip(x, tuple(sorted(wrapped)))
    return ew.clone(x) if out is x else out        # torch's flip always copies


def fliplr(x):
    if x.ndim < 2:
        raise RuntimeError("Input must be >= 2-d.")
    return flip(x, [1])


def flipud(x):
    if x.ndim < 1:
        raise RuntimeError("Input must be >= 1-d.")
    return flip(x, [0])


def roll(x, shifts, dims=None):
    if dims is None:
        if not isinstance(shifts, (int, np.integer)) and len(shifts) != 1:
            raise RuntimeError(f"roll: shifts and dimensions must align. shifts: {len(shifts)}, "
                               f"dims:0")
        out = mv.reshape(roll(mv.reshape(x, (-1,)), shifts, 0), tuple(x.shape))
        return named(out, "RollBackward0", (x,))
    shifts, dims = _dims_list(shifts), _dims_list(dims)
    if len(shifts) != len(dims):
        raise RuntimeError(f"roll: shifts and dimensions must align. shifts: {len(shifts)}, "
                           f"dims:{len(dims)}")
    out = x
    for s, d in zip(shifts, dims):
        d = _wrap_dim(d, x.ndim, "roll")
        n = x.shape[d]
        s = s % n if n else 0
        if s:
            out = C.cat([C.narrow(out, d, n - s, s), C.narrow(out, d, 0, n - s)], d)
    return named(ew.clone(x) if out is x else out, "RollBackward0", (x,))


def rot90(x, k=1, dims=(0, 1)):
    dims = _dims_list(dims)
    if len(dims) != 2:
        raise RuntimeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
    if x.ndim < 2:
        raise RuntimeError(f"expected total dims >= 2, but got total dims = {x.ndim}")
    d0, d1 = (_wrap_dim(d, x.ndim, "rot90") for d in dims)
    if d0 == d1:
        raise RuntimeError(f"expected rotation dims to be different, but got dim0 = {d0} and "
                           f"dim1 = {d1}")
    k %= 4
    if k == 1:
        return C.transpose(flip(x, [d1]), d0, d1)
    if k == 2:
        return flip(x, [d0, d1])
    if k == 3:
        return C.transpose(flip(x, [d0]), d0, d1)
    return ew.clone(x)


# --- repeats -----------------------------------------------------------------------------
def tile(x, dims):
    dims = _dims_list(dims)
    return C.repeat(x, *([1] * (x.ndim - len(dims)) + dims))


def repeat_interleave(x, repeats=None, dim=None, *, output_size=None):
    if repeats is None:                    # repeat_interleave(counts): arange repeated
        from .creation import arange
        counts = x
        return repeat_interleave(arange(counts.shape[0]), counts, 0, output_size=output_size)
    if dim is None:
        x, dim = mv.reshape(x, (-1,)), 0
    d = _wrap_dim(dim, x.ndim, "repeat_interleave")
    n = x.shape[d] if x.ndim else 1
    if isinstance(repeats, Tensor) and repeats.numel() == 1 and repeats.ndim <= 1:
        repeats = int(repeats.reshape(()).item())
    if isinstance(repeats, (int, np.integer)):
        if repeats < 0:
            raise RuntimeError("repeat_interleave: repeats can not be negative")
        shape = tuple(x.shape)
        y = mv.reshape(x, shape[:d + 1] + (1,) + shape[d + 1:])
        y = mv.expand(y, shape[:d + 1] + (int(repeats),) + shape[d + 1:])
        return mv.reshape(y, shape[:d] + (n * int(repeats),) + shape[d + 1:])
    counts = eager_values(repeats, "repeat_interleave with a tensor of repeats")
    if counts.ndim != 1 or counts.shape[0] != n:
        raise RuntimeError(f"repeats must have the same size as input along dim, but got "
                           f"repeats.size(0) = {counts.size} and input.size({d}) = {n}")
    if counts.size and counts.min() < 0:
        raise RuntimeError("repeats can not be negative")
    pos = Tensor._make(np.repeat(np.arange(n), counts).astype(dtypes.I64))
    if output_size is not None and pos.shape[0] != output_size:
        raise RuntimeError(f"repeat_interleave: output_size {output_size} does not match the "
                           f"sum of repeats {pos.shape[0]}")
    return index(x, [pos], (None,) * d + (0,))


def ravel(x):
    return mv.reshape(x, (-1,))


def select(x, dim, index_):
    if x.ndim == 0:
        raise IndexError("select() cannot be applied to a 0-dim tensor.")
    d = _wrap_dim(dim, x.ndim, "select")
    n = x.shape[d]
    if not -n <= index_ < n:
        raise IndexError(f"select(): index {index_} out of range for tensor of size "
                         f"{list(x.shape)} at dimension {d}")
    return named(C.squeeze(C.narrow(x, d, index_ % n, 1), d), "SelectBackward0", (x,))


def narrow_copy(x, dim, start, length):
    return ew.clone(C.narrow(x, dim, start, length))


# --- stacking ------------------------------------------------------------------------------
def _at_least(ndim, shape_of):
    def op(*tensors):
        many = len(tensors) != 1 or isinstance(tensors[0], (list, tuple))
        items = list(tensors[0]) if len(tensors) == 1 and many else list(tensors)
        out = [x if x.ndim >= ndim else mv.reshape(x, shape_of(tuple(x.shape)))
               for x in items]
        return tuple(out) if many else out[0]
    return op


atleast_1d = _at_least(1, lambda s: (1,))
atleast_2d = _at_least(2, lambda s: (1,) + (s or (1,)))
atleast_3d = _at_least(3, lambda s: {0: (1, 1, 1), 1: (1,) + s + (1,), 2: s + (1,)}[len(s)])


def hstack(tensors):
    ts = atleast_1d(*tensors)
    ts = ts if isinstance(ts, tuple) else (ts,)
    return C.cat(ts, 0 if all(t.ndim == 1 for t in ts) else 1)


def vstack(tensors):
    ts = atleast_2d(*tensors)
    return C.cat(ts if isinstance(ts, tuple) else (ts,), 0)


def dstack(tensors):
    ts = atleast_3d(*tensors)
    return C.cat(ts if isinstance(ts, tuple) else (ts,), 2)


def column_stack(tensors):
    ts = [mv.reshape(t, (t.numel(), 1)) if t.ndim <= 1 else t for t in tensors]
    return C.cat(ts, 1)


# --- diagonals ---------------------------------------------------------------------------
def _diag_len(n, m, offset):
    return max(0, min(n + min(offset, 0), m - max(offset, 0)))


def diagonal(x, offset=0, dim1=0, dim2=1):
    """The diagonal as a strided slice of the flattened (..., n*m) matrices: a view of a
    contiguous 2-D x, as torch's."""
    d1, d2 = _wrap_dim(dim1, x.ndim, "diagonal"), _wrap_dim(dim2, x.ndim, "diagonal")
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    rest = tuple(i for i in range(x.ndim) if i not in (d1, d2))
    y = mv.permute(x, rest + (d1, d2))
    n, m = y.shape[-2], y.shape[-1]
    batch = tuple(y.shape[:-2])
    length = _diag_len(n, m, offset)
    if length == 0:
        return mv.slice(mv.reshape(y, batch + (n * m,)), (0,) * (len(batch) + 1),
                        batch + (0,), (1,) * (len(batch) + 1))
    flat = mv.reshape(y, batch + (n * m,))
    start = offset if offset >= 0 else -offset * m
    stop = start + (length - 1) * (m + 1) + 1
    k = len(batch)
    return mv.slice(flat, (0,) * k + (start,), batch + (stop,), (1,) * k + (m + 1,))


_diagonal = diagonal


def diag(x, diagonal=0):
    if x.ndim == 1:
        return diag_embed(x, diagonal)
    if x.ndim == 2:
        return _diagonal(x, diagonal)
    raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {x.ndim}D")


def diagflat(x, offset=0):
    return diag_embed(mv.reshape(x, (-1,)), offset)


@autocast_op(FP32)
def trace(x):
    if x.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {x.ndim}")
    return C.sum(diagonal(x))


# --- products of index sets ---------------------------------------------------------------
def cartesian_prod(*tensors):
    for t in tensors:
        if t.ndim != 1:
            raise RuntimeError(f"Expect a 1D vector, but got shape {list(t.shape)}")
    if len(tensors) == 1:
        return tensors[0]
    shape = tuple(t.shape[0] for t in tensors)
    cols = []
    for i, t in enumerate(tensors):
        view = mv.reshape(t, tuple(s if j == i else 1 for j, s in enumerate(shape)))
        cols.append(mv.reshape(mv.expand(view, shape), (-1,)))
    return C.stack(cols, 1)


def combinations(x, r=2, with_replacement=False):
    if x.ndim != 1:
        raise RuntimeError(f"Expect a 1D vector, but got shape {list(x.shape)}")
    if r < 0:
        raise RuntimeError(f"Expect a non-negative number, but got {r}")
    if r == 0:
        return x[:0]
    pick = itertools.combinations_with_replacement if with_replacement else \
        itertools.combinations
    rows = np.array(list(pick(range(x.shape[0]), r)), dtype=dtypes.I64).reshape(-1, r)
    if rows.shape[0] == 0:                      # too few elements: no row, r columns
        return mv.reshape(x[:0], (0, r))
    return index(x, [Tensor._make(rows)], (0,))


def block_diag(*tensors):
    mats = [mv.reshape(t, (1, 1)) if t.ndim == 0 else mv.reshape(t, (1, t.shape[0]))
            if t.ndim == 1 else t for t in tensors]
    for k, t in enumerate(mats):
        if t.ndim != 2:
            raise ShapeError(f"torch.block_diag: Input tensors must have 2 or fewer dimensions. "
                             f"Input {k} has {t.ndim} dimensions")
    if not mats:
        from .creation import zeros
        return zeros(0, 0)
    dtype = dtypes.result_type(*[t._data for t in tensors])     # 0-d ones rank lower, as in torch
    width = sum(t.shape[1] for t in mats)
    rows, left = [], 0
    for t in mats:
        right = width - left - t.shape[1]
        rows.append(mv.pad(ew.cast(t, dtype) if t._data.dtype != dtype else t,
                           ((0, 0, 0), (left, right, 0))))
        left += t.shape[1]
    return C.cat(rows, 0)


moveaxis = C.movedim
flip = aliased(flip, "flip")
roll = aliased(roll, "roll")
diagonal = aliased(diagonal, "diagonal")
hstack = with_out(hstack, "hstack")
vstack = with_out(vstack, "vstack")
dstack = with_out(dstack, "dstack")
column_stack = with_out(column_stack, "column_stack")
row_stack = vstack
