"""Elementwise math built from primitives: log2, logaddexp, xlogy, logit, nan_to_num, fmax,
isclose, sinc, heaviside, meshgrid, addcmul, addcdiv, ... with torch's names, dtype rules
and errors.

These compose primitives (no impl or gradient of their own), so they trace, differentiate
and lower like any other chain of elementwise ops. Where a formula would lose accuracy the
function is a primitive instead (ops/elementwise.py: sinh, atan2, hypot, fmod, ...;
ops/special.py: erfc, erfinv, lgamma, polygamma). Each was checked in float32 against
numpy in float64: log2/log10 as log(x) * constant stay within 2 ulp (and give exact results
at powers of 2 and of 10 for the values we tried); exp2 goes through pow, which is exact
for integer powers.
"""
import math
import warnings

from . import dtypes
from .composite import clamp
from .dtypes import np_kind
from .errors import DTypeNotImplemented
from .opmath import in_float32
from .ops import elementwise as ew
from .ops import movement as mv
from .ops import scan
from .ops.complex import complex as make_complex
from .tensor import Tensor
from .torch_args import number_first
from .user_code import user_stacklevel

_LOG2E = 1.0 / math.log(2.0)
_LOG10E = 1.0 / math.log(10.0)


def _require_tensor(op, name, position, value):
    """torch's binding error for an argument that must be a tensor, not a number."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{op}(): argument '{name}' (position {position}) must be Tensor, not "
                        f"{type(value).__name__}")


def _require_float(op, *xs):
    dtype = dtypes.result_type(*[x._data if isinstance(x, Tensor) else x for x in xs])
    if np_kind(dtype) != "f":
        raise DTypeNotImplemented(f'"{op}_cpu" not implemented for '
                                  f"'{dtypes.TORCH_NAMES[dtype]}'")


# --- logarithms and exponentials --------------------------------------------------------
def log2(x):
    return _log_base(x, 2.0, _LOG2E)


def log10(x):
    return _log_base(x, 10.0, _LOG10E)


def _log_base(x, base, inverse):
    """log(x) * inverse (1 / log(base)). torch divides a complex log by the real log of the
    base, part by part, so log10(0j) is -inf + 0i: a complex product would give NaN
    (0 * -inf) there."""
    out = ew.log(x)
    if out._data.dtype.kind == "c":
        return make_complex(ew.real(out) / math.log(base), ew.imag(out) / math.log(base))
    return out * inverse


def _scaled_parts(z, c):
    """z * c for a complex z and a real c, part by part, as torch's complex-by-real kernels
    (a complex product would add 0 * part terms: NaN for an infinite part)."""
    return make_complex(ew.real(z) * c, ew.imag(z) * c)


def exp2(x):
    """2 ** x; for complex x, torch's exp(x * ln 2) with each part scaled (2 ** -0j is
    1 - 0i, where cpow's 2 ** -0j is 1 + 0i)."""
    if isinstance(x, Tensor) and x._data.dtype.kind == "c":
        return ew.exp(_scaled_parts(x, math.log(2.0)))
    return ew.pow(2.0, x)


def logaddexp(a, b):
    """log(exp(a) + exp(b)) without overflow: max + log1p(exp(-|a - b|)); complex values
    by their own primitive (ops/scan.py)."""
    _require_tensor("logaddexp", "other", 2, b)
    dtype = dtypes.result_type(a._data, b._data)
    if dtype.kind == "c":
        return scan.logaddexp_complex(*(x if x._data.dtype == dtype else ew.cast(x, dtype)
                                        for x in (a, b)))
    _require_float("logaddexp", a, b)
    m = ew.maximum(a, b)
    out = m + ew.log1p(ew.exp(-ew.abs(a - b)))
    return ew.where(ew.logical_and(ew.isinf(m), a == b), m, out)    # inf - inf is NaN


def logaddexp2(a, b):
    _require_tensor("logaddexp2", "other", 2, b)
    _require_float("logaddexp2", a, b)
    m = ew.maximum(a, b)
    out = m + ew.log1p(ew.pow(2.0, -ew.abs(a - b))) * _LOG2E
    return ew.where(ew.logical_and(ew.isinf(m), a == b), m, out)


