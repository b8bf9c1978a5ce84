"""The loss functions of tracecomp.nn.functional, with torch's arguments, reductions and
numbers.

Each loss is composed of public ops, so its gradient comes from the primitives' VJP rules
and the tracer sees nothing new. Where torch's formula has a numerically careful form
(log-sigmoid for BCE-with-logits, the -100 clamp on BCE's logs, xlogy in KL divergence)
the same form is used so values agree at the extremes too. Class-index targets are checked
against the number of classes eagerly: an out-of-range target is an error, never a
silently wrong gather.
"""
import warnings

import numpy as np

from .. import composite as C
from .. import dtypes
from ..amp.cpu_policy import FP32, autocast_op
from ..autograd.function import Function
from ..dtypes import np_kind
from ..errors import BatchSizeError, DTypeError, ShapeError, fmt_shape
from ..grad_fn_names import named
from ..ops import cross_entropy as fused_ce
from ..ops import elementwise as ew
from ..ops import mse, nll
from ..ops.indexing import check_range
from ..tensor import Tensor
from ..user_code import user_stacklevel

REDUCTIONS = ("none", "mean", "sum")


def legacy_reduction(size_average, reduce, reduction):
    """torch's mapping of the deprecated size_average/reduce flags onto `reduction`, and of
    the old name 'elementwise_mean' (pytorch/examples' char_level_rnn) onto 'mean'."""
    if reduction == "elementwise_mean":
        warnings.warn("reduction='elementwise_mean' is deprecated. Please use reduction='mean' "
                      "instead.", stacklevel=user_stacklevel())
        reduction = "mean"
    if size_average is None and reduce is None:
        return reduction
    warnings.warn("size_average and reduce args will be deprecated, please use "
                  "reduction='{}' instead.".format(
                      "mean" if (size_average is not False and reduce is not False)
                      else "sum" if reduce is not False else "none"), stacklevel=user_stacklevel())
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if not reduce:
        return "none"
    return "mean" if size_average else "sum"


def _reduce(loss, reduction):
    if reduction == "none":
        return loss
    if reduction == "mean":
        return C.mean(loss)
    if reduction == "sum":
        return C.sum(loss)
    raise ValueError(f"{reduction} is not a valid value for reduction; valid values are "
                     f"{', '.join(REDUCTIONS)}")


def _check_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction; valid values are "
                         f"{', '.join(REDUCTIONS)}")


def _same_size(name, input, target, fatal):
    """torch warns (or, for BCE, refuses) when target and input sizes differ."""
    if tuple(input.shape) == tuple(target.shape):
        return
    msg = (f"{name}: Using a target size ({fmt_shape(target.shape)}) that is different to "
           f"the input size ({fmt_shape(input.shape)})")
    if fatal:
        raise ValueError(msg + " is deprecated. Please ensure they have the same size.")
    warnings.warn(msg + ". This will likely lead to incorrect results due to broadcasting. "
                  "Please ensure they have the same size.", stacklevel=user_stacklevel())


# --- class-index losses -------------------------------------------------------------------
_INT64, _UINT8 = np.dtype(np.int64), np.dtype(np.uint8)


def _class_dim(input):
    return nll.class_dim(input.ndim)


