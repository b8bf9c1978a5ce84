"""More special-function primitives, torch.special's: erfcx, ndtri, log_ndtr, the exponentially
scaled Bessel functions i0e and i1e, the Hurwitz zeta function, and the Bessel family torch
defines without derivatives (bessel_j0/j1/y0/y1, modified_bessel_i0/i1/k0/k1, their scaled k0/k1,
spherical_bessel_j0, airy_ai).

Primitives, not composites, for the reason ops/special.py gives: each is accurate where the
obvious formula is not (exp(x*x) * erfc(x) overflows past x = 26, log(ndtr(x)) is -inf past
x = -38, i0(x) * exp(-x) is inf * 0 past x = 713). The numpy impls are scipy.special's, the
Cephes algorithms torch's kernels also follow. The VJPs are torch's (derivatives.yaml); the
ops torch gives no gradient (its outputs do not require grad) have no VJP here either.
"""
import math

import numpy as np

from .. import dtypes
from ..dispatch import bind, needs
from . import elementwise as ew
from .elementwise import _in_float32, binary, exp, unary
from .public import public
from .rules import float_dtype, no_kernel, promote_float, real_only
from .scipy_special import special

_SQRT_2PI = math.sqrt(2.0 * math.pi)


def _ndtri_vjp(g, out, x):
    return (g * _SQRT_2PI * exp(out * out * 0.5),)


def _log_ndtr_vjp(g, out, x):
    return (g * (1.0 / _SQRT_2PI) * exp(-(out + x * x * 0.5)),)


def _i0e_vjp(g, out, x):
    return (g * (i1e(x) - ew.sign(x) * out),)


def _i1e_vjp(g, out, x):
    """d i1e/dx = i0e(x) - i1e(x) (sign(x) + 1/x), 1/2 at 0 (0/0 there): torch's i1e_backward
    takes 1/2 wherever |x| <= eps, as ops/special.py's i1 slope does."""
    tiny = ew.abs(x) <= dtypes.finfo_np(dtypes.to_np(out.dtype)).eps
    safe = ew.where(tiny, 1.0, x)
    return (g * ew.where(tiny, 0.5, i0e(safe) - out * (ew.sign(safe) + 1.0 / safe)),)


def _zeta_vjp(g, out, x, q):
    """d/dq zeta(x, q) = -x zeta(x + 1, q); torch has no derivative in x."""
    if needs(x):
        raise NotImplementedError("the derivative for 'zeta' is not implemented.")
    return None, g * -x * zeta(x + 1.0, q)


def _zeta(x, q):
    # torch's zeta (Cephes') is inf at x == 1 whatever q, where scipy's is NaN for q <= 0, and
    # NaN at q = +inf (its tail term is 0 * inf), where scipy's is 0
    with np.errstate(all="ignore"):
        return np.where(x == 1, np.inf, np.where(np.isposinf(q) & (x > 1), np.nan,
                                                  special.zeta(x, q)))


def _spherical_j0(x):
    # torch's is 0 at +-inf, where sin(x)/x is NaN
    with np.errstate(all="ignore"):
        return np.where(np.isinf(x), 0.0, special.spherical_jn(0, x)).astype(x.dtype)


def _airy_ai(x):
    # scipy's is NaN for huge finite x (from ~1e10), where Ai has underflowed to 0 since 105
    # (torch's 0); at +-inf both are NaN
    with np.errstate(all="ignore"):
        return np.where(np.isfinite(x) & (x > 105), 0.0, special.airy(x)[0]).astype(x.dtype)


def _real(name, impl, vjp, saves=()):
    """A unary primitive on real numbers (integers computed in the default float), refusing
    complex operands in torch's words ("erfcx_cpu" not implemented for 'ComplexFloat')."""
    return unary(name, _in_float32(impl), vjp, real_only(float_dtype, no_kernel(f"{name}_cpu")),
                 saves=saves)


erfcx_p = _real("erfcx", special.erfcx,
                lambda g, out, x: (g * (2.0 * x * out - 2.0 / math.sqrt(math.pi)),),
                saves=(0, "out"))
ndtri_p = _real("ndtri", special.ndtri, _ndtri_vjp, saves=("out",))
log_ndtr_p = _real("log_ndtr", special.log_ndtr, _log_ndtr_vjp, saves=(0, "out"))
i0e_p = _real("i0e", special.i0e, _i0e_vjp, saves=(0, "out"))
i1e_p = _real("i1e", special.i1e, _i1e_vjp, saves=(0, "out"))
zeta_p = binary("zeta", _zeta, _zeta_vjp, real_only(promote_float, no_kernel("zeta_cpu")),
                saves=(0, 1))

# torch's forward-only Bessel family: name -> numpy impl (no VJP: torch's outputs do not
# require grad)
_NO_GRAD = {
    "bessel_j0": special.j0, "bessel_j1": special.j1,
    "bessel_y0": special.y0, "bessel_y1": special.y1,
    "modified_bessel_i0": special.i0, "modified_bessel_i1": special.i1,
    "modified_bessel_k0": special.k0, "modified_bessel_k1": special.k1,
    "scaled_modified_bessel_k0": special.k0e, "scaled_modified_bessel_k1": special.k1e,
    "spherical_bessel_j0": _spherical_j0, "airy_ai": _airy_ai,
}
NO_GRAD_PRIMS = {name: _real(name, impl, None) for name, impl in _NO_GRAD.items()}


@public("torch.special")
def erfcx(input): return bind(erfcx_p, input)
@public("torch.special")
def ndtri(input): return bind(ndtri_p, input)
@public("torch.special")
def log_ndtr(input): return bind(log_ndtr_p, input)
@public("torch.special")
def i0e(input): return bind(i0e_p, input)
@public("torch.special")
def i1e(input): return bind(i1e_p, input)
@public("torch.special")
def zeta(input, other): return bind(zeta_p, input, other)


def _forward_only(name):
    prim = NO_GRAD_PRIMS[name]

    def fn(input):
        return bind(prim, input)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"torch.special.{name} (no gradient, as torch's)."
    return public("torch.special")(fn)


for _name in _NO_GRAD:
    globals()[_name] = _forward_only(_name)
