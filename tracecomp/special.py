"""tracecomp.special: torch.special's names for the special functions tracecomp has.

Each is the same function as its tracecomp.X counterpart (no second implementation).
ndtr is the standard normal CDF, built from erfc so its lower tail keeps its digits. ndtri
is left out: erfinv(2p - 1) loses every digit for small p, and torch's is accurate there.
"""
import math

from .composite import log_softmax, logsumexp, softmax
from .composite_math import exp2, logit, sinc, xlogy
from .ops import public
from .ops import special as special_ops
from .ops.elementwise import erf, expm1, log1p, round, sigmoid  # noqa: A004
from .ops.special import digamma, igamma, igammac, lgamma, polygamma
from .tensor_methods_more import mvlgamma

expit = sigmoid
gammaln = lgamma
gammainc = igamma
gammaincc = igammac
multigammaln = mvlgamma
psi = digamma

public.export("torch.special", globals())      # erfc, erfinv, ...: declared beside their ops
__all__ = ["digamma", "entr", "erf", "exp2", "expit", "expm1", "gammainc", "gammaincc", "gammaln",
           "log1p", "multigammaln",
           "log_softmax", "logit", "logsumexp", "ndtr", "polygamma", "psi", "round", "sinc",
           "softmax", "xlog1py", "xlogy"]
__all__ += public.names("torch.special")


def ndtr(x):
    """P(N(0, 1) <= x) = erfc(-x / sqrt(2)) / 2."""
    return special_ops.erfc(x * (-1.0 / math.sqrt(2.0))) * 0.5


def entr(x):
    """-x log x for x > 0, 0 at 0, -inf below 0."""
    from .ops.elementwise import where
    return where(x < 0, -math.inf, -xlogy(x, x))


def xlog1py(x, y):
    """x * log1p(y), 0 where x == 0 (unless y is NaN)."""
    from .ops.elementwise import isnan, logical_and, logical_not, where
    safe = where(logical_and(x == 0, logical_not(isnan(y))), 0.0, y)
    return x * log1p(safe)
