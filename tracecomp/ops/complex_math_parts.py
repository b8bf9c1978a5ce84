"""Complex elementwise math as real primitives on the parts: the trigonometric and
hyperbolic functions and their inverses, sqrt, rsqrt, log1p, expm1, pow, the comparisons
eq/ne and the predicates (isnan, isinf, logical ops) of complex values, for compiled code.

Each rule computes what torch's CPU kernel computes, to float rounding: torch calls the C
library's complex functions (csinh, ctanh, csqrt, cpow, ...) or c10's own formulas (log1p,
expm1), so the formulas here are those functions' for finite values, with their answers at
signed zeros, infinities and NaN where a plain formula would differ (a `where` per case,
named in a comment). With x + iy an operand's parts:

    sinh:  sinh x cos y + i cosh x sin y        cosh: cosh x cos y + i sinh x sin y
    tanh:  (sinh x cosh x + i sin y cos y) / (sinh^2 x + cos^2 y)
    sin:   sin x cosh y + i cos x sinh y,  cos(z) = cosh(iz),  tan(z) = -i tanh(iz)
    sqrt:  t = sqrt((|z| + |x|) / 2); (t, y / 2t) for x >= 0, else (|y| / 2t, +-t)
    asin, acos, acosh: Kahan's formulas from sqrt(1 -+ z) or sqrt(z -+ 1); asinh(z) =
           i asin(-iz); atanh: its parts as catanh computes them; atan(z) = -i atanh(iz)
    pow:   a ** b = exp(b log a) (torch's cpow), with torch's shortcuts for a number b
           (2: a * a, 0.5: sqrt, -1: 1 / a, ...)

Gradients need nothing here: autodiff runs on the complex graph first with the primitives'
own VJPs (which call these same ops), and its backward nodes are rewritten by these rules.
The rules are registered through ops/complex_parts.py's table.
"""
import cmath
import math

import numpy as np

from .. import dtypes
from ..tensor import Tensor
from . import complex_algebra as ca
from . import elementwise as ew
from .complex_algebra import Pair, pack, parts, scalar


def _from_parts(fn):
    """The rule of a unary op written as fn(x, y) -> (real part, imaginary part)."""
    def rule(out, z):
        return pack(*fn(*parts(z, out.real)), out.shape, out.real)
    return rule


def _rotated(fn):
    """f(z) = -i g(iz) (tan from tanh, asin from asinh, atan from atanh): g at (-y, x),
    then (v, -u)."""
    def rotated(x, y):
        u, v = fn(-y, x)
        return v, -u
    return rotated


def _sign_of(x):
    """+-1 with x's sign bit (-0.0 gives -1)."""
    return ew.copysign(scalar(1.0, x._data.dtype), x)


def _nonfinite(y):
    return ew.logical_or(ew.isnan(y), ew.isinf(y))


# --- hyperbolic and trigonometric ------------------------------------------------------------
def _times_sinh_cosh(x, c, s):
    """(sinh(x) c, cosh(x) s) for |c|, |s| <= 1. Where e^|x| overflows (|x| above 88 in
    float32, 709 in float64) but the products need not, e^(|x|/2) scales twice, as the C
    library's csinh does: sin(pi/2 + 94i) is inf - 1.7e33i in float32, not inf - inf i."""
    half = ew.exp(ew.abs(x) * 0.5)
    far = ew.abs(x) > (88.0 if x._data.dtype.itemsize < 8 else 709.0)
    sinh_c = ew.where(far, _sign_of(x) * (half * (c * 0.5) * half), ew.sinh(x) * c)
    return sinh_c, ew.where(far, half * (s * 0.5) * half, ew.cosh(x) * s)


def _sinh(x, y):
    re, im = _times_sinh_cosh(x, ew.cos(y), ew.sin(y))
    # csinh(+-0 + i inf/nan) = +-0 + i NaN, csinh(+-inf + i inf/nan) = +inf + i NaN
    keep_x = ew.logical_and(_nonfinite(y), ew.logical_or(x == 0, ew.isinf(x)))
    re = ew.where(keep_x, ew.where(x == 0, x, ew.abs(x)), re)
    # a real argument (y = +-0) keeps its imaginary zero, also where cosh x is inf or NaN
    return re, ew.where(y == 0, y, im)


