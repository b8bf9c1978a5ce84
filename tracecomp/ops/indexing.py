"""Indexing primitives: gather / scatter_add (torch.gather semantics) and advanced
indexing `index` / `index_put` (numpy/torch semantics for integer-tensor keys).

An advanced key is a tuple with one entry per indexed dim: None for a full slice `:`,
("s", start, stop, step) for a slice, or an int k meaning "the k-th index tensor
argument". Ints, Ellipsis, None and boolean masks are rewritten into this form by
`Tensor.__getitem__` before the primitive sees the key.
"""
import numpy as np

from .. import dtypes
from ..dispatch import bind, needs
from ..dtypes import np_kind
from ..errors import AutogradError, IndexBoundsError, ShapeError, fmt_shape
from ..tensor import Tensor
from . import movement
from .registry import defprim
from .rules import refuse_unordered, same_dtype

# --- a guard: index values checked when the op runs (eagerly or in a compiled graph) ------
ERRORS = {"IndexError": IndexError, "RuntimeError": RuntimeError}
_UNSIGNED = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}
_max = np.maximum.reduce     # x.max() without its Python wrapper (numpy's _methods._amax)


def _check_range_impl(x, low, high, ignore, message, error, exclude=None):
    """x unchanged, or error(message) naming the first value outside [low, high)
    (values equal to `ignore` are allowed, values equal to `exclude` are not). NaN lies in
    no range: it is refused too (torch's binary_cross_entropy refuses a NaN probability)."""
    # all inside (nearly always): two reductions, ~2 us less than the mask (NaN fails
    # both comparisons, so it takes the mask's path and is refused there); one for
    # integers from 0, read as unsigned (a negative one is then above any `high`): a
    # compiled training step checks its targets so on every call
    if exclude is None and x.size:
        if low == 0 and np_kind(x.dtype) == "i":
            if _max(x.view(_UNSIGNED[x.dtype.itemsize]), axis=None) < high:
                return x
        elif low <= x.min() and x.max() < high:
            return x
    bad = ~((x >= low) & (x < high))
    if ignore is not None:
        bad &= x != ignore
    if exclude is not None:
        bad |= x == exclude
    if bad.any():
        value = x[bad].flat[0]
        value = int(value) if np_kind(x.dtype) in "biu" else float(value)
        raise ERRORS[error](message.format(value=value, low=low, high=high, last=high - 1))
    return x


# The identity on values that pass, so gradients pass through it unchanged (a float input
# checked for range, as binary_cross_entropy checks its probabilities).
check_range_p = defprim("check_range", _check_range_impl,
                        lambda x, **_: tuple(x), same_dtype,
                        lambda g, out, x, **_: (g,), ("guard",), saves=())


def check_range(x, low, high, message, ignore=None, error="IndexError", exclude=None):
    """x, after checking its values lie in [low, high) and differ from `exclude`: eagerly
    now, in a compiled graph every time it runs. `message` may use {value}, {low}, {high}
    and {last} (high - 1): a message that names a size this way, not as text, keeps the
    graph the same at other sizes (compiler/dynamic.py)."""
    # exclude only when asked: graphs without it print as before
    extra = {} if exclude is None else {"exclude": exclude}
    return bind(check_range_p, x, low=low, high=high, ignore=ignore, message=message,
                error=error, **extra)


def check_nonzero(x, message):
    """x, after checking that no value is 0 (an integer divisor): RuntimeError(message)
    otherwise, as torch raises for integer division by zero. The whole range of x's dtype
    is allowed, so the guard only refuses 0 (and range analysis still sees x's dtype)."""
    dtype = x._data.dtype
    low, high = (0, 2) if np_kind(dtype) == "b" else (int(np.iinfo(dtype).min),
                                                  int(np.iinfo(dtype).max) + 1)
    return check_range(x, low, high, message, error="RuntimeError", exclude=0)


# --- gather / scatter_add --------------------------------------------------------------
def _gather_rule(x, index, dim):
    if len(index) != len(x):
        raise ShapeError(f"gather: Index tensor must have the same number of dimensions as "
                         f"input tensor; input {fmt_shape(x)}, index {fmt_shape(index)}")
    for d, (a, b) in enumerate(zip(index, x)):
        if d != dim and a > b:
            raise ShapeError(f"gather: Size does not match at dimension {d} expected index "
                             f"{fmt_shape(index)} to be no larger than self {fmt_shape(x)} "
                             f"apart from dimension {dim}")
    return tuple(index)


