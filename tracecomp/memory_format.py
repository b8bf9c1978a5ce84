"""torch.memory_format: the order in which a tensor's elements lie in memory, and the ops
that ask for one (`x.contiguous(memory_format=torch.channels_last)`, `x.to(memory_format=)`,
`clone`, the `*_like` creators, `model.to(memory_format=)`).

A format changes strides only, never values: `channels_last` keeps a 4-D tensor's shape
[N, C, H, W] and lays its elements out as N, H, W, C (strides (HWC, 1, WC, C)), as a numpy
array transposed to NHWC, made contiguous and transposed back. Performance guides
(`model.to(memory_format=torch.channels_last)`) and data loaders use it; tracecomp's eager
ops take any layout, so such programs run and give torch's numbers and strides.

Compiled code computes the same values but lays every result it makes out row-major: a
compiled function's outputs are contiguous whatever format its inputs had.
"""
import functools

import numpy as np

from .named_constants import NamedConstant


class memory_format(NamedConstant):
    """One of torch's memory formats (torch.channels_last, ...)."""

    __slots__ = ()


contiguous_format = memory_format("contiguous_format")
channels_last = memory_format("channels_last")
channels_last_3d = memory_format("channels_last_3d")
preserve_format = memory_format("preserve_format")

# the axes from outermost to innermost in memory, and the rank each format needs
_CHANNELS_LAST = {channels_last: (4, (0, 2, 3, 1)), channels_last_3d: (5, (0, 2, 3, 4, 1))}


def _checked(fmt, op):
    if not isinstance(fmt, memory_format):
        raise TypeError(f"{op}(): argument 'memory_format' must be torch.memory_format, "
                        f"not {type(fmt).__name__}")
    return fmt


def axis_order(fmt, ndim, op="contiguous"):
    """The axes of an ndim-array from outermost to innermost in memory under fmt, "C" for
    row-major, or "K" for preserve_format (the input's own order where it is dense)."""
    fmt = _checked(fmt, op)
    if fmt is preserve_format:
        return "K"
    if fmt is contiguous_format:
        return "C"
    rank, order = _CHANNELS_LAST[fmt]
    if ndim != rank:
        raise RuntimeError(f"required rank {rank} tensor to use {fmt.name} format")
    return order


def copy_in_order(data, order="K"):
    """A copy of numpy array `data` laid out in `order` (axis_order's answer). Size-1 axes
    get the strides torch gives them (the product of the sizes inside them)."""
    if isinstance(order, str):
        return np.array(data, copy=True, order=order)
    out = np.empty([data.shape[a] for a in order], dtype=data.dtype)
    out[...] = data.transpose(order)
    return out.transpose(np.argsort(order))


def is_copy_of_itself(data, fmt):
    """Whether laying `data` out in fmt (x.to(memory_format=fmt)) would give its own
    strides, size-1 axes included: then torch's `to` returns x itself."""
    order = axis_order(fmt, data.ndim, "to")
    if order == "K":
        return True
    axes = range(data.ndim) if order == "C" else order
    expected = data.itemsize
    for axis in reversed(tuple(axes)):
        if data.strides[axis] != expected:
            return False
        expected *= data.shape[axis]
    return True


def is_laid_out(data, fmt):
    """Whether numpy array `data` is contiguous in format fmt (Tensor.is_contiguous), as
    torch decides it: size-1 axes may have any stride, an empty array is contiguous."""
    fmt = _checked(fmt, "is_contiguous")
    if fmt in (contiguous_format, preserve_format):
        return bool(data.flags.c_contiguous)
    rank, order = _CHANNELS_LAST[fmt]
    if data.ndim != rank:
        return False
    if data.size == 0:
        return True
    expected = data.itemsize
    for axis in reversed(order):
        size = data.shape[axis]
        if size != 1:
            if data.strides[axis] != expected:
                return False
            expected *= size
    return True


def like_order(data, fmt, op):
    """The numpy order for a new array shaped like `data` in format fmt (the `*_like`
    creators): fmt's own, or data's where fmt is preserve_format (torch's default)."""
    return axis_order(preserve_format if fmt is None else fmt, data.ndim, op)


def new_like(data, fmt, op, make):
    """`make(shape)`'s array (row-major) laid out as fmt asks for arrays like `data`."""
    order = like_order(data, fmt, op)
    made = make(data.shape)
    if order == "C":
        return made
    if order == "K":                # numpy's "K" keeps data's axis order, as torch does
        out = np.empty_like(data, dtype=made.dtype, order="K")
        out[...] = made
        return out
    return copy_in_order(made, order)


# Tensor.suggest_memory_format: the axes torch walks (C, the spatial axes inner to outer, N)
# to call a 4-D or 5-D array's strides channels-last; any other rank is contiguous
_SUGGEST = {4: (channels_last, (1, 3, 2, 0)), 5: (channels_last_3d, (1, 4, 3, 2, 0))}


def suggested_format(data):
    """The format torch reads from numpy array data's strides (suggest_memory_format):
    channels-last only where they grow from C outwards; ambiguous cases are contiguous."""
    fmt, axes = _SUGGEST.get(data.ndim, (contiguous_format, None))
    if axes is None or data.strides[1] == 0:
        return contiguous_format
    low = 0
    for axis in axes:
        stride, size = data.strides[axis], data.shape[axis]
        if size == 0 or stride < low or (axis == 0 and low == data.strides[1]):
            return contiguous_format
        low = stride * size if size > 1 else stride
    return fmt


def laid_out_like_cat(out, inputs):
    """torch.cat's result (or concatenated numpy array out) in cat's layout: channels-last
    where every input suggests the same channels-last format, else row-major (numpy's
    concatenate would follow its inputs' axis order, which torch's never does)."""
    if out.ndim not in _SUGGEST:
        return out if out.flags.c_contiguous else np.ascontiguousarray(out)
    fmts = {suggested_format(x) for x in inputs}
    fmt = fmts.pop() if len(fmts) == 1 else contiguous_format
    if fmt is not contiguous_format:
        return out if is_laid_out(out, fmt) else copy_in_order(out, _CHANNELS_LAST[fmt][1])
    return row_major(out)


def row_major(out):
    """numpy array out, copied row-major where it is not (0-d arrays and scalars always are)."""
    return out if type(out) is not np.ndarray or out.flags.c_contiguous \
        else np.ascontiguousarray(out)


def fresh_row_major(impl):
    """impl with its result laid out row-major, as torch allocates a reduction's, a scan's
    or a softmax's result: numpy's follows the input's axis order, so a `.view` after a sum
    over a permuted tensor was refused where torch's works."""
    def run(*args, **params):
        return row_major(impl(*args, **params))
    run.__name__ = getattr(impl, "__name__", "impl")
    return run


def pools_keep_channels_last(pool):
    """A 2-d pool answering in its input's suggested format, as torch's do: a channels-last
    batch gives channels-last values (and indices), where the windows' reductions give
    row-major ones. Traced inputs are left alone (compiled results are row-major)."""
    @functools.wraps(pool)
    def run(input, *args, **kwargs):
        out = pool(input, *args, **kwargs)
        data = getattr(input, "_data", None)
        if type(data) is not np.ndarray or suggested_format(data) is not channels_last:
            return out
        if isinstance(out, tuple):
            return tuple(o.contiguous(memory_format=channels_last) for o in out)
        return out.contiguous(memory_format=channels_last)
    return run
