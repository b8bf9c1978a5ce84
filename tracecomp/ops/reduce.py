"""Reduction primitives: sum, max, min over dims, and argmax/argmin.

`reduce_max`/`reduce_min` are torch's amax/amin: their gradient is shared evenly among
tied maxima. `max(dim=...)` (values, indices) is built from argmax + gather in
`composite.py`, so its gradient goes to the one index torch picks.
"""
import numpy as np

from .. import dtypes
from ..dispatch import bind
from ..dtypes import np_kind
from ..errors import DTypeError, DTypeNotImplemented, ShapeError, fmt_shape
from ..memory_format import fresh_row_major, row_major
from . import movement as _movement  # a cycle (sum_to reduces): resolved at call time
from .registry import defprim
from .rules import norm_dims


def reduced_shape(op, shape, dims, keepdim):
    if dims is None:
        dims = tuple(range(len(shape)))
    return tuple(1 if i in dims else d for i, d in enumerate(shape)) if keepdim else \
        tuple(d for i, d in enumerate(shape) if i not in dims)


def _reduce_rule(op, empty_ok=True):
    def rule(x, dims, keepdim, masked=False):     # masked: max/min's gradient, see above
        empty = [d for d in dims if x[d] == 0]
        if not empty_ok and empty and len(dims) == len(x):   # as torch: reducing everything
            raise ShapeError(f"{op}(): Expected reduction dim to be specified for input.numel() "
                             f"== 0. Specify the reduction dim with the 'dim' argument; the "
                             f"input of shape {fmt_shape(x)} is empty along dims {dims}")
        if not empty_ok and empty:                           # as torch: one named empty dim
            raise IndexError(f"{op}(): Expected reduction dim {empty[0]} to have non-zero "
                             f"size; the input has shape {fmt_shape(x)}")
        return reduced_shape(op, x, dims, keepdim)
    return rule


def _sum_dtype(x, dims, keepdim):
    return x.dtype if np_kind(np.dtype(x.dtype)) in "fc" else dtypes.I64


def _extremum_dtype(kernel):
    """amax/amin keep the dtype; complex numbers have no order (torch's words)."""
    def rule(x, *_, **__):
        if np.dtype(x.dtype).kind == "c":
            raise DTypeNotImplemented(f'"{kernel}" not implemented for '
                                      f"'{dtypes.TORCH_NAMES[np.dtype(x.dtype)]}'")
        return x.dtype
    return rule


def _restore(g, shape, dims, keepdim):
    """g reshaped to the keepdim shape and broadcast back to `shape`."""
    if not keepdim:
        g = _movement.reshape(g, reduced_shape("sum", shape, dims, True))
    return _movement.expand(g, tuple(shape))


def _sum_vjp(g, out, x, dims, keepdim):
    return (_restore(g, x.shape, dims, keepdim),)


def _extremum_vjp(g, out, x, dims, keepdim, masked=False):
    """amax/amin (torch's scale_grad_by_count): g * mask / count, so a NaN in g reaches
    every element. `masked` (torch's max()/min() of all elements, evenly_distribute):
    g / count written into the maxima only, a NaN maximum selecting the NaNs."""
    from .elementwise import cast, isnan, where
    from .movement import expand, reshape
    if not keepdim:
        out = reshape(out, reduced_shape("amax", x.shape, dims, True))
    out = expand(out, tuple(x.shape))
    hit = x == out
    if masked and np_kind(x._data.dtype) == "f":
        hit = hit | (isnan(x) & isnan(out))
    mask = cast(hit, g.dtype)
    count = reduce_sum(mask, dims, True)
    g = _restore(g, x.shape, dims, keepdim)
    return (where(hit, g / count, 0.0) if masked else g * mask / count,)


def _np_reduce(ufunc, fallback):
    """ufunc.reduce skips numpy's Python-level wrapper (several µs a call); bools and ints
    take the wrapper, which widens them (np.add.reduce on bools would be a logical or).
    The result is row-major, as torch's (numpy's follows a permuted input's order)."""
    def impl(x, dims, keepdim, masked=False):
        if np_kind(x.dtype) in "fc":
            return row_major(ufunc.reduce(x, axis=dims, keepdims=keepdim))
        return row_major(fallback(x, axis=dims, keepdims=keepdim))
    return impl


reduce_sum_p = defprim("reduce_sum", _np_reduce(np.add, np.sum), _reduce_rule("sum"),
                       _sum_dtype, _sum_vjp, ("reduce",), saves=())
reduce_max_p = defprim("reduce_max", _np_reduce(np.maximum, np.max),
                       _reduce_rule("amax", False), _extremum_dtype("max_values_cpu"),
                       _extremum_vjp,
                       ("reduce",), saves=(0, "out"))
reduce_min_p = defprim("reduce_min", _np_reduce(np.minimum, np.min),
                       _reduce_rule("amin", False), _extremum_dtype("min_values_cpu"),
                       _extremum_vjp,
                       ("reduce",), saves=(0, "out"))


def _arg_impl(fn):
    def impl(x, dim, keepdim):
        if dim is None:
            r = fn(x.reshape(-1), axis=0)
            return np.reshape(r, (1,) * x.ndim) if keepdim else np.asarray(r)
        return fn(x, axis=dim, keepdims=keepdim)
    return fresh_row_major(impl)


