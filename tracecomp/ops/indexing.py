"""Indexing primitives: gather / scatter_add (torch.gather semantics) and advanced
indexing `index` / `index_put` (numpy/torch semantics for integer-tensor keys).

An advanced key is a tuple with one entry per indexed dim: None for a full slice `:`,
("s", start, stop, step) for a slice, or an int k meaning "the k-th index tensor
argument". Ints, Ellipsis, None and boolean masks are rewritten into this form by
`Tensor.__getitem__` before the primitive sees the key.
"""
import numpy as np

from .. import dtypes
from ..dispatch import bind
from ..errors import ShapeError, fmt_shape
from .registry import defprim
from .rules import needs, same_dtype

# --- a guard: index values checked when the op runs (eagerly or in a compiled graph) ------
ERRORS = {"IndexError": IndexError, "RuntimeError": RuntimeError}


def _check_range_impl(x, low, high, ignore, message, error):
    """x unchanged, or error(message) naming the first value outside [low, high)
    (values equal to `ignore` are allowed)."""
    bad = (x < low) | (x >= high)
    if ignore is not None:
        bad &= x != ignore
    if bad.any():
        raise ERRORS[error](message.format(value=int(x[bad].flat[0]), low=low, high=high))
    return x


check_range_p = defprim("check_range", _check_range_impl,
                        lambda x, **_: tuple(x), same_dtype, None, ("guard",))


def check_range(x, low, high, message, ignore=None, error="IndexError"):
    """x, after checking its values lie in [low, high): eagerly now, in a compiled graph
    every time it runs. `message` may use {value}, {low}, {high}."""
    return bind(check_range_p, x, low=low, high=high, ignore=ignore, message=message,
                error=error)


# --- gather / scatter_add --------------------------------------------------------------
def _gather_rule(x, index, dim):
    if len(index) != len(x):
        raise ShapeError(f"gather: Index tensor must have the same number of dimensions as "
                         f"input tensor; input {fmt_shape(x)}, index {fmt_shape(index)}")
    for d, (a, b) in enumerate(zip(index, x)):
        if d != dim and a > b:
            raise ShapeError(f"gather: Size does not match at dimension {d} expected index "
                             f"{fmt_shape(index)} to be smaller than self {fmt_shape(x)} "
                             f"apart from dimension {dim}")
    return tuple(index)


def _gather_impl(x, index, dim):
    n = x.shape[dim]
    if index.size and (index.min() < -n or index.max() >= n):
        bad = index[(index < -n) | (index >= n)].flat[0]
        raise RuntimeError(f"gather: index {bad} is out of bounds for dimension {dim} with "
                           f"size {n}")
    crop = tuple(np.s_[:k] if d != dim else np.s_[:] for d, k in enumerate(index.shape))
    return np.take_along_axis(x[crop], index, axis=dim)


def _gather_vjp(g, out, x, index, dim):
    from ..creation import full
    return (scatter_add(full(x.shape, 0, dtype=g.dtype), dim, index, g), None)


gather_p = defprim("gather", _gather_impl, _gather_rule, same_dtype, _gather_vjp, ("index",))


def _scatter_add_impl(base, index, src, dim):
    out = np.array(base, copy=True)
    grid = list(np.indices(index.shape, sparse=True))
    grid[dim] = index
    src = src[tuple(np.s_[:k] for k in index.shape)]
    np.add.at(out, tuple(grid), src)
    return out


def _scatter_add_vjp(g, out, base, index, src, dim):
    return (g if needs(base) else None, None, gather(g, dim, index) if needs(src) else None)


scatter_add_p = defprim("scatter_add", _scatter_add_impl,
                        lambda base, index, src, dim: tuple(base), same_dtype,
                        _scatter_add_vjp, ("index",))


def gather(x, dim, index):
    dim = dim % max(x.ndim, 1)
    return bind(gather_p, x, index, dim=dim)


def scatter_add(base, dim, index, src):
    dim = dim % max(base.ndim, 1)
    return bind(scatter_add_p, base, index, src, dim=dim)


# --- advanced indexing -----------------------------------------------------------------
def np_key(key, idxs):
    return tuple(np.s_[:] if k is None else idxs[k] if isinstance(k, int)
                 else np.s_[k[1]:k[2]:k[3]] for k in key)


def _probe(shape, dtype=np.float32):
    """A zero-stride array of `shape`: numpy's indexing on it computes result shapes for free."""
    return np.lib.stride_tricks.as_strided(np.zeros(1, dtype), shape, (0,) * len(shape))


def _index_rule(x, *idx_shapes, key):
    probes = [np.zeros(s, dtype=np.int64) for s in idx_shapes]
    try:
        return _probe(x)[np_key(key, probes)].shape
    except IndexError as exc:
        raise ShapeError(f"index: cannot index a tensor of shape {fmt_shape(x)} with index "
                         f"tensors of shapes {', '.join(fmt_shape(s) for s in idx_shapes)}: "
                         f"{exc}") from None


def _check_bounds(x_shape, key, idxs):
    for dim, k in enumerate(key):
        if isinstance(k, int):
            ix, n = idxs[k], x_shape[dim]
            if ix.size and (ix.max() >= n or ix.min() < -n):
                bad = ix[(ix >= n) | (ix < -n)].flat[0]
                raise IndexError(f"index {bad} is out of bounds for dimension {dim} with size {n}")


def _index_impl(x, *idxs, key):
    _check_bounds(x.shape, key, idxs)
    return x[np_key(key, idxs)]


def _index_vjp(g, out, x, *idxs, key):
    from ..creation import full
    return (index_put(full(x.shape, 0, dtype=g.dtype), g, idxs, key, accumulate=True),) + \
        (None,) * len(idxs)


index_p = defprim("index", _index_impl, _index_rule, same_dtype, _index_vjp, ("index",))


def _index_put_impl(base, values, *idxs, key, accumulate):
    _check_bounds(base.shape, key, idxs)
    out = np.array(base, copy=True)
    if accumulate:
        np.add.at(out, np_key(key, idxs), values)
    else:
        out[np_key(key, idxs)] = values
    return out


def _index_put_vjp(g, out, base, values, *idxs, key, accumulate):
    gb = gv = None
    if needs(base):
        gb = g if accumulate else index_put(g, 0.0, idxs, key, accumulate=False)
    if needs(values):
        gv = index(g, idxs, key)
    return (gb, gv) + (None,) * len(idxs)


index_put_p = defprim("index_put", _index_put_impl,
                      lambda base, values, *idxs, key, accumulate: tuple(base),
                      lambda base, values, *idxs, key, accumulate: base.dtype,
                      _index_put_vjp, ("index",))


def _as_index(i):
    from ..tensor import Tensor
    if isinstance(i, Tensor):
        if np.dtype(i._data.dtype).kind not in "iu":
            raise IndexError(f"tensors used as indices must be long, int or bool tensors; "
                             f"got {i.dtype}")
        return i
    return Tensor._make(np.asarray(i, dtype=dtypes.I64))


def index(x, idxs, key):
    return bind(index_p, x, *[_as_index(i) for i in idxs], key=tuple(key))


def index_put(base, values, idxs, key, accumulate=False):
    return bind(index_put_p, base, values, *[_as_index(i) for i in idxs], key=tuple(key),
                accumulate=bool(accumulate))
