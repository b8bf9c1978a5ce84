"""Normalization layers' functions for tracecomp.nn.functional: batch_norm, layer_norm,
group_norm, instance_norm, rms_norm, local_response_norm.

Each normalizes with the biased variance, `(x - mean) * rsqrt(var + eps)`, then applies
the optional per-channel (or per-element) affine weight and bias. batch_norm in training
also updates the running statistics in place, outside the tape, as torch does.
"""

from .. import composite as C
from .. import dtypes
from ..errors import ShapeError, fmt_shape
from ..grad_fn_names import named
from ..grad_mode import no_grad
from ..opmath import in_float32
from ..ops import elementwise as ew
from ..ops import movement as mv


def _normalize(x, dims, eps):
    mean = C.mean(x, dims, keepdim=True)
    centered = x - mean
    var = C.mean(centered * centered, dims, keepdim=True)
    return centered * ew.rsqrt(var + eps), mean, var


def _affine(out, weight, bias, shape):
    if weight is not None:
        out = out * mv.reshape(weight, shape)
    if bias is not None:
        out = out + mv.reshape(bias, shape)
    return out


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Normalize each channel (dim 1) of an (N, C, *) input over every other dim.

    training: with the batch's statistics, and running = (1 - momentum) * running +
    momentum * batch (the variance unbiased) updated in place. Otherwise with the running
    statistics.
    """
    if input.ndim < 2:
        raise ShapeError(f"batch_norm: expected an input of shape (N, C, *), got "
                         f"{fmt_shape(input.shape)}")
    channels = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and t.numel() != channels:
            raise ShapeError(f"{name} should contain {channels} elements not {t.numel()}")
    shape = (1, channels) + (1,) * (input.ndim - 2)
    dims = (0,) + tuple(range(2, input.ndim))
    if training:
        per_channel = input.numel() // channels
        if per_channel <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got "
                             f"input size {input.shape!r}")
        out, mean, var = _normalize(input, dims, eps)
        if running_mean is not None or running_var is not None:
            with no_grad():
                _update(running_mean, mean, momentum)
                _update(running_var, var * (per_channel / (per_channel - 1)), momentum)
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: running_mean and running_var must be given when "
                             "training=False (or pass training=True to use batch statistics)")
        mean = mv.reshape(running_mean, shape)
        out = (input - mean) * ew.rsqrt(mv.reshape(running_var, shape) + eps)
    return named(_affine(out, weight, bias, shape), "NativeBatchNormBackward0",
                 (input, weight, bias))


def _update(running, batch, momentum):
    if running is not None:
        batch = mv.reshape(batch.detach(), tuple(running.shape))
        running.copy_(running * (1 - momentum) + batch * momentum)


@in_float32
def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalize over the trailing dims given by normalized_shape."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else \
        tuple(int(n) for n in normalized_shape)
    k = len(shape)
    if k == 0 or input.ndim < k or tuple(input.shape[input.ndim - k:]) != shape:
        raise ShapeError(f"Given normalized_shape={list(shape)}, expected input with shape "
                         f"[*, {', '.join(str(n) for n in shape)}], but got input of "
                         f"size{fmt_shape(input.shape)}")
    out, _, _ = _normalize(input, tuple(range(input.ndim - k, input.ndim)), eps)
    return named(_affine(out, weight, bias, shape), "NativeLayerNormBackward0",
                 (input, weight, bias))


@in_float32
def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalize each of num_groups channel groups of an (N, C, *) input per sample."""
    if input.ndim < 2 or input.shape[1] % num_groups:
        raise ShapeError(f"Expected number of channels in input to be divisible by "
                         f"num_groups, but got input of shape {fmt_shape(input.shape)} and "
                         f"num_groups={num_groups}")
    n, channels = input.shape[:2]
    grouped = mv.reshape(input, (n, num_groups, -1))
    out, _, _ = _normalize(grouped, (2,), eps)
    out = mv.reshape(out, tuple(input.shape))
    return _affine(out, weight, bias, (1, channels) + (1,) * (input.ndim - 2))


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats=True, momentum=0.1, eps=1e-5):
    """Normalize each (sample, channel) of an (N, C, *) input over its spatial dims. With
    use_input_stats and running stats given, they move towards the batch's average of the
    per-instance statistics (the variance unbiased), as torch's do."""
    if input.ndim < 3:
        raise ShapeError(f"instance_norm: expected an input of shape (N, C, *), got "
                         f"{fmt_shape(input.shape)}")
    channels = input.shape[1]
    shape = (1, channels) + (1,) * (input.ndim - 2)
    dims = tuple(range(2, input.ndim))
    if use_input_stats:
        spatial = input.numel() // (input.shape[0] * channels) if input.numel() else 0
        if spatial <= 1:
            raise ValueError(f"Expected more than 1 spatial element when training, got input "
                             f"size {list(input.shape)}")
        out, mean, var = _normalize(input, dims, eps)
        with no_grad():
            if running_mean is not None:
                _update(running_mean, C.mean(mean, 0), momentum)
            if running_var is not None:
                _update(running_var, C.mean(var, 0) * (spatial / (spatial - 1)), momentum)
    else:
        if running_mean is None or running_var is None:
            raise ValueError("Expected running_mean and running_var to be defined when "
                             "use_input_stats is false")
        out = (input - mv.reshape(running_mean, shape)) * \
            ew.rsqrt(mv.reshape(running_var, shape) + eps)
    return _affine(out, weight, bias, shape)


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """input / sqrt(mean(input^2) + eps) over the trailing normalized_shape dims, times
    weight; eps=None is the dtype's machine epsilon (torch's default)."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else \
        tuple(int(n) for n in normalized_shape)
    k = len(shape)
    if k == 0 or input.ndim < k or tuple(input.shape[input.ndim - k:]) != shape:
        raise ShapeError(f"Given normalized_shape={list(shape)}, expected input with shape "
                         f"[*{', '.join(str(n) for n in shape)}], but got input of "
                         f"size{fmt_shape(input.shape)}")
    if eps is None:
        eps = float(dtypes.finfo_np(dtypes.to_np(input.dtype)).eps)
    dims = tuple(range(input.ndim - k, input.ndim))
    out = input * ew.rsqrt(C.mean(input * input, dims, keepdim=True) + eps)
    return out if weight is None else out * weight


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """input / (k + alpha * mean of x^2 over `size` neighbouring channels) ** beta, the
    window centred (size // 2 before, (size - 1) // 2 after) and zero-padded."""
    if input.ndim < 3:
        raise ValueError(f"Expected 3D or higher dimensionality input (got {input.ndim} "
                         f"dimensions)")
    if input.numel() == 0:
        return input
    channels = input.shape[1]
    config = [(0, 0, 0)] * input.ndim
    config[1] = (size // 2, (size - 1) // 2, 0)
    sq = mv.pad(input * input, tuple(config), 0.0)
    window = sq[:, 0:channels]
    for j in range(1, size):
        window = window + sq[:, j:j + channels]
    div = ew.pow(window * (alpha / size) + k, beta)
    return input / div
