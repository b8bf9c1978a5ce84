"""tracecomp.nn.functional (F): torch.nn.functional's names, arguments and numbers.

Every function composes public ops, so the tape and the tracer see only primitives.
Activations are written so their gradients match torch's at the kinks too (leaky_relu is
`where(x > 0, x, x * slope)`, hardtanh passes no gradient at its bounds). `inplace=True`
computes out of place and commits the result into the input (torch's in-place rules:
a leaf that requires grad refuses). Convolution and pooling live in functional_conv.py,
normalization in functional_norm.py, the losses in functional_losses.py; all are
re-exported here.
"""
import math
import warnings

import numpy as np

from .. import composite as C
from .. import inplace as _inplace
from ..creation import bernoulli, full
from ..errors import DTypeError, ShapeError, fmt_shape
from ..grad_mode import no_grad
from ..ops import elementwise as ew
from ..ops import movement as mv
from ..ops.linalg import matmul
from ..tensor import Tensor
from .functional_conv import (  # noqa: F401
    adaptive_avg_pool2d,
    adaptive_max_pool2d,
    avg_pool2d,
    conv2d,
    fold,
    max_pool2d,
    unfold,
)
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
from .functional_norm import batch_norm, group_norm, layer_norm  # noqa: F401


def _apply(input, inplace, fn, name):
    """fn(input), or with inplace=True the same result written into input (returned)."""
    if not inplace:
        return fn(input)
    return _inplace.commit(input, fn(_inplace.alias(input)), name + "_")


# --- activations -------------------------------------------------------------------------
def relu(input, inplace=False):
    return _apply(input, inplace, ew.relu, "relu")


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """Clamp to [min_val, max_val]; the bounds themselves get no gradient (torch's rule)."""
    def fn(x):
        return ew.where(x <= min_val, min_val, ew.where(x >= max_val, max_val, x))
    return _apply(input, inplace, fn, "hardtanh")


def relu6(input, inplace=False):
    return hardtanh(input, 0.0, 6.0, inplace)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return _apply(input, inplace, lambda x: ew.where(x > 0, x, x * negative_slope),
                  "leaky_relu")


def elu(input, alpha=1.0, inplace=False):
    # expm1 only sees x <= 0, so a large positive x cannot put inf * 0 into the gradient
    def fn(x):
        return ew.where(x > 0, x, ew.expm1(ew.where(x > 0, 0.0, x)) * alpha)
    return _apply(input, inplace, fn, "elu")


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input, inplace=False):
    return _apply(input, inplace, lambda x: elu(x, _SELU_ALPHA) * _SELU_SCALE, "selu")


def gelu(input, approximate="none"):
    """x * Phi(x) with the exact erf form, or torch's tanh approximation."""
    if approximate == "none":
        return input * (ew.erf(input * (1 / math.sqrt(2.0))) + 1.0) * 0.5
    if approximate == "tanh":
        inner = (input + input * input * input * 0.044715) * math.sqrt(2 / math.pi)
        return input * (ew.tanh(inner) + 1.0) * 0.5
    raise RuntimeError(f"approximate argument must be either none or tanh. (gelu got "
                       f"approximate={approximate!r})")


def silu(input, inplace=False):
    return _apply(input, inplace, lambda x: x * ew.sigmoid(x), "silu")


def sigmoid(input):
    return ew.sigmoid(input)


def tanh(input):
    return ew.tanh(input)


def softplus(input, beta=1.0, threshold=20.0):
    return C.softplus(input, beta, threshold)


def mish(input, inplace=False):
    return _apply(input, inplace, lambda x: x * ew.tanh(C.softplus(x)), "mish")


def logsigmoid(input):
    return -C.softplus(-input)


def softsign(input):
    return input / (ew.abs(input) + 1.0)


