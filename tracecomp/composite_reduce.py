"""Reductions and scans with torch's names and signatures: prod, cumsum, cumprod, cummax,
cummin, logcumsumexp, nansum, nanmean, median, nanmedian, mode, count_nonzero, std_mean,
aminmax, diff; and the existing reductions re-exported with numpy's spellings accepted
(`axis=`, `keepdims=`) and `out=`.

Everything is built from primitives (reduce_*, the scans of ops/scan.py, argsort + gather),
so gradients come from their VJPs and every op here can be traced.
"""

import numpy as np

from . import composite as C
from . import dtypes
from .amp.cpu_policy import FP32, autocast_op
from .dtypes import np_kind
from .errors import DTypeError, ShapeError
from .grad_fn_names import grouped, named, renamed
from .opmath import in_float32
from .ops import elementwise as ew
from .ops import movement as mv
from .ops import reduce as rd
from .ops import scan
from .ops.indexing import gather
from .ops.rules import refuse_unordered
from .ops.sort import argsort
from .return_types import structseq
from .tensor import Tensor, _wrap_dim
from .torch_args import aliased, with_out

ValuesIndices = {n: structseq(n, ["values", "indices"]) for n in
                 ("cummax", "cummin", "median", "nanmedian", "mode", "sort", "topk",
                  "kthvalue")}
MinMax = structseq("aminmax", ["min", "max"])


def _scan_dim(x, dim, op):
    return _wrap_dim(dim, x.ndim, op) if x.ndim else 0


def _cast_first(x, dtype):
    return ew.cast(x, dtype) if dtype is not None else x


# --- product and scans -----------------------------------------------------------------
@autocast_op(FP32)
def prod(x, dim=None, keepdim=False, *, dtype=None):
    if dim is not None and not isinstance(dim, (int, np.integer)):
        raise TypeError(f"prod() received an invalid combination of arguments - got dim="
                        f"{type(dim).__name__}; dim must be one int (or omitted for the "
                        f"product of all elements)")
    x = _cast_first(x, dtype)
    return rd.reduce_prod(x, None if dim is None else int(dim), keepdim)


def cumsum(x, dim, *, dtype=None):
    x = _cast_first(x, dtype)
    return scan.cumsum(x, _scan_dim(x, dim, "cumsum"))


def cumprod(x, dim, *, dtype=None):
    x = _cast_first(x, dtype)
    return scan.cumprod(x, _scan_dim(x, dim, "cumprod"))


def logcumsumexp(x, dim):
    if np_kind(x._data.dtype) not in "fc":
        raise DTypeError(f"logcumsumexp(): expected a floating point or complex input, got "
                         f"{x.dtype}")
    return scan.logcumsumexp(x, _scan_dim(x, dim, "logcumsumexp"))


def _cum_extremum(arg, name):
    def op(x, dim):
        refuse_unordered(x._data.dtype, f"{name}_cpu", f"{name}()",
                         "take it of the real part or of abs()")
        d = _scan_dim(x, dim, name)
        idx = arg(x, d)
        values = gather(x, d, idx) if x.ndim else ew.clone(x)
        return ValuesIndices[name](renamed(values, x, f"{name.capitalize()}Backward0"), idx)
    op.__name__ = name
    return op


cummax = _cum_extremum(scan.cumargmax, "cummax")
cummin = _cum_extremum(scan.cumargmin, "cummin")


# --- NaN-aware reductions --------------------------------------------------------------
def nansum(x, dim=None, keepdim=False, *, dtype=None):
    x = _cast_first(x, dtype)
    _refuse_complex_nan_sum(x, "nansum")
    if np_kind(x._data.dtype) == "f":
        x = ew.where(ew.isnan(x), 0.0, x)
    return C.sum(x, dim, keepdim)


def _refuse_complex_nan_sum(x, op):
    """torch's nansum (which nanmean calls) takes no complex input: its words, then ours"""
    if x._data.dtype.kind == "c":
        raise DTypeError(f"nansum on CPU does not support complex inputs ({op} of a "
                         f"{x.dtype.name} tensor; take it of the parts of torch.view_as_real, "
                         f"or use {op[3:]}() where there is no NaN)")


def nanmean(x, dim=None, keepdim=False, *, dtype=None):
    x = _cast_first(x, dtype)
    _refuse_complex_nan_sum(x, "nanmean")
    if np_kind(x._data.dtype) != "f":
        raise DTypeError(f"nanmean(): expected input to have floating point or complex dtype "
                         f"but got {x.dtype.name}")
    valid = ew.logical_not(ew.isnan(x))
    total = C.sum(ew.where(valid, x, 0.0), dim, keepdim)
    return total / C.sum(ew.cast(valid, x.dtype), dim, keepdim)


