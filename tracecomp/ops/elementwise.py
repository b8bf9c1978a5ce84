"""Elementwise primitives: unary math, binary arithmetic, comparisons, where, cast, copy,
and the complex parts (conj, real, imag).

Each primitive is one `defprim` line: name, numpy impl, shape rule, dtype rule, VJP.
The public function under it is a one-liner through `bind`. VJPs use only public ops;
broadcasting in them is undone by the autograd drivers.

Complex inputs follow torch's autograd convention: a VJP hands back g times the
*conjugate* of the derivative (for a real loss, the gradient along the real and imaginary
parts, dL/dx + i dL/dy). `conj` of a real tensor is the tensor itself, so the same rules
serve real tensors unchanged. Ops torch has no complex kernel for (comparisons, maximum,
floor, relu, ...) refuse complex operands in their dtype rule, with torch's words.
"""
import cmath
import math
import warnings

import numpy as np

from .. import dtypes
from ..dispatch import bind, needs
from ..dtypes import np_kind
from ..errors import DTypeError, DTypeNotImplemented
from ..memory_format import axis_order, copy_in_order, preserve_format
from ..tensor import Tensor
from ..user_code import user_stacklevel
from . import numpy_impls, select_bits
from .indexing import check_nonzero
from .public import public
from .registry import defprim
from .rules import (
    bool_dtype,
    broadcast_rule,
    float_dtype,
    no_kernel,
    promote,
    promote_float,
    promote_tail,
    real_compare,
    real_only,
    real_same,
    same_dtype,
    same_shape,
)
from .scipy_special import special

UNARY = ("elementwise", "unary")
BINARY = ("elementwise", "binary")


def unary(name, impl, vjp, dtype=float_dtype, tags=(), saves=(0,)):
    ufunc = impl if isinstance(impl, np.ufunc) else None
    if dtype is float_dtype:
        impl = _in_float32(impl)
    return defprim(name, impl, same_shape, dtype, vjp, UNARY + tuple(tags), ufunc=ufunc,
                   saves=saves if vjp is not None else ())


def _in_float32(fn):
    """Float-valued ops on bool/int inputs compute in torch's default float (float32 unless
    set_default_dtype changed it): numpy would compute exp(uint8) in float16 and lose digits
    before the cast."""
    def impl(x):
        return fn(x if np_kind(x.dtype) in "fc" else x.astype(dtypes.default_float()))
    return impl


def binary(name, impl, vjp, dtype=promote, tags=(), saves=(0, 1)):
    return defprim(name, impl, broadcast_rule(name), dtype, vjp, BINARY + tuple(tags),
                   ufunc=impl if isinstance(impl, np.ufunc) else None,
                   saves=saves if vjp is not None else ())


def _zero_grad(g, out, x):
    return (zeros_like(g),)


# --- unary ----------------------------------------------------------------------------
neg_p = unary("neg", np.negative, lambda g, out, x: (-g,), same_dtype, saves=())
def _sign_vjp(g, out, x):
    """sign is flat; sgn(z) = z / |z| turns with z's angle only: g's part across the unit
    circle at sgn(z), over |z| (0 at z = 0), as torch's sgn_backward."""
    if not _is_complex(x):
        return (zeros_like(g),)
    size = abs(x)
    across = g - out * real(conj(out) * g)
    return (where(size == 0, 0.0, across / where(size == 0, 1.0, size)),)


def _abs_dtype(x, *_, **__):
    return dtypes.real_type(x.dtype)        # |z| of a complex z is real


exp_p = unary("exp", np.exp, lambda g, out, x: (g * conj(out),), saves=("out",))
log_p = unary("log", np.log, lambda g, out, x: (g / conj(x),))
sqrt_p = unary("sqrt", np.sqrt, lambda g, out, x: (g / conj(out * 2),), saves=("out",))
def _rsqrt_vjp(g, out, x):
    """torch's -0.5 * g * out.pow(3): its pow kernel cubes a float16 out in float32 and
    rounds once, a bfloat16 one rounding each product (as out * out * out does)."""
    if out._data.dtype == dtypes.F16:
        wide = cast(out, dtypes.F32)
        return (-0.5 * g * cast(wide * wide * wide, dtypes.F16),)
    return (-0.5 * g * conj(out * out * out),)