def _check_class_target(name, input, target, weight, ignore_index):
    """Shapes and dtype of a class-index target for an (N, C, d1, ...) input; returns the
    target behind a range guard (checked whenever the loss runs, compiled too)."""
    if target._data.dtype != _INT64:     # (int64: the usual targets, nothing to check)
        if np_kind(target._data.dtype) not in "iu":
            raise DTypeError(f"{name}: expected target of scalar type Long (class indices) "
                             f"but found {target.dtype.name}; pass class indices as an int64 "
                             f"tensor, or class probabilities with the input's shape and a "
                             f"float dtype")
        if target._data.dtype != _UINT8:
            raise DTypeError(f"{name}: expected target dtype to be Long or Byte, but got "
                             f"{dtypes.TORCH_NAMES.get(target._data.dtype, target.dtype.name)}"
                             f"; convert the class indices with target.long()")
        # uint8 indices widened once here, so the graph's index arithmetic is all int64
        target = ew.cast(target, _INT64)
    if input.ndim < 1:
        raise ShapeError(f"{name}: input must have at least 1 dimension (classes), got a 0-d "
                         f"tensor")
    shape = tuple(input.shape)
    cdim = nll.class_dim(len(shape))
    want = shape[:cdim] + shape[cdim + 1:]
    if tuple(target.shape) != want:
        if input.ndim >= 2 and target.ndim <= 1 or \
                input.ndim > 2 and target.shape[0] != input.shape[0]:
            # a 0-d target counts as batch size 0, as torch counts it
            got = target.shape[0] if target.ndim else 0
            raise BatchSizeError(f"{name}: Expected input batch_size ({input.shape[0]}) to "
                                 f"match target batch_size ({got}).")
        raise ShapeError(f"{name}: expected target of shape {fmt_shape(want)} for input of "
                         f"shape {fmt_shape(input.shape)}, got {fmt_shape(target.shape)}")
    n_classes = shape[cdim]
    if weight is not None and tuple(weight.shape) != (n_classes,):
        raise ShapeError(f"{name}: weight tensor should be defined either for all {n_classes} "
                         f"classes or no classes but got weight tensor of shape: "
                         f"{fmt_shape(weight.shape)}")
    return check_range(target, 0, n_classes, f"{name}: Target {{value}} is out of bounds. "
                       f"Class indices must lie in [0, {n_classes}) (or equal ignore_index="
                       f"{ignore_index}).", ignore=ignore_index)


def _class_weights(target, weight, ignore_index, dtype):
    """Each target position's weight: weight[target], 0 where target == ignore_index."""
    keep = target != ignore_index
    safe = ew.where(keep, target, 0)
    w = ew.cast(keep, dtype) if weight is None else ew.where(keep, weight[safe], 0.0)
    return safe, w


@autocast_op(FP32)
def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """-input[n, target[n]] * weight[target[n]]; 'mean' divides by the summed weights."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    return _nll_loss(input, target, weight, ignore_index, reduction)


def _nll_loss(input, target, weight, ignore_index, reduction):
    """nll_loss once its reduction is checked: cross_entropy's class-index case calls it
    straight (its own autocast wrapper and checks have run)."""
    target = _check_class_target("nll_loss", input, target, weight, ignore_index)
    if weight is None:              # one primitive (ops/nll.py); an eager batch that holds
        return nll.nll_loss(input, target, reduction,   # no ignore_index skips its mask
                            None if _nothing_ignored(target, ignore_index) else ignore_index)
    return nll.weighted(input, *_class_weights(target, weight, ignore_index, input.dtype),
                        reduction)


def _nothing_ignored(target, ignore_index):
    """Whether an eager target holds no ignore_index (the usual batch), so that nll_loss
    skips its mask: the same numbers (x * 1 and a sum of 1s are exact) with less work (the
    loss of a compiled model runs eagerly). Traced, the values are unknown: never."""
    data = target._data
    return type(data) is np.ndarray and data.size > 0 and not (data == ignore_index).any()


_FUSED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _fusable(input, target):
    """Whether cross_entropy may be its one primitive: an eager (N, C) float32/float64 batch
    and int64 class indices (a traced call records log_softmax and nll_loss, which the
    graph's passes know; bfloat16 keeps log_softmax's own rounding)."""
    data, indices = input._data, target._data
    return (type(data) is np.ndarray and data.ndim == 2 and data.dtype in _FUSED_DTYPES
            and type(indices) is np.ndarray and indices.dtype == _INT64)


def _smoothing_term(logp, target, weight, ignore_index, reduction):
    """The label-smoothing part: -sum_c weight_c * logp_c, reduced as torch reduces it."""
    cdim = _class_dim(logp)
    if weight is not None:
        shape = [1] * logp.ndim
        shape[cdim] = logp.shape[cdim]
        logp = logp * C.reshape(weight, shape)
    keep = target != ignore_index
    smooth = ew.where(keep, -C.sum(logp, cdim), 0.0)
    if reduction == "none":
        return smooth
    if reduction == "sum":
        return C.sum(smooth)
    _, w = _class_weights(target, weight, ignore_index, logp.dtype)
    return C.sum(smooth) / C.sum(w)


def _prob_target_loss(logp, target, weight, reduction, label_smoothing):
    cdim = _class_dim(logp)
    n_classes = logp.shape[cdim]
    if label_smoothing > 0:
        target = target * (1 - label_smoothing) + label_smoothing / n_classes
    if weight is not None:
        shape = [1] * logp.ndim
        shape[cdim] = n_classes
        logp = logp * C.reshape(weight, shape)
    terms = -(logp * target)
    if reduction == "none":
        return C.sum(terms, cdim)
    if reduction == "sum":
        return C.sum(terms)
    return C.sum(terms) / (logp.numel() // max(n_classes, 1) if logp.numel() else np.nan)


@autocast_op(FP32)
def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100,
                  reduce=None, reduction="mean", label_smoothing=0.0):
    """log_softmax over the class dim (1, or 0 for unbatched input), then the NLL of class
    indices (with ignore_index and weight) or the cross entropy against class probabilities
    (a float target with the input's shape); label_smoothing mixes in the uniform
    distribution as torch does."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be between 0.0 and 1.0. Got: "
                         f"{label_smoothing}")
    if input.ndim < 1:
        raise ShapeError("cross_entropy: input must have at least 1 dimension (classes), got "
                         "a 0-d tensor")
    if weight is None and label_smoothing == 0 and _fusable(input, target):
        target = _check_class_target("nll_loss", input, target, None, ignore_index)
        if _nothing_ignored(target, ignore_index):     # one primitive (ops/cross_entropy.py)
            return fused_ce.cross_entropy(input, target, reduction)
    logp = C.log_softmax(input, _class_dim(input))
    if np_kind(target._data.dtype) == "f":
        if tuple(target.shape) != tuple(input.shape):
            raise ShapeError(f"cross_entropy: class-probability targets must have the input's "
                             f"shape {fmt_shape(input.shape)}, got {fmt_shape(target.shape)} "
                             f"(class-index targets must be int64)")
        if weight is not None and tuple(weight.shape) != (input.shape[_class_dim(input)],):
            raise ShapeError(f"cross_entropy: weight tensor should be defined either for all "
                             f"{input.shape[_class_dim(input)]} classes or no classes but got "
                             f"weight tensor of shape: {fmt_shape(weight.shape)}")
        return _prob_target_loss(logp, target, weight, reduction, label_smoothing)
    nll = _nll_loss(logp, target, weight, ignore_index, reduction)
    if label_smoothing == 0:
        return nll
    n_classes = input.shape[_class_dim(input)]
    smooth = _smoothing_term(logp, target, weight, ignore_index, reduction)
    return nll * (1 - label_smoothing) + smooth * (label_smoothing / n_classes)


