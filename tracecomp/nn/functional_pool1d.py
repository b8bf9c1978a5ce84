"""1-D pooling for tracecomp.nn.functional: max_pool1d, avg_pool1d, adaptive_avg_pool1d,
adaptive_max_pool1d. Each runs the 2-D pooling on a height-1 image, so windows, ties
(first maximum), padding counts and indices (the position along L) are the 2-D rules."""
from .. import composite as C
from ..errors import ShapeError, fmt_shape
from ..opmath import in_float32
from .functional_conv import (
    _check_adaptive_max_input,
    adaptive_avg_pool2d,
    adaptive_max_pool2d,
    avg_pool2d,
    max_pool2d,
)


def _one(v):
    return v[0] if isinstance(v, (tuple, list)) else v


def _check_dims(op, input):
    if input.ndim not in (2, 3):
        if op == "max_pool1d":
            raise ShapeError(f"max_pool1d: Expected 2D or 3D (batch mode) tensor with optional "
                             f"0 dim batch size for input, but got:{fmt_shape(input.shape)}")
        raise ShapeError(f"Expected 2 to 3 dimensions, but got {input.ndim}-dimensional tensor "
                         f"for argument #1 'self' (while checking arguments for {op})")
    # an empty batch is fine, any other empty dimension is not (as torch)
    if op == "max_pool1d" and any(d == 0 for d in input.shape[-2:]):
        raise ShapeError(f"max_pool1d: Expected 2D or 3D (batch mode) tensor with optional 0 dim "
                         f"batch size for input, but got:{fmt_shape(input.shape)}")
    if op == "adaptive_max_pool1d":
        _check_adaptive_max_input(op, input)


def _lift(x):
    return C.unsqueeze(x, -2)       # (N, C, L) -> (N, C, 1, L)


def _drop(x):
    return C.squeeze(x, -2)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    _check_dims("max_pool1d", input)
    stride = None if stride is None or stride == [] or stride == () else (1, _one(stride))
    out = max_pool2d(_lift(input), (1, _one(kernel_size)), stride, (0, _one(padding)),
                     (1, _one(dilation)), ceil_mode, return_indices)
    if return_indices:
        return _drop(out[0]), _drop(out[1])
    return _drop(out)


@in_float32
def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    _check_dims("avg_pool1d", input)
    stride = None if stride is None or stride == [] or stride == () else (1, _one(stride))
    return _drop(avg_pool2d(_lift(input), (1, _one(kernel_size)), stride, (0, _one(padding)),
                            ceil_mode, count_include_pad))


def adaptive_avg_pool1d(input, output_size):
    _check_dims("adaptive_avg_pool1d", input)
    return _drop(adaptive_avg_pool2d(_lift(input), (1, _one(output_size))))


def adaptive_max_pool1d(input, output_size, return_indices=False):
    _check_dims("adaptive_max_pool1d", input)
    out = adaptive_max_pool2d(_lift(input), (1, _one(output_size)), return_indices)
    if return_indices:
        return _drop(out[0]), _drop(out[1])
    return _drop(out)
