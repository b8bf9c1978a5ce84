"""Eager implementations of elementwise primitives where numpy's function is not torch's:
the primitives (ops/elementwise.py) name these as their impl.

    sign       0 for NaN and -0.0; complex: torch's sgn, z / |z|
    pow        integer tensors to negative powers (numpy refuses them)
    extremum   maximum/minimum: NaN from either side, the first operand on ties
    remainder  the divisor's sign, a zero keeping the dividend's
    log1p      complex: torch's (Kahan's), where numpy's is log(1 + z)
    log_add_exp  log(exp(x) + exp(y)) of complex values (numpy's logaddexp is real only)
"""
import numpy as np

from ..dtypes import np_kind


def sign(x):
    """torch's sign: 0 for NaN and for -0.0 too (numpy's keeps NaN and -0.0); for complex
    z, torch's sgn: z / |z| (0 at 0)."""
    if x.dtype.kind == "c":
        size = np.abs(x)
        return np.where(size == 0, 0, x / np.where(size == 0, 1, size)).astype(x.dtype)
    if np_kind(x.dtype) != "f":
        return np.sign(x)
    return (x > 0).astype(x.dtype) - (x < 0).astype(x.dtype)


def pow(a, b):
    """np.power, with torch's integer powers: a negative exponent in a tensor gives 1 for
    base 1, +-1 for base -1 and 0 otherwise (numpy refuses the whole array)."""
    if np_kind(np.result_type(a, b)) not in "iu" or np.min(b, initial=0) >= 0:
        return np.power(a, b)
    b = np.asarray(b)
    negative = b < 0
    out = np.power(a, np.where(negative, 0, b))
    odd = (b & 1).astype(bool)
    return np.where(negative, np.where(a == 1, 1, np.where(a == -1, np.where(odd, -1, 1), 0)),
                    out)


def extremum(numpy_fn, keeps):
    """torch's maximum/minimum: NaN from either operand, and the first operand where they
    are equal, so that of two zeros of opposite sign the first comes out (numpy's gives the
    second). Not commutative, then, on signed zeros."""
    def impl(a, b):
        if np_kind(np.result_type(a, b)) != "f":
            return numpy_fn(a, b)
        return np.where(keeps(a, b) | np.isnan(a), a, b).astype(np.result_type(a, b),
                                                               copy=False)
    return impl


def remainder(a, b):
    """torch's remainder (the divisor's sign): fmod, moved by b where the signs differ. A
    zero result keeps a's sign, as torch's does (numpy's remainder takes b's)."""
    if np_kind(np.result_type(a, b)) != "f":
        return np.remainder(a, b)       # integers: the divisor has been checked for 0
    mod = np.fmod(a, b)
    return np.where((mod != 0) & ((np.asarray(b) < 0) != (mod < 0)), mod + b, mod)


def log1p(x):
    """np.log1p; for complex x, torch's CPU log1p (Kahan's): with u = 1 + x, x where u
    rounds to 1, log u where u - 1 gives x back, else log u * (x / (u - 1)). numpy's
    complex log1p is log(1 + x), which keeps only the digits of a small x that 1 + x
    kept."""
    if x.dtype.kind != "c":
        return np.log1p(x)
    with np.errstate(all="ignore"):
        u, back = _plus_real(x, 1), _plus_real(_plus_real(x, 1), -1)
        log_u = np.log(u)
        out = np.where(u == 1, x, np.where(back == x, log_u, log_u * (x / back)))
    return out.astype(x.dtype, copy=False)


def _plus_real(z, c):
    """z + c for a real number c, the imaginary part untouched (its -0.0 too: numpy adds
    c + 0j, and -0.0 + 0.0 is +0.0)."""
    out = np.array(z)       # (an array: a numpy scalar's parts are read-only)
    out.real += c
    return out


def log_add_exp(x, y):
    """log(exp(x) + exp(y)) for complex x, y: torch's _log_add_exp_helper (its complex
    logaddexp, and the step of its logcumsumexp). The operand of smaller real part is lo:
    log1p(exp(lo - hi)) + hi, which does not overflow. Where both real parts are the same
    infinity: lo for -inf (exp of it is 0 at any angle), log(exp(lo) + exp(hi)) for +inf.
    A NaN in either part of either operand gives NaN + NaN i."""
    with np.errstate(all="ignore"):
        x_first = x.real < y.real
        lo, hi = np.where(x_first, x, y), np.where(x_first, y, x)
        out = log1p(np.exp(lo - hi)) + hi
        both_inf = ~np.isfinite(lo.real) & (lo.real == hi.real)
        if both_inf.any():
            inf = np.where(lo.real < 0, lo, np.log(np.exp(lo) + np.exp(hi)))
            out = np.where(both_inf, inf, out)
        out = np.where(np.isnan(x) | np.isnan(y), complex(np.nan, np.nan), out)
    return out.astype(np.result_type(x, y), copy=False)
