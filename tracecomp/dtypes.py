"""dtypes: the public dtype objects and torch's type-promotion rules.

Internally every value carries a numpy dtype; users see `tracecomp.float32` and friends,
which print and compare like torch's. `result_type` implements torch's promotion: the
highest *category* (bool < integer < floating) wins, dimensioned tensors decide the width
within a category, and 0-d tensors and Python scalars only matter when they raise the
category (then a Python float gives the default float dtype: float32 unless
`set_default_dtype` changed it). Complex sits above floating: a complex result keeps the
width of the floats it meets (float64 + complex64 -> complex128), and a Python complex gives
the default complex dtype (complex64 beside a float32 default). Also here: `promote_types`,
`can_cast`, and the dtypes torch has that tracecomp does not hold (complex32, ...), which
exist as names so code can mention them but fail with a clear error when used.

uint16/32/64 are held with torch's limits (wide_uints.py): few ops take them, and they
promote with no other integer dtype.

bfloat16 arrays are ml_dtypes' bfloat16 (numpy has none); numpy reports that dtype's kind as
'V', so code that asks whether a dtype is floating asks `np_kind`, which says 'f' for it.
"""
import ml_dtypes
import numpy as np

BF16 = np.dtype(ml_dtypes.bfloat16)
F16 = np.dtype(np.float16)
# the floats torch's CPU kernels compute in float32, rounding each op's result once
REDUCED = frozenset((BF16, F16))
# set once bfloat16, float16 or uint16/32/64 was asked for (to_np, from_np): until then bind
# skips looking for bfloat16/float16 operands to compute in float32 (dispatch.widen_reduced)
# and for the ops torch refuses on uint16/32/64 (wide_uints.py)
special_used = [False]


def astype(a, dtype):
    """Array (or number) a as numpy dtype `dtype`. To bfloat16 through float32, as torch
    converts: its bfloat16 is made from a float, so a double or an int64 is rounded twice
    (1 + 2**-8 + 2**-30 is 1.0 in torch, 1.0078125 rounded once)."""
    a = np.asarray(a)
    if dtype == BF16 and a.dtype != BF16 and a.dtype != np.float32:
        a = a.astype(np.float32)
    return a.astype(dtype)


def finfo_np(np_dtype):
    """np.finfo of a floating numpy dtype; ml_dtypes' finfo for bfloat16 (numpy's finfo
    takes only its own inexact types, as of ml_dtypes 0.6)."""
    return ml_dtypes.finfo(BF16) if np_dtype == BF16 else np.finfo(np_dtype)


def np_kind(np_dtype) -> str:
    """np_dtype.kind ('f', 'i', 'u', 'b'), with bfloat16 the float it is (numpy says 'V')."""
    k = np_dtype.kind
    return "f" if k == "V" and np_dtype == BF16 else k


class DType:
    """A tensor element type, e.g. tracecomp.float32."""

    __slots__ = ("name", "np", "itemsize", "is_floating_point", "is_signed", "is_complex")

    def __init__(self, name: str, np_dtype):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.itemsize = self.np.itemsize
        self.is_floating_point = np_kind(self.np) == "f"
        self.is_signed = np_kind(self.np) in "fic"
        self.is_complex = self.np.kind == "c"

    def __repr__(self):
        return f"tracecomp.{self.name}"

    def to_real(self):
        return {"complex64": float32, "complex128": float64}.get(self.name, self)

    def to_complex(self):
        return {"float32": complex64, "float64": complex128, "float16": complex32}.get(
            self.name, complex64)

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
bfloat16 = DType("bfloat16", BF16)
uint16 = DType("uint16", np.uint16)
uint32 = DType("uint32", np.uint32)
uint64 = DType("uint64", np.uint64)
complex64 = DType("complex64", np.complex64)
complex128 = DType("complex128", np.complex128)

ALL = (float32, float64, float16, int64, int32, int16, int8, uint8, bool_, bfloat16, uint16,
       uint32, uint64, complex64, complex128)
