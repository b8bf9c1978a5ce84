"""torch's top-level spellings of torch.nn.functional ops: torch.conv2d, torch.max_pool2d,
torch.dropout(x, p, train), torch.embedding(weight, indices), torch.batch_norm(...),
torch.kl_div(x, y, reduction=1), ...

Each is a thin call into tracecomp.nn.functional with torch 2.13's own (aten) argument
order and defaults: required `train` flags, weight before indices, running statistics after
the affine parameters, and losses whose `reduction` is aten's int (0 none, 1 mean, 2 sum).
None computes anything itself. Declared public beside their definitions (ops/public.py);
the two that torch also has as methods (hardshrink, prelu) join the Tensor method table
here, since Tensor's table is built before nn exists.
"""
import warnings

from . import tensor_methods
from .errors import ShapeError
from .nn import functional as F
from .ops.public import public
from .tensor import Tensor

# the names that are F's own function under the same signature
conv1d = public("torch")(F.conv1d)
conv2d = public("torch")(F.conv2d)
conv3d = public("torch")(F.conv3d)
conv_transpose1d = public("torch")(F.conv_transpose1d)
conv_transpose2d = public("torch")(F.conv_transpose2d)
conv_transpose3d = public("torch")(F.conv_transpose3d)
avg_pool1d = public("torch")(F.avg_pool1d)
adaptive_avg_pool1d = public("torch")(F.adaptive_avg_pool1d)
pixel_shuffle = public("torch")(F.pixel_shuffle)
pixel_unshuffle = public("torch")(F.pixel_unshuffle)
bilinear = public("torch")(F.bilinear)
rms_norm = public("torch")(F.rms_norm)
cosine_similarity = public("torch")(F.cosine_similarity)
pairwise_distance = public("torch")(F.pairwise_distance)
hardshrink = public("torch")(F.hardshrink)
prelu = public("torch")(F.prelu)
selu_ = public("torch")(F.selu_)
celu_ = public("torch")(F.celu_)
rrelu_ = public("torch")(F.rrelu_)
threshold_ = public("torch")(F.threshold_)


# --- pooling: aten's stride=[] means the kernel size; the *_with_indices return both -------
@public("torch")
def max_pool1d(input, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    return F.max_pool1d(input, kernel_size, stride or None, padding, dilation, ceil_mode)


@public("torch")
def max_pool2d(input, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    return F.max_pool2d(input, kernel_size, stride or None, padding, dilation, ceil_mode)


@public("torch")
def max_pool3d(input, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    return F.max_pool3d(input, kernel_size, stride or None, padding, dilation, ceil_mode)


@public("torch")
def max_pool1d_with_indices(input, kernel_size, stride=(), padding=0, dilation=1,
                            ceil_mode=False):
    return tuple(F.max_pool1d(input, kernel_size, stride or None, padding, dilation, ceil_mode,
                              return_indices=True))


@public("torch")
def adaptive_max_pool1d(input, output_size):
    return tuple(F.adaptive_max_pool1d(input, output_size, return_indices=True))


# --- activations: aten's signatures have no inplace flag -------------------------------------
@public("torch")
def selu(input):
    return F.selu(input)


@public("torch")
def celu(input, alpha=1.0):
    return F.celu(input, alpha)


@public("torch")
def threshold(input, threshold, value):
    return F.threshold(input, threshold, value)


def _no_generator(name, training, generator):
    if training and generator is not None:
        raise NotImplementedError(f"torch.{name}: generator= is not supported by tracecomp in "
                                  f"training mode; seed the default generator with "
                                  f"tracecomp.manual_seed instead")


@public("torch")
def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, generator=None):
    _no_generator("rrelu", training, generator)
    return F.rrelu(input, lower, upper, training)


# --- dropout: aten's (input, p, train), all required ------------------------------------------
@public("torch")
def dropout(input, p, train):
    return F.dropout(input, p, train)


@public("torch")
def dropout_(input, p, train):
    return F.dropout(input, p, train, inplace=True)


@public("torch")
def alpha_dropout(input, p, train):
    return F.alpha_dropout(input, p, train)


@public("torch")
def alpha_dropout_(input, p, train):
    return F.alpha_dropout(input, p, train, inplace=True)


def _feature_dropout(input, p, train, inplace):
    """One draw per (N, C) pair of an (N, C, *) input, whatever its rank (aten's)."""
    if input.ndim < 2:
        raise ShapeError("Feature dropout requires at least 2 dimensions in the input")
    return F._dropout(input, p, train, inplace, F._feature_shape(input), "feature_dropout")


@public("torch")
def feature_dropout(input, p, train):
    return _feature_dropout(input, p, train, False)


@public("torch")
def feature_dropout_(input, p, train):
    return _feature_dropout(input, p, train, True)


@public("torch")
def feature_alpha_dropout(input, p, train):
    return F.feature_alpha_dropout(input, p, train)


@public("torch")
def feature_alpha_dropout_(input, p, train):
    return F.feature_alpha_dropout(input, p, train, inplace=True)


# --- embedding and normalization: aten's argument order --------------------------------------
@public("torch")
def embedding(weight, indices, padding_idx=-1, scale_grad_by_freq=False, sparse=False):
    """F.embedding(indices, weight); a negative padding_idx is none (aten's -1)."""
    return F.embedding(indices, weight, padding_idx if padding_idx >= 0 else None,
                       scale_grad_by_freq=scale_grad_by_freq, sparse=sparse)


@public("torch")
def batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps,
               cudnn_enabled):
    return F.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


@public("torch")
def instance_norm(input, weight, bias, running_mean, running_var, use_input_stats, momentum,
                  eps, cudnn_enabled):
    return F.instance_norm(input, running_mean, running_var, weight, bias, use_input_stats,
                           momentum, eps)


@public("torch")
def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5, cudnn_enable=True):
    return F.layer_norm(input, normalized_shape, weight, bias, eps)


