"""tracecomp.nn.functional (F): torch.nn.functional's names, arguments and numbers.

Every function composes public ops, so the tape and the tracer see only primitives.
Activations are written so their gradients match torch's at the kinks too (leaky_relu is
`where(x > 0, x, x * slope)`, hardtanh passes no gradient at its bounds). `inplace=True`
computes out of place and commits the result into the input (torch's in-place rules:
a leaf that requires grad refuses). The rest lives beside this file and is re-exported
here: more activations (functional_activation.py), attention (functional_attention.py),
convolution and 2-D pooling (functional_conv.py), conv1d and transposed convolutions
(functional_conv_nd.py), embedding and embedding_bag (functional_embedding.py), 1-D
pooling (functional_pool1d.py), interpolation and pixel shuffle (functional_resample.py),
normalization (functional_norm.py) and the losses (functional_losses.py,
functional_losses_more.py).
"""
import math
import warnings

import numpy as np

from .. import composite as C
from .. import dtypes
from .. import inplace as _inplace
from ..amp.cpu_policy import LOWER, autocast_op
from ..composite_linalg import vector_norm as _vector_norm
from ..creation import full
from ..errors import ShapeError, fmt_shape
from ..grad_fn_names import named, renamed
from ..opmath import in_float32
from ..ops import elementwise as ew
from ..ops import movement as mv
from ..ops.linalg import matmul
from ..overrides import (  # noqa: F401  (torch.nn.functional's names for them)
    handle_torch_function,
    has_torch_function,
    has_torch_function_unary,
    has_torch_function_variadic,
)
from ..random import bernoulli
from ..tensor import Tensor
from ..torch_args import write_out
from ..triangle_indices import triu_indices
from ..user_code import user_stacklevel as _user_stacklevel  # private: F's names are traced

# functional_activation and functional_attention read F's own functions at call time, so
# importing them here (a cycle) is harmless
from .functional_activation import (  # noqa: F401
    celu,
    celu_,
    elu_,
    glu,
    gumbel_softmax,
    hardshrink,
    hardsigmoid,
    hardswish,
    hardtanh_,
    leaky_relu_,
    prelu,
    relu_,
    rrelu,
    rrelu_,
    selu_,
    softmin,
    softshrink,
    tanhshrink,
    threshold,
    threshold_,
)
from .functional_adaptive3d import adaptive_avg_pool3d, adaptive_max_pool3d  # noqa: F401
from .functional_attention import (  # noqa: F401
    _canonical_mask,
    _none_or_dtype,
    multi_head_attention_forward,
    scaled_dot_product_attention,
)
from .functional_conv import (  # noqa: F401
    adaptive_avg_pool2d,
    adaptive_max_pool2d,
    avg_pool2d,
    conv2d,
    fold,
    max_pool2d,
    unfold,
)
from .functional_conv3d import avg_pool3d, conv3d, conv_transpose3d, max_pool3d  # noqa: F401
from .functional_conv_nd import conv1d, conv_transpose1d, conv_transpose2d  # noqa: F401
from .functional_ctc import ctc_loss  # noqa: F401
from .functional_embedding import embedding, embedding_bag  # noqa: F401
from .functional_fractional import (  # noqa: F401
    fractional_max_pool2d,
    fractional_max_pool2d_with_indices,
    fractional_max_pool3d,
    fractional_max_pool3d_with_indices,
)
from .functional_grid import affine_grid, grid_sample  # noqa: F401
from .functional_losses import (  # noqa: F401
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    kl_div,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)
from .functional_losses_more import (  # noqa: F401
    cosine_embedding_loss,
    gaussian_nll_loss,
    hinge_embedding_loss,
    margin_ranking_loss,
    multi_margin_loss,
    multilabel_margin_loss,
    multilabel_soft_margin_loss,
    poisson_nll_loss,
    soft_margin_loss,
    triplet_margin_loss,
    triplet_margin_with_distance_loss,
)
from .functional_lp_pool import lp_pool1d, lp_pool2d, lp_pool3d  # noqa: F401
from .functional_norm import (  # noqa: F401
    batch_norm,
    group_norm,
    instance_norm,
    layer_norm,
    local_response_norm,
    rms_norm,
)
from .functional_pool1d import (  # noqa: F401
    adaptive_avg_pool1d,
    adaptive_max_pool1d,
    avg_pool1d,
    max_pool1d,
)
from .functional_pool_indices import (  # noqa: F401
    adaptive_max_pool1d_with_indices,
    adaptive_max_pool2d_with_indices,
    adaptive_max_pool3d_with_indices,
    max_pool1d_with_indices,
    max_pool2d_with_indices,
    max_pool3d_with_indices,
)
from .functional_resample import (  # noqa: F401
    channel_shuffle,
    interpolate,
    pixel_shuffle,
    pixel_unshuffle,
    upsample,
    upsample_bilinear,
    upsample_nearest,
)
from .functional_unpool import max_unpool1d, max_unpool2d, max_unpool3d  # noqa: F401