def _sin(x, y):
    """csin, sin x cosh y + i cos x sinh y: csinh's special values turned by a quarter."""
    im, re = _times_sinh_cosh(y, ew.cos(x), ew.sin(x))
    # csin(inf/nan +- 0i) = NaN +- 0i; csin(inf/nan +- i inf) = NaN + i inf
    odd = _nonfinite(x)
    im = ew.where(ew.logical_and(odd, ew.isinf(y)), ew.abs(y), im)
    im = ew.where(ew.logical_and(odd, y == 0), y, im)
    # csin(+-0 + iy) keeps the real zero, also where cosh y is inf or NaN
    return ew.where(x == 0, x, re), im


def _cosh(x, y):
    im, re = _times_sinh_cosh(x, ew.sin(y), ew.cos(y))
    # ccosh(x +- 0i) has a zero imaginary part signed as x * y (sinh(inf) * 0 would be
    # NaN), y itself for a NaN x; ccosh(+-0 + i inf/nan) = NaN + 0i; ccosh(+-inf + i
    # inf/nan) = inf + i NaN
    im = ew.where(ew.logical_and(x == 0, _nonfinite(y)), 0.0, im)
    re = ew.where(ew.logical_and(ew.isinf(x), _nonfinite(y)), ew.abs(x), re)
    return re, ew.where(y == 0, ew.where(ew.isnan(x), y, _sign_of(x) * y), im)


def _tanh(x, y):
    """ctanh: for |x| > 20, tanh x is +-1 to float64 rounding and the imaginary part is
    4 sin y cos y e^(-2|x|) (also for x = +-inf, where the quotient would be inf / inf)."""
    sy, cy = ew.sin(y), ew.cos(y)
    sh, ch = ew.sinh(x), ew.cosh(x)
    den = sh * sh + cy * cy
    odd = _nonfinite(y)
    far = ew.logical_and(ew.abs(x) > 20.0, ew.logical_or(ew.isinf(x), ew.logical_not(odd)))
    re = ew.where(far, _sign_of(x), sh * ch / den)
    im = ew.where(far, sy * cy * 4.0 * ew.exp(ew.abs(x) * -2.0), sy * cy / den)
    # ctanh(+-inf + i inf/nan) = +-1 + 0i signed as y; ctanh(+-0 + i inf/nan) = +-0 + i NaN;
    # ctanh(x +- 0i) keeps the zero (x NaN too)
    im = ew.where(ew.logical_and(ew.isinf(x), odd), ew.copysign(scalar(0.0, y._data.dtype), y),
                  im)
    re = ew.where(ew.logical_and(x == 0, odd), x, re)
    return re, ew.where(y == 0, y, im)


# --- roots, logarithms, exponentials --------------------------------------------------------
def _sqrt(x, y):
    """csqrt: the root with a non-negative real part; its imaginary part has y's sign, so
    that sqrt(-4 - 0i) = -2i (the branch cut along the negative reals)."""
    t = ew.sqrt(ew.hypot(x, y) * 0.5 + ew.abs(x) * 0.5)
    q = y / t * 0.5
    right = x >= 0
    re = ew.where(right, t, ew.abs(q))
    im = ew.where(right, q, ew.copysign(t, y))
    # csqrt(+-0 +- 0i) = +0 +- 0i (y / t would be 0 / 0); csqrt(x +- i inf) = inf +- i inf
    zero, inf_y = t == 0, ew.isinf(y)
    re = ew.where(inf_y, ew.abs(y), ew.where(zero, 0.0, re))
    return re, ew.where(ew.logical_or(zero, inf_y), y, im)


_sqrt_rule = _from_parts(_sqrt)


def _rsqrt(out, z):
    """torch's rsqrt of a complex value: 1 / sqrt(z), by complex division."""
    return ca.div(out, 1.0, _sqrt_rule(out, z))


def _log1p(out, z):
    """torch's CPU log1p, Kahan's: with u = 1 + z, z itself where u rounds to 1, log u
    where u - 1 gives z back exactly, else log u * (z / (u - 1)), in complex arithmetic."""
    x, y = parts(z, out.real)
    u1 = x + 1.0
    log_u = ca.log(out, pack(u1, y, out.shape, out.real))
    back = u1 - 1.0
    fixed = ca.mul(out, log_u, ca.div(out, z, pack(back, y, out.shape, out.real)))
    one = ew.logical_and(u1 == 1.0, y == 0)
    exact = ew.logical_and(back == x, y == y)
    (lr, li), (fr, fi) = parts(log_u, out.real), parts(fixed, out.real)
    return pack(ew.where(one, x, ew.where(exact, lr, fr)),
                ew.where(one, y, ew.where(exact, li, fi)), out.shape, out.real)