# --- regression losses --------------------------------------------------------------------
@autocast_op(FP32)
def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    reduction = legacy_reduction(size_average, reduce, reduction)
    _same_size("mse_loss", input, target, fatal=False)
    if _one_kind(input, target):       # one primitive: no temporaries kept (ops/mse.py)
        _check_reduction(reduction)
        return mse.mse_loss(input, target, reduction)
    d = input - target
    return named(_reduce(d * d, reduction), "MseLossBackward0", (input, target))


def _one_kind(input, target):
    """Whether input and target are tensors of one shape and floating dtype."""
    return isinstance(target, Tensor) and isinstance(input, Tensor) \
        and tuple(input.shape) == tuple(target.shape) \
        and input.dtype == target.dtype and np_kind(input._data.dtype) == "f"


@autocast_op(FP32)
def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    reduction = legacy_reduction(size_average, reduce, reduction)
    _same_size("l1_loss", input, target, fatal=False)
    return _reduce(ew.abs(input - target), reduction)


@autocast_op(FP32)
def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean",
                   beta=1.0):
    """0.5 d^2 / beta where |d| < beta, else |d| - beta / 2; beta == 0 is the L1 loss."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss does not support negative values for beta, got "
                         f"{beta}")
    _same_size("smooth_l1_loss", input, target, fatal=False)
    d = input - target
    ad = ew.abs(d)
    if beta == 0:       # torch computes the L1 loss then, and names its nodes
        return _reduce(ad, reduction)
    return named(_reduce(ew.where(ad < beta, d * d * (0.5 / beta), ad - 0.5 * beta), reduction),
                 "SmoothL1LossBackward0", (input, target))


@autocast_op(FP32)
def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """0.5 d^2 where |d| < delta, else delta * (|d| - delta / 2)."""
    if delta <= 0:
        raise ValueError(f"huber_loss does not support non-positive values for delta, got "
                         f"{delta}")
    _same_size("huber_loss", input, target, fatal=False)
    d = input - target
    ad = ew.abs(d)
    loss = ew.where(ad < delta, d * d * 0.5, (ad - 0.5 * delta) * delta)
    if weight is not None:
        loss = loss * weight
    return named(_reduce(loss, reduction), "HuberLossBackward0", (input, target))


# --- binary and distribution losses ---------------------------------------------------------
@autocast_op(FP32)
def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                         reduction="mean"):
    """-(t log x + (1 - t) log(1 - x)), each log clamped to >= -100 as torch clamps it."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    _same_size("binary_cross_entropy", input, target, fatal=True)
    # torch's check, as a guard: it runs in compiled code too, on every call
    top = float(np.nextafter(np.array(1, input._data.dtype), 2))  # 1 itself is allowed
    input = check_range(input, 0, top, "all elements of input should be between 0 and 1",
                        error="RuntimeError")
    return named(_reduce(_BinaryCrossEntropy.apply(input, target, weight), reduction),
                 "BinaryCrossEntropyBackward0", (input, target))