def _apply(input, inplace, fn, name):
    """fn(input), or with inplace=True the same result written into input (returned); on
    bfloat16 or float16 in float32, rounded once, as torch's activation kernels compute
    (wrapped only then: F.relu is called often, the wrapping costs ~1.2 us)."""
    if isinstance(input, Tensor) and input._data.dtype in dtypes.REDUCED:
        fn = in_float32(fn)
    if not inplace:
        return fn(input)
    return _inplace.commit(input, fn(_inplace.alias(input)), name + "_")


def _version(name, inplace):
    """torch's node for an activation: `EluBackward0`, `EluBackward1` when in place."""
    return f"{name}Backward{int(bool(inplace))}"


# --- activations -------------------------------------------------------------------------
def relu(input, inplace=False):
    return _apply(input, inplace, ew.relu, "relu")


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """Clamp to [min_val, max_val] with clamp's values (NaN stays NaN, -0.0 at a 0 bound
    stays -0.0); the gradient flows strictly inside only, the bounds get none (torch's
    rule), so x where it is inside and the detached clamp elsewhere."""
    if min_val > max_val:
        raise ValueError(f"min_val cannot be greater than max_val (hardtanh got min_val="
                         f"{min_val}, max_val={max_val})")

    def fn(x):
        inside = ew.logical_and(x > min_val, x < max_val)
        return named(ew.where(inside, x, C.clamp(x, min_val, max_val).detach()),
                     "HardtanhBackward0", (x,))
    return _apply(input, inplace, fn, "hardtanh")


def relu6(input, inplace=False):
    return hardtanh(input, 0.0, 6.0, inplace)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return _apply(input, inplace, lambda x: named(ew.where(x > 0, x, x * negative_slope),
                                                  _version("LeakyRelu", inplace), (x,)),
                  "leaky_relu")


def elu(input, alpha=1.0, inplace=False):
    # expm1 only sees x <= 0, so a large positive x cannot put inf * 0 into the gradient
    def fn(x):
        return named(ew.where(x > 0, x, ew.expm1(ew.where(x > 0, 0.0, x)) * alpha),
                     _version("Elu", inplace), (x,))
    return _apply(input, inplace, fn, "elu")


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input, inplace=False):
    return _apply(input, inplace, lambda x: named(elu(x, _SELU_ALPHA) * _SELU_SCALE,
                                                  _version("Elu", inplace), (x,)), "selu")


@in_float32
def gelu(input, approximate="none"):
    """x * Phi(x) with the exact erf form, or torch's tanh approximation."""
    if approximate == "none":
        out = input * (ew.erf(input * (1 / math.sqrt(2.0))) + 1.0) * 0.5
        return named(out, "GeluBackward0", (input,))
    if approximate == "tanh":
        inner = (input + input * input * input * 0.044715) * math.sqrt(2 / math.pi)
        return named(input * (ew.tanh(inner) + 1.0) * 0.5, "GeluBackward0", (input,))
    raise RuntimeError(f"approximate argument must be either none or tanh. (gelu got "
                       f"approximate={approximate!r})")