rsqrt_p = unary("rsqrt", lambda x: 1 / np.sqrt(x), _rsqrt_vjp, saves=("out",))
abs_p = unary("abs", np.abs, lambda g, out, x: (g * sgn(x),), _abs_dtype)
sign_p = unary("sign", numpy_impls.sign, _sign_vjp, same_dtype, saves=(0, "out"))
sin_p = unary("sin", np.sin, lambda g, out, x: (g * conj(cos(x)),))
cos_p = unary("cos", np.cos, lambda g, out, x: (-(g * conj(sin(x))),))
def _one_kernel(rule, widened=dtypes.REDUCED):
    """A unary VJP that torch computes as one backward kernel (tanh_backward,
    sigmoid_backward): for the dtypes in `widened` in float32, the gradient rounded once (other
    dtypes round after each op of rule, in its order)."""
    def vjp(g, out, x):
        if out._data.dtype in widened:
            wide = rule(cast(g, dtypes.F32), cast(out, dtypes.F32), x)[0]
            return (cast(wide, out._data.dtype),)
        return rule(g, out, x)
    return vjp


tanh_p = unary("tanh", np.tanh, _one_kernel(lambda g, out, x: (g * conj(1 - out * out),)),
               saves=("out",))
sigmoid_p = unary("sigmoid", special.expit,
                  # torch's float16 sigmoid_backward rounds each op, bfloat16's once
                  _one_kernel(lambda g, out, x: (g * (1 - out) * out,), (dtypes.BF16,)),
                  saves=("out",))
relu_p = unary("relu", select_bits.relu, lambda g, out, x: (where(out <= 0, 0.0, g),),
               real_same("clamp is not supported for complex types"), saves=("out",))
erf_p = unary("erf", _in_float32(special.erf),
              lambda g, out, x: (g * exp(-(x * x)) * 1.1283791670955126,),
              real_only(float_dtype, no_kernel("erf_vml_cpu")))
log1p_p = unary("log1p", numpy_impls.log1p, lambda g, out, x: (g / conj(x + 1),))
expm1_p = unary("expm1", np.expm1, lambda g, out, x: (g * conj(out + 1),), saves=("out",))
floor_p = unary("floor", np.floor, _zero_grad,
                real_same("floor is not supported for complex inputs"), saves=())
ceil_p = unary("ceil", np.ceil, _zero_grad,
               real_same("ceil is not supported for complex inputs"), saves=())
round_p = unary("round", np.round, _zero_grad, real_same(no_kernel("round_vml_cpu")), saves=())
trunc_p = unary("trunc", np.trunc, _zero_grad,
                real_same("trunc is not supported for complex inputs"), saves=())
# order "K" keeps the input's layout (torch's clone), "C" makes it row-major (contiguous()),
# a tuple of axes lays it out in that order (channels_last: memory_format.py)
copy_p = unary("copy", copy_in_order,
               lambda g, out, x, order="K": (g,), same_dtype, saves=())
# identity that stops gradients: how the tracer records .detach() and no_grad uses
detach_p = unary("detach", lambda x: x, None, same_dtype)
logical_not_p = unary("logical_not", np.logical_not, None, bool_dtype)
isnan_p = unary("isnan", np.isnan, None, bool_dtype)
isinf_p = unary("isinf", np.isinf, None, bool_dtype)


def neg(input): return bind(neg_p, input)
def exp(input): return bind(exp_p, input)
def log(input): return bind(log_p, input)
def sqrt(input): return bind(sqrt_p, input)
def rsqrt(input): return bind(rsqrt_p, input)
def abs(input): return bind(abs_p, input)  # noqa: A001 - torch's name
def sign(input):
    if input._data.dtype.kind == "c":
        raise DTypeNotImplemented("Unlike NumPy, torch.sign is not intended to support complex "
                                  "numbers. Please use torch.sgn instead.")
    return bind(sign_p, input)
def sgn(input): return bind(sign_p, input)
def sin(input): return bind(sin_p, input)
def cos(input): return bind(cos_p, input)
def tanh(input): return bind(tanh_p, input)
def sigmoid(input):
    if input._data.dtype.kind == "c":       # (scipy's expit is for reals)
        return 1 / (exp(-input) + 1)
    return bind(sigmoid_p, input)