def count_nonzero(x, dim=None):
    return C.sum(ew.cast(ew.ne(x, 0), dtypes.I64), dim)


@in_float32
def std_mean(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    if isinstance(dim, bool):           # the old std_mean(x, unbiased) positional form
        dim, unbiased = None, dim
    return grouped((C.std(x, dim, unbiased, keepdim, correction=correction),
                    C.mean(x, dim, keepdim)), "StdMeanBackward0", x)


def norm(x, p="fro", dim=None, keepdim=False, dtype=None):
    """torch.norm: vector norms over `dim` (all elements by default); 'fro' is the 2-norm
    and 'nuc' the nuclear norm of the matrices in the last two (or the given two) dims."""
    from .composite_linalg import vector_norm
    if p == "nuc":
        from .linalg import matrix_norm
        return matrix_norm(x, "nuc", (-2, -1) if dim is None else dim, keepdim, dtype=dtype)
    return vector_norm(x, 2 if p in ("fro", None) else p, dim, keepdim, dtype=dtype)


def aminmax(x, *, dim=None, keepdim=False):
    dims = () if dim is None else dim
    return MinMax(*grouped((C.amin(x, dims, keepdim), C.amax(x, dims, keepdim)),
                           "AminmaxBackward0", x))


# --- order statistics ------------------------------------------------------------------
def _take_sorted(x, d, order, k, keepdim):
    """values and indices at sorted position k (a Python int, or an index tensor of the
    reduced shape with keepdim) along dim d."""
    if isinstance(k, int):
        k = C.narrow(order, d, k, 1)
    else:
        k = gather(order, d, k)
    values = gather(x, d, k)
    if not keepdim:
        values, k = C.squeeze(values, d), C.squeeze(k, d)
    return values, k


def _median_position(x, d, ignore_nan):
    """The sorted position of the lower median along d (keepdim shape): NaNs sort last;
    median propagates the first NaN, nanmedian skips them."""
    n = x.shape[d]
    if np_kind(x._data.dtype) != "f":
        return (n - 1) // 2
    nans = C.sum(ew.cast(ew.isnan(x), dtypes.I64), d, keepdim=True)
    if ignore_nan:
        return ew.maximum((n - nans - 1) // 2, 0)
    return ew.where(nans > 0, n - nans, (n - 1) // 2)


def _median(ignore_nan, name):
    def op(x, dim=None, keepdim=False):
        if dim is None:
            flat = mv.reshape(x, (-1,))
            if flat.shape[0] == 0 and np_kind(x._data.dtype) == "f":
                return C.sum(flat) * float("nan")       # torch: nan, an empty gradient
            if flat.shape[0] == 0:
                raise ShapeError(f"{name}() of an empty {x.dtype.name} tensor: torch gives an "
                                 f"undefined value; only a floating tensor has one (nan)")
            order = argsort(flat, 0)
            return named(_take_sorted(flat, 0, order, _median_position(flat, 0, ignore_nan),
                                      False)[0], f"{name.capitalize()}Backward0", (x,))
        src = x if x.ndim else mv.reshape(x, (1,))
        d = _scan_dim(x, dim, name)
        if src.shape[d] == 0:
            raise IndexError(f"{name}(): Expected reduction dim {d} to have non-zero size.")
        order = argsort(src, d)
        values, idx = _take_sorted(src, d, order, _median_position(src, d, ignore_nan),
                                   keepdim or not x.ndim)
        if not x.ndim:
            values, idx = mv.reshape(values, ()), mv.reshape(idx, ())
        return ValuesIndices[name](named(values, f"{name.capitalize()}Backward1", (x,)), idx)
    op.__name__ = name
    return op


median = _median(False, "median")
nanmedian = _median(True, "nanmedian")


def _same(a, b):
    """a == b, with NaN equal to NaN: mode counts NaNs as one value, as sorting does."""
    eq = a == b
    return eq | (ew.isnan(a) & ew.isnan(b)) if np_kind(a._data.dtype) == "f" else eq


def mode(x, dim=-1, keepdim=False):
    """The most frequent value along dim (ties: the smallest, NaN above every number) and its
    last index. Compares every pair along dim: memory grows with the square of that dim's
    size. (torch's CPU mode sorts with `<`, so its answer with NaNs present is undefined.)"""
    src = x if x.ndim else mv.reshape(x, (1,))
    d = _scan_dim(x, dim, "mode")
    last = mv.permute(src, tuple(i for i in range(src.ndim) if i != d) + (d,))
    n, axis = last.shape[-1], (last.ndim - 1,)
    counts = C.sum(ew.cast(_same(C.unsqueeze(last, -1), C.unsqueeze(last, -2)), dtypes.I64), -1)
    best = counts == rd.reduce_max(counts, axis, True)      # the most frequent values
    floating = np_kind(x._data.dtype) == "f"
    big = np.inf if floating else np.iinfo(x._data.dtype).max
    if floating:                        # a number wins a tie with NaN; NaN only if alone
        best_numbers = best & ~ew.isnan(last)
        values = rd.reduce_min(ew.where(best_numbers, last, big), axis, True)
        nan_only = rd.reduce_max(ew.cast(best_numbers, dtypes.I64), axis, True) == 0
        values = ew.where(nan_only, float("nan"), values)
    else:
        values = rd.reduce_min(ew.where(best, last, big), axis, True)
    values = ew.cast(values, x.dtype)
    from .creation import arange
    idx = rd.reduce_max(ew.where(_same(last, values), arange(n, device=x.device), -1), axis,
                        True)
    values = gather(last, last.ndim - 1, idx)          # the gradient goes to that index
    values, idx = C.movedim(values, -1, d), C.movedim(idx, -1, d)
    if not keepdim or not x.ndim:
        values, idx = C.squeeze(values, d), C.squeeze(idx, d)
    return ValuesIndices["mode"](named(values, "ModeBackward0", (x,)), idx)


# --- differences -----------------------------------------------------------------------
def diff(x, n=1, dim=-1, prepend=None, append=None):
    if x.ndim == 0:
        raise RuntimeError("diff expects input to be at least one-dimensional")
    d = _wrap_dim(dim, x.ndim, "diff")
    parts = [p for p in (prepend, x, append) if p is not None]
    parts = [p if isinstance(p, Tensor) else _scalar_like(p, x, d) for p in parts]
    y = C.cat(parts, d) if len(parts) > 1 else x
    for _ in range(n):
        m = y.shape[d]
        if m == 0:
            break
        hi, lo = C.narrow(y, d, 1, m - 1), C.narrow(y, d, 0, m - 1)
        y = ew.logical_xor(hi, lo) if y._data.dtype == dtypes.BOOL else hi - lo
    return y


def _scalar_like(v, x, d):
    from .creation import full
    shape = tuple(1 if i == d else s for i, s in enumerate(x.shape))
    return full(shape, v, dtype=x.dtype, device=x.device)


# --- the existing reductions, with torch's keyword spellings and out= -----------------
sum = with_out(C.sum, "sum", cast="unsafe")  # noqa: A001
mean = with_out(C.mean, "mean", cast="unsafe")
prod = with_out(prod, "prod", cast="unsafe")
cumsum = with_out(cumsum, "cumsum")
cumprod = with_out(cumprod, "cumprod")
nansum = with_out(nansum, "nansum", cast="unsafe")
nanmean = with_out(nanmean, "nanmean", cast="unsafe")
var = with_out(C.var, "var")
std = with_out(C.std, "std")
var_mean = aliased(C.var_mean, "var_mean")
std_mean = aliased(std_mean, "std_mean")
amax = with_out(C.amax, "amax", cast="unsafe")
amin = with_out(C.amin, "amin", cast="unsafe")
max = with_out(C.max, "max")  # noqa: A001
min = with_out(C.min, "min")  # noqa: A001
argmax = with_out(rd.argmax, "argmax")
argmin = with_out(rd.argmin, "argmin")
logsumexp = with_out(C.logsumexp, "logsumexp")
norm = with_out(norm, "norm")
all = with_out(C.all, "all")  # noqa: A001
any = with_out(C.any, "any")  # noqa: A001
count_nonzero = aliased(count_nonzero, "count_nonzero")
aminmax = aliased(aminmax, "aminmax")
median = with_out(median, "median")
nanmedian = with_out(nanmedian, "nanmedian")
mode = with_out(mode, "mode")
cummax = with_out(cummax, "cummax")
cummin = with_out(cummin, "cummin")
logcumsumexp = with_out(logcumsumexp, "logcumsumexp")
diff = aliased(diff, "diff")