def silu(input, inplace=False):
    return _apply(input, inplace, lambda x: named(x * ew.sigmoid(x), "SiluBackward0", (x,)),
                  "silu")


def sigmoid(input):
    return ew.sigmoid(input)


def tanh(input):
    return ew.tanh(input)


@in_float32
def softplus(input, beta=1.0, threshold=20.0):  # noqa: F811 - torch's argument name
    return named(C.softplus(input, beta, threshold), "SoftplusBackward0", (input,))


def mish(input, inplace=False):
    return _apply(input, inplace, lambda x: named(x * ew.tanh(C.softplus(x)), "MishBackward0",
                                                  (x,)), "mish")


@in_float32
def logsigmoid(input):
    # 0 - softplus: logsigmoid(inf) is +0.0 as torch's (a negation would give -0.0)
    return named(0.0 - C.softplus(-input), "LogSigmoidBackward0", (input,))


def softsign(input):
    return input / (ew.abs(input) + 1.0)


def _softmax_dim(name, ndim, dim):
    if dim is not None:
        return dim
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call "
                  f"to include dim=X as an argument.", stacklevel=_user_stacklevel())
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    return C.softmax(input, _softmax_dim("softmax", input.ndim, dim), dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    return C.log_softmax(input, _softmax_dim("log_softmax", input.ndim, dim), dtype)


# --- linear, dropout, embedding ------------------------------------------------------------
@autocast_op(LOWER)
@in_float32(mixed=False)
def linear(input, weight, bias=None):
    """input @ weight.T + bias (bfloat16: the sum with bias rounded once, as torch's addmm)."""
    if input.ndim and weight.ndim == 2 and input.shape[-1] != weight.shape[1]:
        rows = math.prod(input.shape[:-1])
        raise ShapeError(f"mat1 and mat2 shapes cannot be multiplied ({rows}x{input.shape[-1]}"
                         f" and {weight.shape[1]}x{weight.shape[0]})")
    wt = C.t(weight)
    out = matmul(input, wt)
    if bias is None:
        return out
    # 2-D: torch's one addmm node (for a batch torch views around it; we do not mimic that)
    return named(out + bias, "AddmmBackward0", (bias, input, wt)) if input.ndim == 2 else \
        out + bias


def linear_cross_entropy(input, linear_weight, target, *, linear_bias=None,  # noqa: A002
                         weight=None, reduction="mean", ignore_index=None,
                         label_smoothing=0.0, options=None):
    """cross_entropy(linear(input, linear_weight, linear_bias), target, ...), with torch's
    checks; `ignore_index=None` means -100. linear_weight (C, in), or (C, d1..dK, in) for
    K-dimensional logits (N, C, d1..dK), as torch reshapes it to (C*d1*..*dK, in). `options`
    (nn.LinearCrossEntropyOptions) are accepted, with torch's warning where it ignores
    them; the reference computation runs (modules/linear_cross_entropy_options.py says why)."""
    if input.dim() < 1 or input.dim() > 2:
        raise RuntimeError(f"expected input with dimensionality 1 or 2, got {input.dim()}")
    if linear_weight.dim() < 2:
        raise RuntimeError(f"expected linear_weight with dimensionality at least 2, got "
                           f"{linear_weight.dim()}")
    batches, in_features = tuple(input.shape[:-1]), input.shape[-1]
    if in_features != linear_weight.shape[-1]:
        raise RuntimeError(f"expected equal input and linear_weight last dimensions "
                           f"(in_features), got {input.shape[-1]} and "
                           f"{linear_weight.shape[-1]}, respectively")
    classes, out_features = linear_weight.shape[0], tuple(linear_weight.shape[1:-1])
    if linear_bias is not None and tuple(linear_bias.shape) != (classes, *out_features):
        raise RuntimeError(f"expected linear_bias shape {(classes, *out_features)}, got "
                           f"{tuple(linear_bias.shape)}")
    if out_features and not batches:
        raise RuntimeError(f"K-dimensional loss defined by linear_weight shape "
                           f"{tuple(linear_weight.shape)} requires batched input, (N, "
                           f"{in_features}), got unbatched input with shape "
                           f"{tuple(input.shape)}")
    logits_shape = (*batches, classes, *out_features)
    if tuple(target.shape) == logits_shape and ignore_index is not None:
        raise RuntimeError("ignore_index cannot be specified when target contains "
                           "probabilities")
    if options is not None and (out_features or reduction not in {"mean", "sum", "none"}
                                or label_smoothing != 0.0 or target.dtype != dtypes.int64):
        bias_shape = tuple(linear_bias.shape) if linear_bias is not None else None
        warnings.warn(f"linear_cross_entropy: ``options`` ignored; chunked path needs "
                      f"reduction in {{'mean','sum','none'}}, label_smoothing == 0, "
                      f"target.dtype == int64, out_features == (). Got "
                      f"reduction={reduction!r}, label_smoothing={label_smoothing}, "
                      f"target.dtype={target.dtype}, out_features={out_features}, "
                      f"tracing=False, linear_bias.shape={bias_shape}.",
                      stacklevel=_user_stacklevel())
    if out_features:
        rows = math.prod(out_features, start=classes)
        linear_weight = linear_weight.reshape((rows, in_features))
        if linear_bias is not None:
            linear_bias = linear_bias.reshape(rows)
    logits = linear(input, linear_weight, linear_bias).reshape(logits_shape)
    return cross_entropy(logits, target, weight=weight, reduction=reduction,
                         ignore_index=-100 if ignore_index is None else ignore_index,
                         label_smoothing=label_smoothing)


def bilinear(input1, input2, weight, bias=None):
    """y[..., o] = input1 @ weight[o] @ input2 + bias[o]; weight (out, in1, in2)."""
    if tuple(input1.shape[:-1]) != tuple(input2.shape[:-1]):
        d = next(i for i, (a, b) in enumerate(zip(input1.shape, input2.shape)) if a != b) \
            if input1.ndim == input2.ndim else 0
        raise ShapeError(f"bilinear(): input batch dimensions do not match at dim {d}: got "
                         f"{input1.shape[d]} and {input2.shape[d]}")
    out, n1, n2 = weight.shape
    for k, (x, n) in enumerate(((input1, n1), (input2, n2)), 1):
        if x.shape[-1] != n:
            raise ShapeError(f"bilinear(): input{k} size does not match weight size: got "
                             f"{x.shape[-1]} but expected {n}")
    # (..., in1) @ (in1, out*in2) -> (..., out, in2), then contract in2 with input2
    left = matmul(input1, mv.reshape(mv.permute(weight, (1, 0, 2)), (n1, out * n2)))
    left = mv.reshape(left, tuple(input1.shape[:-1]) + (out, n2))
    y = C.sum(left * C.unsqueeze(input2, -2), -1)
    return y if bias is None else y + bias


def _check_p(p):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _dropout(input, p, training, inplace, mask_shape, name):
    _check_p(p)
    if not training or p == 0.0:
        return input
    keep = bernoulli(full(mask_shape, 1.0 - p, dtype=input.dtype, device=input.device))
    # p = 1 drops everything; torch scales by 0 then rather than dividing by zero
    scale = keep * (0.0 if p == 1.0 else 1.0 / (1.0 - p))
    return _apply(input, inplace, lambda x: x * scale, name)


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability p and scale the rest by 1 / (1 - p)."""
    return _dropout(input, p, training, inplace, tuple(input.shape), "dropout")


def _feature_shape(input, batched=True):
    """One draw per channel: per (N, C) pair of an (N, C, *) input, per C of an unbatched
    (C, *) one."""
    lead = 2 if batched else 1
    return tuple(input.shape[:lead]) + (1,) * (input.ndim - lead)


_CHANNEL_DROPOUT = ("{name}: Received a {dim}-D input to {name}, which is deprecated and will "
                    "result in an error in a future release. To retain the behavior and "
                    "silence this warning, please use dropout instead. Note that {name} "
                    "exists to provide channel-wise dropout on inputs with {k} spatial "
                    "dimensions, a channel dimension, and an optional batch dimension (i.e. "
                    "{lo}D or {hi}D inputs).")


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of an (N, C, L) or unbatched (C, L) input."""
    if input.ndim not in (2, 3):
        raise ShapeError(f"dropout1d: Expected 2D or 3D input, but received a {input.ndim}D "
                         f"input. Note that dropout1d exists to provide channel-wise dropout on "
                         f"inputs with 1 spatial dimension, a channel dimension, and an "
                         f"optional batch dimension (i.e. 2D or 3D inputs).")
    return _dropout(input, p, training, inplace, _feature_shape(input, input.ndim == 3),
                    "dropout1d")


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels: one draw per (N, C) pair of an (N, C, *) input (a 3-D input
    is read as (N, C, L), as torch does, with its warning)."""
    if input.ndim not in (3, 4):
        warnings.warn(_CHANNEL_DROPOUT.format(name="dropout2d", dim=input.ndim, k=2, lo=3,
                                              hi=4), stacklevel=_user_stacklevel())
    if input.ndim == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that "
                      "channel-wise 1D dropout behavior is desired - input is interpreted as "
                      "shape (N, C, L), where C is the channel dim. This behavior will change "
                      "in a future release to interpret the input as one without a batch "
                      "dimension, i.e. shape (C, H, W). To maintain the 1D channel-wise "
                      "dropout behavior, please switch to using dropout1d instead.",
                      stacklevel=_user_stacklevel())
    if input.ndim < 2:
        raise ShapeError(f"dropout2d: Feature dropout requires at least 2 dimensions in the "
                         f"input, got {fmt_shape(input.shape)}")
    return _dropout(input, p, training, inplace, _feature_shape(input), "dropout2d")


def dropout3d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of an (N, C, D, H, W) or unbatched (C, D, H, W) input."""
    if input.ndim not in (4, 5):
        warnings.warn(_CHANNEL_DROPOUT.format(name="dropout3d", dim=input.ndim, k=3, lo=4,
                                              hi=5), stacklevel=_user_stacklevel())
    return _dropout(input, p, training, inplace, _feature_shape(input, input.ndim == 5),
                    "dropout3d")


_SELU_ALPHA_PRIME = 1.7580993408473766       # -scale * alpha of SELU: its negative limit


def _alpha_dropout(input, p, training, inplace, mask_shape, name):
    """Dropout that keeps SELU's mean 0 / variance 1: dropped units go to the negative
    saturation value, then an affine map a * x + b restores the statistics."""
    _check_p(p)
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return _apply(input, inplace, lambda x: x * 0.0, name)
    keep = bernoulli(full(mask_shape, 1.0 - p, dtype=input.dtype, device=input.device))
    a = 1.0 / math.sqrt((_SELU_ALPHA_PRIME ** 2 * p + 1) * (1 - p))
    b = (keep - 1.0) * (_SELU_ALPHA_PRIME * a) + _SELU_ALPHA_PRIME * a * p
    return _apply(input, inplace, lambda x: x * (keep * a) + b, name)


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    return _alpha_dropout(input, p, training, inplace, tuple(input.shape), "alpha_dropout")


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):
    if input.ndim < 2:
        raise ShapeError(f"feature_alpha_dropout: Feature dropout requires at least 2 "
                         f"dimensions in the input, got {fmt_shape(input.shape)}")
    return _alpha_dropout(input, p, training, inplace, _feature_shape(input),
                          "feature_alpha_dropout")