def xlogy(x, y):
    """x * log(y), 0 where x == 0 (unless y is NaN); x or y may be a number."""
    if not isinstance(x, Tensor) and not isinstance(y, Tensor):
        raise TypeError(f"xlogy() received an invalid combination of arguments - got "
                        f"({type(x).__name__}, {type(y).__name__}): one must be a Tensor")
    from .creation import tensor
    # a number takes the tensor's floating dtype (xlogy(x64, 3.0) computes log(3) in float64)
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        other, number = (y, x) if isinstance(y, Tensor) else (x, y)
        number = tensor(number, dtype=dtypes.float_type(dtypes.result_type(other._data,
                                                                            number)))
        x, y = (number, y) if other is y else (x, number)
    # the result's dtype first (a 0-d operand ranks lower, as torch's xlogy promotes): the
    # steps below broadcast a 0-d x through where, which would make it rank as a full one
    dtype = dtypes.float_type(dtypes.result_type(x._data, y._data))
    x, y = (t if t._data.dtype == dtype else ew.cast(t, dtype) for t in (x, y))
    zero = ew.logical_and(x == 0, ew.logical_not(ew.isnan(y)))
    # log(1) where x == 0 and y <= 0: no NaN in the product or in its gradient
    log_y = ew.log(ew.where(ew.logical_and(zero, y <= 0), 1.0, y))
    # where x == 0 the value is +0.0 whatever x's sign or y (torch's), and the gradient in x
    # torch's log(y) (0 where y <= 0; 0 at y = inf too, where torch's is inf): a term whose
    # value is a zero (x.detach() - x, there) and whose derivative is that log. Subtracting
    # +-0.0 keeps every value's sign; `+ 0.0` would not survive the algebra pass (x + 0 -> x).
    slope = ew.where(ew.logical_and(zero, ew.logical_not(ew.isinf(log_y))), log_y, 0.0)
    return ew.where(zero, 0.0, x * log_y) - ew.where(zero, x.detach() - x, 0.0) * slope


def logit(x, eps=None):
    """log(x / (1 - x)), x first clamped to [eps, 1 - eps] when eps is given."""
    if eps is not None:
        x = clamp(x, eps, 1.0 - eps)
    return ew.log(x / (1 - x))


# --- angles, rounding and signs ---------------------------------------------------------
def deg2rad(x):
    return x * (math.pi / 180.0)


def rad2deg(x):
    return x * (180.0 / math.pi)


def frac(x):
    """x - trunc(x), keeping x's sign (floating dtypes only, as in torch)."""
    if np_kind(x._data.dtype) != "f":
        raise DTypeNotImplemented(f'"frac_cpu" not implemented for '
                                  f"'{dtypes.TORCH_NAMES[x._data.dtype]}'")
    return x - ew.trunc(x)


def sgn(x):
    return ew.sgn(x)


def signbit(x):
    if np_kind(x._data.dtype) != "f":
        return ew.lt(x, 0)
    # -0.0 counts as negative: 1 / -0.0 is -inf
    return ew.logical_or(x < 0, ew.logical_and(x == 0, ew.div(1.0, x) < 0))


def positive(x):
    if x._data.dtype == dtypes.BOOL:
        raise RuntimeError("The `+` operator, on a bool tensor is not supported.")
    return x


def heaviside(x, values):
    """0 where x < 0, `values` where x == 0, 1 where x > 0. Not differentiable (torch has
    no derivative for it either), so the result never requires grad."""
    _require_tensor("heaviside", "values", 2, values)
    if x._data.dtype != values._data.dtype:
        raise RuntimeError("heaviside is not yet implemented for tensors with different dtypes.")
    x, values = x.detach(), values.detach()
    return ew.where(x == 0, values, ew.cast(x > 0, x.dtype))


# sin(t) / t = sum (-1)^k t^2k / (2k + 1)!, k < 8: below |t| = 1/2 the first omitted term
# is under 1e-19 of the value, float64-exact
_SINC_SERIES = tuple((-1) ** k / math.factorial(2 * k + 1) for k in range(8))


def sinc(x):
    """sin(pi x) / (pi x), 1 at 0 (with gradient 0 there, as torch). Near 0 it is the
    series: the derivative of sin(t) / t is (t cos t - sin t) / t^2, whose terms cancel
    (a float32 gradient at x = 1e-4 was off by 2x), the series' derivative does not."""
    t = x * math.pi
    near = ew.abs(t) < 0.5
    t2 = t * t
    series = _SINC_SERIES[-1]
    for c in reversed(_SINC_SERIES[:-1]):
        series = series * t2 + c
    safe = ew.where(near, 1.0, t)             # no 0 / 0 in the branch not taken
    # at 0 itself the gradient is masked to 0, as torch's (even for a NaN incoming one)
    return ew.where(x == 0, 1.0, ew.where(near, series, ew.sin(safe) / safe))


# --- clamping and replacing -------------------------------------------------------------
def clamp_min(x, min):  # noqa: A002 - torch's argument name
    return clamp(x, min=min)


def clamp_max(x, max):  # noqa: A002
    return clamp(x, max=max)


def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    """NaN -> nan, +inf -> posinf, -inf -> neginf (defaults: the dtype's largest values)."""
    if np_kind(x._data.dtype) != "f":
        return ew.clone(x)
    big = float(dtypes.finfo_np(x._data.dtype).max)
    out = ew.where(ew.isnan(x), nan, x)
    out = ew.where(x == math.inf, big if posinf is None else posinf, out)
    return ew.where(x == -math.inf, -big if neginf is None else neginf, out)


def fmax(a, b):
    """The larger value, ignoring NaN (NaN only where both are); ties go to a (torch)."""
    _require_tensor("fmax", "other", 2, b)
    return ew.where(ew.logical_or(ew.isnan(b), a >= b), a, b)


