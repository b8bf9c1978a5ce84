"""torch.fake_quantize_per_tensor_affine and torch.fake_quantize_per_channel_affine: the
round trip through an integer grid that quantization-aware training puts in a float model.

    q = clamp(round(x * (1 / scale)) + zero_point, quant_min, quant_max)
    y = (q - zero_point) * scale

as torch's kernels compute it: 1 / scale in float32 (torch's `float inv_scale`), round half
to even (std::nearbyint), and a straight-through gradient: dy/dx is 1 where the unclamped q
lies in [quant_min, quant_max] and 0 outside (torch's cachemask). The qparams get no
gradient, as in torch (only _fake_quantize_learnable_* differentiates them).

Built from primitives (round, clamp, where), so they trace, differentiate and lower like any
elementwise chain; the gradient's mask comes from subtracting where(inside, x.detach() - x,
0), an exact +0.0 that leaves every forward value's bits (a -0.0 included) as torch's.
"""
from . import context, dtypes
from .composite import clamp
from .composite_index import where
from .creation import tensor
from .ops import elementwise as ew
from .tensor import Tensor

_ZERO_POINT_DTYPES = (dtypes.int32, dtypes.float32, dtypes.float16)  # torch's per-channel check


def fake_quantize_per_tensor_affine(input, scale, zero_point, quant_min, quant_max):
    op = "fake_quantize_per_tensor_affine"
    _check_input(op, input)
    _check_range(op, quant_min, quant_max)
    scale, zero_point = (_one_value(op, n, v) for n, v in
                         (("scale", scale), ("zero_point", zero_point)))
    _check_zero_points(op, zero_point, quant_min, quant_max)
    return _fake_quantize(input, scale, zero_point, quant_min, quant_max)


def fake_quantize_per_channel_affine(input, scale, zero_point, axis, quant_min, quant_max):
    op = "fake_quantize_per_channel_affine"
    _check_input(op, input)
    _check_range(op, quant_min, quant_max)
    if not isinstance(scale, Tensor) or not isinstance(zero_point, Tensor):
        raise TypeError(f"{op}(): scale and zero_point must be 1-d tensors, got "
                        f"{type(scale).__name__} and {type(zero_point).__name__}")
    ndim = input.dim()
    if axis < 0:        # torch counts no axis from the end here
        raise RuntimeError(f"{op}: `axis` must be between 0 and number of dimensions of "
                           f"input ({ndim}), got {axis}")
    if axis >= ndim:
        raise IndexError(f"{op}: Dimension out of range (expected to be in range of "
                         f"[{-ndim}, {ndim - 1}], but got {axis})")
    if scale.dim() != 1 or zero_point.dim() != 1 or \
            scale.shape[0] != input.shape[axis] or zero_point.shape[0] != input.shape[axis]:
        raise RuntimeError(f"{op}: dimensions of scale and zero-point are not consistent "
                           f"with input tensor: scale {tuple(scale.shape)}, zero_point "
                           f"{tuple(zero_point.shape)}, input {tuple(input.shape)} along "
                           f"axis {axis} (each must be ({input.shape[axis]},))")
    if scale.dtype not in (dtypes.float32, dtypes.bfloat16):
        raise RuntimeError(f"{op}: Scale must be Float or BFloat16, found {scale.dtype}")
    if zero_point.dtype not in _ZERO_POINT_DTYPES:
        raise RuntimeError(f"{op}: Zero-point must be Int32, Float or Half, found "
                           f"{zero_point.dtype}")
    _check_zero_points(op, zero_point, quant_min, quant_max)
    along = [1] * ndim
    along[axis] = -1            # the qparams broadcast along `axis`
    return _fake_quantize(input, scale.reshape(along), zero_point.reshape(along),
                          quant_min, quant_max)


def _fake_quantize(x, scale, zero_point, quant_min, quant_max):
    scale = scale.detach().to(dtypes.float32)
    zero_point = zero_point.detach().to(dtypes.float32)
    inv_scale = 1.0 / scale                          # float32, as torch's kernels
    wide = x.detach()
    if wide.element_size() < 4:     # C++ promotes a half/bfloat16 x times a float to float
        wide = wide.to(dtypes.float32)
    q = ew.round(wide * inv_scale) + zero_point
    # (q - zero_point) is an integer and sc a float in torch's kernel: the product is a
    # float32, widened to a float64 x's dtype only after
    y = (clamp(q, quant_min, quant_max) - zero_point).to(dtypes.float32) * scale
    y = y.to(x.dtype)
    if not x.requires_grad:
        return y
    inside = (q >= quant_min) & (q <= quant_max)
    # straight through inside, 0 outside; y - (+0.0) keeps y's bits, a -0.0 too
    return y - where(inside, x.detach() - x, 0.0)


def _check_input(op, x):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be Tensor, not {type(x).__name__}")
    if not x.is_floating_point():
        raise NotImplementedError(f"{op}: not implemented for {x.dtype} input (a float "
                                  f"tensor is quantized: float32, float64, float16 or "
                                  f"bfloat16)")


def _check_range(op, quant_min, quant_max):
    if quant_min > quant_max:
        raise RuntimeError(f"{op}: `quant_min` should be less than or equal to `quant_max` "
                           f"(got quant_min={quant_min}, quant_max={quant_max})")


def _one_value(op, name, v):
    """A per-tensor qparam: a number, or a tensor of one element (torch's Tensor overload)."""
    if isinstance(v, Tensor):
        if v.numel() != 1:
            raise RuntimeError(f"{op}: {name} must have one element, got a tensor of shape "
                               f"{tuple(v.shape)} (use fake_quantize_per_channel_affine for "
                               f"one {name} per channel)")
        return v.reshape(())
    return tensor(float(v), dtype=dtypes.float32)


def _check_zero_points(op, zero_point, quant_min, quant_max):
    """torch refuses a zero_point outside [quant_min, quant_max]; a traced one (values not
    known while tracing) is not checked."""
    if context.current() is not None:
        return
    zp = zero_point.detach().numpy()
    if ((zp < quant_min) | (zp > quant_max)).any():
        raise RuntimeError(f"{op}: `zero_point` must be between `quant_min` and `quant_max` "
                           f"(got zero_point={zp.tolist()}, quant_min={quant_min}, "
                           f"quant_max={quant_max})")
