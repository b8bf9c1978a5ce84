"""dtype utilities with torch's names: finfo, iinfo, result_type, is_complex, ...

finfo/iinfo read numpy's limits for the dtypes tracecomp holds (bfloat16's are torch's
published constants, so code that only asks about bfloat16's range still runs). The
promotion rules themselves live in dtypes.py; this file is the user-facing surface.
"""
import numpy as np

from . import dtypes
from .tensor import Tensor

# bfloat16: 8 exponent bits like float32, 8 significand bits (7 stored)
_BFLOAT16 = {"bits": 16, "eps": 2.0 ** -7, "max": 3.3895313892515355e38,
             "tiny": 2.0 ** -126, "resolution": 0.01}


def _dtype_arg(d, op):
    if d is None:
        return dtypes.get_default_dtype()
    if isinstance(d, dtypes.DType):
        return d
    if isinstance(d, np.dtype) or d in (float, int, bool):
        return dtypes.from_np(dtypes.to_np(d))
    raise TypeError(f"{op}(): argument 'type' must be a tracecomp dtype, not {type(d).__name__}")


class finfo:
    """Machine limits of a floating dtype: bits, eps, max, min, tiny (= smallest_normal),
    resolution, dtype (the name)."""

    def __init__(self, type=None):  # noqa: A002 - torch's argument name
        d = _dtype_arg(type, "finfo")
        d = d.to_real() if d.is_complex else d      # torch: a complex dtype's parts' limits
        if not d.is_floating_point:
            raise TypeError("tracecomp.finfo() requires a floating point input type. Use "
                            "tracecomp.iinfo to handle 'tracecomp.finfo'")
        if d is dtypes.bfloat16:
            info = _BFLOAT16
        else:
            f = np.finfo(d.np)
            info = {"bits": f.bits, "eps": float(f.eps), "max": float(f.max),
                    "tiny": float(f.smallest_normal), "resolution": 10.0 ** -f.precision}
        self.bits, self.eps, self.max = info["bits"], info["eps"], info["max"]
        self.min = -self.max
        self.tiny = self.smallest_normal = info["tiny"]
        self.resolution = info["resolution"]
        self.dtype = d.name

    def __eq__(self, other):
        return isinstance(other, finfo) and other.dtype == self.dtype

    def __hash__(self):
        return hash(("finfo", self.dtype))

    def __repr__(self):
        return (f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, "
                f"eps={self.eps:g}, smallest_normal={self.tiny:g}, tiny={self.tiny:g}, "
                f"dtype={self.dtype})")


class iinfo:
    """Limits of an integer dtype: bits, max, min, dtype (the name)."""

    def __init__(self, type):  # noqa: A002
        d = _dtype_arg(type, "iinfo")
        if d is dtypes.bool_:
            raise TypeError("tracecomp.bool is not supported by tracecomp.iinfo")
        if d.is_floating_point or d.is_complex:
            raise TypeError("tracecomp.iinfo() requires an integer input type. Use "
                            "tracecomp.finfo to handle 'tracecomp.iinfo'")
        if d.np is None:                        # uint16/32/64: limits are still well defined
            self.bits, self.min, self.max = d.itemsize * 8, 0, 2 ** (d.itemsize * 8) - 1
        else:
            i = np.iinfo(d.np)
            self.bits, self.min, self.max = i.bits, int(i.min), int(i.max)
        self.dtype = d.name

    def __eq__(self, other):
        return isinstance(other, iinfo) and other.dtype == self.dtype

    def __hash__(self):
        return hash(("iinfo", self.dtype))

    def __repr__(self):
        return f"iinfo(min={self.min:g}, max={self.max:g}, dtype={self.dtype})"


def result_type(tensor, other) -> dtypes.DType:
    """The dtype an elementwise op on `tensor` and `other` (tensors or numbers) returns."""
    args = []
    for a in (tensor, other):
        if isinstance(a, Tensor):
            args.append(a._data)
        elif isinstance(a, (bool, int, float, np.number, np.bool_)):
            args.append(a)
        else:
            raise TypeError(f"result_type(): arguments must be tensors or numbers, got "
                            f"({type(tensor).__name__}, {type(other).__name__})")
    return dtypes.from_np(dtypes.result_type(*args))


def is_complex(x) -> bool:
    _tensor_arg(x, "is_complex")
    return x.is_complex()


def is_floating_point(x) -> bool:
    _tensor_arg(x, "is_floating_point")
    return x.is_floating_point()


def is_tensor(x) -> bool:
    return isinstance(x, Tensor)


def _tensor_arg(x, op):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument 'input' (position 1) must be Tensor, not "
                        f"{type(x).__name__}")
