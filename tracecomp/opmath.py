"""in_float32: a composite op that torch computes as one kernel works out bfloat16 and float16
in float32 (and lerp_fused, torch's fused lerp kernel on them).

torch's CPU kernels for a bfloat16 or float16 tensor compute in float32 (their "opmath" type)
and round the result once. A bfloat16 or float16 primitive gets that from bind
(dispatch.widen_reduced); a composite op such as mean (a sum, then a division) or
layer_norm would round after each of its primitives instead. Decorated with `in_float32`, it
runs on a float32 copy of its reduced-precision inputs and its floating results are rounded
back once, to the input's dtype, as torch's kernel does; its gradient flows back through the
two casts, so it is rounded once too.
"""
import builtins
import functools

import numpy as np

from . import dtypes
from .ops import elementwise as ew
from .tensor import Tensor

_REDUCED = {dtypes.BF16: dtypes.bfloat16, np.dtype(np.float16): dtypes.float16}


def _up(value):
    if isinstance(value, Tensor) and value._data.dtype in _REDUCED:
        return ew.cast(value, dtypes.float32)
    return value


def _back(value, to):
    if isinstance(value, Tensor) and value._data.dtype == dtypes.F32:
        return ew.cast(value, to)
    if isinstance(value, tuple):
        parts = (_back(v, to) for v in value)
        return type(value)(*parts) if hasattr(value, "_fields") else tuple(parts)
    return value


def in_float32(fn=None, *, mixed=True):
    """fn(input, ...) computed in float32 when input is a bfloat16 or float16 tensor (see
    above): its reduced-precision tensor arguments (input, weight, bias) are all widened.
    Not when a dtype= is given (the op casts to it itself), nor, with mixed=False, when
    another floating tensor argument has another dtype (linear, conv: torch's dtype error,
    which fn raises)."""
    if fn is None:
        return functools.partial(in_float32, mixed=mixed)

    @functools.wraps(fn)
    def wrapped(input, *args, **kwargs):  # noqa: A002 - torch's argument name
        if isinstance(input, Tensor) and input._data.dtype in _REDUCED and \
                kwargs.get("dtype") is None and (mixed or _all_same(input, args, kwargs)):
            return _back(fn(_up(input), *map(_up, args),
                            **{k: _up(v) for k, v in kwargs.items()}),
                         _REDUCED[input._data.dtype])
        return fn(input, *args, **kwargs)
    return wrapped


def _all_same(input, args, kwargs):
    return all(a._data.dtype == input._data.dtype for a in (*args, *kwargs.values())
               if isinstance(a, Tensor) and a.is_floating_point())


def lerp_fused(fn):
    """lerp(start, end, weight) as fn computes it, but for bfloat16/float16 tensors and a
    number weight as torch's vectorized kernel does: one fused multiply-add in float32,
    coeff * (end - start) + base (weight and start for |weight| < 0.5, else weight - 1 and
    end), rounded once to the dtype. The fma is worked out in float64, where the product of
    two float32s is exact."""
    @functools.wraps(fn)
    def lerp(start, end, weight):
        low = start._data.dtype
        if low not in _REDUCED or isinstance(weight, Tensor) or not isinstance(end, Tensor) \
                or end._data.dtype != low:
            return fn(start, end, weight)
        small = builtins.abs(weight) < 0.5
        coeff = float(np.float32(weight) - (0 if small else np.float32(1)))
        wide_start, wide_end = ew.cast(start, dtypes.float32), ew.cast(end, dtypes.float32)
        diff = ew.cast(wide_end - wide_start, dtypes.float64)
        base = ew.cast(wide_start if small else wide_end, dtypes.float64)
        return ew.cast(ew.cast(diff * coeff + base, dtypes.float32), low)
    return lerp
