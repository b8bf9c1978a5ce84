"""Index ops with torch's names: index_select, take, take_along_dim, scatter (src, value,
reduce=), scatter_reduce, index_add, index_copy, index_fill, masked_scatter, index_put,
masked_select, nonzero, argwhere, where(cond), and their in-place methods (scatter_, ...).

They are built from the index primitives (gather, scatter_add, scatter_reduce, index,
index_put), whose VJPs give the gradients. Index values are checked when the op runs
(check_range), eagerly and in compiled code. masked_select, nonzero, argwhere and
where(cond) have data-dependent shapes: eager only.
"""
import numpy as np

from . import composite as C
from . import dtypes
from .creation import arange, full
from .devices import beside
from .dtypes import np_kind
from .errors import DTypeError, DTypeNotImplemented, ShapeError
from .grad_mode import refuse_complex_grad
from .ops import elementwise as ew
from .ops import movement as mv
from .ops import scan
from .ops.indexing import (
    SCATTER_COMPLEX_VALID,
    check_range,
    gather,
    index,
    refuse_complex_extremum,
    scatter_add,
    scatter_reduce,
)
from .ops.indexing import index_put as put
from .tensor import Tensor, _wrap_dim
from .torch_args import scalar_name
from .user_code import user_stacklevel


def _dim(x, dim, op):
    return _wrap_dim(dim, x.ndim, op) if x.ndim else 0


def _require_long(index_, op):
    if np_kind(index_._data.dtype) not in "iu":
        raise DTypeError(f"{op}(): Expected dtype int64 for index, got {index_.dtype}")


def _vector_index(x, d, index_, op):
    """A 1-D index along dim d, its values checked against x's size there."""
    _require_long(index_, op)
    if index_.ndim > 1:
        raise IndexError(f"{op}(): Index is supposed to be a vector")
    idx = mv.reshape(index_, (-1,))
    n = x.shape[d] if x.ndim else 1
    return check_range(idx, 0, n, f"{op}(): index {{value}} is out of range for dimension "
                                  f"{d} with size {n} (index out of range in self)")


def _along(d):
    return (None,) * d + (0,)


def _scalar_tensor(value, dtype, like):
    if isinstance(value, Tensor):
        return ew.cast(value, dtype) if value._data.dtype != dtype else value
    return full((), value, dtype=dtype, device=like.device)


# --- selecting -------------------------------------------------------------------------
def index_select(x, dim, index_):
    d = _dim(x, dim, "index_select")
    idx = _vector_index(x, d, index_, "index_select")
    if x.ndim == 0:
        return mv.reshape(index(mv.reshape(x, (1,)), [idx], (0,)), ())
    return index(x, [idx], _along(d))


def take(x, index_):
    _require_long(index_, "take")
    n = x.numel()
    idx = check_range(index_, -n, n, f"out of range: tried to access index {{value}} on a "
                                     f"tensor of {n} elements.")
    return index(mv.reshape(x, (-1,)), [idx], (0,))


def take_along_dim(x, indices, dim=None):
    _require_long(indices, "take_along_dim")
    if dim is None:
        return gather(mv.reshape(x, (-1,)), 0, mv.reshape(indices, (-1,)))
    d = _wrap_dim(dim, x.ndim, "take_along_dim")
    if x.ndim != indices.ndim:
        raise RuntimeError(f"torch.take_along_dim(): input and indices should have the same "
                           f"number of dimensions, but got {x.ndim} dimensions for input, and "
                           f"{indices.ndim} dimensions for indices")
    from .ops.rules import broadcast_shapes
    xs, ix = list(x.shape), list(indices.shape)
    xs[d] = ix[d] = 1
    common = list(broadcast_shapes("take_along_dim", tuple(xs), tuple(ix)))
    x = mv.expand(x, tuple(common[:d] + [x.shape[d]] + common[d + 1:]))
    indices = mv.expand(indices, tuple(common[:d] + [indices.shape[d]] + common[d + 1:]))
    return gather(x, d, indices)