def _check_dim_bounds(index, n, dim):
    """torch's gather/scatter family take indices in [0, n): negative ones are errors."""
    if index.size and (index.min() < 0 or index.max() >= n):
        bad = index[(index < 0) | (index >= n)].flat[0]
        raise IndexBoundsError(f"index {bad} is out of bounds for dimension {dim} with size "
                               f"{n}")


def _gather_impl(x, index, dim):
    if index.ndim != x.ndim:        # eager calls skip the rule: its error, not a bounds one
        _gather_rule(x.shape, index.shape, dim)
    _check_dim_bounds(index, x.shape[dim], dim)
    crop = tuple(np.s_[:k] if d != dim else np.s_[:] for d, k in enumerate(index.shape))
    try:
        return np.take_along_axis(x[crop], index, axis=dim)
    except IndexError:              # an index larger than x: the rule's error, not numpy's
        _gather_rule(x.shape, index.shape, dim)
        raise


def _gather_vjp(g, out, x, index, dim):
    from ..creation import full
    return (scatter_add(full(x.shape, 0, dtype=g.dtype), dim, index, g), None)


gather_p = defprim("gather", _gather_impl, _gather_rule, same_dtype, _gather_vjp, ("index",),
                   saves=(1,))


def _scatter_grid(base, index, dim):
    _check_dim_bounds(index, base.shape[dim], dim)
    grid = list(np.indices(index.shape, sparse=True))
    grid[dim] = index
    return tuple(grid)


def _scatter_add_impl(base, index, src, dim):
    out = np.array(base, copy=True)
    grid, values = _scatter_grid(base, index, dim), src[tuple(np.s_[:k] for k in index.shape)]
    if index.shape[dim] == 1:   # one index per line along dim (max pooling's gradient): no
        out[grid] += values     # two updates meet, so a plain += adds as add.at, ~10x faster
    else:
        np.add.at(out, grid, values)
    return out


def _scatter_rule(base, index, src, dim, **_):
    if not len(base) == len(index) == len(src) or any(
            i > s or (d != dim and i > b) for d, (b, i, s) in enumerate(zip(base, index, src))):
        raise ShapeError(f"scatter: Expected index {fmt_shape(index)} to be no larger than self "
                         f"{fmt_shape(base)} apart from dimension {dim} and to be no larger "
                         f"size than src {fmt_shape(src)}")
    return tuple(base)


def _scatter_add_vjp(g, out, base, index, src, dim):
    return (g if needs(base) else None, None,
            _fit_src(gather(g, dim, index), src) if needs(src) else None)


scatter_add_p = defprim("scatter_add", _scatter_add_impl, _scatter_rule, same_dtype,
                        _scatter_add_vjp, ("index",), saves=(1,))


def gather(x, dim, index):
    if x.ndim == 0 or index.ndim == 0:     # torch takes a 0-d tensor as one of 1 element
        out = bind(gather_p, _one_d(x), _one_d(index), dim=dim % max(x.ndim, 1))
        return movement.reshape(out, tuple(index.shape))
    return bind(gather_p, x, index, dim=dim % x.ndim)


def _one_d(t):
    return movement.reshape(t, (1,)) if t.ndim == 0 else t


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


def _broadcast_indices(shapes):
    """torch's IndexError for index tensors whose shapes do not broadcast together."""
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        raise IndexError(f"shape mismatch: indexing tensors could not be broadcast together "
                         f"with shapes {', '.join(str(list(s)) for s in shapes)}") from None


def _index_rule(x, *idx_shapes, key):
    _broadcast_indices(idx_shapes)
    probes = [np.zeros(s, dtype=np.int64) for s in idx_shapes]
    try:
        return _probe(x)[np_key(key, probes)].shape
    except IndexError as exc:
        raise ShapeError(f"index: cannot index a tensor of shape {fmt_shape(x)} with index "
                         f"tensors of shapes {', '.join(fmt_shape(s) for s in idx_shapes)}: "
                         f"{exc}") from None