def relu(input): return bind(relu_p, input)
def erf(input): return bind(erf_p, input)
def log1p(input): return bind(log1p_p, input)
def expm1(input): return bind(expm1_p, input)
def floor(input): return bind(floor_p, input)
def ceil(input): return bind(ceil_p, input)
def round(input, *, decimals=0):  # noqa: A001
    if decimals == 0:
        return bind(round_p, input)
    # torch's kernel: nearbyint(x * 10**d) / 10**d, or nearbyint(x / 10**-d) * 10**-d for
    # d < 0, the power in x's dtype
    if input.dtype.is_complex or not input.is_floating_point():
        raise NotImplementedError(f"round(decimals={decimals}) is not implemented for "
                                  f"{input.dtype} input (a real float tensor rounds)")
    ten_pow = 10.0 ** (decimals if decimals > 0 else -decimals)
    if decimals > 0:
        return bind(round_p, input * ten_pow) / ten_pow
    return bind(round_p, input / ten_pow) * ten_pow
def trunc(input): return bind(trunc_p, input)
def clone(input, *, memory_format=preserve_format):
    order = axis_order(memory_format, input.dim(), "clone")
    return bind(copy_p, input) if order == "K" else bind(copy_p, input, order=order)
def contiguous_copy(x): return bind(copy_p, x, order="C")
def row_major(x):
    """x, or its row-major copy where eager numpy kept a permuted input's axis order in it:
    torch's masked_fill, tril, triu and layer_norm answer with a fresh row-major tensor."""
    data = x._data
    return contiguous_copy(x) if type(data) is np.ndarray and not data.flags.c_contiguous else x
def logical_not(input): return bind(logical_not_p, input)
def isnan(input): return bind(isnan_p, input)
def isinf(input): return bind(isinf_p, input)
def isfinite(input): return logical_not(logical_or(isnan(input), isinf(input)))


def dense(x):
    """x laid out row-major, as torch's freshly made results are: an eager composite whose
    last step permutes (conv's one product over the batch, a resample along an inner dim)
    would hand back a strided array, which `.view(n, -1)` refuses. A traced value has no
    layout of its own (compiled outputs are row-major): returned as it is."""
    data = x._data
    if isinstance(data, np.ndarray) and not data.flags.c_contiguous:
        return contiguous_copy(x)
    return x


# --- binary ---------------------------------------------------------------------------
def _is_complex(x):
    return type(x) is complex or isinstance(x, Tensor) and x._data.dtype.kind == "c"


def _mul_vjp(g, out, a, b):
    if a is b and needs(a):     # x * x: 2 g x once, where g x twice and their sum took three
        return (g * conj(a) * 2.0, None)    # arrays (an eager mse_loss's backward, say)
    return (g * conj(b) if needs(a) else None, g * conj(a) if needs(b) else None)


def _div_vjp(g, out, a, b):
    """torch's: g / b and -g * ((a / b) / b), each op rounded in turn; 1 / x is reciprocal,
    whose gradient is -g * (out * out), out recomputed from the saved b (bitwise the same)."""
    if not needs(b):
        return (g / conj(b) if needs(a) else None, None)
    if isinstance(a, (int, float)) and a == 1:
        r = conj(div(1, b))
        return (None, -g * (r * r))
    return (g / conj(b) if needs(a) else None, -g * conj(a / b / b))


def _pow_vjp(g, out, a, b):
    ga = gb = None
    if needs(a):
        ga = zeros_like(g) if isinstance(b, (int, float)) and b == 0 else \
            g * conj(b * pow(a, b - 1))
    if needs(b):
        if isinstance(a, int | float | complex):    # 2 ** x: a constant base, logged here
            gb = g * conj(out * _log_number(a, _is_complex(b)))
            if a == 0:      # torch's 0 ** b: flat where b is real and >= 0
                flat = logical_and(imag(b) == 0, real(b) >= 0) if _is_complex(b) else b >= 0
                gb = where(flat, 0.0, gb)
        elif _is_complex(a) or _is_complex(b):      # a real base's log as a complex one's
            gb = g * conj(out * log(a if _is_complex(a) else cast(a, out.dtype)))
        else:
            gb = where(logical_and(a == 0, b >= 0), 0.0, g * out * log(a))
    return ga, gb


