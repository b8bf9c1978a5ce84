"""Special-function primitives: erfc, erfinv, lgamma, polygamma (digamma is n = 0), the
modified Bessel functions i0 and i1, igamma and igammac (the regularized lower and upper
incomplete gamma functions, Gamma's CDF and its complement).

They are primitives, not composites, because no composite is accurate: 1 - erf(x) loses
every digit of erfc for x > 4 in float32, and the gamma family has no short closed form.
The numpy impls are scipy.special's; the VJPs use public ops only, so lgamma -> digamma ->
polygamma(1) -> polygamma(2) ... gives derivatives of any order; so does i0 -> i1 -> i0.
"""
import math

import numpy as np

from .. import dtypes
from ..dispatch import bind, needs
from ..dtypes import np_kind
from . import elementwise as ew
from .elementwise import UNARY, binary, exp, float_only, unary
from .public import public
from .registry import defprim
from .rules import float_dtype, same_shape
from .scipy_special import special


def _lgamma(x):
    # scipy gives -inf at -inf; torch (and C's lgamma) +inf: the pole's magnitude
    return np.where(np.isneginf(x), np.inf, special.gammaln(x))


def _erfinv(x):
    return np.copysign(special.erfinv(x), x)    # scipy drops the sign of -0.0; torch keeps it


def _polygamma(x, n):
    x = x if np_kind(x.dtype) == "f" else x.astype(dtypes.default_float())
    if n == 0:
        return special.psi(x)
    return special.polygamma(n, x)


_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)

erfc_p = unary("erfc", special.erfc,
               lambda g, out, x: (-(g * exp(-(x * x)) * _TWO_OVER_SQRT_PI),))
erfinv_p = unary("erfinv", _erfinv,
                 lambda g, out, x: (g * exp(out * out) * (math.sqrt(math.pi) / 2),), saves=("out",))
lgamma_p = unary("lgamma", _lgamma, lambda g, out, x: (g * digamma(x),))
i0_p = unary("i0", special.i0, lambda g, out, x: (g * i1(x),))
i1_p = unary("i1", special.i1, lambda g, out, x: (g * _i1_slope(x, out),), saves=(0, "out"))
# a param (n), so declared directly: `unary` wraps impls that take the operand alone
polygamma_p = defprim("polygamma", _polygamma, same_shape, float_dtype,
                      lambda g, out, x, n: (g * polygamma(n + 1, x),), UNARY, saves=(0,))


def _igamma_vjp(g, out, a, x):
    """d/dx P(a, x) = x^(a-1) e^-x / Gamma(a); torch defines no derivative in a."""
    if needs(a):
        raise NotImplementedError("the derivative for 'igamma: input' is not implemented.")
    return None, g * exp((a - 1) * ew.log(x) - x - lgamma(a))


def _igammac_vjp(g, out, a, x):
    """d/dx Q(a, x) = -d/dx P(a, x); no derivative in a (torch's words)."""
    if needs(a):
        raise NotImplementedError("the derivative for 'igammac: input' is not implemented.")
    return None, -(g * exp((a - 1) * ew.log(x) - x - lgamma(a)))


igamma_p = binary("igamma", special.gammainc, _igamma_vjp)
# 1 - igamma would lose every digit where P is near 1: scipy's gammaincc computes Q directly
igammac_p = binary("igammac", special.gammaincc, _igammac_vjp, float_only("igammac"))


@public("torch", "torch.special", "Tensor", inplace=erfc_p)
def erfc(x): return bind(erfc_p, x)
@public("torch", "torch.special", "Tensor", inplace=erfinv_p)
def erfinv(x): return bind(erfinv_p, x)
@public("torch", "Tensor", inplace=lgamma_p)      # torch.special calls it gammaln
def lgamma(x): return bind(lgamma_p, x)
@public("torch", "torch.special", "Tensor", inplace=i0_p)
def i0(x): return bind(i0_p, x)
@public("torch.special")
def i1(x): return bind(i1_p, x)
@public("torch", "Tensor", inplace=igamma_p)      # torch.special calls it gammainc
def igamma(a, x): return bind(igamma_p, a, x)
@public("torch", "Tensor", inplace=igammac_p)     # torch.special calls it gammaincc
def igammac(a, x): return bind(igammac_p, a, x)


def _i1_slope(x, out):
    """d i1/dx = i0(x) - i1(x)/x, which is 1/2 at 0 (where the formula is 0/0): torch's
    i1_backward takes 1/2 wherever |x| <= eps, and so does this."""
    tiny = ew.abs(x) <= dtypes.finfo_np(dtypes.to_np(out.dtype)).eps
    safe = ew.where(tiny, 1.0, x)
    return ew.where(tiny, 0.5, i0(safe) - out / safe)
def digamma(x): return bind(polygamma_p, x, n=0)


def polygamma(n, x):
    """The n-th derivative of digamma (torch's argument order: n first)."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise RuntimeError(f"polygamma(n, x) does not support negative n. (got n={n!r}: "
                           f"expected an int >= 0)")
    return bind(polygamma_p, x, n=n)
