"""The bit shifts: torch.bitwise_left_shift / bitwise_right_shift, `a << b` and `a >> b`.

Two binary primitives on integer tensors (and Python ints). torch defines every shift
count, where C leaves some undefined: a count outside [0, bits of the result dtype) shifts
everything out, so a left shift gives 0 and a right shift gives the sign's fill (-1 for
a negative signed value, else 0); a right shift of a signed value is arithmetic. A left
shift wraps (1 << 7 in int8 is -128). Floats and bool-only operands have no kernel, in
torch's words ('"lshift_cpu" not implemented for 'Float''), and neither have uint16/32/64.
Shifts are not differentiable: their results are integers.
"""
import numpy as np

from .. import dtypes
from ..dispatch import bind
from ..dtypes import np_kind
from ..errors import DTypeNotImplemented
from ..tensor import Tensor
from ..torch_args import with_out
from .public import public
from .registry import defprim
from .rules import broadcast_rule

# the names torch's CPU kernels carry in its error messages
_KERNELS = {"bitwise_left_shift": "lshift_cpu", "bitwise_right_shift": "rshift_cpu"}


def _shift_dtype(name):
    """dtype rule: the promoted dtype, when it is an integer type torch shifts."""
    def rule(a, b, **_):
        dtype = dtypes.result_type(a, b)
        if np_kind(dtype) not in "iu" or dtype in dtypes.WIDE_UINTS:
            raise DTypeNotImplemented(
                f'"{_KERNELS[name]}" not implemented for \'{dtypes.TORCH_NAMES[dtype]}\'')
        return dtype
    return rule


def _shift_impl(name, shift, shifted_out):
    """numpy impl: `shift` where the count is in [0, bits), `shifted_out(a, bits)` beyond."""
    rule = _shift_dtype(name)

    def impl(a, b):
        dtype = rule(a, b)
        # astype, not asarray(dtype=): a Python count wraps into the dtype as torch's does
        # (-1 shifting a uint8 is the count 255)
        a = np.asarray(a).astype(dtype, copy=False)
        b = np.asarray(b).astype(dtype, copy=False)
        bits = dtype.itemsize * 8
        inside = (b >= 0) & (b < bits)
        return np.where(inside, shift(a, np.where(inside, b, 0)), shifted_out(a, bits))
    return impl


def _sign_fill(a, bits):
    """What a right shift by `bits` or more leaves: the sign bit everywhere (signed), 0."""
    return np.right_shift(a, bits - 1) if np_kind(a.dtype) == "i" else 0


def _defshift(name, shift, shifted_out):
    return defprim(name, _shift_impl(name, shift, shifted_out), broadcast_rule(name),
                   _shift_dtype(name), None, ("elementwise", "binary"))


bitwise_left_shift_p = _defshift("bitwise_left_shift", np.left_shift, lambda a, bits: 0)
bitwise_right_shift_p = _defshift("bitwise_right_shift", np.right_shift, _sign_fill)


def _check_operands(name, input, other):
    """torch's signatures: (Tensor, Tensor), (Tensor, Number), (Number, Tensor)."""
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        raise TypeError(f"{name}() received an invalid combination of arguments - got "
                        f"({type(input).__name__}, {type(other).__name__}), but expected one "
                        f"of: (Tensor input, Tensor other), (Number self, Tensor other), "
                        f"(Tensor input, Number other)")


@public("torch", "Tensor")
@with_out
def bitwise_left_shift(input, other):
    _check_operands("bitwise_left_shift", input, other)
    return bind(bitwise_left_shift_p, input, other)


@public("torch", "Tensor")
@with_out
def bitwise_right_shift(input, other):
    _check_operands("bitwise_right_shift", input, other)
    return bind(bitwise_right_shift_p, input, other)
