"""Special-function primitives: erfc, erfinv, lgamma and polygamma (digamma is n = 0).

They are primitives, not composites, because no composite is accurate: 1 - erf(x) loses
every digit of erfc for x > 4 in float32, and the gamma family has no short closed form.
The numpy impls are scipy.special's; the VJPs use public ops only, so lgamma -> digamma ->
polygamma(1) -> polygamma(2) ... gives derivatives of any order.
"""
import math

import numpy as np
from scipy import special

from .. import dtypes
from ..dispatch import bind
from .elementwise import UNARY, exp, unary
from .public import public
from .registry import defprim
from .rules import float_dtype, same_shape


def _lgamma(x):
    # scipy gives -inf at -inf; torch (and C's lgamma) +inf: the pole's magnitude
    return np.where(np.isneginf(x), np.inf, special.gammaln(x))


def _erfinv(x):
    return np.copysign(special.erfinv(x), x)    # scipy drops the sign of -0.0; torch keeps it


def _polygamma(x, n):
    x = x if x.dtype.kind == "f" else x.astype(dtypes.default_float())
    if n == 0:
        return special.psi(x)
    return special.polygamma(n, x)


_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)

erfc_p = unary("erfc", special.erfc,
               lambda g, out, x: (-(g * exp(-(x * x)) * _TWO_OVER_SQRT_PI),))
erfinv_p = unary("erfinv", _erfinv,
                 lambda g, out, x: (g * exp(out * out) * (math.sqrt(math.pi) / 2),))
lgamma_p = unary("lgamma", _lgamma, lambda g, out, x: (g * digamma(x),))
# a param (n), so declared directly: `unary` wraps impls that take the operand alone
polygamma_p = defprim("polygamma", _polygamma, same_shape, float_dtype,
                      lambda g, out, x, n: (g * polygamma(n + 1, x),), UNARY)


@public("torch", "torch.special", "Tensor", inplace=erfc_p)
def erfc(x): return bind(erfc_p, x)
@public("torch", "torch.special", "Tensor", inplace=erfinv_p)
def erfinv(x): return bind(erfinv_p, x)
@public("torch", "Tensor", inplace=lgamma_p)      # torch.special calls it gammaln
def lgamma(x): return bind(lgamma_p, x)
def digamma(x): return bind(polygamma_p, x, n=0)


def polygamma(n, x):
    """The n-th derivative of digamma (torch's argument order: n first)."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise RuntimeError(f"polygamma(n, x) does not support negative n. (got n={n!r}: "
                           f"expected an int >= 0)")
    return bind(polygamma_p, x, n=n)