def _log_number(a, complex_exponent):
    """log of a number base, as torch's pow_backward_exponent takes it: complex (log of a
    negative base: ln|a| + i pi) when the exponent or the base is complex."""
    if complex_exponent or isinstance(a, complex):
        return cmath.log(a) if a != 0 else complex(-math.inf, 0.0)
    return math.log(a) if a > 0 else -math.inf if a == 0 else math.nan


def _extremum_vjp(wins):
    """maximum/minimum, torch's rule: the loser gets 0, a tie splits g in half, and
    otherwise g goes through, so where a NaN is compared (neither wins) both get g."""
    def vjp(g, out, a, b):
        tied = where(a == b, g * 0.5, g)
        ga = where(wins(b, a), 0.0, tied) if needs(a) else None
        gb = where(wins(a, b), 0.0, tied) if needs(b) else None
        return ga, gb
    return vjp


def _remainder_vjp(g, out, a, b):
    return (g if needs(a) else None, -(g * floor_divide(a, b)) if needs(b) else None)


def _integer_division(kernel, rule=promote):
    """The dtype rule of the division family: torch has no bool kernel for it."""
    def dtype(*args, **params):
        out = rule(*args, **params)
        if out == dtypes.BOOL:
            raise DTypeNotImplemented(f'"{kernel}_cpu" not implemented for \'Bool\'')
        return out
    return dtype


add_p = binary("add", np.add, lambda g, out, a, b: (g, g), tags=("commutative", "associative"),
               saves=())
sub_p = binary("sub", np.subtract, lambda g, out, a, b: (g, -g), saves=())
mul_p = binary("mul", np.multiply, _mul_vjp, tags=("commutative", "associative"),
               saves=((1, 0), (0, 1)))
div_p = binary("div", np.true_divide, _div_vjp, promote_float, saves=(1, (0, 1)))
pow_p = binary("pow", numpy_impls.pow, _pow_vjp, saves=(0, (1, 0), ("out", 1)))
maximum_p = binary("maximum", numpy_impls.extremum(np.maximum, np.greater_equal),
                   _extremum_vjp(lambda a, b: a > b),
                   real_only(promote, "maximum not implemented for complex tensors.",
                              DTypeError))
minimum_p = binary("minimum", numpy_impls.extremum(np.minimum, np.less_equal),
                   _extremum_vjp(lambda a, b: a < b),
                   real_only(promote, "minimum not implemented for complex tensors.",
                              DTypeError))
remainder_p = binary("remainder", numpy_impls.remainder, _remainder_vjp,
                     real_only(_integer_division("remainder"), no_kernel("remainder_cpu")),
                     saves=((0, 1), (1, 1)))
# numpy's floor_divide is torch's div_floor, special values included (inf // 2 is NaN)
floor_divide_p = binary("floor_divide", np.floor_divide, None,
                        real_only(_integer_division("div_floor"), no_kernel("div_floor_cpu")))
eq_p = binary("eq", np.equal, None, bool_dtype, ("commutative",))
ne_p = binary("ne", np.not_equal, None, bool_dtype, ("commutative",))
lt_p = binary("lt", np.less, None, real_compare("lt_cpu"))
le_p = binary("le", np.less_equal, None, real_compare("le_cpu"))
gt_p = binary("gt", np.greater, None, real_compare("gt_cpu"))
ge_p = binary("ge", np.greater_equal, None, real_compare("ge_cpu"))
logical_and_p = binary("logical_and", np.logical_and, None, bool_dtype, ("commutative",))
logical_or_p = binary("logical_or", np.logical_or, None, bool_dtype, ("commutative",))
logical_xor_p = binary("logical_xor", np.logical_xor, None, bool_dtype, ("commutative",))


def add(input, other): return bind(add_p, input, other)
def sub(input, other): return bind(sub_p, input, other)
def mul(input, other): return bind(mul_p, input, other)
def div(input, other): return bind(div_p, input, other)
def pow(a, b):  # noqa: A001
    if isinstance(b, int) and not isinstance(b, bool) and b < 0 and isinstance(a, Tensor) \
            and np_kind(a._data.dtype) in "iub":
        raise RuntimeError(f"Integers to negative integer powers are not allowed. (pow got a "
                           f"tensor of dtype {a.dtype.name} and the exponent {b})")
    return bind(pow_p, a, b)
