"""dtypes: the public dtype objects and torch's type-promotion rules.

Internally every value carries a numpy dtype; users see `tracecomp.float32` and friends,
which print and compare like torch's. `result_type` implements torch's promotion: the
highest *category* (bool < integer < floating) wins, dimensioned tensors decide the width
within a category, and 0-d tensors and Python scalars only matter when they raise the
category (then a Python float gives the default float dtype, float32).
"""
import numpy as np


class DType:
    """A tensor element type, e.g. tracecomp.float32."""

    __slots__ = ("name", "np", "itemsize", "is_floating_point", "is_signed")

    def __init__(self, name: str, np_dtype):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.itemsize = self.np.itemsize
        self.is_floating_point = self.np.kind == "f"
        self.is_signed = self.np.kind in "fi"

    def __repr__(self):
        return f"tracecomp.{self.name}"

    def __reduce__(self):
        return (from_name, (self.name,))


float32 = DType("float32", np.float32)
float64 = DType("float64", np.float64)
float16 = DType("float16", np.float16)
int64 = DType("int64", np.int64)
int32 = DType("int32", np.int32)
int16 = DType("int16", np.int16)
int8 = DType("int8", np.int8)
uint8 = DType("uint8", np.uint8)
bool_ = DType("bool", np.bool_)

ALL = (float32, float64, float16, int64, int32, int16, int8, uint8, bool_)
_BY_NP = {d.np: d for d in ALL}
_BY_NAME = {d.name: d for d in ALL}
# torch's aliases: torch.float is float32, torch.long is int64, ...
ALIASES = {"float": float32, "double": float64, "half": float16, "long": int64,
           "int": int32, "short": int16, "bool": bool_}

F32 = float32.np
F64 = float64.np
I64 = int64.np
BOOL = bool_.np


# the IR's short spellings: f32[64,784], i64[64], b8[3]
SHORT_NAMES = {F32: "f32", F64: "f64", np.dtype(np.float16): "f16", I64: "i64",
               np.dtype(np.int32): "i32", np.dtype(np.int16): "i16", np.dtype(np.int8): "i8",
               np.dtype(np.uint8): "u8", BOOL: "b8"}


def short_name(np_dtype) -> str:
    return SHORT_NAMES.get(np.dtype(np_dtype), str(np_dtype))


def from_name(name: str) -> DType:
    return _BY_NAME[name]


def from_np(np_dtype) -> DType:
    """The public DType of a numpy dtype; error for dtypes tracecomp does not hold."""
    try:
        return _BY_NP[np.dtype(np_dtype)]
    except (KeyError, TypeError):
        raise TypeError(f"tracecomp has no dtype for numpy dtype {np_dtype}; "
                        f"supported: {', '.join(d.name for d in ALL)}") from None


def to_np(dtype):
    """numpy dtype for a DType, a numpy dtype, a Python type or None (None -> None)."""
    if dtype is None or isinstance(dtype, np.dtype):
        return dtype
    if isinstance(dtype, DType):
        return dtype.np
    if dtype is float:
        return F32
    if dtype is int:
        return I64
    if dtype is bool:
        return BOOL
    return from_np(dtype).np


# --- promotion ---------------------------------------------------------------------------

def category(np_dtype) -> int:
    """0 bool, 1 integer, 2 floating."""
    kind = np_dtype.kind
    return 2 if kind == "f" else (0 if kind == "b" else 1)


def _scalar_category(x) -> int:
    if isinstance(x, (bool, np.bool_)):
        return 0
    if isinstance(x, (int, np.integer)):
        return 1
    return 2


_DEFAULT_FOR_CATEGORY = (BOOL, I64, F32)


def _promote_group(dtypes):
    """Promote dtypes that all sit in one group (dimensioned, or 0-d): highest category,
    then the widest of that category."""
    top = max(category(d) for d in dtypes)
    out = None
    for d in dtypes:
        if category(d) == top:
            out = d if out is None else np.promote_types(out, d)
    return out


_result_cache: dict = {}


def result_type(*args):
    """torch's result dtype for an elementwise op over tensors (anything with .dtype and
    .ndim holding a numpy dtype) and Python scalars."""
    if len(args) == 2:                      # the hot case: two arrays, or array and scalar
        a, b = args
        if type(a) is np.ndarray:
            if type(b) is np.ndarray and a.dtype == b.dtype:
                return a.dtype
            if type(b) is float and a.dtype.kind == "f":
                return a.dtype
    key = tuple((a.dtype, a.ndim == 0) if hasattr(a, "dtype") and not isinstance(a, np.generic)
                else _scalar_category(a) for a in args)
    hit = _result_cache.get(key)
    if hit is not None:
        return hit
    dims = [k[0] for k in key if isinstance(k, tuple) and not k[1]]
    zeros = [k[0] for k in key if isinstance(k, tuple) and k[1]]
    scalars = [k for k in key if not isinstance(k, tuple)]
    out = _promote_group(dims) if dims else None
    if zeros:
        z = _promote_group(zeros)
        if out is None or category(z) > category(out):
            out = z
    if scalars:
        s = max(scalars)
        if out is None or s > category(out):
            out = _DEFAULT_FOR_CATEGORY[s]
    _result_cache[key] = out
    return out


def float_type(np_dtype):
    """The dtype a float-valued op (exp, div, mean) returns: floats keep theirs, the rest
    get the default float32."""
    return np_dtype if np_dtype.kind == "f" else F32