# --- padding -------------------------------------------------------------------------------
def _source_index(n, lo, hi, mode, dim, input, pair):
    """Which input position each output position along one dim reads (non-constant modes)."""
    pos = np.arange(-lo, n + hi)
    if mode == "replicate":
        return np.clip(pos, 0, n - 1)
    if mode == "circular":
        return pos % n
    if max(lo, hi) >= n:
        raise ShapeError(f"Argument #4: Padding size should be less than the corresponding "
                         f"input dimension, but got: padding {pair} at dimension {dim} of "
                         f"input {fmt_shape(input.shape)}")
    return (n - 1) - np.abs((n - 1) - np.abs(pos))          # mirror at both edges


def _index_pad(input, pad, mode):
    k = len(pad) // 2
    if k > 3 or input.ndim not in (k + 1, k + 2):
        raise NotImplementedError(
            f"Padding size {len(pad)} is not supported for {input.ndim}D input tensor.\n"
            f"Supported combinations for non-constant padding:\n"
            f"  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
            f"  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
            f"  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)")
    out = input
    for i in range(k):
        d = input.ndim - 1 - i
        lo, hi = pad[2 * i], pad[2 * i + 1]
        idx = _source_index(input.shape[d], lo, hi, mode, d, input, (lo, hi))
        out = out[(slice(None),) * d + (Tensor._make(idx.astype(np.int64)),)]
    return out