# --- scattering ------------------------------------------------------------------------
def _grid(index_, d):
    """Index tensors addressing, for each element of `index_`, its own position except
    along d, where they take its value (what scatter writes to)."""
    idxs = []
    for k in range(index_.ndim):
        if k == d:
            idxs.append(index_)
        else:
            shape = [1] * index_.ndim
            shape[k] = index_.shape[k]
            idxs.append(arange(index_.shape[k], device=index_.device).reshape(shape))
    return idxs


def _crop_to(src, index_):
    if tuple(src.shape) == tuple(index_.shape):
        return src
    return mv.slice(src, (0,) * src.ndim, tuple(index_.shape), (1,) * src.ndim)


def _touched(x, d, index_):
    ones = full(tuple(index_.shape), 1, dtype=dtypes.I64, device=x.device)
    return scatter_add(full(tuple(x.shape), 0, dtype=dtypes.I64, device=x.device), d, index_,
                       ones) > 0


def _checked(x, d, index_, op):
    _require_long(index_, op)
    if index_.ndim != x.ndim:
        raise RuntimeError(f"{op}(): Index tensor must have the same number of dimensions as "
                           f"self tensor (index {index_.ndim}D, self {x.ndim}D)")
    return check_range(index_, 0, x.shape[d] if x.ndim else 1,
                       f"index {{value}} is out of bounds for dimension {d} with size "
                       f"{x.shape[d] if x.ndim else 1}", error="RuntimeError")


def _src_of(x, index_, src, value, op):
    if src is None and value is None:
        raise TypeError(f"{op}() missing 1 required argument: 'src' (or 'value')")
    if isinstance(src, Tensor):
        if src._data.dtype != x._data.dtype:
            raise RuntimeError(f"{op}(): Expected self.dtype to be equal to src.dtype "
                               f"(self {x.dtype}, src {src.dtype})")
        if src.ndim != x.ndim:
            raise RuntimeError(f"{op}(): Index tensor must have the same number of dimensions "
                               f"as src tensor")
        return src
    v = src if value is None else value
    return mv.expand(_scalar_tensor(v, x._data.dtype, x), tuple(index_.shape))


def _one_d(op):
    """op on 0-d operands as on tensors of one element, as torch takes them (a one-hot
    target: `zeros(10).scatter_(0, tensor(3), value=1)`)."""
    def fn(x, dim=None, index_=None, *args, index=None, **kwargs):
        if index_ is None:      # torch's keyword: x.scatter_(dim=0, index=i, value=1)
            index_ = index
        if dim is None or index_ is None:
            raise TypeError(f"{op.__name__}() missing required argument "
                            f"'{'dim' if dim is None else 'index'}'")
        if x.ndim and index_.ndim and not any(isinstance(a, Tensor) and a.ndim == 0
                                              for a in (*args, *kwargs.values())):
            return op(x, dim, index_, *args, **kwargs)
        one = [mv.reshape(a, (1,)) if isinstance(a, Tensor) and a.ndim == 0 else a
               for a in (x, index_, *args)]
        kwargs = {k: mv.reshape(a, (1,)) if isinstance(a, Tensor) and a.ndim == 0 else a
                  for k, a in kwargs.items()}
        return mv.reshape(op(one[0], dim, *one[1:], **kwargs), tuple(x.shape))
    fn.__name__, fn.__doc__ = op.__name__, op.__doc__
    return fn


@_one_d
def scatter(x, dim, index_, src=None, value=None, *, reduce=None):
    d = _dim(x, dim, "scatter")
    index_ = _checked(x, d, index_, "scatter")
    src = _src_of(x, index_, src, value, "scatter")
    if reduce == "add":
        return scatter_add(x, d, index_, src)
    if reduce == "multiply":
        return scatter_reduce(x, d, index_, src, "prod", True)
    if reduce is not None:
        raise RuntimeError(f"reduce argument must be either add or multiply, got {reduce}")
    if any(i > s for i, s in zip(index_.shape, src.shape)):
        raise ShapeError(f"scatter(): Expected index {list(index_.shape)} to be no larger "
                         f"size than src {list(src.shape)}")
    return put(x, _crop_to(src, index_), _grid(index_, d), tuple(range(x.ndim)))