def maximum(input, other): return bind(maximum_p, input, other)
def minimum(input, other): return bind(minimum_p, input, other)
def remainder(input, other): return bind(remainder_p, input, divisor("remainder", input, other))
def floor_divide(input, other):
    return bind(floor_divide_p, input, divisor("floor_divide", input, other))
def eq(input, other): return bind(eq_p, input, other)
def ne(input, other): return bind(ne_p, input, other)
def lt(input, other): return bind(lt_p, input, other)
def le(input, other): return bind(le_p, input, other)
def gt(input, other): return bind(gt_p, input, other)
def ge(input, other): return bind(ge_p, input, other)
def logical_and(input, other): return bind(logical_and_p, input, other)
def logical_or(input, other): return bind(logical_or_p, input, other)
def logical_xor(input, other): return bind(logical_xor_p, input, other)


# --- bitwise ---------------------------------------------------------------------------
def _integers_only(op):
    """dtype rule of the bitwise ops: integers and bools, never floats (torch's words)."""
    def rule(*args, **_):
        dtype = dtypes.result_type(*args)
        if np_kind(dtype) == "f":
            raise DTypeNotImplemented(
                f'"{op}_cpu" not implemented for \'{dtypes.TORCH_NAMES[dtype]}\'')
        return dtype
    return rule


bitwise_and_p = binary("bitwise_and", np.bitwise_and, None, _integers_only("bitwise_and"),
                       ("commutative",))
bitwise_or_p = binary("bitwise_or", np.bitwise_or, None, _integers_only("bitwise_or"),
                      ("commutative",))
bitwise_xor_p = binary("bitwise_xor", np.bitwise_xor, None, _integers_only("bitwise_xor"),
                       ("commutative",))
bitwise_not_p = unary("bitwise_not", np.invert, None, _integers_only("bitwise_not"))


def _kind(x):
    """'b', 'i' or 'f': what kind of number x is (a tensor's dtype, a Python number's)."""
    if isinstance(x, Tensor):
        kind = np_kind(x._data.dtype)
        return "i" if kind == "u" else kind
    return "b" if isinstance(x, bool) else "i" if isinstance(x, int) else "f"


def _bitwise(prim, logical):
    """a & b, a | b, a ^ b (torch's bitwise ops): on bools the logical primitive, which
    computes the same, so masks combined with & keep the graphs they always had."""
    def op(input, other):
        kinds = _kind(input) + _kind(other)
        if "f" in kinds:
            _integers_only(prim.name)(*(x._data.dtype if isinstance(x, Tensor) else
                                        np.dtype(dtypes.default_float()) for x in (input, other)))
        return bind(logical if kinds == "bb" else prim, input, other)
    op.__name__ = prim.name
    return op


bitwise_and = _bitwise(bitwise_and_p, logical_and_p)
bitwise_or = _bitwise(bitwise_or_p, logical_or_p)
bitwise_xor = _bitwise(bitwise_xor_p, logical_xor_p)


def bitwise_not(input):
    kind = _kind(input)
    if kind == "f":
        raise TypeError(f"~ (operator.invert) is only implemented on integer and Boolean-type "
                        f"tensors (bitwise_not got {input.dtype})")
    return bind(logical_not_p if kind == "b" else bitwise_not_p, input)


# --- ternary and casts ----------------------------------------------------------------
def _where_impl(cond, a, b):
    out = select_bits.select(cond, a, b)
    return np.where(cond, a, b) if out is None else out


def _where_vjp(g, out, cond, a, b):
    return (None,
            where(cond, g, 0.0) if needs(a) else None,
            where(cond, 0.0, g) if needs(b) else None)


where_p = defprim("where", _where_impl, broadcast_rule("where"), promote_tail, _where_vjp,
                  ("elementwise", "ternary"), saves=(0,))


def where(cond, a, b):
    return bind(where_p, cond, a, b)