def _expm1(x, y):
    """c10's expm1: (e^x - 1) cos y - 2 sin^2(y / 2) + i e^x sin y, exact near 0."""
    half = ew.sin(y * 0.5)
    return ew.expm1(x) * ew.cos(y) - half * half * 2.0, ew.exp(x) * ew.sin(y)


# --- inverse trigonometric and hyperbolic: Kahan's formulas -----------------------------
# (W. Kahan, "Branch cuts for complex elementary functions", 1987): real asinh and atan2
# of products of complex square roots, so each branch cut's side follows the sign of a
# zero part as in the C library. casinh, cacos, cacosh and catanh are primary (casin and
# catan are -i f(iz) of the first and last, as C defines them); where a part is infinite,
# each gives its limit (C99's table), and a zero beside a NaN keeps what C keeps.
def _asin(x, y):
    """The kernel: asin z = atan2(x, Re(sqrt(1 - z) sqrt(1 + z))) + i asinh(Im(conj(
    sqrt(1 - z)) sqrt(1 + z)))."""
    (ar, ai), (br, bi) = _sqrt(1.0 - x, -y), _sqrt(1.0 + x, y)
    return ew.atan2(x, ar * br - ai * bi), ew.asinh(ar * bi - ai * br)


def _asinh(x, y):
    """asinh z = i asin(-iz); for an infinite part log(2z)'s limit, +-inf + i atan2(y, |x|);
    casinh(NaN +- 0i) = NaN +- 0i."""
    u, v = _asin(y, -x)
    big = _infinite(x, y)
    re = ew.where(big, _signed(float("inf"), x), -v)
    im = ew.where(ew.logical_and(ew.isnan(x), y == 0), y, u)
    return re, ew.where(big, ew.atan2(y, ew.abs(x)), im)


def _acos(x, y):
    """acos z = 2 atan2(Re sqrt(1 - z), Re sqrt(1 + z)) + i asinh(Im(conj(sqrt(1 + z))
    sqrt(1 - z))); for an infinite part atan2(|y|, x) -+ i inf; cacos(+-0 + i NaN) is
    pi/2 + i NaN."""
    (ar, ai), (br, bi) = _sqrt(1.0 - x, -y), _sqrt(1.0 + x, y)
    big = _infinite(x, y)
    re = ew.where(big, ew.atan2(ew.abs(y), x), ew.atan2(ar, br) * 2.0)
    re = ew.where(ew.logical_and(x == 0, ew.isnan(y)), math.pi / 2, re)
    return re, ew.where(big, -_signed(float("inf"), y), ew.asinh(br * ai - bi * ar))


def _acos_rule(out, z):
    """torch's acos: the C library's cacos for complex64, but pi/2 - asin z for complex128
    (its vectorized kernel), which gives acos(x + 0i) = ... + 0i where cacos gives -0i."""
    if out.real.itemsize < 8:
        return _from_parts(_acos)(out, z)
    u, v = _rotated(_asinh)(*parts(z, out.real))
    return pack(math.pi / 2 - u, ew.where(v == 0, 0.0, -v), out.shape, out.real)


def _acosh(x, y):
    """acosh z = asinh(Re(conj(sqrt(z - 1)) sqrt(z + 1))) + 2i atan2(Im sqrt(z - 1),
    Re sqrt(z + 1)); for an infinite part inf + i atan2(y, x); cacosh(+-0 + i NaN) is
    NaN + i pi/2."""
    (ar, ai), (br, bi) = _sqrt(x - 1.0, y), _sqrt(x + 1.0, y)
    big = _infinite(x, y)
    re = ew.where(big, float("inf"), ew.asinh(ar * br + ai * bi))
    im = ew.where(big, ew.atan2(y, x), ew.atan2(ai, br) * 2.0)
    return re, ew.where(ew.logical_and(x == 0, ew.isnan(y)), math.pi / 2, im)