@_one_d
def scatter_add_(x, dim, index_, src):
    d = _dim(x, dim, "scatter_add")
    return scatter_add(x, d, _checked(x, d, index_, "scatter_add"), src)


@_one_d
def scatter_reduce_op(x, dim, index_, src, reduce, *, include_self=True):
    d = _dim(x, dim, "scatter_reduce")
    index_ = _checked(x, d, index_, "scatter_reduce")
    if reduce not in ("sum", "prod", "mean", "amax", "amin"):
        raise RuntimeError(f"reduce argument must be either sum, prod, mean, amax or amin, got "
                           f"{reduce}")
    refuse_complex_extremum("scatter_reduce", reduce, x._data.dtype,     # (torch: before the
                            f"scatter_gather_tensor_cpu_reduce_{reduce}",  # autograd check)
                            SCATTER_COMPLEX_VALID)
    refuse_complex_grad("scatter_reduce", x.dtype, x, src)
    if reduce in ("prod", "amax", "amin"):
        return scatter_reduce(x, d, index_, src, reduce, include_self)
    touched = _touched(x, d, index_)
    base = x if include_self else ew.where(touched, 0, x)
    total = scatter_add(base, d, index_, src)
    if reduce == "sum":
        return total
    counting = dtypes.real_type(x._data.dtype)    # a complex mean divides by a real count
    ones = full(tuple(index_.shape), 1, dtype=counting, device=x.device)
    start = full(tuple(x.shape), 1, dtype=counting, device=x.device) if include_self else \
        ew.cast(ew.logical_not(touched), counting)
    count = ew.maximum(scatter_add(start, d, index_, ones), 1)
    if np_kind(x._data.dtype) in "iu":
        return ew.floor_divide(total, count)
    return total / count


# --- index_* along one dim -------------------------------------------------------------
def _along_dim(op, accumulate):
    def fn(x, dim, index, source, *, alpha=1):    # torch's names: index_add_(dim=, index=)
        d = _dim(x, dim, op)
        idx = _vector_index(x, d, index, op)
        if isinstance(source, Tensor) and source._data.dtype != x._data.dtype:
            raise RuntimeError(f"{op}_(): self and source expected to have the same dtype, "
                               f"but got (self) {scalar_name(x._data.dtype)} and (source) "
                               f"{scalar_name(source._data.dtype)}")
        want = tuple(idx.shape[0] if k == d else n for k, n in enumerate(x.shape))
        if x.ndim and tuple(source.shape) != want:
            raise RuntimeError(f"{op}_(): source of shape {list(source.shape)} does not fit: "
                               f"expected {list(want)} (self {list(x.shape)} with dim {d} "
                               f"of size len(index) = {idx.shape[0]})")
        if alpha != 1:
            source = source * alpha
        base = x if x.ndim else mv.reshape(x, (1,))
        src = source if x.ndim else mv.reshape(source, (-1,))
        out = put(base, src, [idx], _along(d), accumulate=accumulate)
        return out if x.ndim else mv.reshape(out, ())
    fn.__name__ = op
    return fn


index_add = _along_dim("index_add", True)
_index_copy = _along_dim("index_copy", False)


def index_copy(x, dim, index, source):
    return _index_copy(x, dim, index, source)


def index_fill(x, dim, index, value):
    d = _dim(x, dim, "index_fill")
    if isinstance(value, Tensor) and value.ndim:
        raise RuntimeError(f"index_fill_ only supports a 0-dimensional value tensor, but got "
                           f"tensor with {value.ndim} dimension(s).")
    idx = _vector_index(x, d, index, "index_fill")
    base = x if x.ndim else mv.reshape(x, (1,))
    out = put(base, _scalar_tensor(value, x._data.dtype, x), [idx], _along(d))
    return out if x.ndim else mv.reshape(out, ())


