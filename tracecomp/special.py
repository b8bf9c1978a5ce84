"""tracecomp.special: torch.special's names for the special functions tracecomp has.

Each is the same function as its tracecomp.X counterpart (no second implementation); the
ones only torch.special has are declared beside their primitives (ops/special_more.py,
ops/orthopoly.py). ndtr is the standard normal CDF, built from erfc so its lower tail keeps
its digits. The public names are torch.special's, no more: helpers are imported privately.
As torch's, every one but softmax and log_softmax takes out= (torch_args.with_out).
"""
import math as _math

from .composite import log_softmax, logsumexp, softmax
from .composite_math import exp2, logit, sinc, xlogy
from .ops import orthopoly as _orthopoly  # noqa: F401  (declares the polynomials)
from .ops import public as _public
from .ops import special as _special_ops
from .ops import special_more as _special_more  # noqa: F401  (declares erfcx, zeta, ...)
from .ops.elementwise import erf, expm1, log1p, round  # noqa: A004
from .ops.elementwise import sigmoid as expit
from .ops.special import digamma, polygamma
from .ops.special import digamma as psi
from .ops.special import igamma as gammainc
from .ops.special import igammac as gammaincc
from .ops.special import lgamma as gammaln
from .tensor_methods_more import mvlgamma as multigammaln
from .torch_args import with_out as _with_out

_public.export("torch.special", globals())   # erfc, erfinv, i0, zeta, ...: beside their ops
__all__ = ["digamma", "entr", "erf", "exp2", "expit", "expm1", "gammainc", "gammaincc", "gammaln",
           "log1p", "multigammaln",
           "log_softmax", "logit", "logsumexp", "ndtr", "polygamma", "psi", "round", "sinc",
           "softmax", "xlog1py", "xlogy"]
__all__ += _public.names("torch.special")


def ndtr(x):
    """P(N(0, 1) <= x) = erfc(-x / sqrt(2)) / 2."""
    return _special_ops.erfc(x * (-1.0 / _math.sqrt(2.0))) * 0.5


def entr(x):
    """-x log x for x > 0, 0 at 0, -inf below 0."""
    from .ops.elementwise import where
    return where(x < 0, -_math.inf, -xlogy(x, x))


def xlog1py(x, y):
    """x * log1p(y), 0 where x == 0 (unless y is NaN)."""
    from .ops.elementwise import isnan, logical_and, logical_not, where
    safe = where(logical_and(x == 0, logical_not(isnan(y))), 0.0, y)
    return x * log1p(safe)


# torch.special.<name>(..., out=t): wrapped as torch.*'s functions are (out_ops.py)
globals().update({_name: _with_out(globals()[_name], _name) for _name in __all__
                  if _name not in ("softmax", "log_softmax")})
