"""Margin, embedding and likelihood losses for tracecomp.nn.functional:
cosine_embedding_loss, margin_ranking_loss, hinge_embedding_loss, soft_margin_loss,
multilabel_soft_margin_loss, multi_margin_loss, triplet_margin_loss,
triplet_margin_with_distance_loss, poisson_nll_loss, gaussian_nll_loss.

Each is torch's formula written with public ops (torch's C++ kernels for the first ones,
its Python for the rest), with the same reductions and argument checks.
"""
import math

import numpy as np

from .. import composite as C
from ..amp.cpu_policy import FP32, autocast_op
from ..composite_reduce import cumsum
from ..creation import ones_like, zeros_like
from ..dtypes import int64
from ..errors import ShapeError, fmt_shape
from ..grad_fn_names import named
from ..ops import elementwise as ew
from ..ops.indexing import check_range, gather, scatter_add
from ..torch_args import scalar_name
from .functional_losses import _check_reduction, _reduce, legacy_reduction

_EPSILON = 1e-12          # torch's cosine_embedding_loss guard on the squared norms


def _relu(x):
    return C.clamp(x, min=0.0)


def _logsigmoid(x):
    return -C.softplus(-x)


@autocast_op(FP32)
def cosine_embedding_loss(input1, input2, target, margin=0, size_average=None, reduce=None,
                          reduction="mean"):
    """1 - cos(x1, x2) where target is 1, max(0, cos - margin) where it is -1."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    if input1.ndim not in (1, 2) or target.ndim != input1.ndim - 1:
        raise ShapeError(f"cosine_embedding_loss: expected 1D (unbatched) or 2D inputs with a "
                         f"0D or 1D target, got input1 {fmt_shape(input1.shape)} and target "
                         f"{fmt_shape(target.shape)}")
    if tuple(input1.shape) != tuple(input2.shape):
        raise ShapeError(f"cosine_embedding_loss: input1 {fmt_shape(input1.shape)} and input2 "
                         f"{fmt_shape(input2.shape)} must have the same size")
    dim = input1.ndim - 1
    prod = C.sum(input1 * input2, dim)
    mag1 = C.sum(input1 * input1, dim) + _EPSILON
    mag2 = C.sum(input2 * input2, dim) + _EPSILON
    cos = prod / ew.sqrt(mag1 * mag2)
    loss = ew.where(target == 1, 1 - cos, 0.0) + \
        ew.where(target == -1, _relu(cos - margin), 0.0)
    return _reduce(loss, reduction)


@autocast_op(FP32)
def margin_ranking_loss(input1, input2, target, margin=0, size_average=None, reduce=None,
                        reduction="mean"):
    """max(0, -target * (x1 - x2) + margin)."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    if not input1.ndim == input2.ndim == target.ndim:
        raise ShapeError(f"margin_ranking_loss : All input tensors should have same dimension "
                         f"but got sizes: input1: {fmt_shape(input1.shape)}, input2: "
                         f"{fmt_shape(input2.shape)}, target: {fmt_shape(target.shape)} ")
    return _reduce(_relu(-target * (input1 - input2) + margin), reduction)


@autocast_op(FP32)
def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None,
                         reduction="mean"):
    """x where target is 1, max(0, margin - x) where it is -1."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    loss = ew.where(target != 1, _relu(margin - input), 0.0) + \
        ew.where(target != -1, input, 0.0)
    return _reduce(loss, reduction)


@autocast_op(FP32)
def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """log(1 + exp(-target * x)) (torch's form, log1p of exp)."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    return named(_reduce(ew.log1p(ew.exp(-input * target)), reduction),
                 "SoftMarginLossBackward0", (input,))


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None,
                                reduction="mean"):
    """Mean over classes of the binary logistic loss of each (sample, class)."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    loss = -(target * _logsigmoid(input) + (1 - target) * _logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    class_dim = input.ndim - 1
    loss = C.sum(loss, class_dim) / input.shape[class_dim]
    return _reduce(loss, reduction)


@autocast_op(FP32)
def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None,
                      reduce=None, reduction="mean"):
    """Per sample: sum over classes i != y of max(0, margin - x[y] + x[i])^p (times
    weight[y]), divided by the number of classes."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if p not in (1, 2):
        raise ValueError("only p == 1 and p == 2 supported")
    if weight is not None and weight.ndim != 1:
        raise ValueError("weight must be one-dimensional")
    if input.ndim not in (1, 2) or target.ndim != max(input.ndim - 1, 0) or (
            input.ndim == 2 and target.shape[0] != input.shape[0]):
        raise ShapeError(f"inconsistent target size: {fmt_shape(target.shape)} for input of "
                         f"size: {fmt_shape(input.shape)}")
    classes = input.shape[-1]
    if weight is not None and weight.numel() != classes:
        raise ShapeError(f"inconsistent weight size, expected {classes} but got "
                         f"{fmt_shape(weight.shape)}")
    x = input if input.ndim == 2 else C.unsqueeze(input, 0)
    t = target if input.ndim == 2 else C.unsqueeze(target, 0)
    y = C.unsqueeze(check_range(t, 0, classes, "target out of range", error="RuntimeError"), 1)
    z = _relu(margin - gather(x, 1, y) + x)
    if p == 2:
        z = z * z
    own = C.one_hot(C.squeeze(y, 1), classes) != 0
    z = ew.where(own, 0.0, z)                   # the target class itself does not count
    if weight is not None:
        z = z * gather(weight, 0, C.squeeze(y, 1))[:, None]
    loss = C.sum(z, 1) / classes
    return named(_reduce(loss if input.ndim == 2 else C.squeeze(loss, 0), reduction),
                 "MultiMarginLossBackward0", (input,))