def _cast_vjp(g, out, x, dtype):
    return (cast(g if _is_complex(x) else real(g), x.dtype),)


def _cast_impl(x, dtype):
    x = np.asarray(x)
    if x.dtype.kind == "c" and np.dtype(dtype).kind != "c":
        warnings.warn("Casting complex values to real discards the imaginary part",
                      UserWarning, stacklevel=user_stacklevel())
        x = x.real          # (numpy would warn a second time, in its own words)
    return dtypes.astype(x, dtype)      # bfloat16 through float32, as torch converts


cast_p = defprim("cast", _cast_impl, lambda x, dtype: tuple(x), lambda x, dtype: np.dtype(dtype),
                 _cast_vjp, UNARY, saves=())


def cast(x, dtype):
    """x converted to `dtype` (a tracecomp dtype, numpy dtype or Python type)."""
    return bind(cast_p, x, dtype=dtypes.to_np(dtype))


# --- issue 9: trigonometric, hyperbolic and C-library binary math ---------------------------
def float_only(op):
    """dtype rule of ops torch implements for floating inputs only (hypot, ...)."""
    def rule(*args, **_):
        dtype = dtypes.result_type(*args)
        if np_kind(dtype) != "f":
            raise DTypeNotImplemented(
                f'"{op}_cpu" not implemented for \'{dtypes.TORCH_NAMES[dtype]}\'')
        return dtype
    return rule


# --- complex parts: views of a complex tensor's memory, as torch's --------------------------
def _real_dtype(x, *_, **__):
    return dtypes.real_type(x.dtype)


conj_p = unary("conj", np.conjugate, lambda g, out, x: (conj(g),), same_dtype, saves=())
real_p = unary("real", lambda x: x.real, lambda g, out, x: (cast(g, x.dtype),), _real_dtype,
               ("view",), saves=())
imag_p = unary("imag", lambda x: x.imag, lambda g, out, x: (g * 1j,), _real_dtype, ("view",),
               saves=())


def conj(input):
    """The complex conjugate; a real tensor is its own (torch returns it itself). torch
    conjugates lazily and remembers that with a bit (is_conj): the result here holds the
    conjugated values and carries the bit, until resolve_conj. (VJP rules conjugate Python
    numbers too.)"""
    if not isinstance(input, Tensor):
        return input.conjugate()
    if input._data.dtype.kind != "c":
        return input
    out = bind(conj_p, input)
    out._conj = not getattr(input, "_conj", False)
    return out


def conj_physical(input):
    return bind(conj_p, input) if input._data.dtype.kind == "c" else input


def real(input):
    if not isinstance(input, Tensor):
        return input.real
    return bind(real_p, input) if input._data.dtype.kind == "c" else input


def imag(input):
    if input._data.dtype.kind != "c":
        raise RuntimeError("imag is not implemented for tensors with non-complex dtypes.")
    return bind(imag_p, input)


def _copysign_vjp(g, out, a, b):
    ga = g * where(a == 0, 0.0, out / where(a == 0, 1.0, a)) if needs(a) else None
    return ga, zeros_like(b) if needs(b) else None


def _atan2_vjp(g, out, a, b):
    r2 = a * a + b * b
    return (g * b / r2 if needs(a) else None, -(g * a) / r2 if needs(b) else None)


def _tensor_other(op, b):
    """torch's binding refuses a number as `other` for these ops (atan2(x, 2.0))."""
    if not isinstance(b, Tensor):
        raise TypeError(f"{op}(): argument 'other' (position 2) must be Tensor, not "
                        f"{type(b).__name__}")
    return b


tan_p = unary("tan", np.tan, lambda g, out, x: (g * conj(out * out + 1),), saves=("out",))
sinh_p = unary("sinh", np.sinh, lambda g, out, x: (g * conj(cosh(x)),))
cosh_p = unary("cosh", np.cosh, lambda g, out, x: (g * conj(sinh(x)),))
asin_p = unary("asin", np.arcsin, lambda g, out, x: (g * conj(rsqrt(1 - x * x)),))
acos_p = unary("acos", np.arccos, lambda g, out, x: (-(g * conj(rsqrt(1 - x * x))),))
atan_p = unary("atan", np.arctan, lambda g, out, x: (g / conj(x * x + 1),))
asinh_p = unary("asinh", np.arcsinh, lambda g, out, x: (g * conj(rsqrt(x * x + 1)),))
acosh_p = unary("acosh", np.arccosh, lambda g, out, x: (g * conj(
    rsqrt(x + 1) * rsqrt(x - 1) if _is_complex(x) else rsqrt(x * x - 1)),))  # torch's
