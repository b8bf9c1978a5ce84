"""Public ops built from primitives: torch's names and argument conventions.

Nothing here has an impl or a gradient of its own: each function composes primitives, so
the eager tape, the tracer and every backend see only the primitive set. These functions
are both `tracecomp.X` and `Tensor.X` (see tensor_methods.py).
"""
import builtins
import math

import numpy as np

from . import dtypes
from .amp.cpu_policy import LOWER, PROMOTE, autocast_op
from .devices import beside, to_host
from .dispatch import plain_arrays
from .dtypes import np_kind
from .errors import DTypeError, ShapeError, fmt_shape
from .grad_fn_names import grouped, named, renamed
from .opmath import in_float32, lerp_fused
from .ops import elementwise as ew
from .ops import movement as mv
from .ops import reduce as rd
from .ops.indexing import check_range, gather
from .ops.linalg import matmul
from .ops.rules import norm_dims
from .ops.softmax import log_softmax as _log_softmax
from .ops.softmax import softmax as _softmax
from .return_types import structseq
from .strided_reshape import reshape_strided, view  # noqa: F401 - x.view's home
from .tensor import Tensor, _wrap_dim
from .torch_args import int_sizes, with_out


def _dims_arg(dim):
    return None if dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0) else dim


# --- reductions ------------------------------------------------------------------------
def sum(input, dim=None, keepdim=False, *, dtype=None):  # noqa: A001 - torch's names
    x = input
    if dtype is not None:
        x = ew.cast(x, dtype)
    return rd.reduce_sum(x, _dims_arg(dim), keepdim)


@in_float32
def mean(input, dim=None, keepdim=False, *, dtype=None):
    x = input
    if dtype is not None:
        x = ew.cast(x, dtype)
    if np_kind(x._data.dtype) not in "fc":
        got = dtypes.TORCH_NAMES[x._data.dtype]
        raise DTypeError(f"mean(): could not infer output dtype. Input dtype must be either a "
                         f"floating point or complex dtype. Got: {got}")
    dims = norm_dims("mean", _dims_arg(dim), x.ndim)
    count = math.prod(x.shape[d] for d in dims)
    out = rd.reduce_sum(x, dims, keepdim) / count if count else \
        rd.reduce_sum(x, dims, keepdim) * float("nan")
    return named(out, "MeanBackward0" if dim is None else "MeanBackward1", (x,))