def check_bounds(x_shape, key, idxs):
    """IndexError, in torch's words, for the first index tensor value outside its dim of
    x_shape (negative ones count from the end, as numpy's); nothing when all are inside.
    Compiled code runs it on an input's indices before a native row lookup
    (codegen/llvm/input_guards.py)."""
    for dim, k in enumerate(key):
        if isinstance(k, int):
            ix, n = idxs[k], x_shape[dim]
            if ix.size and (ix.max() >= n or ix.min() < -n):
                bad = ix[(ix >= n) | (ix < -n)].flat[0]
                raise IndexError(f"index {bad} is out of bounds for dimension {dim} with size {n}")


def _index_impl(x, *idxs, key):
    try:    # numpy checks the bounds as it gathers; row-major as torch's (x[:, [0, 2]])
        return np.ascontiguousarray(x[np_key(key, idxs)])
    except IndexError:
        _broadcast_indices([i.shape for i in idxs])     # torch's words for what is wrong
        check_bounds(x.shape, key, idxs)
        raise


def _index_vjp(g, out, x, *idxs, key):
    from ..creation import full
    return (index_put(full(x.shape, 0, dtype=g.dtype), g, idxs, key, accumulate=True),) + \
        (None,) * len(idxs)


index_p = defprim("index", _index_impl, _index_rule, same_dtype, _index_vjp, ("index",),
                  saves=(slice(1, None),))


def _index_put_impl(base, values, *idxs, key, accumulate):
    check_bounds(base.shape, key, idxs)
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


def check_put_shape(values, target):
    """torch's error for x[key] = values whose shape does not broadcast to what key selects
    (`target`); numpy's ValueError said it in numpy's words."""
    values, target = tuple(values), tuple(target)
    try:
        fits = np.broadcast_shapes(values, target) == target
    except ValueError:
        fits = False
    if not fits:
        raise ShapeError(f"shape mismatch: value tensor of shape {fmt_shape(values)} cannot "
                         f"be broadcast to indexing result of shape {fmt_shape(target)}")


def _index_put_rule(base, values, *idx_shapes, key, accumulate):
    check_put_shape(values, _index_rule(base, *idx_shapes, key=key))
    return tuple(base)


index_put_p = defprim("index_put", _index_put_impl, _index_put_rule,
                      lambda base, values, *idxs, key, accumulate: base.dtype,
                      _index_put_vjp, ("index",), saves=(slice(2, None),))


def _as_index(i):
    if isinstance(i, Tensor):
        if np_kind(np.dtype(i._data.dtype)) not in "iu":
            raise IndexError(f"tensors used as indices must be long, int or bool tensors; "
                             f"got {i.dtype}")
        return i
    return Tensor._make(np.asarray(i, dtype=dtypes.I64))


def index(x, idxs, key):
    return bind(index_p, x, *[_as_index(i) for i in idxs], key=tuple(key))


def index_put(base, values, idxs, key, accumulate=False):
    return bind(index_put_p, base, values, *[_as_index(i) for i in idxs], key=tuple(key),
                accumulate=bool(accumulate))


# --- scatter_reduce: product and extrema (sum and mean are scatter_add compositions) ------
_SCATTER_UFUNC = {"prod": np.multiply, "amax": np.maximum, "amin": np.minimum}


def _identity(reduce, dtype):
    if reduce == "prod":
        return 1
    big = np.inf if np_kind(np.dtype(dtype)) == "f" else np.iinfo(dtype).max
    return -big if reduce == "amax" else big


def _scatter_reduce_impl(base, index, src, dim, reduce, include_self):
    out = np.array(base, copy=True)
    grid = _scatter_grid(base, index, dim)
    if not include_self:
        out[grid] = _identity(reduce, out.dtype)
    _SCATTER_UFUNC[reduce].at(out, grid, src[tuple(np.s_[:k] for k in index.shape)])
    return out


def _fit_src(grad, src):
    """A gradient shaped like index, zero-padded to src's shape (src may be larger)."""
    from .movement import pad
    return pad(grad, tuple((0, s - i, 0) for s, i in zip(src.shape, grad.shape)), 0.0)


