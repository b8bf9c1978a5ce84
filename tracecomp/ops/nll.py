"""nll_loss without class weights as one primitive: -input[n, target[n]] along the class dim
(1, or 0 for an unbatched input), kept ("none"), summed or averaged over the targets that
are not `ignore_index` (None: nothing is ignored).

cross_entropy is log_softmax and then this, eagerly after a `compile(model)` forward as
often as not. As a composite it recorded four tape nodes (unsqueeze, gather, sum, div); as
a primitive it is one numpy step and one node, whose VJP is another primitive,
nll_loss_backward: -g (over the count of kept targets, for "mean") at the targets'
positions, as torch's. Traced each is one node; the native backends compute `parts` and
`backward_parts` (passes/decompose.py). The eager impl is `parts` on numpy arrays, op for
op. The targets' range is checked before, by the caller's guard (check_range), eagerly and
in compiled code alike. Class weights stay a composite (nn/functional_losses.py).
"""
import math

import numpy as np

from .. import dtypes
from ..dispatch import bind
from .registry import defprim
from .rules import same_dtype


def class_dim(ndim):
    """The class dim of an input of ndim dims: 1, or 0 for an unbatched input."""
    return 1 if ndim >= 2 else 0


def _shape_rule(x, target, reduction, ignore_index):
    return tuple(target) if reduction == "none" else ()


def _impl(x, target, reduction, ignore_index):
    if x.dtype in dtypes.REDUCED and reduction != "none":   # ("own_rounding": bind keeps it)
        return _reduced_impl(x, target, reduction, ignore_index)
    cdim, every = class_dim(x.ndim), tuple(range(x.ndim))
    if ignore_index is None:
        if x.ndim == 2:     # the usual (N, C) batch: numpy's indexing, ~4x take_along_axis
            picked = x[np.arange(x.shape[0]), target].reshape(-1, 1)
        else:
            picked = np.take_along_axis(x, np.expand_dims(target, cdim), cdim)
        if reduction == "none":
            return -picked.reshape(target.shape)
        total = np.add.reduce(picked, axis=every)
        # numpy's scalar as a 0-d array here, cheaper than bind's generic conversion
        return np.array(-total if reduction == "sum" else total / -picked.size)
    keep = target != ignore_index
    safe = np.where(keep, target, 0)
    weights = keep.astype(x.dtype)
    picked = np.take_along_axis(x, np.expand_dims(safe, cdim), cdim).reshape(target.shape)
    loss = -picked * weights
    if reduction == "none":
        return loss
    total = np.add.reduce(loss, axis=tuple(range(loss.ndim)))
    return total if reduction == "sum" else total / np.add.reduce(
        weights, axis=tuple(range(weights.ndim)))


def _reduced_impl(x, target, reduction, ignore_index):
    """torch's kernel on a bfloat16/float16 (N, C) or (C,) input: the picked losses summed in
    the dtype, each step rounded, in its cascade (_cascade_sum); "mean" divides by the count
    as a number of the dtype, rounded once. (N, C, d...) inputs (torch's 2-d kernel) in
    float32, rounded once."""
    low = x.dtype
    if x.ndim > 2:
        wide = _impl(x.astype(np.float32), target, reduction, ignore_index)
        return np.asarray(wide).astype(low)
    rows, targets = x.reshape(-1, x.shape[-1]), target.reshape(-1)
    keep = np.ones(targets.shape, bool) if ignore_index is None else targets != ignore_index
    picked = rows[np.arange(len(targets)), np.where(keep, targets, 0)]
    total = _cascade_sum(picked, keep)
    if reduction == "sum":
        return np.asarray(total)
    with np.errstate(all="ignore"):     # every target ignored: 0 / 0, NaN as torch's
        return np.asarray(np.float32(total) / np.float32(low.type(keep.sum()))).astype(low)