WIDE_UINTS = frozenset(d.np for d in (uint16, uint32, uint64))
# dtypes whose ops always go through bind (no in-place numpy fast path), which set
# special_used: bind computes bfloat16 and float16 in float32, and refuses on uint16/32/64
# what torch refuses
BIND_ONLY = WIDE_UINTS | REDUCED


class UnsupportedDType(DType):
    """A dtype torch has and tracecomp does not hold: the name exists (code may mention it,
    e.g. in a table of choices), using it in an op raises."""

    __slots__ = ()

    def __init__(self, name, itemsize, floating, complex_=False):
        self.name, self.np, self.itemsize = name, None, itemsize
        self.is_floating_point, self.is_complex = floating, complex_
        self.is_signed = floating or complex_

    def to_real(self):
        return {"complex32": float16}.get(self.name, self)

    def unsupported(self):
        held = ", ".join(d.name for d in ALL)
        return TypeError(f"tracecomp has no {self.name} tensors; the dtypes it holds are: "
                         f"{held}")


complex32 = UnsupportedDType("complex32", 4, False, True)
cfloat, cdouble, chalf = complex64, complex128, complex32
UNSUPPORTED = (complex32,)
_BY_NP = {d.np: d for d in ALL}
_BY_NAME = {d.name: d for d in ALL + UNSUPPORTED}
# torch's aliases: torch.float is float32, torch.long is int64, ...
ALIASES = {"float": float32, "double": float64, "half": float16, "long": int64,
           "int": int32, "short": int16, "bool": bool_, "cfloat": complex64,
           "cdouble": complex128, "chalf": complex32}

F32 = float32.np
F64 = float64.np
I64 = int64.np
BOOL = bool_.np


# torch's C++ scalar-type names, which its "... not implemented for 'Long'" errors use
TORCH_NAMES = {F32: "Float", F64: "Double", np.dtype(np.float16): "Half", I64: "Long",
               np.dtype(np.int32): "Int", np.dtype(np.int16): "Short",
               np.dtype(np.int8): "Char", np.dtype(np.uint8): "Byte", BOOL: "Bool",
               BF16: "BFloat16", np.dtype(np.uint16): "UInt16",
               np.dtype(np.uint32): "UInt32", np.dtype(np.uint64): "UInt64",
               np.dtype(np.complex64): "ComplexFloat", np.dtype(np.complex128): "ComplexDouble"}

# the IR's short spellings: f32[64,784], i64[64], b8[3]
SHORT_NAMES = {F32: "f32", F64: "f64", np.dtype(np.float16): "f16", I64: "i64",
               np.dtype(np.int32): "i32", np.dtype(np.int16): "i16", np.dtype(np.int8): "i8",
               np.dtype(np.uint8): "u8", BOOL: "b8", BF16: "bf16",
               np.dtype(np.uint16): "u16", np.dtype(np.uint32): "u32", np.dtype(np.uint64): "u64",
               np.dtype(np.complex64): "c64", np.dtype(np.complex128): "c128"}


def short_name(np_dtype) -> str:
    return SHORT_NAMES.get(np.dtype(np_dtype), str(np_dtype))


def from_name(name: str) -> DType:
    return _BY_NAME[name]


def from_np(np_dtype) -> DType:
    """The public DType of a numpy dtype; error for dtypes tracecomp does not hold."""
    try:
        out = _BY_NP[np.dtype(np_dtype)]
        if out.np in BIND_ONLY:
            special_used[0] = True
        return out
    except (KeyError, TypeError):
        raise TypeError(f"tracecomp has no dtype for numpy dtype {np_dtype}; "
                        f"supported: {', '.join(d.name for d in ALL)}") from None


def to_np(dtype):
    """numpy dtype for a DType, a numpy dtype, a Python type or None (None -> None)."""
    if dtype is None or isinstance(dtype, np.dtype):
        return dtype
    if isinstance(dtype, DType):
        if dtype.np is None:
            raise dtype.unsupported()
        if dtype.np in BIND_ONLY:
            special_used[0] = True
        return dtype.np
    if dtype is float:                      # torch: dtype=float is float64
        return F64
    if dtype is int:
        return I64
    if dtype is bool:
        return BOOL
    return from_np(dtype).np


