"""nll_loss without class weights as one primitive: -input[n, target[n]] along the class dim
(1, or 0 for an unbatched input), kept ("none"), summed or averaged over the targets that
are not `ignore_index` (None: nothing is ignored).

cross_entropy is log_softmax and then this, eagerly after a `compile(model)` forward as
often as not. As a composite it recorded four tape nodes (unsqueeze, gather, sum, div);
as a primitive it is one numpy step and one node, whose VJP scatters -g (over the count of
kept targets, for "mean") into the targets' positions, as torch's nll_loss_backward does.
Traced it is one node; the native backends compute `parts` (passes/decompose.py). The eager
impl is `parts` on numpy arrays, op for op. The targets' range is checked before, by the
caller's guard (check_range), eagerly and in compiled code alike. Class weights stay a
composite (nn/functional_losses.py).
"""
import numpy as np

from ..dispatch import bind
from .registry import defprim
from .rules import same_dtype


def class_dim(ndim):
    """The class dim of an input of ndim dims: 1, or 0 for an unbatched input."""
    return 1 if ndim >= 2 else 0


def _shape_rule(x, target, reduction, ignore_index):
    return tuple(target) if reduction == "none" else ()


def _impl(x, target, reduction, ignore_index):
    cdim, every = class_dim(x.ndim), tuple(range(x.ndim))
    if ignore_index is None:
        picked = np.take_along_axis(x, np.expand_dims(target, cdim), cdim)
        if reduction == "none":
            return -picked.reshape(target.shape)
        total = np.add.reduce(picked, axis=every)
        return -total if reduction == "sum" else total / -picked.size
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


def _vjp(g, out, x, target, reduction, ignore_index):
    from ..creation import full
    from . import elementwise as ew
    from .indexing import scatter_add
    from .movement import expand, reshape
    from .reduce import reduce_sum
    cdim, shape = class_dim(x.ndim), tuple(target.shape)
    at = shape[:cdim] + (1,) + shape[cdim:]        # the target's shape, with the class dim
    if reduction == "none":
        src = reshape(-g, at)
    else:
        scale = -g if reduction == "sum" or ignore_index is not None else \
            -g / max(1, int(np.prod(shape)))           # (no targets: no positions either)
        src = expand(reshape(scale, (1,) * len(at)), at)
    safe = target
    if ignore_index is not None:
        keep = target != ignore_index
        safe = ew.where(keep, target, 0)
        weights = ew.cast(reshape(keep, at), g.dtype)
        src = src * weights
        if reduction == "mean":
            src = src / reduce_sum(weights)
    return (scatter_add(full(x.shape, 0, dtype=g.dtype), cdim, reshape(safe, at), src), None)


nll_loss_p = defprim("nll_loss", _impl, _shape_rule, same_dtype, _vjp, ("index",))


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
    return total if reduction == "sum" else total / reduce_sum(weights)