def _scatter_reduce_vjp(g, out, base, index, src, dim, reduce, include_self):
    """amax/amin: the gradient is shared evenly among the elements equal to the result
    (torch's rule). prod: the product of the other elements of the group, zero-safe."""
    if g.dtype.is_complex:      # scatter(reduce="multiply"): torch has no derivative either
        raise AutogradError("scatter_reduce / scatter(reduce=...) has no derivative for complex "
                            f"values (here {g.dtype}), as in torch; detach() the inputs or "
                            "scatter the parts of torch.view_as_real")
    from ..creation import full
    from .elementwise import cast, where
    from .movement import slice as slice_
    full_src, src = src, slice_(src, (0,) * src.ndim, tuple(index.shape), (1,) * src.ndim)
    zeros = full(base.shape, 0, dtype=g.dtype)
    touched = scatter_add(zeros, dim, index, full(index.shape, 1, dtype=g.dtype)) > 0
    keep = touched if not include_self else None       # base's elements that took part
    if reduce == "prod":
        return _scatter_prod_vjp(g, out, base, index, src, full_src, dim, keep, zeros)
    out_at = gather(out, dim, index)
    src_hit = cast(src == out_at, g.dtype)
    base_hit = cast(base == out, g.dtype)
    if keep is not None:
        base_hit = where(keep, 0.0, 1.0)
    count = base_hit + scatter_add(zeros, dim, index, src_hit)
    share = g / count
    gs = _fit_src(gather(share, dim, index) * src_hit, full_src) if needs(full_src) else None
    return (share * base_hit if needs(base) else None, None, gs)


def _scatter_prod_vjp(g, out, base, index, src, full_src, dim, keep, zeros):
    from .elementwise import cast, where
    src_zero, base_zero = src == 0, base == 0
    nonzero_src = where(src_zero, 1.0, src)
    if keep is None:                # base takes part everywhere
        zero_count = cast(base_zero, g.dtype)
        nonzero = where(base_zero, 1.0, base)
    else:
        zero_count, nonzero = zeros, where(keep, 1.0, base)
    zero_count = scatter_add(zero_count, dim, index, cast(src_zero, g.dtype))
    nonzero = bind(scatter_reduce_p, nonzero, index, nonzero_src, dim=dim, reduce="prod",
                   include_self=True)

    def others(x, x_zero, zc, nz, total):
        """the product of the group's other elements, for each element x of it"""
        return where(zc == 0, total / where(x_zero, 1.0, x),
                     where((zc == 1) & x_zero, nz, 0.0))

    gb = gs = None
    if needs(base):
        gb = g * others(base, base_zero, zero_count, nonzero, out)
        if keep is not None:
            gb = where(keep, 0.0, g)
    if needs(full_src):
        at = (gather(zero_count, dim, index), gather(nonzero, dim, index),
              gather(out, dim, index))
        gs = _fit_src(gather(g, dim, index) * others(src, src_zero, *at), full_src)
    return gb, None, gs


def refuse_complex_extremum(op, reduce, np_dtype, kernel, valid):
    """amax/amin of complex values: torch's refusal (its kernel named), then what is valid."""
    if reduce in ("amax", "amin"):
        refuse_unordered(np_dtype, kernel, f'{op}(reduce="{reduce}")',
                         f"for complex input reduce may be {valid}")


def _scatter_reduce_dtype(base, *_, reduce, **__):
    refuse_complex_extremum("scatter_reduce", reduce, base.dtype,
                            f"scatter_gather_tensor_cpu_reduce_{reduce}", SCATTER_COMPLEX_VALID)
    return base.dtype


SCATTER_COMPLEX_VALID = '"sum", "prod" or "mean"'


scatter_reduce_p = defprim("scatter_reduce", _scatter_reduce_impl, _scatter_rule,
                           _scatter_reduce_dtype,
                           _scatter_reduce_vjp, ("index",), saves=(0, 1, 2, "out"))


def scatter_reduce(base, dim, index, src, reduce, include_self=True):
    """reduce in ("prod", "amax", "amin"); `dim` already normalized."""
    return bind(scatter_reduce_p, base, index, src, dim=dim, reduce=reduce,
                include_self=bool(include_self))