# --- promotion ---------------------------------------------------------------------------

def category(np_dtype) -> int:
    """0 bool, 1 integer, 2 floating (bfloat16 too), 3 complex."""
    kind = np_dtype.kind
    if kind == "V":                 # bfloat16 (a hot function: no call for the others)
        kind = np_kind(np_dtype)
    return _CATEGORY[kind]


_CATEGORY = {"b": 0, "i": 1, "u": 1, "f": 2, "c": 3}


def _scalar_category(x) -> int:
    if isinstance(x, (bool, np.bool_)):
        return 0
    if isinstance(x, (int, np.integer)):
        return 1
    return 3 if isinstance(x, (complex, np.complexfloating)) else 2


# what a Python bool/int/float/complex scalar becomes; the float and complex entries follow
# set_default_dtype
_DEFAULT_FOR_CATEGORY = [BOOL, I64, F32, np.dtype(np.complex64)]
_COMPLEX_OF = {F32: np.dtype(np.complex64), F64: np.dtype(np.complex128)}


def default_float():
    """The numpy dtype of the default float (torch.get_default_dtype()), float32 unless set."""
    return _DEFAULT_FOR_CATEGORY[2]


def get_default_dtype() -> DType:
    return from_np(_DEFAULT_FOR_CATEGORY[2])


def set_default_dtype(d):
    """The dtype Python floats become: torch.tensor([1.0]), zeros(), rand(), arange(0.5),
    int / int, exp(int), ... Floating dtypes only, as in torch."""
    np_dtype = to_np(d) if isinstance(d, (DType, np.dtype)) else None
    if np_dtype is None or np_kind(np_dtype) != "f":
        raise TypeError("only floating-point types are supported as the default type")
    changed = _DEFAULT_FOR_CATEGORY[2] != np_dtype
    _DEFAULT_FOR_CATEGORY[2] = np_dtype
    _DEFAULT_FOR_CATEGORY[3] = _COMPLEX_OF.get(np_dtype, _DEFAULT_FOR_CATEGORY[3])
    _result_cache.clear()
    if changed:
        for watcher in DEFAULT_DTYPE_WATCHERS:
            watcher()


# called after the default dtype changed: compiler/api.py's, which drops the compiled
# calls' fast paths (their signature holds the default dtype; the fast paths do not look)
DEFAULT_DTYPE_WATCHERS = []


def _promote_group(dtypes):
    """Promote dtypes that all sit in one group (dimensioned, or 0-d): highest category,
    then the widest of that category (for complex, the widest of the floats and complexes:
    float64 + complex64 is complex128)."""
    top = max(category(d) for d in dtypes)
    if top < 2:
        _refuse_wide_uints(dtypes)
    low = 2 if top == 3 else top
    out = None
    for d in dtypes:
        if low <= category(d) <= top:
            out = d if out is None else promote_np(out, d)
    return out


# pairs numpy's promotion does not answer as torch does (ml_dtypes registers no common
# type for bfloat16 and float16, whose ranges differ: torch promotes both to float32)
_PROMOTED = {frozenset((BF16, np.dtype(np.float16))): np.dtype(np.float32)}


def promote_np(a, b):
    """np.promote_types(a, b) with torch's answers where numpy has none (_PROMOTED)."""
    return _PROMOTED.get(frozenset((a, b))) or np.promote_types(a, b)


def _raised(out, new):
    """The dtype when an operand of dtype `new` (a 0-d tensor's, a Python scalar's) raises
    the category of `out` (None: no dimensioned operands). Floats raised to complex keep
    their width (float64 + 1j is complex128, float32 + a complex128 0-d is complex64)."""
    if out is not None and category(new) == 3 and category(out) == 2:
        return complex_type(out)
    return new


def real_type(np_dtype):
    """The float dtype of a complex dtype's parts (complex64 -> float32); others as they are."""
    return _REAL_OF.get(np_dtype, np_dtype)


_REAL_OF = {np.dtype(np.complex64): F32, np.dtype(np.complex128): F64}


