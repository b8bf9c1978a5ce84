"""Normalization layers' functions for tracecomp.nn.functional: batch_norm, layer_norm,
group_norm, instance_norm, rms_norm, local_response_norm.

Each normalizes with the biased variance, `(x - mean) * rsqrt(var + eps)`, then applies
the optional per-channel (or per-element) affine weight and bias. batch_norm in training
also updates the running statistics in place, outside the tape, as torch does.

Dtypes follow torch's CPU kernels (ATen's mixed_type.h): the parameters (weight, bias,
running statistics) share the input's dtype, or, the one mixed case, a float16/bfloat16
input has float32 parameters (a half model's norms kept in float32: CLIP's ModifiedResNet
after convert_weights); any other mixture is torch's "mixed dtype (CPU)" error. A
float16/bfloat16 input is normalized in float32 and the result rounded once to the input's
dtype, as torch's kernel does (its opmath type), the running statistics updated in their
own dtype.
"""

from .. import composite as C
from .. import dtypes
from ..errors import DTypeError, ShapeError, fmt_shape
from ..grad_fn_names import named
from ..grad_mode import no_grad
from ..ops import elementwise as ew
from ..ops import movement as mv

_REDUCED = (dtypes.float16, dtypes.bfloat16)


def _in_opmath(op, input, **params):
    """Whether op computes in float32 (a float16/bfloat16 input), after torch's dtype check
    of its parameters (module docstring); names each dtype in the error."""
    given = {k: t for k, t in params.items() if t is not None}
    odd = [t.dtype for t in given.values() if t.dtype != input.dtype]
    if odd and not (input.dtype in _REDUCED and
                    all(t.dtype == dtypes.float32 for t in given.values())):
        first = next(iter(given.values())).dtype
        # torch's messages: its mixed-dtype check, or (the first parameter having the
        # input's dtype) its kernel's read of another one
        why = f"expected scalar type {_torch_name(input.dtype)} but found " \
            f"{_torch_name(odd[0])}" if first == input.dtype else \
            "mixed dtype (CPU): expect parameter to have scalar type of Float" if any(
                t.dtype != dtypes.float32 for t in given.values()) else \
            "mixed dtype (CPU): all inputs must share same datatype."
        names = ", ".join(f"{k} {t.dtype.name}" for k, t in given.items())
        raise DTypeError(f"{why} ({op}: input {input.dtype.name}, {names}; the parameters "
                         f"must have the input's dtype, or float32 for a float16/bfloat16 "
                         f"input)")
    return input.dtype in _REDUCED


def _torch_name(dtype):
    return dtypes.TORCH_NAMES.get(dtype.np, dtype.name)


def _up(t):
    return t if t is None or t.dtype == dtypes.float32 else ew.cast(t, dtypes.float32)


def _rounded(out, dtype, wide):
    return ew.cast(out, dtype) if wide else out


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
    wide = _in_opmath("batch_norm", input, weight=weight, bias=bias,
                      running_mean=running_mean, running_var=running_var)
    x, w, b = (_up(input), _up(weight), _up(bias)) if wide else (input, weight, bias)
    shape = (1, channels) + (1,) * (input.ndim - 2)
    dims = (0,) + tuple(range(2, input.ndim))
    if training:
        per_channel = input.numel() // channels
        if per_channel <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got "
                             f"input size {input.shape!r}")
        out, mean, var = _normalize(x, dims, eps)
        if running_mean is not None or running_var is not None:
            with no_grad():
                _update(running_mean, mean, momentum)
                _update(running_var, var * (per_channel / (per_channel - 1)), momentum)
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: running_mean and running_var must be given when "
                             "training=False (or pass training=True to use batch statistics)")
        mean = mv.reshape(running_mean, shape)
        out = (x - mean) * ew.rsqrt(mv.reshape(running_var, shape) + eps)
    return named(_rounded(_affine(out, w, b, shape), input.dtype, wide),
                 "NativeBatchNormBackward0", (input, weight, bias))


