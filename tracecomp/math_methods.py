"""The Tensor methods of the elementwise-math, special-function and random ops (issue 9):
one table, merged into tensor_methods.METHODS. Every entry is the function `tracecomp.X`
also is; in-place variants (x.sinh_(), x.fmod_(y), x.logit_()) compute out of place and
commit into x with torch's rules (inplace.py).
"""
from . import composite as C
from . import composite_math as M
from . import dtypes, inplace
from . import random as R
from .ops import elementwise as ew
from .ops import special as S


def _divide_(prim):
    """x.fmod_(y), x.remainder_(y): y checked for 0 first where integers divide (the
    in-place write may skip the public function, never the check)."""
    return lambda x, other: inplace.apply(x, prim, ew.divisor(prim.name + "_", x, other))


def _float_power_(x, exponent):
    if x._data.dtype != dtypes.F64:
        raise RuntimeError(f"the base given to float_power_ has dtype "
                           f"{dtypes.TORCH_NAMES[x._data.dtype]} but the operation's result "
                           f"requires dtype Double")
    return inplace.commit(x, M.float_power(inplace.alias(x), exponent), "float_power_")


def _polygamma_method(x, n):
    return S.polygamma(n, x)


def _polygamma_(x, n):
    return inplace.commit(x, S.polygamma(n, inplace.alias(x)), "polygamma_")


# tan, sinh, ..., erfc, hypot, copysign and their in-place forms and aliases are declared
# where they are defined (ops/public.py); these are the ones written here
UNARY_PRIMS = {"sin": ew.sin_p, "cos": ew.cos_p, "erf": ew.erf_p, "log1p": ew.log1p_p,
               "expm1": ew.expm1_p, "sign": ew.sign_p, "ceil": ew.ceil_p, "trunc": ew.trunc_p,
               "rsqrt": ew.rsqrt_p}
DIVIDE_PRIMS = {"fmod": ew.fmod_p, "remainder": ew.remainder_p}
COMPOSITES = {"log2": M.log2, "log10": M.log10, "exp2": M.exp2, "sgn": M.sgn, "frac": M.frac,
              "logit": M.logit, "deg2rad": M.deg2rad, "rad2deg": M.rad2deg,
              "nan_to_num": M.nan_to_num, "clamp_min": M.clamp_min, "clamp_max": M.clamp_max,
              "xlogy": M.xlogy, "heaviside": M.heaviside, "sinc": M.sinc,
              "square": C.square, "reciprocal": C.reciprocal, "digamma": S.digamma}

MATH_METHODS = {
    **COMPOSITES,
    "polygamma": _polygamma_method,
    "logaddexp": M.logaddexp, "logaddexp2": M.logaddexp2, "float_power": M.float_power,
    "fmax": M.fmax, "fmin": M.fmin, "isclose": M.isclose, "positive": M.positive,
    "signbit": M.signbit, "absolute": ew.abs,
    # in place
    **{name + "_": inplace.method(prim) for name, prim in UNARY_PRIMS.items()},
    **{name + "_": _divide_(prim) for name, prim in DIVIDE_PRIMS.items()},
    **{name + "_": inplace.composite_method(fn, name + "_") for name, fn in COMPOSITES.items()},
    "float_power_": _float_power_, "polygamma_": _polygamma_, "absolute_": inplace.method(ew.abs_p),
    # random
    "multinomial": R.multinomial, "bernoulli": R._bernoulli_method, "random_": R.random_,
    "exponential_": R.exponential_, "cauchy_": R.cauchy_, "log_normal_": R.log_normal_,
    "geometric_": R.geometric_, "normal_": R.normal_, "uniform_": R.uniform_,
    "bernoulli_": R.bernoulli_,
}