def complex_type(np_dtype):
    """The complex dtype holding a float dtype's values (float32 -> complex64)."""
    if np_dtype.kind == "c":
        return np_dtype
    try:
        return _COMPLEX_OF[np_dtype]
    except KeyError:
        raise complex32.unsupported() from None


_result_cache: dict = {}


def result_type(*args, **_params):
    """torch's result dtype for an elementwise op over tensors (anything with .dtype and
    .ndim holding a numpy dtype) and Python scalars. It is also the dtype rule of the ops
    that promote (ops/rules.py's promote), which bind calls with the op's params: those
    keywords are not operands, and are ignored."""
    if len(args) == 2:                      # the hot case: two arrays, or array and scalar
        a, b = args
        if type(a) is np.ndarray:
            if type(b) is np.ndarray and a.dtype == b.dtype:
                return a.dtype
            if type(b) is float and a.dtype.kind == "f":     # (bfloat16's 'V': below)
                return a.dtype
            if type(b) is int and a.dtype.kind in "iuf":    # a Python int never widens
                return a.dtype
        elif type(b) is np.ndarray:         # a Python number first: 1 - x, 2 * x
            if type(a) is float and b.dtype.kind == "f":
                return b.dtype
            if type(a) is int and b.dtype.kind in "iuf":
                return b.dtype
    key = tuple((a.dtype, a.ndim == 0) if hasattr(a, "dtype") and not isinstance(a, np.generic)
                else _scalar_category(a) for a in args)
    hit = _result_cache.get(key)
    if hit is not None:
        return hit
    if not all(type(k) is not tuple or isinstance(k[0], np.dtype) for k in key):
        from .errors import foreign_operand
        raise foreign_operand("an elementwise op", args)
    dims = [k[0] for k in key if isinstance(k, tuple) and not k[1]]
    zeros = [k[0] for k in key if isinstance(k, tuple) and k[1]]
    scalars = [k for k in key if not isinstance(k, tuple)]
    out = _promote_group(dims) if dims else None
    if zeros:
        z = _promote_group(zeros)
        if out is None or category(z) > category(out):
            out = _raised(out, z)
    if scalars:
        s = max(scalars)
        if out is None or s > category(out):
            out = _raised(out, _DEFAULT_FOR_CATEGORY[s])
    _result_cache[key] = out
    return out


def float_type(np_dtype):
    """The dtype a float-valued op (exp, div, mean) returns: floats and complexes keep
    theirs, the rest get the default float dtype (float32 unless set_default_dtype changed
    it)."""
    return np_dtype if np_dtype.kind in "fc" or np_dtype == BF16 else _DEFAULT_FOR_CATEGORY[2]


def _as_dtype(d, op):
    if isinstance(d, DType):
        return to_np(d)
    if isinstance(d, np.dtype) or d in (float, int, bool):
        return to_np(d)
    raise TypeError(f"{op}(): argument must be a tracecomp dtype (e.g. tracecomp.float32), "
                    f"not {type(d).__name__}")


def _refuse_wide_uints(dtypes):
    """torch promotes uint16/32/64 with no other integer (or bool) dtype."""
    for d in dtypes:
        if d in WIDE_UINTS:
            other = next((e for e in dtypes if e != d), None)
            if other is not None:
                from .errors import DTypeError
                raise DTypeError(f"Promotion for uint16, uint32, uint64 types is not "
                                   f"supported, attempted to promote {TORCH_NAMES[d]} and "
                                   f"{TORCH_NAMES.get(other, other.name)}")


def promote_types(type1, type2) -> DType:
    """torch.promote_types: the dtype both convert to (for dimensioned tensors)."""
    a, b = _as_dtype(type1, "promote_types"), _as_dtype(type2, "promote_types")
    if max(category(a), category(b)) < 2:
        _refuse_wide_uints([a, b])
    return from_np(_promote_group([a, b]) if category(a) != category(b)
                   else promote_np(a, b))


def can_cast(from_, to) -> bool:
    """torch.can_cast: casting may not lower the category (float -> int, int -> bool)."""
    a, b = _as_dtype(from_, "can_cast"), _as_dtype(to, "can_cast")
    return category(a) <= category(b)