def _softmax_dim(name, ndim, dim):
    if dim is not None:
        return dim
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call "
                  f"to include dim=X as an argument.", stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    return C.softmax(input, _softmax_dim("softmax", input.ndim, dim), dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    return C.log_softmax(input, _softmax_dim("log_softmax", input.ndim, dim), dtype)


# --- linear, dropout, embedding ------------------------------------------------------------
def linear(input, weight, bias=None):
    """input @ weight.T + bias."""
    if input.ndim and weight.ndim == 2 and input.shape[-1] != weight.shape[1]:
        rows = math.prod(input.shape[:-1])
        raise ShapeError(f"mat1 and mat2 shapes cannot be multiplied ({rows}x{input.shape[-1]}"
                         f" and {weight.shape[1]}x{weight.shape[0]})")
    out = matmul(input, C.t(weight))
    return out if bias is None else out + bias


def _check_p(p):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _dropout(input, p, training, inplace, mask_shape, name):
    _check_p(p)
    if not training or p == 0.0:
        return input
    keep = bernoulli(full(mask_shape, 1.0 - p, dtype=input.dtype))
    # p = 1 drops everything; torch scales by 0 then rather than dividing by zero
    scale = keep * (0.0 if p == 1.0 else 1.0 / (1.0 - p))
    return _apply(input, inplace, lambda x: x * scale, name)


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability p and scale the rest by 1 / (1 - p)."""
    return _dropout(input, p, training, inplace, tuple(input.shape), "dropout")


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels: one draw per (N, C) pair of an (N, C, *) input."""
    if input.ndim < 3:
        raise ShapeError(f"dropout2d: expected an input of shape (N, C, H, W), got "
                         f"{fmt_shape(input.shape)}")
    shape = tuple(input.shape[:2]) + (1,) * (input.ndim - 2)
    return _dropout(input, p, training, inplace, shape, "dropout2d")


def _check_indices(input, num):
    if input._data.dtype.kind not in "iu":
        raise DTypeError(f"Expected tensor for argument #1 'indices' to have one of the "
                         f"following scalar types: Long, Int; but got {input.dtype.name} "
                         f"instead (while checking arguments for embedding)")
    data = input._data
    if isinstance(data, np.ndarray) and data.size and (data.min() < 0 or data.max() >= num):
        raise IndexError("index out of range in self")


def _renorm_rows(weight, flat, max_norm, norm_type):
    """torch's embedding_renorm_: looked-up rows whose norm exceeds max_norm are scaled
    down to it, in the weight itself and outside the tape."""
    with no_grad():
        rows = weight[flat]
        norms = C.norm(rows, norm_type, 1, keepdim=True)
        weight[flat] = rows * ew.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0)


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    """weight[input]. The padding_idx row gets no gradient; scale_grad_by_freq divides
    each row's gradient by how often it occurs in input. sparse=True is accepted and
    gives the same (dense) gradient."""
    num = weight.shape[0]
    _check_indices(input, num)
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise AssertionError("Padding_idx must be within num_embeddings")
        padding_idx %= num
    flat = mv.reshape(input, (-1,))
    if max_norm is not None:
        _renorm_rows(weight, flat, max_norm, norm_type)
    out = weight[input]
    if scale_grad_by_freq:
        counts = C.sum(C.one_hot(flat, num), 0)
        freq = C.unsqueeze(ew.cast(counts[input], out.dtype), -1)
        still = out.detach()
        out = still + (out - still) / freq     # the same values, the gradient over count
    if padding_idx is not None:
        out = ew.where(C.unsqueeze(input == padding_idx, -1), out.detach(), out)
    return out


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
        return mv.pad(input, tuple(config), 0.0 if value is None else value)
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


def normalize(input, p=2.0, dim=1, eps=1e-12):
    """input / max(||input||_p, eps) along dim."""
    return input / C.clamp(C.norm(input, p, dim, keepdim=True), min=eps)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """||x1 - x2 + eps||_p over the last dim."""
    return C.norm(x1 - x2 + eps, p, -1, keepdim)

# a torch name we lack raises NotImplementedError naming it (support.py)
from ..support import missing_in as _missing_in  # noqa: E402

__getattr__ = _missing_in("torch.nn.functional")