def _cascade_sum(values, keep, levels=8):
    """-sum(values[keep]) as torch's nll_loss sums it in the values' dtype: partial sums in
    `levels` levels, the lowest taking each value, level j passing its sum up to j + 1 at
    each position b whose bits j * p ... (j + 1) * p - 1 are zero (p = max(4,
    ceil(log2(n)) // levels)), an ignored position passing nothing; then the levels added
    from the lowest. Every step rounded to the dtype (numpy scalars of it)."""
    low = values.dtype.type
    power = max(4, math.ceil(math.log2(max(len(values), 1))) // levels)
    mask = (1 << power) - 1
    part = [low(0)] * levels
    for b in np.flatnonzero(keep).tolist():
        part[0] = low(part[0] - values[b])
        for j in range(levels - 1):
            if b & (mask << (j * power)):
                break
            part[j + 1], part[j] = low(part[j + 1] + part[j]), low(0)
    total = low(0)
    for p in part:
        total = low(total + p)
    return total


def _vjp(g, out, x, target, reduction, ignore_index):
    return (nll_loss_backward(g, target, tuple(x.shape), reduction, ignore_index), None)


nll_loss_p = defprim("nll_loss", _impl, _shape_rule, same_dtype, _vjp, ("index", "own_rounding"),
                     saves=(1,))


# nll_loss_backward: the gradient of nll_loss's input, zeros of its `shape` but -g (over the
# count of kept targets, for "mean") at the targets' positions, as torch's
# nll_loss_backward. One primitive, so that an eager cross_entropy's backward is one numpy
# step instead of ~10 tensor ops (144 us against torch's 56 for a (64, 10) batch); the
# native backends compute backward_parts. Linear in g: its own VJP is nll_loss of the
# cotangent at the same targets.
def _backward_shape_rule(g, target, shape, reduction, ignore_index):
    return tuple(shape)


def _backward_impl(g, target, shape, reduction, ignore_index):
    cdim = class_dim(len(shape))
    at = target.shape[:cdim] + (1,) + target.shape[cdim:]
    keep = None if ignore_index is None else target != ignore_index
    if keep is not None and keep.all():     # nothing ignored (the usual batch): no weights
        keep = None
    if reduction == "none":
        src = -g.reshape(at)
    else:           # 0-d: numpy spreads it over the positions it is put at
        src = -g if reduction == "sum" or keep is not None else -g / max(1, target.size)
    safe = target
    if keep is not None:
        safe = np.where(keep, target, 0)
        weights = keep.reshape(at).astype(g.dtype)
        src = src * weights
        if reduction == "mean":     # every target ignored: zeros, as torch's (not 0 / 0)
            src = src / max(np.add.reduce(weights, axis=tuple(range(weights.ndim))), 1)
    out = np.zeros(shape, g.dtype)
    if len(shape) == 2:     # the usual (N, C) batch: numpy's indexing, ~3x put_along_axis
        out[np.arange(shape[0]), safe] = src.reshape(-1) if src.ndim else src
    else:
        np.put_along_axis(out, safe.reshape(at), src, cdim)    # one position per row
    return out


def _backward_vjp(gx, out, g, target, shape, reduction, ignore_index):
    if not target.numel():      # no targets: the gradient is zeros whatever g is
        from ..creation import zeros_like
        return (zeros_like(g), None)
    return (nll_loss(gx, target, reduction, ignore_index), None)


nll_loss_backward_p = defprim("nll_loss_backward", _backward_impl, _backward_shape_rule,
                              same_dtype, _backward_vjp, ("index",), saves=(0, 1))


def nll_loss_backward(g, target, shape, reduction, ignore_index=None):
    """The gradient of nll_loss(x, target, ...) with x of `shape`, for its output's
    cotangent g."""
    return bind(nll_loss_backward_p, g, target, shape=tuple(shape), reduction=reduction,
                ignore_index=ignore_index)


def backward_parts(g, target, shape, reduction, ignore_index):
    """nll_loss_backward in simpler primitives, on tensors (eager or traced)."""
    from ..creation import full
    from . import elementwise as ew
    from .indexing import scatter_add
    from .movement import expand, reshape
    from .reduce import reduce_sum
    cdim, tshape = class_dim(len(shape)), tuple(target.shape)
    at = tshape[:cdim] + (1,) + tshape[cdim:]       # the target's shape, with the class dim
    if reduction == "none":
        src = reshape(-g, at)
    else:
        scale = -g if reduction == "sum" or ignore_index is not None else \
            -g / max(1, int(np.prod(tshape)))           # (no targets: no positions either)
        src = expand(reshape(scale, (1,) * len(at)), at)
    safe = target
    if ignore_index is not None:
        keep = target != ignore_index
        safe = ew.where(keep, target, 0)
        weights = ew.cast(reshape(keep, at), g.dtype)
        src = src * weights
        if reduction == "mean":     # every target ignored: zeros, as torch's (not 0 / 0)
            src = src / ew.maximum(reduce_sum(weights), 1.0)
    return scatter_add(full(tuple(shape), 0, dtype=g.dtype), cdim, reshape(safe, at), src)


def nll_loss(x, target, reduction, ignore_index=None):
    """The primitive on a checked int64 target of x's shape less its class dim."""
    return bind(nll_loss_p, x, target, reduction=reduction, ignore_index=ignore_index)


def parts(x, target, reduction, ignore_index):
    """nll_loss in simpler primitives, on tensors (eager or traced)."""
    from . import elementwise as ew
    from .indexing import gather
    from .movement import reshape
    from .reduce import reduce_sum
    cdim, shape = class_dim(x.ndim), tuple(target.shape)
    if ignore_index is None:
        picked = gather(x, cdim, reshape(target, shape[:cdim] + (1,) + shape[cdim:]))
        if reduction == "none":
            return -reshape(picked, shape)
        total = reduce_sum(picked)
        return -total if reduction == "sum" else total / -picked.numel()
    keep = target != ignore_index
    return weighted(x, ew.where(keep, target, 0), ew.cast(keep, x.dtype), reduction)


def weighted(x, target, weights, reduction):
    """-x[n, target[n]] * weights[n] along the class dim, kept ("none"), summed, or summed
    over the weights' sum ("mean"): nll_loss where targets may be ignored (a weight of 0),
    and with class weights (nn/functional_losses.py: weights[n] = weight[target[n]])."""
    from .indexing import gather
    from .movement import reshape
    from .reduce import reduce_sum
    cdim, shape = class_dim(x.ndim), tuple(target.shape)
    picked = reshape(gather(x, cdim, reshape(target, shape[:cdim] + (1,) + shape[cdim:])),
                     shape)
    loss = -picked * weights
    if reduction == "none":
        return loss
    total = reduce_sum(loss)
    if reduction == "sum":
        return total
    # every target ignored: torch's loss is 0 / 0 (NaN) and its gradient zeros; total / 0
    # would make the gradient NaN too, and one such batch NaN weights after the step
    from . import elementwise as ew
    count = reduce_sum(weights)
    empty = count == 0
    return total / ew.where(empty, 1.0, count) + ew.where(empty, math.nan, count * 0.0)