def pad(input, pad, mode="constant", value=None):
    """Pad (or with negative amounts crop) the last len(pad) // 2 dims; pad lists them
    last dim first: (left, right, top, bottom, ...)."""
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2:
        raise ShapeError("Padding length must be divisible by 2")
    if len(pad) // 2 > input.ndim:
        raise ShapeError(f"Padding length should be less than or equal to two times the input "
                         f"dimension but got padding length {len(pad)} and input of dimension "
                         f"{input.ndim}")
    if mode == "constant":
        config = [(0, 0, 0)] * input.ndim
        for i in range(len(pad) // 2):
            config[input.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1], 0)
        out = mv.pad(input, tuple(config), 0.0 if value is None else value)
        # padding by nothing is still a new tensor in torch: writing into the result must
        # not write into the input (mv.pad hands back the input itself)
        return renamed(ew.clone(out), input, "ConstantPadNdBackward0") if out is input else out
    if mode in ("reflect", "replicate", "circular"):
        return _index_pad(input, pad, mode)
    raise NotImplementedError(f"Unrecognised padding mode {mode}")


# --- similarity and one-hot ------------------------------------------------------------------
def one_hot(tensor, num_classes=-1):
    return C.one_hot(tensor, num_classes)


def _clamped_norm(x, dim, eps):
    """||x|| whose value is clamped to >= eps but whose gradient is the unclamped norm's
    (torch clamps a clone in place under no_grad)."""
    n = C.norm(x, 2, dim, keepdim=True)
    return n + (C.clamp(n, min=eps) - n).detach()


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """sum(x1 / max(||x1||, eps) * x2 / max(||x2||, eps)) along dim (torch 2.x's form)."""
    x1, x2 = C.broadcast_tensors(x1, x2)
    return C.sum((x1 / _clamped_norm(x1, dim, eps)) * (x2 / _clamped_norm(x2, dim, eps)), dim)


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """input / max(||input||_p, eps) along dim; with out=, written into out (torch's
    torch.div(..., out=out): spectral norm's power iteration updates its u and v so)."""
    result = input / C.clamp(C.norm(input, p, dim, keepdim=True), min=eps)
    return result if out is None else write_out(out, result, "div")


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """||x1 - x2 + eps||_p over the last dim."""
    return C.norm(x1 - x2 + eps, p, -1, keepdim)

def pdist(input, p=2.0):
    """The p-norm distance of every pair of rows i < j of an (N, M) input, row-major."""
    if input.ndim != 2:
        raise ShapeError(f"pdist only supports 2D tensors, got: {input.ndim}D")
    if p < 0:
        raise RuntimeError("pdist only supports non-negative p values")
    i, j = triu_indices(input.shape[0], input.shape[0], 1, device=input.device)
    return _vector_norm(input[i] - input[j], p, dim=-1)


# a torch name we lack raises NotImplementedError naming it (support.py)
from ..native_ops import native_channel_shuffle  # noqa: E402, F401  (F's name for it too)
from ..support import missing_in as _missing_in  # noqa: E402

__getattr__ = _missing_in("torch.nn.functional")