class _BinaryCrossEntropy(Function):
    """binary_cross_entropy with torch's own gradients: the loss clamps each log at -100,
    and its derivative is not that clamp's (which is 0 * inf = nan at x = 0 or 1) but
    g (x - t) / max(x (1 - x), 1e-12), and g (log(1 - x) - log(x)) for the target, so a
    sigmoid that saturates to exactly 1 trains as under torch instead of turning to nan."""

    @staticmethod
    def forward(ctx, x, t, w):
        ctx.save_for_backward(x, t, w)
        log_x = C.clamp(ew.log(x), min=-100.0)
        log_1mx = C.clamp(ew.log(1 - x), min=-100.0)
        loss = -(t * log_x + (1 - t) * log_1mx)
        return loss if w is None else loss * w

    @staticmethod
    def backward(ctx, g):
        x, t, w = ctx.saved_tensors
        if w is not None:
            g = g * w
        gx = g * (x - t) / C.clamp(x * (1 - x), min=1e-12) if ctx.needs_input_grad[0] \
            else None
        gt = g * (ew.log1p(-x) - ew.log(x)) if ctx.needs_input_grad[1] else None
        return gx, gt, None


@autocast_op(FP32)
def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None,
                                     reduce=None, reduction="mean", pos_weight=None):
    """(1 - t) x - (1 + (pos_weight - 1) t) log sigmoid(x), written with log-sigmoid so large
    logits neither overflow nor lose the gradient."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    _same_size("binary_cross_entropy_with_logits", input, target, fatal=True)
    log_sig = -C.softplus(-input)
    if pos_weight is None:
        loss = (1 - target) * input - log_sig
    else:
        loss = (1 - target) * input - ((pos_weight - 1) * target + 1) * log_sig
    if weight is not None:
        loss = loss * weight
    return named(_reduce(loss, reduction), "BinaryCrossEntropyWithLogitsBackward0",
                 (input, target))


def _xlogx(t):
    """t * log(t), 0 where t == 0 (and a finite gradient there)."""
    pos = t > 0
    return ew.where(pos, t * ew.log(ew.where(pos, t, 1.0)), 0.0)


@autocast_op(FP32)
def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """Pointwise KL divergence with `input` given as log-probabilities; 'batchmean' divides
    the sum by the batch size (the mathematically correct KL), 'mean' by the element count."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    if reduction not in REDUCTIONS + ("batchmean",):
        raise ValueError(f"{reduction} is not a valid value for reduction; valid values are "
                         f"{', '.join(REDUCTIONS + ('batchmean',))}")
    if reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and "
                      "the support size.'batchmean' divides only by the batch size, and "
                      "aligns with the KL div math definition.'mean' will be changed to "
                      "behave the same as 'batchmean' in the next major release.",
                      stacklevel=user_stacklevel())
    if log_target:
        loss = ew.exp(target) * (target - input)
    else:
        loss = _xlogx(target) - target * input
    if reduction == "batchmean":
        total = C.sum(loss)
        return total / input.shape[0] if input.ndim else total
    return _reduce(loss, reduction)