atanh_p = unary("atanh", np.arctanh, lambda g, out, x: (g / conj(1 - x * x),))
atan2_p = binary("atan2", np.arctan2, _atan2_vjp,
                 real_only(promote_float, no_kernel("atan2_cpu")))
hypot_p = binary("hypot", np.hypot, lambda g, out, a, b: (
    g * a / out if needs(a) else None, g * b / out if needs(b) else None), float_only("hypot"),
    saves=((0, 0), (1, 1), "out"))
copysign_p = binary("copysign", np.copysign, _copysign_vjp,
                    real_only(promote_float, no_kernel("copysign_cpu")), saves=(0, 1, "out"))
fmod_p = binary("fmod", np.fmod, lambda g, out, a, b: (
    g if needs(a) else None,
    -(g * trunc(div(a, b))) if needs(b) else None),
    real_only(_integer_division("fmod"), no_kernel("fmod_cpu")),
    saves=((0, 1), (1, 1)))


# torch.X, Tensor.X and Tensor.X_ (arcsin, ... are torch's aliases); fmod_ checks its divisor
# first, so math_methods.py writes it
@public("torch", "Tensor", inplace=tan_p)
def tan(input): return bind(tan_p, input)
@public("torch", "Tensor", inplace=sinh_p)
def sinh(input): return bind(sinh_p, input)
@public("torch", "Tensor", inplace=cosh_p)
def cosh(input): return bind(cosh_p, input)
@public("torch", "Tensor", inplace=asin_p, aliases=("arcsin",))
def asin(input): return bind(asin_p, input)
@public("torch", "Tensor", inplace=acos_p, aliases=("arccos",))
def acos(input): return bind(acos_p, input)
@public("torch", "Tensor", inplace=atan_p, aliases=("arctan",))
def atan(input): return bind(atan_p, input)
@public("torch", "Tensor", inplace=asinh_p, aliases=("arcsinh",))
def asinh(input): return bind(asinh_p, input)
@public("torch", "Tensor", inplace=acosh_p, aliases=("arccosh",))
def acosh(input): return bind(acosh_p, input)
@public("torch", "Tensor", inplace=atanh_p, aliases=("arctanh",))
def atanh(input): return bind(atanh_p, input)
@public("torch", "Tensor", inplace=atan2_p, aliases=("arctan2",))
def atan2(input, other): return bind(atan2_p, input, _tensor_other("atan2", other))
@public("torch", "Tensor", inplace=hypot_p)
def hypot(input, other): return bind(hypot_p, input, _tensor_other("hypot", other))
@public("torch", "Tensor", inplace=copysign_p)
def copysign(input, other): return bind(copysign_p, input, other)
@public("torch")          # Tensor.fmod is in tensor_methods' table, beside remainder
def fmod(input, other): return bind(fmod_p, input, divisor("fmod", input, other))


def _array(x):
    return x._data if isinstance(x, Tensor) else x


def divisor(op, a, b):
    """b, checked to hold no 0 when `a op b` divides integers: torch raises RuntimeError
    ("ZeroDivisionError") there, eagerly and compiled alike, so a tensor divisor goes
    through the check_range guard (one check in the graph, run on every call); floating
    division gives inf or NaN instead."""
    dtype = dtypes.result_type(_array(a), _array(b))
    if np_kind(dtype) not in "iu":
        return b
    message = (f"ZeroDivisionError: integer division by zero in {op} ({dtypes.TORCH_NAMES[dtype]}"
               f" operands, a divisor holds 0); divide floating point tensors for inf/nan")
    if isinstance(b, Tensor):
        return check_nonzero(b, message)
    if b == 0:
        raise RuntimeError(message)
    return b


def zeros_like(x):
    """Zeros of x's shape and dtype, built from x so that it also works while tracing."""
    from ..creation import full
    return full(x.shape, 0, dtype=x.dtype)