def fmin(a, b):
    _require_tensor("fmin", "other", 2, b)
    return ew.where(ew.logical_or(ew.isnan(b), a <= b), a, b)


def float_power(a, b):
    """a ** b computed in float64 (the result is float64 whatever the inputs)."""
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError(f"float_power() received an invalid combination of arguments - got "
                        f"({type(a).__name__}, {type(b).__name__}): one must be a Tensor")
    a = ew.cast(a, dtypes.F64) if isinstance(a, Tensor) else float(a)
    b = ew.cast(b, dtypes.F64) if isinstance(b, Tensor) else float(b)
    return ew.pow(a, b)


def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """|a - b| <= atol + rtol |b| elementwise; infinities are close only to themselves."""
    _require_tensor("isclose", "other", 2, b)
    if a._data.dtype != b._data.dtype:
        names = dtypes.TORCH_NAMES
        raise RuntimeError(f"{names[a._data.dtype]} did not match {names[b._data.dtype]}")
    if rtol < 0:
        raise RuntimeError(f"rtol must be greater than or equal to zero, but got {rtol}")
    if atol < 0:
        raise RuntimeError(f"atol must be greater than or equal to zero, but got {atol}")
    close = a == b
    if a._data.dtype == dtypes.BOOL:
        return close
    # (complex: NaN where a part is, and |a - b| is the modulus of the difference)
    if equal_nan and np_kind(a._data.dtype) in "fc":
        close = ew.logical_or(close, ew.logical_and(ew.isnan(a), ew.isnan(b)))
    kind = a._data.dtype if np_kind(a._data.dtype) in "fc" else dtypes.default_float()
    err = ew.abs(ew.cast(a - b, kind))
    allowed = ew.abs(ew.cast(b, kind) * rtol) + atol
    return ew.logical_or(close, ew.logical_and(ew.isfinite(err), err <= allowed))


# --- grids ------------------------------------------------------------------------------
_MESHGRID_WARNING = ("torch.meshgrid: in an upcoming release, it will be required to pass "
                     "the indexing argument.")


def meshgrid(*tensors, indexing=None):
    """Coordinate grids from 0-d/1-d tensors: 'ij' (matrix, the default) or 'xy'
    (Cartesian: the first two dims swapped). Outputs are broadcast views of the inputs."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing is None:
        warnings.warn(_MESHGRID_WARNING, UserWarning, stacklevel=user_stacklevel())
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise RuntimeError(f'torch.meshgrid: indexing must be one of "xy" or "ij", but '
                           f"received: {indexing}")
    if not tensors:
        raise RuntimeError("meshgrid expects a non-empty TensorList")
    for t in tensors:
        if t.ndim > 1:
            raise RuntimeError(f"torch.meshgrid: Expected 0D or 1D tensor in the tensor list "
                               f"but got a tensor of shape {list(t.shape)}")
    if len({t._data.dtype for t in tensors}) > 1:
        raise RuntimeError("meshgrid expects all tensors to have the same dtype")
    order = list(tensors)
    swap = indexing == "xy" and len(order) >= 2
    if swap:
        order[0], order[1] = order[1], order[0]
    shape = tuple(t.numel() for t in order)
    grids = []
    for i, t in enumerate(order):
        view = [1] * len(order)
        view[i] = shape[i]
        grids.append(mv.expand(mv.reshape(t, tuple(view)), shape))
    if swap:
        grids[0], grids[1] = grids[1], grids[0]
    return tuple(grids)


@in_float32
def addcmul(input, tensor1, tensor2, *rest, value=1):
    if rest:        # torch's deprecated addcmul(input, value, tensor1, tensor2)
        (tensor1, tensor2), value = number_first("addcmul", "value", tensor1,
                                                 (tensor2, *rest), value, 2)
    return input + value * tensor1 * tensor2


def check_addcdiv(tensor1, tensor2):
    """torch refuses addcdiv of two integer tensors (it once divided them as integers)."""
    if all(isinstance(t, Tensor) and np_kind(t._data.dtype) in "biu" for t in (tensor1, tensor2)):
        raise RuntimeError(
            "Integer division with addcdiv is no longer supported, and in a future  release "
            "addcdiv will perform a true division of tensor1 and tensor2. The historic addcdiv "
            "behavior can be implemented as (input + value * torch.trunc(tensor1 / tensor2))"
            ".to(input.dtype) for integer inputs and as (input + value * tensor1 / tensor2) "
            "for float inputs. The future addcdiv behavior is just the latter implementation: "
            "(input + value * tensor1 / tensor2), for all dtypes.")


@in_float32
def addcdiv(input, tensor1, tensor2, *rest, value=1):
    if rest:
        (tensor1, tensor2), value = number_first("addcdiv", "value", tensor1,
                                                 (tensor2, *rest), value, 2)
    check_addcdiv(tensor1, tensor2)
    return input + value * tensor1 / tensor2