# --- masks -------------------------------------------------------------------------------
def _bool_mask(mask, op):
    if mask._data.dtype != dtypes.BOOL:
        raise DTypeError(f"{op} only supports boolean masks, but got mask with dtype "
                         f"{mask.dtype.name}")


def masked_scatter(x, mask, source):
    """The i-th True of the (broadcast) mask takes source's i-th element: a running count
    of the mask picks it by gather, so the op is traceable and differentiable."""
    _bool_mask(mask, "masked_scatter_")
    x_b, mask_b = C.broadcast_tensors(x, mask)
    if tuple(x_b.shape) != tuple(x.shape):
        raise RuntimeError(f"masked_scatter_: mask of shape {list(mask.shape)} does not "
                           f"broadcast to self's shape {list(x.shape)}")
    flat_mask = mv.reshape(mask_b, (-1,))
    n = source.numel()
    pos = scan.cumsum(ew.cast(flat_mask, dtypes.I64), 0) - 1
    pos = check_range(ew.where(flat_mask, pos, 0), 0, max(n, 1),
                      f"masked_scatter: Number of elements of source < number of ones in mask "
                      f"(source has {n} elements)", error="RuntimeError")
    if n == 0:
        return ew.clone(x)
    picked = gather(mv.reshape(ew.cast(source, x.dtype), (-1,)), 0, pos)
    return mv.reshape(ew.where(flat_mask, picked, mv.reshape(x, (-1,))), tuple(x.shape))


def _eager(x, op):
    from .composite_shape import eager_values
    return eager_values(x, op)


def masked_select(x, mask):
    _bool_mask(mask, "masked_select")
    x_b, mask_b = C.broadcast_tensors(x, mask)
    positions = np.nonzero(_eager(mask_b, "masked_select").reshape(-1))[0]
    return index(mv.reshape(x_b, (-1,)), [Tensor._make(positions.astype(dtypes.I64))], (0,))


def nonzero(x, *, as_tuple=False):
    data = _eager(x, "nonzero")
    if data.ndim == 0:      # torch: a 0-d x is one element, with no index columns
        idx = np.nonzero(np.atleast_1d(data))
        if as_tuple:        # (as a 1-d x)
            return (Tensor._make(beside(idx[0].astype(np.int64), x._data)),)
        return Tensor._make(beside(np.zeros((len(idx[0]), 0), np.int64), x._data))
    idx = np.nonzero(data)
    if as_tuple:
        return tuple(Tensor._make(beside(i.astype(np.int64), x._data)) for i in idx)
    return Tensor._make(beside(np.stack(idx, axis=1).astype(np.int64), x._data))


def argwhere(x):
    return nonzero(x)


def where(condition, input=None, other=None):  # noqa: A002 - torch's names
    """where(cond, x, y) selects; where(cond) is nonzero(cond, as_tuple=True)."""
    if input is None and other is None:
        return nonzero(condition, as_tuple=True)
    if input is None or other is None:
        raise TypeError("where() expected either 1 or 3 arguments")
    return ew.where(condition, input, other)


# --- index_put ---------------------------------------------------------------------------
def _put_key(x, indices):
    """(index tensors, key) for x[indices] (a tuple of int or bool tensors, or None)."""
    idxs, key, dim = [], [], 0
    for i in indices:
        if i is None:
            key.append(None)
            dim += 1
        elif isinstance(i, Tensor) and i._data.dtype == dtypes.BOOL:
            for p in np.nonzero(_eager(i, "index_put with a boolean mask"))[:i.ndim]:
                key.append(len(idxs))
                idxs.append(Tensor._make(p.astype(dtypes.I64)))
            dim += i.ndim
        else:
            key.append(len(idxs))
            idxs.append(i if isinstance(i, Tensor) else Tensor._make(np.asarray(i, dtypes.I64)))
            dim += 1
    if dim > x.ndim:
        raise IndexError(f"too many indices for tensor of dimension {x.ndim} (got {dim})")
    return idxs, tuple(key)