@public("torch")
def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5, cudnn_enabled=True):
    return F.group_norm(input, num_groups, weight, bias, eps)


# --- shuffles and distances ------------------------------------------------------------------
channel_shuffle = public("torch")(F.channel_shuffle)
pdist = public("torch")(F.pdist)


# --- losses: aten's int reduction ---------------------------------------------------------------
# torch's Python bindings of these take reduction=0 (none) when it is left out, although the
# aten schemas say Mean (1): torch.kl_div(x, y) is unreduced, torch.kl_div(x, y, 1) the mean
_REDUCTIONS = {0: "none", 1: "mean", 2: "sum"}


def _reduction(op, reduction, position):
    if not isinstance(reduction, int) or isinstance(reduction, bool):
        raise TypeError(f"{op}(): argument 'reduction' (position {position}) must be int, not "
                        f"{type(reduction).__name__}")
    return _REDUCTIONS.get(reduction, "none")        # aten: any other value is unreduced


@public("torch")
def kl_div(input, target, reduction=0, *, log_target=False):
    """aten's mean is over every element, without F's warning about 'batchmean'."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return F.kl_div(input, target, reduction=_reduction("kl_div", reduction, 3),
                        log_target=log_target)


@public("torch")
def margin_ranking_loss(input1, input2, target, margin=0.0, reduction=0):
    return F.margin_ranking_loss(input1, input2, target, margin,
                                 reduction=_reduction("margin_ranking_loss", reduction, 5))


@public("torch")
def hinge_embedding_loss(input, target, margin=1.0, reduction=0):
    return F.hinge_embedding_loss(input, target, margin,
                                  reduction=_reduction("hinge_embedding_loss", reduction, 4))


@public("torch")
def cosine_embedding_loss(input1, input2, target, margin=0.0, reduction=0):
    return F.cosine_embedding_loss(input1, input2, target, margin,
                                   reduction=_reduction("cosine_embedding_loss", reduction, 5))


@public("torch")
def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2.0, eps=1e-6, swap=False,
                        reduction=0):
    return F.triplet_margin_loss(anchor, positive, negative, margin, p, eps, swap,
                                 reduction=_reduction("triplet_margin_loss", reduction, 8))


@public("torch")
def poisson_nll_loss(input, target, log_input, full, eps, reduction):
    return F.poisson_nll_loss(input, target, log_input, full, eps=eps,
                              reduction=_reduction("poisson_nll_loss", reduction, 6))


@public("torch")
def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction=0,
             zero_infinity=False):
    return F.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank,
                      _reduction("ctc_loss", reduction, 6), zero_infinity)


@public("torch")
def binary_cross_entropy_with_logits(input, target, weight=None, pos_weight=None, reduction=0):
    name = "binary_cross_entropy_with_logits"
    return F.binary_cross_entropy_with_logits(input, target, weight, pos_weight=pos_weight,
                                              reduction=_reduction(name, reduction, 5))


# Tensor.hardshrink, Tensor.prelu: into the method table, then onto Tensor
METHODS = {"hardshrink": F.hardshrink, "prelu": F.prelu}
tensor_methods.METHODS.update(METHODS)
for _name, _method in METHODS.items():
    setattr(Tensor, _name, _method)
