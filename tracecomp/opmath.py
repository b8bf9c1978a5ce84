"""in_float32: a composite op that torch computes as one kernel works out bfloat16 in float32.

torch's CPU kernels for a bfloat16 tensor compute in float32 (their "opmath" type) and round
the result once. A primitive gets that from bind (dispatch.widen_bf16); a composite op such
as mean (a sum, then a division) or layer_norm would round after each of its primitives
instead. Decorated with `in_float32`, it runs on a float32 copy of its bfloat16 inputs and its
floating results are rounded back once, as torch's kernel does; its gradient flows back
through the two casts, so it is rounded once too.
"""
import functools

from . import dtypes
from .ops import elementwise as ew
from .tensor import Tensor


def _up(value):
    if isinstance(value, Tensor) and value._data.dtype == dtypes.BF16:
        return ew.cast(value, dtypes.float32)
    return value


def _back(value):
    if isinstance(value, Tensor) and value._data.dtype == dtypes.F32:
        return ew.cast(value, dtypes.bfloat16)
    if isinstance(value, tuple):
        return type(value)(*map(_back, value)) if hasattr(value, "_fields") else \
            tuple(map(_back, value))
    return value


def in_float32(fn=None, *, mixed=True):
    """fn(input, ...) computed in float32 when input is a bfloat16 tensor (see above): its
    bfloat16 tensor arguments (input, weight, bias) are all widened. Not when a dtype= is
    given (the op casts to it itself), nor, with mixed=False, when another floating tensor
    argument is not bfloat16 (linear, conv: torch's dtype error, which fn raises)."""
    if fn is None:
        return functools.partial(in_float32, mixed=mixed)

    @functools.wraps(fn)
    def wrapped(input, *args, **kwargs):  # noqa: A002 - torch's argument name
        if isinstance(input, Tensor) and input._data.dtype == dtypes.BF16 and \
                kwargs.get("dtype") is None and (mixed or _all_bf16(args, kwargs)):
            return _back(fn(_up(input), *map(_up, args),
                            **{k: _up(v) for k, v in kwargs.items()}))
        return fn(input, *args, **kwargs)
    return wrapped


def _all_bf16(args, kwargs):
    return all(a._data.dtype == dtypes.BF16 for a in (*args, *kwargs.values())
               if isinstance(a, Tensor) and a.is_floating_point())