def require_put_dtype(x, values, indices, accumulate=False):
    """torch's index put writes values of x's own dtype only (a number is cast): x[idx] =
    values with tensor indices, index_put_. Where it is torch's masked_fill_ instead (one
    bool mask among the indices, a one-element value, no accumulate) the value is cast, as
    a plain slice assignment casts."""
    tensors = [i for i in indices if isinstance(i, Tensor)]
    if values._data.dtype == x._data.dtype or (
            not accumulate and values.numel() == 1 and len(tensors) == 1
            and tensors[0]._data.dtype == dtypes.BOOL):
        return
    raise RuntimeError(f"Index put requires the source and destination dtypes match, got "
                       f"{scalar_name(x._data.dtype)} for the destination and "
                       f"{scalar_name(values._data.dtype)} for the source.")


def index_put(x, indices, values, accumulate=False):
    if not isinstance(values, Tensor):
        values = _scalar_tensor(values, x._data.dtype, x)
    else:
        require_put_dtype(x, values, indices, accumulate)
        values = values.to(x.dtype)
    idxs, key = _put_key(x, tuple(indices))
    return put(x, values, idxs, key, accumulate=accumulate)


def put_flat(x, index_, source, accumulate=False):
    """torch.put: x with source's values written at flat indices `index_` (negative ones
    from the end), or added there with accumulate, as if x were 1-D."""
    _require_long(index_, "put")
    n = x.numel()
    idx = check_range(mv.reshape(index_, (-1,)), -n, n,
                      f"out of range: tried to access index {{value}} on a tensor of {n} "
                      f"elements.")
    idx = ew.where(idx < 0, idx + n, idx)
    flat = index_put(mv.reshape(x, (-1,)), (idx,), mv.reshape(source, (-1,)), accumulate)
    return mv.reshape(flat, tuple(x.shape))


_INDEX_REDUCTIONS = ("prod", "mean", "amax", "amin")
_EXTREMUM_KERNEL = {"amax": "maximum_cpu", "amin": "minimum_cpu"}    # torch's, in its error
_BETA_SAID = []


def index_reduce(x, dim, index_, source, reduce, *, include_self=True):
    """torch.index_reduce: x with each slice source.select(dim, i) reduced into
    x.select(dim, index[i]) (prod, mean, amax or amin; x's own values count unless
    include_self=False): scatter_reduce over index spread along source."""
    if not _BETA_SAID:
        _BETA_SAID.append(True)
        import warnings
        warnings.warn("index_reduce() is in beta and the API may change at any time.",
                      UserWarning, stacklevel=user_stacklevel())
    if reduce not in _INDEX_REDUCTIONS:
        raise RuntimeError(f"index_reduce(): Expected reduce to be one of prod, mean, amax or "
                           f"amin but got {reduce}.")
    if x.dtype.is_complex and not include_self:     # torch's checks, in its order
        raise DTypeNotImplemented(
            f'"index_reduce_func_exclude_input_init" not implemented for '
            f"'{dtypes.TORCH_NAMES[x._data.dtype]}': index_reduce(include_self=False) takes no "
            f"complex values, as in torch; use include_self=True, or scatter_reduce")
    refuse_complex_extremum("index_reduce", reduce, x._data.dtype, _EXTREMUM_KERNEL.get(reduce),
                            '"prod" or "mean"')
    refuse_complex_grad("index_reduce", x.dtype, x, source)
    d = _wrap_dim(dim, x.ndim, "index_reduce")
    if index_.ndim != 1 or index_.shape[0] != (source.shape[d] if source.ndim else 1):
        raise IndexError("index_reduce_(): Index should have dimension 1 and the same number "
                         f"of elements as source's dim {d}; got index of shape "
                         f"{list(index_.shape)} for source of shape {list(source.shape)}")
    spread = tuple(-1 if k == d else 1 for k in range(source.ndim))
    expanded = mv.expand(mv.reshape(index_, spread), tuple(source.shape))
    return scatter_reduce_op(x, d, expanded, source, reduce, include_self=include_self)