def _update(running, batch, momentum):
    if running is not None:
        batch = mv.reshape(batch.detach(), tuple(running.shape))
        running.copy_(running * (1 - momentum) + batch * momentum)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalize over the trailing dims given by normalized_shape."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else \
        tuple(int(n) for n in normalized_shape)
    k = len(shape)
    if k == 0 or input.ndim < k or tuple(input.shape[input.ndim - k:]) != shape:
        raise ShapeError(f"Given normalized_shape={list(shape)}, expected input with shape "
                         f"[*, {', '.join(str(n) for n in shape)}], but got input of "
                         f"size{fmt_shape(input.shape)}")
    wide = _in_opmath("layer_norm", input, weight=weight, bias=bias)
    x, w, b = (_up(input), _up(weight), _up(bias)) if wide else (input, weight, bias)
    out, _, _ = _normalize(x, tuple(range(input.ndim - k, input.ndim)), eps)
    return named(ew.row_major(_rounded(_affine(out, w, b, shape), input.dtype, wide)),
                 "NativeLayerNormBackward0", (input, weight, bias))


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalize each of num_groups channel groups of an (N, C, *) input per sample."""
    if input.ndim < 2 or input.shape[1] % num_groups:
        raise ShapeError(f"Expected number of channels in input to be divisible by "
                         f"num_groups, but got input of shape {fmt_shape(input.shape)} and "
                         f"num_groups={num_groups}")
    wide = _in_opmath("group_norm", input, weight=weight, bias=bias)
    x, w, b = (_up(input), _up(weight), _up(bias)) if wide else (input, weight, bias)
    n, channels = input.shape[:2]
    out, _, _ = _normalize(mv.reshape(x, (n, num_groups, -1)), (2,), eps)
    out = _affine(mv.reshape(out, tuple(input.shape)), w, b,
                  (1, channels) + (1,) * (input.ndim - 2))
    return named(_rounded(out, input.dtype, wide), "NativeGroupNormBackward0",
                 (input, weight, bias))


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats=True, momentum=0.1, eps=1e-5):
    """Normalize each (sample, channel) of an (N, C, *) input over its spatial dims. With
    use_input_stats and running stats given, they move towards the batch's average of the
    per-instance statistics (the variance unbiased), as torch's do."""
    if input.ndim < 3:
        raise ShapeError(f"instance_norm: expected an input of shape (N, C, *), got "
                         f"{fmt_shape(input.shape)}")
    wide = _in_opmath("instance_norm", input, weight=weight, bias=bias,
                      running_mean=running_mean, running_var=running_var)
    x, w, b = (_up(input), _up(weight), _up(bias)) if wide else (input, weight, bias)
    channels = input.shape[1]
    shape = (1, channels) + (1,) * (input.ndim - 2)
    dims = tuple(range(2, input.ndim))
    if use_input_stats:
        spatial = input.numel() // (input.shape[0] * channels) if input.numel() else 0
        if spatial <= 1:
            raise ValueError(f"Expected more than 1 spatial element when training, got input "
                             f"size {list(input.shape)}")
        out, mean, var = _normalize(x, dims, eps)
        with no_grad():
            if running_mean is not None:
                _update(running_mean, C.mean(mean, 0), momentum)
            if running_var is not None:
                _update(running_var, C.mean(var, 0) * (spatial / (spatial - 1)), momentum)
    else:
        if running_mean is None or running_var is None:
            raise ValueError("Expected running_mean and running_var to be defined when "
                             "use_input_stats is false")
        out = (x - mv.reshape(running_mean, shape)) * \
            ew.rsqrt(mv.reshape(running_var, shape) + eps)
    return _rounded(_affine(out, w, b, shape), input.dtype, wide)


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
    # torch's composite: in float32 for a float16/bfloat16 input (eps=None is then float32's
    # machine epsilon), times weight in their promoted dtype, the result in input's dtype
    x = _up(input) if input.dtype in _REDUCED else input
    if eps is None:
        eps = float(dtypes.finfo_np(dtypes.to_np(x.dtype)).eps)
    dims = tuple(range(input.ndim - k, input.ndim))
    out = x * ew.rsqrt(C.mean(x * x, dims, keepdim=True) + eps)
    out = out if weight is None else out * weight
    return out if out.dtype == input.dtype else ew.cast(out, input.dtype)


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