@in_float32
def var(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Variance with Bessel's correction by default (`unbiased=False` or `correction=0`
    for the population variance)."""
    if isinstance(dim, bool):           # torch's old var(x, unbiased) positional form
        dim, unbiased = None, dim
    if correction is None:
        correction = 0 if unbiased is False else 1
    dims = norm_dims("var", _dims_arg(dim), x.ndim)
    dof = math.prod(x.shape[d] for d in dims) - correction
    if dof > 0:
        centered = x - mean(x, dims, keepdim=True)
        return named(sum(_squared(centered), dims, keepdim) / dof, "VarBackward0", (x,))
    return _var_without_dof(x, dims, keepdim, dof, whole=_dims_arg(dim) is None or not x.ndim)


def _squared(c):
    """|c|^2: c * c for reals; for complex numbers the real c * conj(c) (torch's variance
    of a complex tensor is real)."""
    return ew.real(c * ew.conj(c)) if c._data.dtype.kind == "c" else c * c


def _var_without_dof(x, dims, keepdim, dof, whole):
    """var when dof = N - correction <= 0, with torch's value and torch's gradient.

    The value is S / 0: inf, or nan when every x equals the mean. torch's gradient is
    grad * (inf where x != mean, nan where x == mean) over all elements (`whole`), and
    grad * 2 (x - mean) / dof along given dims. The mean's own path (-2/N sum(x - mean) = 0,
    times an infinite factor: nan) is left out, which keeps the first derivative."""
    centered = x - mean(x, dims, keepdim=True).detach()
    if whole:
        # T > 0 exactly when S > 0, dT/dx = 1 where x != mean and 0 where x == mean: T / 0
        # has S / 0's value, and its gradient is inf, or 0 * inf = nan, as torch's
        moved = ew.cast(centered != 0, x.dtype).detach()
        T = sum(moved * (x - x.detach() + ew.abs(centered).detach()), dims, keepdim)
        return T / 0
    squares = sum(_squared(centered), dims, keepdim)
    if dof == 0:
        return squares / 0
    by_dof = squares / dof                  # the gradient; the value is corrected to S / 0
    return by_dof + (squares / 0 - by_dof).detach()


@in_float32
def std(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    v = var(x, dim, unbiased, keepdim, correction=correction)
    # torch's std gradient is 0 where std is 0 (not 0 * inf): route none through sqrt there
    zero = v == 0
    return named(ew.where(zero, 0.0, ew.sqrt(ew.where(zero, 1.0, v))), "StdBackward0", (x,))


@in_float32
def var_mean(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return grouped((var(x, dim, unbiased, keepdim, correction=correction),
                    mean(x, dim, keepdim)), "VarMeanBackward0", x)


def amax(x, dim=(), keepdim=False):
    return rd.reduce_max(x, _dims_arg(dim), keepdim)


def amin(x, dim=(), keepdim=False):
    return rd.reduce_min(x, _dims_arg(dim), keepdim)


def _extremum(x, dim, keepdim, other, reduce_all, arg, name):
    if isinstance(dim, Tensor):          # torch.max(a, b) is the elementwise maximum
        other, dim = dim, None
    if other is not None:
        return (ew.maximum if name == "max" else ew.minimum)(x, other)
    if dim is None:
        return reduce_all(x, masked=True)
    d = _wrap_dim(dim, x.ndim, name)
    idx = arg(x, d, keepdim=True)
    values = gather(x, d, idx) if x.ndim else x
    if not keepdim and x.ndim:
        values, idx = squeeze(values, d), squeeze(idx, d)
    return structseq(name, ("values", "indices"))(
        named(values, f"{name.capitalize()}Backward0", (x,)), idx)


def max(x, dim=None, keepdim=False, *, other=None):  # noqa: A001
    """max(x) is the largest element; max(x, dim) is (values, indices)."""
    return _extremum(x, dim, keepdim, other, rd.reduce_max, rd.argmax, "max")


def min(x, dim=None, keepdim=False, *, other=None):  # noqa: A001
    return _extremum(x, dim, keepdim, other, rd.reduce_min, rd.argmin, "min")


def _exp_shift(x, dim):
    """What logsumexp subtracts before exp so that it cannot overflow: the maximum along
    dim (of complex values, of the real parts, which alone set exp's size, as torch's),
    detached (it cancels out); 0 for an empty tensor (amax refuses an empty dim)."""
    real = ew.real(x) if x.is_complex() else x
    return rd.reduce_max(real, dim, keepdim=True).detach() if x.numel() else 0.0


def logsumexp(x, dim, keepdim=False):   # torch's composite: bfloat16/float16 round each part
    dims = norm_dims("logsumexp", dim, x.ndim)
    m = _exp_shift(x, dims)
    m = ew.where(ew.isinf(m), 0.0, m)          # all -inf rows: avoid inf - inf
    out = ew.log(rd.reduce_sum(ew.exp(x - m), dims, keepdim=True)) + m
    return out if keepdim else mv.reshape(out, rd.reduced_shape("logsumexp", x.shape, dims, False))


def softmax(x, dim, dtype=None):
    if dtype is not None:
        x = ew.cast(x, dtype)
    return _softmax(x, dim)


def log_softmax(x, dim, dtype=None):
    if dtype is not None:
        x = ew.cast(x, dtype)
    return _log_softmax(x, dim)


def clamp(input, min=None, max=None):  # noqa: A002
    """min(max(x, min), max) with torch's rules: max wins when min > max, a NaN in x or in a
    bound gives NaN, -0.0 stays -0.0 at a 0 bound. The gradient flows where x was kept,
    boundaries included (torch's rule), so this is `where`, not maximum/minimum."""
    x = input
    if min is None and max is None:
        raise RuntimeError("clamp: At least one of 'min' or 'max' must not be None")
    out = x
    if min is not None:
        out = ew.where(_beyond(x, min, ew.lt), min, out)
    if max is not None:     # tested on the clamped value: max wins over a larger min
        out = ew.where(_beyond(out, max, ew.gt), max, out)
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        return named(out, "ClampBackward0", (x, min, max))
    return named(out, "ClampBackward1", (x,))


def _beyond(x, bound, compare):
    """Where clamp replaces x by `bound`: past it, or everywhere the bound is NaN."""
    if not isinstance(bound, Tensor):
        return compare(x, bound) if bound == bound else ew.logical_or(x == x, x != x)
    past = compare(x, bound)
    return ew.logical_or(past, ew.isnan(bound)) if np_kind(bound._data.dtype) == "f" else past


clamp = clip = with_out(clamp, "clamp")     # out=: numpy's np.clip(t, 0, 1) passes it


def prod_dims(shape, dims):
    return math.prod(shape[d] for d in dims)


def norm(x, p=2, dim=None, keepdim=False):
    if x.is_complex():      # the norms of complex values are those of their moduli
        x = ew.abs(x)
    if p == 2 or p == "fro":
        # sqrt's derivative is infinite at 0; torch defines the norm's gradient there as 0
        squares = sum(x * x, dim, keepdim)
        zero = squares == 0
        return ew.where(zero, 0.0, ew.sqrt(ew.where(zero, 1.0, squares)))
    if p == 1:
        return sum(ew.abs(x), dim, keepdim)
    if p == float("inf"):
        return amax(ew.abs(x), () if dim is None else dim, keepdim)
    return ew.pow(sum(ew.pow(ew.abs(x), p), dim, keepdim), 1.0 / p)


def dot(a, b):
    if a.ndim != 1 or b.ndim != 1:
        raise ShapeError(f"dot: 1D tensors expected, but got {a.ndim}D and {b.ndim}D tensors")
    return matmul(a, b)


@autocast_op(LOWER)
def mm(input, mat2):
    a, b = input, mat2
    if a.ndim != 2 or b.ndim != 2:
        raise ShapeError(f"mm: both operands must be 2-D matrices, got shapes "
                         f"{fmt_shape(a.shape)} and {fmt_shape(b.shape)}")
    return matmul(a, b)


@autocast_op(LOWER)
def bmm(input, mat2):
    a, b = input, mat2
    if a.ndim != 3 or b.ndim != 3:
        raise ShapeError(f"bmm: batch1 and batch2 must be 3-D tensors, got shapes "
                         f"{fmt_shape(a.shape)} and {fmt_shape(b.shape)}")
    if a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise ShapeError(f"bmm: Expected size for first two dimensions of batch2 tensor to be: "
                         f"[{a.shape[0]}, {a.shape[2]}] but got: [{b.shape[0]}, {b.shape[1]}] "
                         f"(batch1 {fmt_shape(a.shape)}, batch2 {fmt_shape(b.shape)}).")
    return renamed(matmul(a, b), a, "BmmBackward0")


# --- shape manipulation ----------------------------------------------------------------
def reshape(x, *shape):
    shape = int_sizes("reshape", shape, "shape")
    if x._requires_grad and type(x._data) is np.ndarray and not x._data.flags.c_contiguous:
        return reshape_strided(x, shape)        # a view or a copy, as torch records it
    return mv.reshape(x, shape)


def flatten(x, start_dim=0, end_dim=-1):
    if x.ndim == 0:
        return mv.reshape(x, (1,))
    s, e = _wrap_dim(start_dim, x.ndim, "flatten"), _wrap_dim(end_dim, x.ndim, "flatten")
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    shape = tuple(x.shape)
    return reshape(x, shape[:s] + (prod_dims(shape, range(s, e + 1)),) + shape[e + 1:])


def unflatten(x, dim, sizes):
    d = _wrap_dim(dim, x.ndim, "unflatten")
    shape = tuple(x.shape)
    sizes = mv.infer_shape("unflatten", (shape[d],), tuple(sizes))
    return mv.reshape(x, shape[:d] + sizes + shape[d + 1:])


def squeeze(x, dim=None):
    shape = tuple(x.shape)
    if dim is None:
        dims = [i for i, n in enumerate(shape) if n == 1]
    else:
        dims = [_wrap_dim(d, x.ndim, "squeeze") for d in
                (dim if isinstance(dim, (tuple, list)) else (dim,))]
        dims = [d for d in dims if x.ndim and shape[d] == 1]
    name = "SqueezeBackward0" if dim is None else \
        "SqueezeBackward2" if isinstance(dim, (tuple, list)) else "SqueezeBackward1"
    return renamed(mv.reshape(x, tuple(n for i, n in enumerate(shape) if i not in dims)), x,
                   name)


def unsqueeze(x, dim):
    d = _wrap_dim(dim, x.ndim + 1, "unsqueeze")
    shape = tuple(x.shape)
    return renamed(mv.reshape(x, shape[:d] + (1,) + shape[d:]), x, "UnsqueezeBackward0")


def permute(x, *dims):
    dims = int_sizes("permute", dims, "dims")
    if len(dims) != x.ndim:
        raise ShapeError(f"permute(sparse_coo): number of dimensions in the tensor input does "
                         f"not match the length of the desired ordering of dimensions i.e. "
                         f"input.dim() = {x.ndim} is not equal to len(dims) = {len(dims)}")
    return mv.permute(x, tuple(_wrap_dim(d, x.ndim, "permute") for d in dims))


def transpose(x, dim0, dim1):
    if x.ndim < 2 and dim0 in (0, -1) and dim1 in (0, -1):
        return x
    d0, d1 = _wrap_dim(dim0, x.ndim, "transpose"), _wrap_dim(dim1, x.ndim, "transpose")
    order = list(range(x.ndim))
    order[d0], order[d1] = order[d1], order[d0]
    return renamed(mv.permute(x, tuple(order)), x, "TransposeBackward0")


swapaxes = swapdims = transpose


def t(x):
    if x.ndim > 2:
        raise ShapeError(f"t() expects a tensor with <= 2 dimensions, but self is {x.ndim}D")
    return renamed(mv.permute(x, (1, 0)), x, "TBackward0") if x.ndim == 2 else x


def movedim(x, source, destination):
    src = [_wrap_dim(s, x.ndim, "movedim") for s in np.atleast_1d(source)]
    dst = [_wrap_dim(d, x.ndim, "movedim") for d in np.atleast_1d(destination)]
    order = [i for i in range(x.ndim) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return mv.permute(x, tuple(order))


def expand(x, *sizes):
    sizes = int_sizes("expand", sizes)
    lead = len(sizes) - x.ndim
    if lead < 0:
        raise ShapeError(f"expand: the number of sizes provided ({len(sizes)}) must be greater "
                         f"or equal to the number of dimensions in the tensor ({x.ndim})")
    shape = tuple(x.shape[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(sizes))
    return mv.expand(x, shape)


def expand_as(x, other):
    return mv.expand(x, tuple(other.shape))


def broadcast_to(x, shape):
    return expand(x, shape)     # a tuple of sizes, or one int (torch.broadcast_to(v, 3))


def broadcast_tensors(*xs):
    from .ops.rules import broadcast_shapes
    shape = broadcast_shapes("broadcast_tensors", *[tuple(x.shape) for x in xs])
    return tuple(mv.expand(x, shape) for x in xs)


@autocast_op(PROMOTE)
def cat(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("cat(): expected a non-empty list of Tensors")
    _check_tensors(tensors)
    # torch (legacy) skips 1-D empty tensors in cat among tensors of other ranks; among
    # 1-D ones they stay (so that they get a zero gradient, as in torch)
    kept = tensors if builtins.all(x.ndim == 1 for x in tensors) else \
        [x for x in tensors if not (x.ndim == 1 and x.shape[0] == 0)] or tensors[:1]
    nd = kept[0].ndim
    for k, x in enumerate(kept):
        if x.ndim != nd:
            raise ShapeError(f"cat: Tensors must have same number of dimensions: got {nd} and "
                             f"{x.ndim} (tensor number {k} has shape {fmt_shape(x.shape)})")
    if nd == 0:
        raise ShapeError("cat: zero-dimensional tensor (at position 0) cannot be concatenated")
    d = _wrap_dim(dim, nd, "cat")      # one tensor too: cat returns a new tensor, a copy
    arrays = plain_arrays(kept)
    if arrays is not None:      # nothing to record: concat's own impl, without bind's bookkeeping
        try:
            return Tensor._make(mv.concat_p.impl(*arrays, dim=d))
        except ValueError:
            pass                # sizes differ: concat's rule says how
    return mv.concat(kept, d)


concat = concatenate = cat


@autocast_op(PROMOTE)
def stack(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    _check_tensors(tensors)
    first = tuple(tensors[0]._data.shape)
    d = _wrap_dim(dim, len(first) + 1, "stack")
    shape = first[:d] + (len(tensors),) + first[d:]
    arrays = plain_arrays(tensors, same_shape=True)
    if arrays is not None:      # nothing to record: the primitives' impls, without bind
        if d == len(first):
            arrays = [a[..., None] for a in arrays]     # unsqueeze's view
        return Tensor._make(mv.reshape_p.impl(mv.concat_p.impl(*arrays, dim=d), shape))
    for k, x in enumerate(tensors):
        if x._data.shape != first:
            raise ShapeError(f"stack expects each tensor to be equal size, but got "
                             f"{fmt_shape(first)} at entry 0 and {fmt_shape(x.shape)} at "
                             f"entry {k}")
    if d == len(first):     # a new last dim: each tensor is one column of it
        out = mv.concat([unsqueeze(x, d) for x in tensors], d)
    else:   # joining along d splits into (count, size) row-major: one concat and one view,
        # not one unsqueeze per tensor (stack in a Python loop is what batch sampling does)
        out = mv.reshape(mv.concat(tensors, d), shape)
    return named(out, "StackBackward0", tensors)


def _check_tensors(tensors):
    """torch's TypeError for a list holding something else than tensors."""
    for k, x in enumerate(tensors):
        if not isinstance(x, Tensor):
            kind = type(x)
            name = kind.__name__ if kind.__module__ == "builtins" else \
                f"{kind.__module__}.{kind.__name__}"
            raise TypeError(f"expected Tensor as element {k} in argument 0, but got {name}")


def narrow(x, dim, start, length):
    """x's elements start .. start + length - 1 along dim, a view; torch's errors for a
    start or length outside the dim (never a silently shorter result)."""
    if x.ndim == 0:
        raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
    d = _wrap_dim(dim, x.ndim, "narrow")
    n = x.shape[d]
    low = -n if n else 0
    if not low <= start <= n:
        raise IndexError(f"start out of range (expected to be in range of [{low}, {n}], but "
                         f"got {start})")
    if length < 0:
        raise RuntimeError("narrow(): length must be non-negative.")
    start = start + n if start < 0 else start
    if start + length > n:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size "
                           f"({n}).")
    starts = tuple(start if i == d else 0 for i in range(x.ndim))
    stops = tuple(start + length if i == d else n for i, n in enumerate(x.shape))
    return mv.slice(x, starts, stops, (1,) * x.ndim)


def split(x, split_size_or_sections, dim=0):
    d = _wrap_dim(dim, x.ndim, "split")
    n = x.shape[d]
    if isinstance(split_size_or_sections, (int, np.integer)):
        step = int(split_size_or_sections)
        if step <= 0 and n:
            raise RuntimeError(f"split: split_size must be positive, got {step}")
        sizes = [builtins.min(step, n - i) for i in range(0, n, step)] if n else [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if builtins.sum(sizes) != n:
            raise ShapeError(f"split_with_sizes expects split_sizes to sum exactly to {n} "
                             f"(input tensor's size at dimension {d}), but got split_sizes="
                             f"{sizes}")
    out, start = [], 0
    for s in sizes:
        out.append(narrow(x, d, start, s))
        start += s
    # one torch node for all the pieces (output_groups.py)
    return grouped(tuple(out), "SplitBackward0" if isinstance(
        split_size_or_sections, (int, np.integer)) else "SplitWithSizesBackward0", x,
        views=True)


def chunk(x, chunks, dim=0):
    d = _wrap_dim(dim, x.ndim, "chunk")
    n = x.shape[d]
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    if n == 0:              # torch: `chunks` empty pieces, so that unpacking them works
        return tuple(narrow(x, d, 0, 0) for _ in range(chunks))
    return split(x, -(-n // chunks), d)


def unbind(x, dim=0):
    d = _wrap_dim(dim, x.ndim, "unbind")
    return grouped(tuple(squeeze(s, d) for s in split(x, 1, d)), "UnbindBackward0", x,
                   views=True)


def repeat(x, *sizes):
    sizes = int_sizes("repeat", sizes, "repeats")
    if len(sizes) < x.ndim:
        raise ShapeError(f"repeat: Number of dimensions of repeat dims ({len(sizes)}) can not "
                         f"be smaller than number of dimensions of tensor ({x.ndim})")
    shape = (1,) * (len(sizes) - x.ndim) + tuple(x.shape)
    y = mv.reshape(x, tuple(v for n in shape for v in (1, n)))
    y = mv.expand(y, tuple(v for r, n in zip(sizes, shape) for v in (r, n)))
    # copied, as torch's repeat: a reshape of the broadcast could stay a read-only view
    # with zero strides, which an in-place op (`x.repeat(2, 1, 1, 1).div_(255)`) refused
    out = mv.reshape(ew.contiguous_copy(y), tuple(r * n for r, n in zip(sizes, shape)))
    return named(out, "RepeatBackward0", (x,))      # x.tile() too, as torch's


def tril(x, diagonal=0):
    # the mask depends on shapes only: a constant when traced
    mask = Tensor._make(beside(np.tri(x.shape[-2], x.shape[-1], diagonal, dtype=bool), x._data))
    return ew.row_major(ew.where(mask, x, _zero_of(x)))


def triu(x, diagonal=0):
    mask = Tensor._make(beside(~np.tri(x.shape[-2], x.shape[-1], diagonal - 1, dtype=bool),
                               x._data))
    return ew.row_major(ew.where(mask, x, _zero_of(x)))


def _zero_of(x):
    """0 that keeps x's dtype in where(): False for a bool mask (an int 0 made triu(mask)
    an int64 tensor, which then indexed by position instead of masking)."""
    return False if x._data.dtype == np.bool_ else 0


def masked_fill(x, mask, value):
    if mask._data.dtype != dtypes.BOOL:
        raise DTypeError(f"masked_fill only supports boolean masks, but got mask with dtype "
                         f"{mask.dtype.name}")
    wide = isinstance(value, Tensor)
    out = ew.row_major(ew.where(mask, ew.cast(value, x.dtype) if wide else value, x))
    return named(out, f"MaskedFillBackward{int(wide)}", (x, value)[:1 + wide])


def one_hot(x, num_classes=-1):
    from .creation import arange
    if np_kind(x._data.dtype) not in "iu":
        raise DTypeError(f"one_hot is only applicable to index tensor of integer dtype; got "
                         f"{x.dtype.name}")
    if num_classes == -1:       # the output's shape comes from the values (eager only)
        num_classes = int(x._data.max()) + 1 if x.numel() else 0
    x = check_range(x, 0, 1 << 62, "one_hot: Class values must be non-negative; got {value}",
                    error="RuntimeError")
    x = check_range(x, -(1 << 62), num_classes, "one_hot: Class values must be smaller than "
                    "num_classes ({high}); got {value}", error="RuntimeError")
    return ew.cast(unsqueeze(x, -1) == arange(num_classes, device=x.device), dtypes.I64)


def _all_or_any(name, reduce, empty_value):
    def op(x, dim=None, keepdim=False):
        if x.numel():
            return reduce(ew.cast(x, bool), _dims_arg(dim), keepdim)
        # min/max refuse an empty dim; torch's answer is the identity in the reduced shape
        dims = norm_dims(name, _dims_arg(dim), x.ndim)
        shape = rd.reduced_shape(name, x.shape, dims, keepdim)
        return Tensor._make(np.full(shape, empty_value))
    op.__name__ = name
    return op


all = _all_or_any("all", rd.reduce_min, True)      # noqa: A001 - torch's name
any = _all_or_any("any", rd.reduce_max, False)     # noqa: A001 - torch's name


# answers that are Python values, or whose shape depends on the values: worked out on the
# host (a device tensor's values copied back), results put beside x
def allclose(a, b, rtol=1e-5, atol=1e-8, equal_nan=False):
    return bool(np.allclose(to_host(a._data), to_host(b._data), rtol=rtol, atol=atol,
                            equal_nan=equal_nan))


def equal(a, b):
    return tuple(a.shape) == tuple(b.shape) and bool(np.array_equal(to_host(a._data),
                                                                    to_host(b._data)))


def numel(x):
    return x.numel()


@lerp_fused
@in_float32
def lerp(start, end, weight):
    """start + weight (end - start) for |weight| < 0.5, else end - (1 - weight)(end - start):
    torch's two forms, exact at both ends; their special values (lerp(0, inf, 0.5) is NaN)
    are torch's too."""
    diff = end - start
    if not isinstance(weight, Tensor):
        return start + weight * diff if builtins.abs(weight) < 0.5 else end - diff * (1 - weight)
    return ew.where(ew.abs(weight) < 0.5, start + weight * diff, end - diff * (1 - weight))


def square(x):
    return x * x


def reciprocal(x):
    return named(ew.div(1.0, x), "ReciprocalBackward0", (x,))


def softplus(x, beta=1.0, threshold=20.0):
    """log(1 + exp(beta x)) / beta, linear above threshold as torch does."""
    bx = x * beta
    soft = ew.log1p(ew.exp(ew.where(bx > threshold, 0.0, bx))) / beta
    return ew.where(bx > threshold, x, soft)
