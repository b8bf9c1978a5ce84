"""Reparameterized Gamma and Dirichlet draws: torch._standard_gamma and
torch._sample_dirichlet, primitives tagged "random" (compiled code draws afresh on every
call) whose gradients are implicit (Figurnov et al. 2018): a draw x = F^-1(u; alpha) moves
with alpha as dx/dalpha = -(dF/dalpha) / (dF/dx) at fixed u.

torch evaluates that derivative with series and rational approximations; here it is
worked out in float64 from scipy's regularized incomplete gamma and beta functions, whose
alpha-derivative is taken by central differences (step 1e-5 relative: ~1e-10 error, far
below float32's). So the gradients agree with torch's to its approximations' accuracy
(~1e-4 relative), not bit for bit.

Dirichlet draws are normalized Gamma draws; their gradient is torch's: x_i moves with
alpha_i as the marginal Beta(alpha_i, total - alpha_i) draw does, and every other x_j
by -x_j / (1 - x_i) times that, so that they still sum to 1 (torch's _Dirichlet_backward).
"""
import numpy as np

from .. import dtypes
from ..dispatch import bind
from ..ops.registry import defprim
from ..ops.rules import same_dtype, same_shape
from ..ops.scipy_special import special

_STEP = 1e-5


def _gen(generator):
    from ..creation import default_generator
    return (generator or default_generator).rng


def _tiny(dtype):
    return dtypes.finfo_np(np.dtype(dtype)).tiny


def _standard_gamma_impl(alpha, generator=None):
    alpha = np.asarray(alpha)
    draws = _gen(generator).standard_gamma(alpha.astype(np.float64))
    return np.maximum(draws.astype(alpha.dtype), _tiny(alpha.dtype))


def _d_alpha(cdf, alpha, *rest):
    """d cdf(alpha, *rest) / d alpha by central differences in float64."""
    h = _STEP * np.maximum(alpha, 1.0)
    return (cdf(alpha + h, *rest) - cdf(alpha - h, *rest)) / (2 * h)


def _standard_gamma_grad_impl(alpha, x):
    """dx/dalpha of a Gamma(alpha, 1) draw x: -(dP(alpha, x)/dalpha) / pdf(x; alpha), with
    the upper tail Q = 1 - P used past the mean (P near 1 has no digits to spare), and
    below x = 1 the power series of P, whose ratio to the pdf cannot underflow."""
    a, v = np.broadcast_arrays(np.asarray(alpha, np.float64), np.asarray(x, np.float64))
    upper = v > a
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        dp = np.where(upper, -_d_alpha(special.gammaincc, a, v),
                      _d_alpha(special.gammainc, a, v))
        log_pdf = (a - 1) * np.log(v) - v - special.gammaln(a)
        grad = np.where(v < 1, _small_x_gamma_grad(a, v), -dp / np.exp(log_pdf))
    return np.nan_to_num(grad, nan=0.0).astype(np.result_type(alpha, x))


def _small_x_gamma_grad(a, x, terms=30):
    """P(a, x) Gamma(a) = x^a S1 with S1 = sum_n (-x)^n / (n! (a + n)), so
    -(dP/da) / pdf = -x e^x ((log x - digamma(a)) S1 - S2), S2 = sum_n (-x)^n / (n! (a+n)^2);
    the series converges fast for x < 1."""
    s1, s2, term = np.zeros_like(a), np.zeros_like(a), np.ones_like(a)
    for n in range(terms):
        if n:
            term = term * -x / n
        s1, s2 = s1 + term / (a + n), s2 + term / (a + n) ** 2
    return -x * np.exp(x) * ((np.log(x) - special.psi(a)) * s1 - s2)


def _sample_dirichlet_impl(alpha, generator=None):
    alpha = np.asarray(alpha)
    draws = _gen(generator).standard_gamma(alpha.astype(np.float64))
    draws = np.maximum(draws, _tiny(np.float64))
    return np.maximum((draws / draws.sum(-1, keepdims=True)).astype(alpha.dtype),
                      _tiny(alpha.dtype))


def _dirichlet_grad_impl(x, alpha, total):
    """torch's _dirichlet_grad: dx/dalpha of a Beta(alpha, beta = total - alpha) draw x
    (beta fixed: the other concentrations are), divided by 1 - x, the form in which
    _dirichlet_vjp's normalization term takes it: -(dI_x(alpha, beta)/dalpha) / pdf / (1-x)."""
    v, a, t = np.broadcast_arrays(*(np.asarray(u, np.float64) for u in (x, alpha, total)))
    b = t - a
    upper = v > a / t

    def lower_tail(aa, vv, bb):
        return special.betainc(aa, bb, vv)

    def upper_tail(aa, vv, bb):
        return special.betaincc(aa, bb, vv)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        di = np.where(upper, -_d_alpha(upper_tail, a, v, b), _d_alpha(lower_tail, a, v, b))
        log_pdf = (a - 1) * np.log(v) + b * np.log1p(-v) - special.betaln(a, b)
        grad = -di / np.exp(log_pdf)
    return np.nan_to_num(grad, nan=0.0).astype(np.result_type(x, alpha, total))


def _broadcast_shape(*shapes):
    return np.broadcast_shapes(*shapes)


def _standard_gamma_vjp(g, out, alpha, generator=None):
    return (g * bind(standard_gamma_grad_p, alpha, out),)


def _dirichlet_vjp(g, out, alpha, generator=None):
    total = alpha.sum(-1, keepdim=True).expand_as(alpha)
    grad = bind(dirichlet_grad_p, out, alpha, total)
    return (grad * (g - (out * g).sum(-1, keepdim=True)),)


standard_gamma_p = defprim("standard_gamma", _standard_gamma_impl, same_shape, same_dtype,
                           _standard_gamma_vjp, ("random",), saves=(0, "out"))
standard_gamma_grad_p = defprim("standard_gamma_grad", _standard_gamma_grad_impl,
                                lambda a, x: _broadcast_shape(a, x),
                                lambda a, x: np.result_type(a.dtype, x.dtype))
sample_dirichlet_p = defprim("sample_dirichlet", _sample_dirichlet_impl, same_shape,
                             same_dtype, _dirichlet_vjp, ("random",), saves=(0, "out"))
dirichlet_grad_p = defprim("dirichlet_grad", _dirichlet_grad_impl,
                           lambda x, a, t: _broadcast_shape(x, a, t),
                           lambda x, a, t: np.result_type(x.dtype, a.dtype, t.dtype))


def standard_gamma(alpha, generator=None):
    """Gamma(alpha, 1) draws, one per element of alpha (torch._standard_gamma)."""
    return bind(standard_gamma_p, alpha, **({} if generator is None else
                                            {"generator": generator}))


def standard_gamma_grad(alpha, x):
    """dx/dalpha of Gamma(alpha, 1) draws x (torch._standard_gamma_grad)."""
    return bind(standard_gamma_grad_p, alpha, x)


def sample_dirichlet(alpha, generator=None):
    """Dirichlet(alpha) draws over alpha's last dim (torch._sample_dirichlet)."""
    return bind(sample_dirichlet_p, alpha, **({} if generator is None else
                                              {"generator": generator}))


def dirichlet_grad(x, alpha, total):
    """torch._dirichlet_grad: dx/dalpha of Beta(alpha, total - alpha) draws x."""
    return bind(dirichlet_grad_p, x, alpha, total)