def _atanh(x, y):
    """catanh: log((1 + z) / (1 - z)) / 2 with its parts computed as the C library does,
    the real part log(f) / 4 for f = |1 + z|^2 / |1 - z|^2 below 1/2 (z near -1), else
    log1p(4x / |1 - z|^2) / 4 (z near 0 and +1), the imaginary part
    atan2(2y, 1 - x^2 - y^2) / 2, and x / |z|^2 + i pi/2 for |z| beyond 16 / eps, where
    the squares would overflow; for an infinite part +-0 +- i pi/2 (NaN for a NaN y);
    catanh(+-0 + i NaN) = +-0 + i NaN."""
    y2 = y * y
    num, den = (1.0 + x) * (1.0 + x) + y2, (1.0 - x) * (1.0 - x) + y2
    ratio = num / den
    re = ew.where(ratio < 0.5, ew.log(ratio), ew.log1p(x * 4.0 / den)) * 0.25
    gap = ew.cast(ca.unit_gap(x, y), x._data.dtype)
    im = ew.atan2(y * 2.0, ew.where(gap == 0, 0.0, -gap)) * 0.5     # (+0: atanh(1) = inf + 0i)
    h = ew.hypot(x * 0.5, y * 0.5)
    far = ew.maximum(ew.abs(x), ew.abs(y)) >= 16.0 / np.finfo(x._data.dtype).eps
    re = ew.where(far, x / h / h * 0.25, re)
    im = ew.where(far, _signed(math.pi / 2, y), im)
    big = _infinite(x, y)
    keep = ew.logical_or(big, ew.logical_and(x == 0, ew.isnan(y)))
    re = ew.where(keep, ew.where(big, _signed(0.0, x), x), re)
    return re, ew.where(big, ew.where(ew.isnan(y), y, _signed(math.pi / 2, y)), im)


def _infinite(x, y):
    return ew.logical_or(ew.isinf(x), ew.isinf(y))


def _signed(value, like):
    """value with like's sign."""
    return ew.copysign(scalar(value, like._data.dtype), like)


# --- pow -----------------------------------------------------------------------------------
def _times(out, a, b):
    return ca.mul(out, a, b)


def _times_c99(out, a, b):
    """a * b as C multiplies complex numbers (cpow's b log a): where the plain product is
    NaN + i NaN but a factor is infinite, its infinities are recovered (C99 Annex G's
    rule: infinite parts become +-1, the others +-0, NaN parts of the other factor +-0,
    and the product is inf times that), so (0.5 + 0i) * (inf + i NaN) is inf + i NaN."""
    (ar, ai), (br, bi) = ((scalar(v, out.real) if not isinstance(v, Tensor) else v
                           for v in parts(x, out.real)) for x in (a, b))
    products = (ar * br, ai * bi, ar * bi, ai * br)
    re, im = products[0] - products[1], products[2] + products[3]
    lost = ew.logical_and(ew.isnan(re), ew.isnan(im))
    inf_a = ew.logical_or(ew.isinf(ar), ew.isinf(ai))
    inf_b = ew.logical_or(ew.isinf(br), ew.isinf(bi))

    one, zero = scalar(1.0, out.real), scalar(0.0, out.real)

    def unit(v):            # an infinite part as +-1, a finite one as +-0
        return ew.copysign(ew.where(ew.isinf(v), one, zero), v)

    def unnan(v, when):     # a NaN part as +-0, where `when`
        return ew.where(ew.logical_and(when, ew.isnan(v)), ew.copysign(zero, v), v)

    # finite factors whose products overflow (inf - inf): their NaN parts as +-0 too
    over = ew.logical_or(ew.logical_or(ew.isinf(products[0]), ew.isinf(products[1])),
                         ew.logical_or(ew.isinf(products[2]), ew.isinf(products[3])))
    over = ew.logical_and(over, ew.logical_not(ew.logical_or(inf_a, inf_b)))
    ar, ai = (ew.where(inf_a, unit(v), unnan(v, ew.logical_or(inf_b, over))) for v in (ar, ai))
    br, bi = (ew.where(inf_b, unit(v), unnan(v, ew.logical_or(inf_a, over))) for v in (br, bi))
    found = ew.logical_and(lost, ew.logical_or(ew.logical_or(inf_a, inf_b), over))
    inf = float("inf")
    re = ew.where(found, (ar * br - ai * bi) * inf, re)
    im = ew.where(found, (ar * bi + ai * br) * inf, im)
    return pack(re, im, out.shape, out.real)


