"""Primitives that take floats apart: torch.frexp (mantissa and exponent) and
torch.nextafter (the next representable float towards another).

frexp is two primitives over one numpy call each, so that the mantissa keeps a gradient
(torch's FrexpBackward0: grad / 2^exponent) while the int32 exponent has none; computing
the mantissa as x * 2^-exponent instead would overflow for subnormal x (2^148 is inf in
float32). nextafter's derivative is torch's: 1 for input (0 where it equals other), 0 for
other.
"""
import numpy as np

from .. import dtypes
from ..dispatch import bind
from ..dtypes import np_kind
from ..errors import DTypeNotImplemented
from ..return_types import structseq
from ..torch_args import with_out
from . import elementwise as ew
from .elementwise import binary, unary, zeros_like
from .public import public


def _floats_only(x, *_, **__):
    if np_kind(x.dtype) != "f":
        raise RuntimeError("torch.frexp() only supports floating-point dtypes")
    return x.dtype


def _int32(x, *_, **__):
    _floats_only(x)
    return np.dtype(np.int32)


def _mantissa_vjp(g, out, x):
    from ..composite_math import exp2  # (composite_math imports the ops: a cycle)
    return (g / exp2(bind(frexp_exponent_p, x)),)


frexp_mantissa_p = unary("frexp_mantissa", lambda x: np.frexp(x)[0], _mantissa_vjp,
                         _floats_only)
frexp_exponent_p = unary("frexp_exponent", lambda x: np.frexp(x)[1].astype(np.int32), None,
                         _int32)


@public("torch", "Tensor")
@with_out
def frexp(input):
    """(mantissa, exponent) with input = mantissa * 2^exponent, |mantissa| in [0.5, 1)."""
    result = structseq("frexp", ["mantissa", "exponent"])
    return result(bind(frexp_mantissa_p, input), bind(frexp_exponent_p, input))


def _nextafter_dtype(a, b, **_):
    dtype = dtypes.result_type(a, b)
    if np_kind(dtype) != "f":
        raise DTypeNotImplemented(
            f'"nextafter_cpu" not implemented for \'{dtypes.TORCH_NAMES[dtype]}\'')
    return dtype


def _nextafter_vjp(g, out, a, b):
    """torch's: the gradient passes to input except where input equals other (there the
    result is other itself); other gets none."""
    return ew.where(ew.ne(a, b), g, 0.0), zeros_like(g)


nextafter_p = binary("nextafter", np.nextafter, _nextafter_vjp, _nextafter_dtype)


@public("torch", "Tensor", inplace=nextafter_p)
@with_out
def nextafter(input, other):
    from ..tensor import Tensor
    if not isinstance(other, Tensor):
        raise TypeError(f"nextafter(): argument 'other' (position 2) must be Tensor, not "
                        f"{type(other).__name__}")
    return bind(nextafter_p, input, other)