def _arg_rule(op):
    def rule(x, dim, keepdim):
        # torch refuses only an empty reduced dim: argmax(dim=1) of a [0, 3] tensor is a [0]
        if dim is None:
            if int(np.prod(x)) == 0:
                raise IndexError(f"{op}(): Expected reduction dim to be specified for "
                                 f"input.numel() == 0; the input of shape {fmt_shape(x)} is "
                                 f"empty")
            return (1,) * len(x) if keepdim else ()
        if x[dim] == 0:
            raise IndexError(f"{op}(): Expected reduction dim {dim} to have non-zero size; the "
                             f"input has shape {fmt_shape(x)}")
        return reduced_shape(op, x, (dim,), keepdim)
    return rule


def _arg_dtype(op):
    def rule(x, **_):
        if np.dtype(x.dtype).kind == "c":
            raise DTypeError(f"{op}(): does not support complex input")
        return dtypes.I64
    return rule


argmax_p = defprim("argmax", _arg_impl(np.argmax), _arg_rule("argmax"), _arg_dtype("argmax"),
                   None, ("reduce", "index"))
argmin_p = defprim("argmin", _arg_impl(np.argmin), _arg_rule("argmin"), _arg_dtype("argmin"),
                   None, ("reduce", "index"))


def reduce_sum(x, dims=None, keepdim=False):
    return bind(reduce_sum_p, x, dims=norm_dims("sum", dims, x.ndim), keepdim=bool(keepdim))


def _extremum(prim, op):
    def reduce(x, dims=None, keepdim=False, masked=False):
        """masked=True: torch's max()/min() gradient (see _extremum_vjp); the param is only
        set then, so graphs of amax/amin print as they always have."""
        extra = {"masked": True} if masked else {}
        return bind(prim, x, dims=norm_dims(op, dims, x.ndim), keepdim=bool(keepdim), **extra)
    reduce.__name__ = prim.name
    return reduce


reduce_max = _extremum(reduce_max_p, "amax")
reduce_min = _extremum(reduce_min_p, "amin")


def argmax(x, dim=None, keepdim=False):
    d = None if dim is None else norm_dims("argmax", dim, x.ndim)
    return bind(argmax_p, x, dim=None if d is None else (d[0] if d else None), keepdim=keepdim)


def argmin(x, dim=None, keepdim=False):
    d = None if dim is None else norm_dims("argmin", dim, x.ndim)
    return bind(argmin_p, x, dim=None if d is None else (d[0] if d else None), keepdim=keepdim)


# --- product -------------------------------------------------------------------------------
def _prod_vjp(g, out, x, dims, keepdim):
    """d prod / d x_k is the product of the other elements: out / x_k without zeros; with
    one zero, the product of the nonzeros at the zero and 0 elsewhere; with two, 0."""
    from .elementwise import cast, conj, where
    from .movement import expand, reshape
    shape = tuple(x.shape)
    zero = x == 0
    count = reduce_sum(cast(zero, dtypes.I64), dims, True)
    others = reduce_prod(where(zero, 1.0, x), dims, True)
    if not keepdim:
        out = reshape(out, reduced_shape("prod", shape, dims, True))
    full = where(count == 0, expand(out, shape) / where(zero, 1.0, x),
                 where((count == 1) & zero, expand(others, shape), 0.0))
    return (_restore(g, shape, dims, keepdim) * conj(full),)


# torch's Vectorized<BFloat16/Half> width in its CPU reduction loop (binary_kernel_reduce_vec)
# as torch 2.13's CPU build runs it here: its four accumulators span 4 * LANES elements
LANES = 16


_prod_wide = _np_reduce(np.multiply, np.prod)     # every other dtype


def _prod_impl(x, dims, keepdim):
    """torch's prod kernel multiplies bfloat16 and float16 in their own dtype, each product
    rounded (not in float32, as its sum does): along a contiguous row, elements past the
    first 4 * LANES * (n // (4 * LANES)) one by one after those blocks, which multiply in
    four vector accumulators, then pairwise, then lane by lane; across rows (an outer dim),
    one by one down each column. numpy's float16 reduce would keep the product in float32."""
    if x.dtype not in dtypes.REDUCED or not x.ndim:
        return _prod_wide(x, dims, keepdim)
    kept = [d for d in range(x.ndim) if d not in dims]
    rows = x.transpose(kept + list(dims)).reshape([x.shape[d] for d in kept] + [-1])
    n, block = rows.shape[-1], 4 * LANES
    start = n // block * block if x.ndim - 1 in dims else 0
    out = np.ones(rows.shape[:-1], x.dtype)
    if start:
        blocks = rows[..., :start].reshape(rows.shape[:-1] + (start // block, 4, LANES))
        acc = blocks[..., 0, :, :]
        for i in range(1, blocks.shape[-3]):
            acc = acc * blocks[..., i, :, :]
        pairs = (acc[..., 0, :] * acc[..., 1, :]) * (acc[..., 2, :] * acc[..., 3, :])
        out = pairs[..., 0]
        for j in range(1, LANES):
            out = out * pairs[..., j]
    for i in range(start, n):
        out = out * rows[..., i]
    return out.reshape(reduced_shape("prod", x.shape, dims, True)) if keepdim else out


# "own_rounding": bind and compiled graphs leave its bfloat16/float16 operand as it is
reduce_prod_p = defprim("reduce_prod", _prod_impl, _reduce_rule("prod"), _sum_dtype, _prod_vjp,
                        ("reduce", "own_rounding"), saves=(0, "out"))


def reduce_prod(x, dims=None, keepdim=False):
    return bind(reduce_prod_p, x, dims=norm_dims("prod", dims, x.ndim), keepdim=bool(keepdim))