# torch's complex pow with a number exponent: these shortcuts first (its fast paths), in
# its order of operations, so that z ** 2 is z * z to the last bit
_NUMBER_POWERS = {
    0.5: _sqrt_rule,
    -0.5: _rsqrt,
    -1.0: lambda out, a: ca.div(out, 1.0, a),
    2.0: lambda out, a: _times(out, a, a),
    3.0: lambda out, a: _times(out, _times(out, a, a), a),
    -2.0: lambda out, a: ca.div(out, 1.0, _times(out, a, a)),
}


def _as_pair(x, out):
    """An operand as a Pair (a real tensor: imaginary part 0), or a Python number."""
    if isinstance(x, Pair) or not isinstance(x, Tensor):
        return x
    return pack(x, 0.0, tuple(x.shape), out.real)


def _pow(out, a, b):
    """torch's complex pow: exp(b log a), the complex C library's cpow."""
    if not isinstance(b, Tensor | Pair):
        if b == 0:          # torch fills ones (even for a NaN base)
            return pack(1.0, 0.0, out.shape, out.real)
        if b == 1:
            return pack(*parts(a, out.real), out.shape, out.real)
        shortcut = _NUMBER_POWERS.get(complex(b).real) if complex(b).imag == 0 else None
        if shortcut is not None:
            return shortcut(out, _as_pair(a, out))
    if isinstance(a, Tensor | Pair):
        log_a = ca.log(out, _as_pair(a, out))
    else:                   # a number base (2 ** z): its logarithm is a number
        log_a = cmath.log(complex(a)) if a != 0 else complex(-float("inf"), 0.0)
    return ca.exp(out, _times_c99(out, b, log_a))


# --- comparisons and predicates: a complex value is its pair of parts -----------------------
def _compare_dtype(*operands):
    """The real dtype the parts are compared in: the operands' promoted dtype's."""
    kinds = [x.p._data.dtype for x in operands if isinstance(x, Pair)]
    kinds += [x._data.dtype for x in operands
              if isinstance(x, Tensor) and x._data.dtype.kind == "f"]
    # (an integer tensor beside a complex number: torch's default complex dtype's parts)
    return np.result_type(*kinds) if kinds else np.dtype(dtypes.default_float())


def _eq(out, a, b):
    real = _compare_dtype(a, b)
    (ar, ai), (br, bi) = parts(a, real), parts(b, real)
    return ew.logical_and(ar == br, ai == bi)


def _ne(out, a, b):
    return ew.logical_not(_eq(out, a, b))


def _truth(x):
    """Whether x is nonzero: either part of a complex value (a real operand as it is)."""
    if not isinstance(x, Pair):
        return x
    re, im = parts(x, x.p._data.dtype)
    return ew.logical_or(re != 0, im != 0)


def _either_part(test):
    def rule(out, z):
        re, im = parts(z, z.p._data.dtype)
        return ew.logical_or(test(re), test(im))
    return rule


MATH_RULES = {
    "sinh": _from_parts(_sinh), "cosh": _from_parts(_cosh), "tanh": _from_parts(_tanh),
    "sin": _from_parts(_sin), "cos": _from_parts(lambda x, y: _cosh(-y, x)),
    "tan": _from_parts(_rotated(_tanh)),
    "asinh": _from_parts(_asinh), "asin": _from_parts(_rotated(_asinh)),
    "acos": _acos_rule, "acosh": _from_parts(_acosh),
    "atanh": _from_parts(_atanh), "atan": _from_parts(_rotated(_atanh)),
    "sqrt": _sqrt_rule, "rsqrt": _rsqrt,
    "log1p": _log1p, "expm1": _from_parts(_expm1),
    "pow": _pow,
    "eq": _eq, "ne": _ne,
    "isnan": _either_part(ew.isnan), "isinf": _either_part(ew.isinf),
    "logical_not": lambda out, x: ew.logical_not(_truth(x)),
    "logical_and": lambda out, a, b: ew.logical_and(_truth(a), _truth(b)),
    "logical_or": lambda out, a, b: ew.logical_or(_truth(a), _truth(b)),
    "logical_xor": lambda out, a, b: ew.logical_xor(_truth(a), _truth(b)),
}
