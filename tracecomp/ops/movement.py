"""Movement primitives: reshape, permute, expand, slice, pad, concat, flip.

The first four are views: eagerly they share memory with their input (numpy views), and
backends fold them into index arithmetic. `slice` and `pad` are each other's VJP (as in
XLA): slicing with a step pads back with interior padding, and padding (possibly
negative, i.e. cropping) slices back.
"""
import builtins

import numpy as np

from ..dispatch import bind
from ..errors import ShapeError, fmt_shape
from ..memory_format import laid_out_like_cat
from ..tensor import _wrap_dim
from . import reduce as _reduce  # a cycle (reduce's VJP reshapes): resolved at call time
from .registry import defprim
from .rules import memo_ints, same_dtype

VIEW = ("movement", "view")


def _numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


# --- reshape ---------------------------------------------------------------------------
@memo_ints     # every reshape, view, unsqueeze and flatten asks
def infer_shape(op, old, new):
    """Resolve one -1 in `new` the way torch's view/reshape do."""
    new = tuple(int(d) for d in new)
    if new.count(-1) > 1:
        raise ShapeError(f"{op}: only one dimension can be inferred; got shape {list(new)}")
    total = _numel(old)
    if -1 in new:
        known = _numel(d for d in new if d != -1)
        if known == 0 or total % known:
            raise ShapeError(f"{op}: shape '{list(new)}' is invalid for input of size {total}")
        new = tuple(total // known if d == -1 else d for d in new)
    if any(d < 0 for d in new) or _numel(new) != total:
        raise ShapeError(f"{op}: shape '{list(new)}' is invalid for input of size {total} "
                         f"(input shape {fmt_shape(old)})")
    return new


reshape_p = defprim("reshape", lambda x, shape: x.reshape(shape),
                    lambda x, shape: infer_shape("reshape", x, shape), same_dtype,
                    lambda g, out, x, shape: (reshape(g, tuple(x.shape)),), VIEW, saves=())


def reshape(x, shape):
    shape = infer_shape("reshape", x.shape, shape)
    if tuple(x.shape) == shape:
        return x
    return bind(reshape_p, x, shape=shape)


# --- permute ---------------------------------------------------------------------------
def _permute_rule(x, dims):
    if sorted(dims) != list(range(len(x))):
        raise ShapeError(f"permute: dims {list(dims)} must be a permutation of "
                         f"0..{len(x) - 1} for an input of shape {fmt_shape(x)}")
    return tuple(x[d] for d in dims)


def _permute_vjp(g, out, x, dims):
    inverse = [0] * len(dims)
    for i, d in enumerate(dims):
        inverse[d] = i
    return (permute(g, tuple(inverse)),)


permute_p = defprim("permute", lambda x, dims: x.transpose(dims), _permute_rule,
                    same_dtype, _permute_vjp, VIEW, saves=())


@memo_ints     # a backward permutes several times per linear layer
def _normal_permutation(dims, ndim):
    """dims as non-negative Python ints; None for the identity."""
    normal = tuple(int(d) % max(ndim, 1) for d in dims)
    return None if all(d == i for i, d in enumerate(normal)) else normal


def permute(x, dims):
    dims = _normal_permutation(dims, x.ndim)
    if dims is None:
        return x
    return bind(permute_p, x, dims=dims)


# --- expand (broadcast_to) -------------------------------------------------------------
def _expand_rule(x, shape):
    lead = len(shape) - len(x)
    if lead < 0 or any(d != s and d != 1 for d, s in zip(x, shape[lead:])):
        raise ShapeError(f"expand: the expanded size of the tensor must match the existing "
                         f"size at non-singleton dimensions; cannot expand {fmt_shape(x)} "
                         f"to {fmt_shape(shape)}")
    return tuple(shape)


def _expand_impl(x, shape):
    """np.broadcast_to's read-only view, made directly for a contiguous x: numpy's function
    takes ~15 µs a call (it goes through nditer), several times what the view costs."""
    if not x.flags.forc:
        return np.broadcast_to(x, shape)
    lead = len(shape) - x.ndim
    strides = [0] * lead if lead >= 0 else _expand_rule(x.shape, shape)
    for n, m, s in zip(x.shape, shape[lead:], x.strides):
        if n == m:
            strides.append(s)
        elif n == 1:
            strides.append(0)
        else:                           # eager calls skip the rule: its error, here
            _expand_rule(x.shape, shape)
    out = np.ndarray(shape, x.dtype, x, 0, strides)
    out.flags.writeable = False
    return out


expand_p = defprim("expand", _expand_impl, _expand_rule,
                   same_dtype, lambda g, out, x, shape: (sum_to(g, tuple(x.shape)),), VIEW,
                   saves=())


def expand(x, shape):
    shape = tuple(int(d) for d in shape)
    if tuple(x.shape) == shape:
        return x
    return bind(expand_p, x, shape=shape)


def sum_to(g, shape):
    """Sum g over the dims that broadcasting added or stretched, so it has `shape`."""
    reduce_sum = _reduce.reduce_sum
    shape = tuple(shape)
    if tuple(g.shape) == shape:
        return g
    lead = g.ndim - len(shape)
    stretched = tuple(lead + i for i, d in enumerate(shape) if d == 1 and g.shape[lead + i] != 1)
    if not stretched:           # only added leading dims (a bias): one reduction, no reshape
        return reduce_sum(g, tuple(range(lead)))
    g = reduce_sum(g, tuple(range(lead)) + stretched, keepdim=True)
    return reshape(g, shape)


# --- slice and pad ---------------------------------------------------------------------
def _slice_len(start, stop, step):
    return max(0, (stop - start + step - 1) // step)


def _slice_rule(x, starts, stops, steps):
    out = []
    for n, a, b, s in zip(x, starts, stops, steps):
        if s <= 0:
            raise ShapeError("slice: step must be greater than zero")
        if not 0 <= a <= n or not 0 <= b <= n:
            raise ShapeError(f"slice: bounds {a}:{b} out of range for a dim of size {n}")
        out.append(_slice_len(a, b, s))
    return tuple(out)


@memo_ints
def _slice_key(starts, stops, steps):
    return tuple(builtins.slice(a, b, s) for a, b, s in zip(starts, stops, steps))


def _slice_impl(x, starts, stops, steps):
    return x[_slice_key(starts, stops, steps)]


def _slice_vjp(g, out, x, starts, stops, steps):
    config = []
    for n, a, m, s in zip(x.shape, starts, out.shape, steps):
        hi = n - a - (m - 1) * s - 1 if m else n - a
        config.append((a, hi, s - 1))
    return (pad(g, tuple(config), 0.0),)


slice_p = defprim("slice", _slice_impl, _slice_rule, same_dtype, _slice_vjp, VIEW, saves=())


def slice(x, starts, stops, steps):  # noqa: A001 - the primitive's name
    """x[a:b:s, ...] with explicit, already-normalized per-dim bounds."""
    if all(a == 0 and b == n and s == 1 for a, b, s, n in zip(starts, stops, steps, x.shape)):
        return x
    return bind(slice_p, x, starts=tuple(starts), stops=tuple(stops), steps=tuple(steps))


def _pad_rule(x, config, value):
    if len(config) != len(x):
        raise ShapeError(f"pad: {len(config)} pad entries for an input of {len(x)} dims")
    out = []
    for n, (lo, hi, interior) in zip(x, config):
        d = lo + hi + n + max(n - 1, 0) * interior
        if d < 0 or interior < 0:
            raise ShapeError(f"pad: padding ({lo}, {hi}) makes a dim of size {n} negative")
        out.append(d)
    return tuple(out)


@memo_ints     # a slice's gradient pads: every LSTM gate, every time step
def _pad_plan(shape, config):
    """(the padded shape, where x goes in it, the crop of negative padding after or None)
    for an x of `shape`."""
    grown = [(max(lo, 0), max(hi, 0), interior) for lo, hi, interior in config]
    padded = tuple(lo + hi + n + max(n - 1, 0) * i for n, (lo, hi, i) in zip(shape, grown))
    into = tuple(np.s_[lo:lo + n + max(n - 1, 0) * i:i + 1] for n, (lo, _, i)
                 in zip(shape, grown))
    crop = None
    if any(lo < 0 or hi < 0 for lo, hi, _ in config):
        crop = tuple(np.s_[-min(lo, 0):d + min(hi, 0)] for d, (lo, hi, _) in zip(padded, config))
    return padded, into, crop


def _pad_impl(x, config, value):
    padded, into, crop = _pad_plan(x.shape, config)
    out = np.full(padded, value, dtype=x.dtype)
    out[into] = x
    return out if crop is None else out[crop]


def _pad_vjp(g, out, x, config, value):
    back = pad(g, tuple((-lo, -hi, 0) for lo, hi, _ in config), 0.0)
    return (slice(back, (0,) * x.ndim, tuple(back.shape), tuple(i + 1 for _, _, i in config)),
            None)


pad_p = defprim("pad", _pad_impl, _pad_rule, same_dtype, _pad_vjp, ("movement",), saves=())


@memo_ints
def _pad_config(config):
    """config as tuples of Python ints; None when it pads nothing."""
    if all(c == (0, 0, 0) for c in config):
        return None
    return tuple(tuple(int(v) for v in c) for c in config)


def pad(x, config, value=0.0):
    """Pad (or, with negative amounts, crop) each dim: config[d] = (low, high, interior)."""
    config = _pad_config(config)
    if config is None:
        return x
    return bind(pad_p, x, config=config, value=value)


# --- concat ----------------------------------------------------------------------------
def _concat_rule(*shapes, dim):
    first = shapes[0]
    for k, s in enumerate(shapes[1:], 1):
        if len(s) != len(first) or any(a != b for i, (a, b) in enumerate(zip(first, s))
                                       if i != dim):
            raise ShapeError(f"cat: Sizes of tensors must match except in dimension {dim}. "
                             f"Expected {fmt_shape(first)} but got {fmt_shape(s)} for tensor "
                             f"number {k} in the list")
    return tuple(sum(s[dim] for s in shapes) if i == dim else d for i, d in enumerate(first))


def _concat_dtype(*xs, dim):
    from ..dtypes import result_type
    first = xs[0].dtype
    if all(x.dtype == first for x in xs):    # the usual case, and cheap for a long list
        return first
    return result_type(*xs)


def _concat_vjp(g, out, *xs, dim):
    grads, start = [], 0
    for x in xs:
        stop = start + x.shape[dim]
        starts = tuple(start if i == dim else 0 for i in range(g.ndim))
        stops = tuple(stop if i == dim else n for i, n in enumerate(g.shape))
        grads.append(slice(g, starts, stops, (1,) * g.ndim))
        start = stop
    return tuple(grads)


def _concat_impl(*xs, dim):
    return laid_out_like_cat(np.concatenate(xs, axis=dim), xs)


concat_p = defprim("concat", _concat_impl, _concat_rule,
                   _concat_dtype, _concat_vjp, ("movement",), saves=())


def concat(xs, dim):
    return bind(concat_p, *xs, dim=dim)


# --- flip --------------------------------------------------------------------------------
def _flip_rule(x, dims):
    if any(not 0 <= d < max(len(x), 1) for d in dims):
        raise ShapeError(f"flip: dims {list(dims)} out of range for an input of shape "
                         f"{fmt_shape(x)}")
    return tuple(x)


# a copy, as torch's flip (not a view): no llvm lowering yet, so compiled code runs it as a
# numpy step
flip_p = defprim("flip", lambda x, dims: np.flip(x, dims).copy() if dims else np.array(x),
                 _flip_rule, same_dtype, lambda g, out, x, dims: (flip(g, dims),), ("movement",),
                 saves=())


def flip(x, dims):
    """x reversed along each of the (normalized, non-negative) dims."""
    dims = tuple(d for d in dims if x.ndim and x.shape[d] > 1)
    if not dims:
        return x
    return bind(flip_p, x, dims=dims)


# --- a composite the linear-algebra VJPs need: built from the primitives above ----------
def diag_embed(x, offset=0, dim1=-2, dim2=-1):
    """x's last dim on the offset-th diagonal of new (N, N) matrices: the element i goes to
    flat position i*(N+1) (+ the offset's shift), which padding each element with N zeros
    and the whole with the shift gives; no scatter, so it compiles to index arithmetic."""
    nd = x.ndim + 1
    d1, d2 = _wrap_dim(dim1, nd, "diag_embed"), _wrap_dim(dim2, nd, "diag_embed")
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    if x.ndim == 0:
        x = reshape(x, (1,))
    batch, n = tuple(x.shape[:-1]), x.shape[-1]
    size = n + abs(offset)
    k = len(batch)
    y = reshape(x, batch + (n, 1))
    y = pad(y, ((0, 0, 0),) * k + ((0, 0, 0), (0, size, 0)))
    y = reshape(y, batch + (n * (size + 1),))
    shift = offset if offset >= 0 else -offset * size
    y = pad(y, ((0, 0, 0),) * k + ((shift, size * size - n * (size + 1) - shift, 0),))
    y = reshape(y, batch + (size, size))
    perm = [0] * nd
    others = iter(range(nd - 2))
    for i in range(nd):
        perm[i] = nd - 2 if i == d1 else nd - 1 if i == d2 else next(others)
    return permute(y, tuple(perm))