def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Per sample: the target classes are target's entries before its first -1; sum
    max(0, 1 - x[j] + x[i]) over those entries j (a class given twice counts twice) and
    the classes i not among them, divided by the number of classes."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if target.dtype != int64:
        raise RuntimeError(f"expected scalar type Long but found {scalar_name(target.dtype)}")
    if input.ndim not in (1, 2) or tuple(target.shape) != tuple(input.shape):
        raise ShapeError(f"inconsistent target size: {fmt_shape(target.shape)} for input of "
                         f"size: {fmt_shape(input.shape)}")
    x = input if input.ndim == 2 else C.unsqueeze(input, 0)
    t = target if input.ndim == 2 else C.unsqueeze(target, 0)
    classes = x.shape[1]
    t = check_range(t, -1, classes, "argument #2 'target' is out of range", error="RuntimeError")
    valid = cumsum(t == -1, 1) == 0                       # before the first -1
    chosen = ew.where(valid, t, 0)
    weight = ew.cast(valid, x.dtype)
    is_target = scatter_add(zeros_like(x), 1, chosen, weight) > 0
    z = _relu(1 - C.unsqueeze(gather(x, 1, chosen), 2) + C.unsqueeze(x, 1))   # (N, K, C)
    z = z * C.unsqueeze(weight, 2) * C.unsqueeze(ew.cast(~is_target, x.dtype), 1)
    loss = C.sum(z, (1, 2)) / classes
    return named(_reduce(loss if input.ndim == 2 else C.squeeze(loss, 0), reduction),
                 "MultilabelMarginLossBackward0", (input,))


def _pairwise_distance(x1, x2, p, eps):
    return C.norm(x1 - x2 + eps, p, -1)


@autocast_op(FP32)
def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False,
                        size_average=None, reduce=None, reduction="mean"):
    """max(0, margin + d(a, p) - d(a, n)), d the p-norm pairwise distance; swap uses
    min(d(a, n), d(p, n))."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_triplet(anchor, positive, negative)
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    d_pos = _pairwise_distance(anchor, positive, p, eps)
    d_neg = _pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = ew.minimum(d_neg, _pairwise_distance(positive, negative, p, eps))
    return _reduce(_relu(margin + d_pos - d_neg), reduction)


def _check_triplet(anchor, positive, negative):
    a, p, n = anchor.ndim, positive.ndim, negative.ndim
    if not a == p == n:
        raise ShapeError(f"The anchor, positive, and negative tensors are expected to have the "
                         f"same number of dimensions, but got: anchor {a}D, positive {p}D, and "
                         f"negative {n}D inputs")


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None,
                                      margin=1.0, swap=False, reduction="mean"):
    """triplet_margin_loss with any distance (default: pairwise_distance)."""
    _check_reduction(reduction)
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    _check_triplet(anchor, positive, negative)
    dist = distance_function or (lambda x, y: _pairwise_distance(x, y, 2.0, 1e-6))
    d_pos, d_neg = dist(anchor, positive), dist(anchor, negative)
    if swap:
        d_neg = ew.minimum(d_neg, dist(positive, negative))
    return _reduce(_relu(margin + d_pos - d_neg), reduction)


@autocast_op(FP32)
def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8,
                     reduce=None, reduction="mean"):
    """exp(x) - target * x (log_input), or x - target * log(x + eps); full adds the
    Stirling term for targets above 1."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not a valid value for reduction")
    if log_input:
        loss = ew.exp(input) - target * input
    else:
        loss = input - target * ew.log(input + eps)
    if full:
        safe = ew.where(target <= 1, 1.0, target)     # log(0) would put NaN into the grad
        stirling = safe * ew.log(safe) - safe + ew.log(safe * (2 * math.pi)) * 0.5
        loss = loss + ew.where(target <= 1, 0.0, stirling)
    return _reduce(loss, reduction)


def _gaussian_var(input, var):
    if isinstance(var, (int, float)):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        return ones_like(input) * float(var)
    data = var._data
    if isinstance(data, np.ndarray) and np.any(data < 0):     # eager only: data-dependent
        raise ValueError("var has negative entry/entries")
    if tuple(var.shape) == tuple(input.shape):
        return var
    if tuple(input.shape[:-1]) == tuple(var.shape):
        return C.unsqueeze(var, -1)
    if input.ndim == var.ndim and \
            sum(y for x, y in zip(input.shape, var.shape) if x != y) == 1:
        return var
    raise ValueError("var is of incorrect size")


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """0.5 * (log(var) + (input - target)^2 / var), var clamped to >= eps in value only
    (its gradient passes the clamp, as torch's in-place clamp under no_grad does)."""
    var = _gaussian_var(input, var)
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not valid")
    var = var + (C.clamp(var, min=eps) - var).detach()
    diff = input - target
    loss = (ew.log(var) + diff * diff / var) * 0.5
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)
